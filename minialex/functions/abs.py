"""Absolute value."""

from ..engine import Function
from ._utils import check_float


class Abs(Function):
    """y = |x|.

    Derivation: dy/dx = sign(x) (+1 for x > 0, -1 for x < 0, and 0 at x = 0,
    PyTorch's subgradient), so gx = gy * sign(x).
    """

    def forward(self, x):
        """y = |x|; keeps sign(x)."""
        xp = self.device.xp
        self.sign = xp.sign(x)
        return xp.abs(x)

    def backward(self, gy):
        """gx = gy * sign(x)."""
        return gy * self.sign


def abs(x):  # noqa: A001 (mirrors torch.abs)
    """Element-wise ``|x|`` (``torch.abs``). Any shape."""
    check_float("abs", x=x)
    return Abs()(x)
