"""Leaky rectified linear unit (Maas et al. 2013)."""

from ..engine import Function
from ._utils import check_float


class LeakyReLU(Function):
    """y = x for x > 0, ``negative_slope * x`` otherwise.

    Derivation: dy/dx = 1 for x > 0 and ``negative_slope`` for x < 0; at
    x = 0 we take ``negative_slope`` (PyTorch's choice), so
    gx = gy * where(x > 0, 1, negative_slope).
    """

    def __init__(self, negative_slope):
        self.negative_slope = negative_slope

    def forward(self, x):
        """y = x or slope * x; keeps the sign mask."""
        xp = self.device.xp
        self.positive = x > 0
        return xp.where(self.positive, x, x * x.dtype.type(self.negative_slope))

    def backward(self, gy):
        """gx = gy where x > 0, slope * gy elsewhere."""
        xp = self.device.xp
        return xp.where(self.positive, gy, gy * gy.dtype.type(self.negative_slope))


def leaky_relu(x, negative_slope=0.01):
    """Element-wise ``max(0, x) + negative_slope * min(0, x)``. Any shape,
    float dtypes. Default slope 0.01 (PyTorch's ``F.leaky_relu``)."""
    check_float("leaky_relu", x=x)
    return LeakyReLU(float(negative_slope))(x)
