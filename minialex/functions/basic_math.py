"""Element-wise arithmetic: add, sub, mul, div, neg, exp, log, astype.

All binary ops broadcast like NumPy; their backward passes sum the gradient
back down to each input's shape (see :func:`sum_to`).
"""

from ..autograd import Function
from ._utils import check_float, sum_to


class Add(Function):
    """y = a + b.   dy/da = 1, dy/db = 1, so ga = gy, gb = gy (summed to shape)."""

    def forward(self, a, b):
        self.shapes = a.shape, b.shape
        return a + b

    def backward(self, gy):
        return sum_to(gy, self.shapes[0]), sum_to(gy, self.shapes[1])


class Sub(Function):
    """y = a - b.   ga = gy, gb = -gy."""

    def forward(self, a, b):
        self.shapes = a.shape, b.shape
        return a - b

    def backward(self, gy):
        gb = -sum_to(gy, self.shapes[1]) if self.needs_input_grad[1] else None
        return sum_to(gy, self.shapes[0]), gb


class Mul(Function):
    """y = a * b.   dy/da = b, dy/db = a, so ga = gy * b, gb = gy * a."""

    def forward(self, a, b):
        self.a, self.b = a, b
        return a * b

    def backward(self, gy):
        ga = sum_to(gy * self.b, self.a.shape) if self.needs_input_grad[0] else None
        gb = sum_to(gy * self.a, self.b.shape) if self.needs_input_grad[1] else None
        return ga, gb


class Div(Function):
    """y = a / b.   dy/da = 1/b, dy/db = -a/b^2, so ga = gy / b,
    gb = -gy * a / b^2 = -gy * y / b."""

    def forward(self, a, b):
        self.a, self.b = a, b
        return a / b

    def backward(self, gy):
        ga = gy / self.b
        gb = sum_to(-ga * self.a / self.b, self.b.shape) if self.needs_input_grad[1] else None
        return sum_to(ga, self.a.shape), gb


class Neg(Function):
    """y = -x.   gx = -gy."""

    def forward(self, x):
        return -x

    def backward(self, gy):
        return -gy


class Exp(Function):
    """y = e^x.   dy/dx = e^x = y, so gx = gy * y."""

    def forward(self, x):
        self.y = self.device.xp.exp(x)
        return self.y

    def backward(self, gy):
        return gy * self.y


class Log(Function):
    """y = ln x (natural log).   dy/dx = 1/x, so gx = gy / x."""

    def forward(self, x):
        self.x = x
        return self.device.xp.log(x)

    def backward(self, gy):
        return gy / self.x


class AsType(Function):
    """y = x cast to ``dtype``.   gx = gy cast back to x's dtype."""

    def __init__(self, dtype):
        self.dtype = dtype

    def forward(self, x):
        self.in_dtype = x.dtype
        return x.astype(self.dtype)

    def backward(self, gy):
        return gy.astype(self.in_dtype)


def add(a, b):
    """Element-wise ``a + b`` with broadcasting. Tensors or numbers."""
    check_float("add", a=a, b=b)
    return Add()(a, b)


def sub(a, b):
    """Element-wise ``a - b`` with broadcasting."""
    check_float("sub", a=a, b=b)
    return Sub()(a, b)


def mul(a, b):
    """Element-wise ``a * b`` with broadcasting."""
    check_float("mul", a=a, b=b)
    return Mul()(a, b)


def div(a, b):
    """Element-wise ``a / b`` with broadcasting."""
    check_float("div", a=a, b=b)
    return Div()(a, b)


def neg(x):
    """Element-wise ``-x``."""
    check_float("neg", x=x)
    return Neg()(x)


def exp(x):
    """Element-wise ``e**x``."""
    check_float("exp", x=x)
    return Exp()(x)


def log(x):
    """Element-wise natural logarithm (x > 0)."""
    check_float("log", x=x)
    return Log()(x)


def astype(x, dtype):
    """Differentiable cast of ``x`` to ``dtype``."""
    return AsType(dtype)(x)
