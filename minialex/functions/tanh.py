"""Hyperbolic tangent, the saturating nonlinearity the paper compares ReLU
with (section 3.1, figure 1)."""

from ..engine import Function
from ._utils import check_float


class Tanh(Function):
    """y = tanh(x) = (e^x - e^-x) / (e^x + e^-x).

    Derivation: with u = e^x and v = e^-x, y = (u - v)/(u + v) and
    dy/dx = ((u + v)^2 - (u - v)^2) / (u + v)^2 = 1 - y^2, so
    gx = gy * (1 - y^2): only y is kept. ``xp.tanh`` returns exactly +-1 for
    large |x| (tanh(100) = 1), so the gradient there is exactly 0 and nothing
    overflows.
    """

    def forward(self, x):
        """y = tanh(x); keeps y."""
        self.y = self.device.xp.tanh(x)
        return self.y

    def backward(self, gy):
        """gx = gy * (1 - y^2)."""
        return gy * (1 - self.y * self.y)


def tanh(x):
    """Element-wise ``tanh(x)``, values in (-1, 1). Any shape, float dtypes
    (PyTorch's ``torch.tanh``)."""
    check_float("tanh", x=x)
    return Tanh()(x)
