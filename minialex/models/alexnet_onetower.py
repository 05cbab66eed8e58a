"""The one-tower AlexNet of the PyTorch tutorials (half the paper's widths, no LRN).

The most common AlexNet code in tutorials (for example the 5-class flower
classifier trained at 224x224) keeps one of the paper's two towers
(section 3.5, figure 2: 48, 128, 192, 192, 128 kernels; 2048 neurons in
fc6 and fc7), drops local response normalization and the grouped
convolutions, and moves dropout in front of fc6 and fc7:

    image (N, 3, 224, 224)
      -> conv1 11x11 stride 4 pad 2, 48   -> ReLU -> maxpool 3/2   (55 -> 27)
      -> conv2 5x5 pad 2, 128             -> ReLU -> maxpool 3/2   (27 -> 13)
      -> conv3 3x3 pad 1, 192             -> ReLU
      -> conv4 3x3 pad 1, 192             -> ReLU
      -> conv5 3x3 pad 1, 128             -> ReLU -> maxpool 3/2   (13 -> 6)
      -> flatten (128*6*6) -> dropout -> fc6 2048 -> ReLU
      -> dropout -> fc7 2048 -> ReLU -> fc8 num_classes (logits)

Init (the tutorials' ``_initialize_weights``): He normal with fan-out for
the convolutions (``kaiming_normal_(mode="fan_out", nonlinearity="relu")``,
std = sqrt(2 / (C_out * kH * kW))), N(0, 0.01^2) for the linear layers,
all biases 0. PyTorch's module names are ``features.{0,3,6,8,10}`` and
``classifier.{1,4,6}``; ours are the paper's (conv1..conv5, fc6..fc8), and
:mod:`minialex.models.convert` maps one to the other.
"""

import math

import numpy

from .. import functional as F
from ..nn import Module, Conv2d, Linear, MaxPool2d
from ..random import default_generator

__all__ = ["AlexNetOneTower", "alexnet_onetower"]


class AlexNetOneTower(Module):
    """The tutorials' one-tower AlexNet: input (N, 3, 224, 224) float32,
    output logits (N, num_classes) float32.

    Args:
        num_classes (int): >= 1. Default 1000.
        dropout (float): drop probability in front of fc6 and fc7, in
            [0, 1). Default 0.5 (paper section 4.2; inverted dropout, the
            identity in eval mode).
        device: where the weights live (default "cpu").

    With ``num_classes`` classes the net has 14,581,440 + 2049 *
    num_classes parameters (14,591,685 for 5 classes).

    Raises:
        ValueError: num_classes < 1, dropout outside [0, 1), or (in
            forward) an input that is not (N, 3, 224, 224).
    """

    input_size = 224

    def __init__(self, num_classes=1000, dropout=0.5, device=None):
        super().__init__()
        if not isinstance(num_classes, int) or isinstance(num_classes, bool) or num_classes < 1:
            raise ValueError(f"num_classes must be a positive int, got {num_classes!r}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        self.config = {"model": "alexnet_onetower", "num_classes": num_classes,
                       "dropout": dropout, "input_size": self.input_size}
        self.p = dropout
        self.conv1 = Conv2d(3, 48, 11, stride=4, padding=2)
        self.conv2 = Conv2d(48, 128, 5, padding=2)
        self.conv3 = Conv2d(128, 192, 3, padding=1)
        self.conv4 = Conv2d(192, 192, 3, padding=1)
        self.conv5 = Conv2d(192, 128, 3, padding=1)
        self.fc6 = Linear(128 * 6 * 6, 2048)
        self.fc7 = Linear(2048, 2048)
        self.fc8 = Linear(2048, num_classes)
        self.pool = MaxPool2d(3, stride=2)
        self.reset_parameters()
        if device is not None:
            self.to(device)

    def reset_parameters(self):
        """He normal (fan-out) for the convolutions, N(0, 0.01^2) for the
        linear layers, zero biases, drawn from minialex's generator (seed it
        with :func:`minialex.manual_seed`)."""
        rng = default_generator()
        for name, p in self.named_parameters():
            if name.endswith("bias"):
                new = numpy.zeros(p.shape, numpy.float32)
            elif p.ndim == 4:       # fan-out: the outputs each input pixel feeds
                fan_out = p.shape[0] * p.shape[2] * p.shape[3]
                new = rng.normal(0.0, math.sqrt(2.0 / fan_out), p.shape).astype(numpy.float32)
            else:
                new = rng.normal(0.0, 0.01, p.shape).astype(numpy.float32)
            p.data = p.device.put(new)

    def forward(self, x):
        """x: (N, 3, 224, 224) float32 Tensor on the weights' device.
        Returns logits (N, num_classes)."""
        if x.ndim != 4 or x.shape[1:] != (3, self.input_size, self.input_size):
            raise ValueError(f"{type(self).__name__} expects input (N, 3, {self.input_size}, "
                             f"{self.input_size}), got {x.shape}")
        h = self.pool(F.relu(self.conv1(x)))
        h = self.pool(F.relu(self.conv2(h)))
        h = F.relu(self.conv4(F.relu(self.conv3(h))))
        h = F.flatten(self.pool(F.relu(self.conv5(h))))
        h = F.relu(self.fc6(F.dropout(h, self.p, self.training)))
        h = F.relu(self.fc7(F.dropout(h, self.p, self.training)))
        return self.fc8(h)

    def extra_repr(self):
        """The configuration shown inside ``repr(model)``."""
        return f"num_classes={self.config['num_classes']}, dropout={self.p}"


def alexnet_onetower(num_classes=1000, dropout=0.5, device=None):
    """The PyTorch tutorials' one-tower AlexNet (see :class:`AlexNetOneTower`):
    224x224 input, widths 48-128-192-192-128, fc 2048, no LRN, dropout in
    front of fc6 and fc7."""
    return AlexNetOneTower(num_classes, dropout, device)
