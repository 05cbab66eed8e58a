"""Powers with a constant exponent: ``x ** p``, ``sqrt``."""

import numbers

import numpy

from ..engine import Function
from ._utils import check_float


class Pow(Function):
    """y = x^p for a constant number p.

    Derivation: dy/dx = p * x^(p-1), so gx = gy * p * x^(p-1). (For x = 0 and
    p < 1 that is inf or nan, as in PyTorch.)
    """

    def __init__(self, exponent):
        self.p = exponent

    def forward(self, x):
        """y = x^p, with p rounded to x's float dtype (a NumPy float64 or
        int64 p must not upcast float32 x); keeps x."""
        self.x = x
        return x ** x.dtype.type(self.p)

    def backward(self, gy):
        """gx = gy * p * x^(p-1) (0 for p = 0)."""
        if self.p == 0:                       # y = 1: no dependence on x
            return self.device.xp.zeros_like(gy)
        p = gy.dtype.type(self.p)
        return gy * p * self.x ** (p - 1)


class Sqrt(Function):
    """y = sqrt(x) (x >= 0).

    Derivation: y = x^(1/2), dy/dx = 1 / (2 sqrt(x)) = 1 / (2y), so
    gx = gy / (2y): only y is kept (inf at x = 0, as in PyTorch).
    """

    def forward(self, x):
        """y = sqrt(x); keeps y."""
        self.y = self.device.xp.sqrt(x)
        return self.y

    def backward(self, gy):
        """gx = gy / (2y)."""
        return gy / (2 * self.y)


def pow(x, exponent):  # noqa: A001 (mirrors torch.pow)
    """Element-wise ``x ** exponent`` for a Python or NumPy number
    ``exponent`` (``Tensor.__pow__``).

    Raises:
        TypeError: a Tensor or array exponent (write ``exp(b * log(a))`` for
            a variable exponent with a > 0); a base that is not floating
            point, a Tensor or array (see ``check_float``) or a number or list
            (``pow(2, 3)``: no float Tensor gives it a dtype, so it would
            stay an integer).
    """
    if not isinstance(exponent, numbers.Number):
        raise TypeError(f"pow takes a number as exponent, got {type(exponent).__name__}; "
                        "for a tensor exponent write F.exp(b * F.log(a)) (a > 0)")
    check_float("pow", x=x)
    if not hasattr(x, "dtype") or isinstance(x, numpy.generic):
        dtype = numpy.asarray(x).dtype
        if dtype.kind != "f":
            raise TypeError(f"pow needs floating-point input, got x = {x!r} of dtype {dtype}; "
                            "minialex does not convert silently: write x as a float (e.g. 2.0) "
                            "or a float Tensor")
    return Pow(exponent)(x)


def sqrt(x):
    """Element-wise square root (``torch.sqrt``). Any shape, float dtypes."""
    check_float("sqrt", x=x)
    return Sqrt()(x)
