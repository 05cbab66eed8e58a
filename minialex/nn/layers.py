"""Dense layers and activations: Linear, ReLU, Dropout, Flatten."""

import math

import numpy

from .. import functional as F
from ..random import default_generator
from .module import Module, Parameter

__all__ = ["Linear", "ReLU", "Dropout", "Flatten"]


class Linear(Module):
    """Fully connected layer ``y = x W^T + b``.

    Args:
        in_features, out_features (int): sizes of x's and y's last axis.
        bias (bool): learn an additive bias. Default True.
        device: where the weights live (default "cpu").
        dtype: default float32.

    Shapes: x (N, in_features) -> y (N, out_features). ``weight`` is
    (out_features, in_features) (PyTorch's layout), ``bias`` (out_features,).
    Initialisation: PyTorch's default, U(-1/sqrt(in), 1/sqrt(in)); AlexNet
    re-initialises its layers as the paper says (:mod:`minialex.models`).
    """

    def __init__(self, in_features, out_features, bias=True, device=None, dtype=numpy.float32):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        bound = 1.0 / math.sqrt(in_features)
        rng = default_generator()
        self.weight = Parameter(rng.uniform(-bound, bound, (out_features, in_features)).astype(dtype),
                                device=device)
        self.bias = (Parameter(rng.uniform(-bound, bound, out_features).astype(dtype), device=device)
                     if bias else None)

    def forward(self, x):
        """x (N, in_features) -> x @ weight.T + bias, (N, out_features)."""
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self):
        """The arguments as they appear inside ``repr(module)``."""
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class ReLU(Module):
    """``max(0, x)`` element-wise (paper section 3.1). Any shape."""

    def forward(self, x):
        """x (any shape) -> max(0, x), same shape and dtype."""
        return F.relu(x)


class Dropout(Module):
    """Inverted dropout with probability ``p`` (default 0.5, paper section
    4.2) while training; the identity in eval mode. Any shape."""

    def __init__(self, p=0.5):
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"dropout probability must be in [0, 1), got p={p}")
        self.p = p

    def forward(self, x):
        """x (any shape) -> dropped and scaled in train mode, x in eval mode."""
        return F.dropout(x, self.p, self.training)

    def extra_repr(self):
        """The arguments as they appear inside ``repr(module)``."""
        return f"p={self.p}"


class Flatten(Module):
    """(N, C, H, W) -> (N, C*H*W) (flattens every axis from ``start_dim``)."""

    def __init__(self, start_dim=1):
        super().__init__()
        self.start_dim = start_dim

    def forward(self, x):
        """x (N, C, H, W) -> (N, C*H*W) for start_dim=1 (a view where possible)."""
        return F.flatten(x, self.start_dim)
