"""The four-layer CIFAR-10 net of the paper's figure 1 (ReLU against tanh).

Section 3.1: "A four-layer convolutional neural network with ReLUs (solid
line) reaches a 25% training error rate on CIFAR-10 six times faster than
an equivalent network with tanh neurons (dashed line) ... No
regularization of any kind was employed." The paper gives no layer table
for it. We assume Krizhevsky's cuda-convnet CIFAR-10 net of the time
(``layers-18pct.cfg``: three 5x5 convolutional layers and one fully
connected layer, four layers with weights), without its response
normalization (figure 1 compares the nonlinearity alone):

    image (N, 3, 32, 32), the whole image (no crops)
      -> conv1 5x5 pad 2, 32  -> act -> maxpool 3/2   (32 -> 15)
      -> conv2 5x5 pad 2, 32  -> act -> avgpool 3/2   (15 -> 7)
      -> conv3 5x5 pad 2, 64  -> act -> avgpool 3/2   (7 -> 3)
      -> flatten (64 * 3 * 3 = 576) -> fc 10 (logits)

``act`` is ReLU or tanh; everything else, the init included, is the same
for both (He normal, fan-in, on every layer; zero biases), so the two nets
differ only in the nonlinearity.
"""

import math

import numpy

from .. import functional as F
from ..nn import Module, Conv2d, Linear, MaxPool2d, AvgPool2d
from ..random import default_generator

__all__ = ["ConvNet4", "convnet4"]

_ACTIVATIONS = {"relu": F.relu, "tanh": F.tanh}


class ConvNet4(Module):
    """Figure 1's four-layer CNN (our assumed layers, see the module doc):
    input (N, 3, 32, 32) float32, output logits (N, num_classes).

    Args:
        activation ("relu" | "tanh"): the nonlinearity after each conv layer.
        num_classes (int): default 10.

    Raises:
        ValueError: an unknown activation, or (in forward) an input that is
            not (N, 3, 32, 32).
    """

    input_size = 32

    def __init__(self, activation="relu", num_classes=10):
        super().__init__()
        if activation not in _ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r}: use one of "
                             f"{', '.join(_ACTIVATIONS)}")
        self.activation = activation
        self.config = {"model": "convnet4", "activation": activation, "num_classes": num_classes}
        self.conv1 = Conv2d(3, 32, 5, padding=2)
        self.conv2 = Conv2d(32, 32, 5, padding=2)
        self.conv3 = Conv2d(32, 64, 5, padding=2)
        self.fc = Linear(64 * 3 * 3, num_classes)
        self.pool1 = MaxPool2d(3, stride=2)
        self.pool2 = AvgPool2d(3, stride=2)
        self.pool3 = AvgPool2d(3, stride=2)
        self.reset_parameters()

    def reset_parameters(self):
        """He normal with fan-in (std sqrt(2 / fan_in)) for every weight,
        zero biases, from minialex's generator (:func:`minialex.manual_seed`)."""
        rng = default_generator()
        for name, p in self.named_parameters():
            if name.endswith("bias"):
                new = numpy.zeros(p.shape, numpy.float32)
            else:
                fan_in = int(numpy.prod(p.shape[1:]))
                new = rng.normal(0.0, math.sqrt(2.0 / fan_in), p.shape).astype(numpy.float32)
            p.data = p.device.put(new)

    def forward(self, x):
        """x: (N, 3, 32, 32) float32 Tensor. Returns logits (N, num_classes)."""
        if x.ndim != 4 or x.shape[1:] != (3, 32, 32):
            raise ValueError(f"ConvNet4 expects input (N, 3, 32, 32), got {x.shape}")
        act = _ACTIVATIONS[self.activation]
        h = self.pool1(act(self.conv1(x)))
        h = self.pool2(act(self.conv2(h)))
        h = self.pool3(act(self.conv3(h)))
        return self.fc(F.flatten(h))

    def extra_repr(self):
        return f"activation={self.activation!r}"


def convnet4(activation="relu", num_classes=10):
    """Figure 1's four-layer CIFAR-10 net with ``activation`` (see :class:`ConvNet4`)."""
    return ConvNet4(activation, num_classes)
