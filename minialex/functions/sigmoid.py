"""The logistic sigmoid."""

from ..engine import Function
from ._utils import check_float


class Sigmoid(Function):
    """y = sigma(x) = 1 / (1 + e^-x).

    Computed without overflow: with e = exp(-|x|) <= 1, sigma(x) = 1/(1 + e)
    for x >= 0 and e/(1 + e) for x < 0 (multiply top and bottom by e^x);
    neither form exponentiates a positive number.

    Derivation: dy/dx = e^-x / (1 + e^-x)^2 = y * (1 - y), so
    gx = gy * y * (1 - y): only y is kept.
    """

    def forward(self, x):
        """y = 1 / (1 + e^-x) without overflow; keeps y."""
        xp = self.device.xp
        e = xp.exp(-xp.abs(x))
        self.y = xp.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)
        return self.y

    def backward(self, gy):
        """gx = gy * y * (1 - y)."""
        return gy * self.y * (1 - self.y)


def sigmoid(x):
    """Element-wise ``1 / (1 + exp(-x))``, values in [0, 1], no overflow
    warning for any finite x. Any shape, float dtypes (``torch.sigmoid``)."""
    check_float("sigmoid", x=x)
    return Sigmoid()(x)
