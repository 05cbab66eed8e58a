"""Activations beyond ReLU, and the identity: Tanh, Sigmoid, LeakyReLU,
Identity."""

from .. import functional as F
from .module import Module

__all__ = ["Tanh", "Sigmoid", "LeakyReLU", "Identity"]


class Tanh(Module):
    """``tanh(x)`` element-wise, any shape: the saturating nonlinearity the
    paper compares ReLU with (section 3.1, figure 1). See
    :func:`minialex.functional.tanh`."""

    def forward(self, x):
        """Apply the layer (see the class docstring)."""
        return F.tanh(x)


class Sigmoid(Module):
    """``1 / (1 + exp(-x))`` element-wise, any shape, without overflow. See
    :func:`minialex.functional.sigmoid`."""

    def forward(self, x):
        """Apply the layer (see the class docstring)."""
        return F.sigmoid(x)


class LeakyReLU(Module):
    """``x`` for x > 0, ``negative_slope * x`` otherwise, any shape.

    Args:
        negative_slope (float): default 0.01 (PyTorch's).
    """

    def __init__(self, negative_slope=0.01):
        super().__init__()
        self.negative_slope = float(negative_slope)

    def forward(self, x):
        """Apply the layer (see the class docstring)."""
        return F.leaky_relu(x, self.negative_slope)

    def extra_repr(self):
        """The arguments shown by repr()."""
        return f"negative_slope={self.negative_slope}"


class Identity(Module):
    """Returns its input unchanged (a placeholder, e.g. where an ablation
    removes LRN: ``model.norm1 = nn.Identity()``). Extra constructor
    arguments are ignored, as in PyTorch."""

    def __init__(self, *args, **kwargs):
        super().__init__()

    def forward(self, x):
        """Apply the layer (see the class docstring)."""
        return x
