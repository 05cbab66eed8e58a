"""Element-wise arithmetic: add, sub, mul, div, neg, exp, log, astype.

All binary ops broadcast like NumPy; their backward passes sum the gradient
back down to each input's shape (see :func:`sum_to`).
"""

from ..autograd import Function
from ._utils import check_float, sum_to


class Add(Function):
    """y = a + b, element-wise with NumPy broadcasting.

    Derivation: dy/da = 1 and dy/db = 1 element by element, so the chain
    rule passes the gradient through unchanged:
        dL/da = sum_to(dL/dy, a.shape),   dL/db = sum_to(dL/dy, b.shape).
    Why sum_to: if a had shape (C, 1) and was broadcast to y's (N, C, W),
    each a[c, 0] was copied into N*W outputs, so it collects the sum of
    their gradients (the multivariate chain rule sums over every use).
    """

    def forward(self, a, b):
        """a, b: broadcastable float arrays -> a + b (the broadcast shape)."""
        self.shapes = a.shape, b.shape
        return a + b

    def backward(self, gy):
        """gy: dL/dy, y's shape -> (dL/da, dL/db) in a's and b's shapes."""
        return sum_to(gy, self.shapes[0]), sum_to(gy, self.shapes[1])


class Sub(Function):
    """y = a - b, element-wise with broadcasting.

    Derivation: dy/da = 1, dy/db = -1, so
        dL/da = sum_to(dL/dy, a.shape),   dL/db = -sum_to(dL/dy, b.shape),
    summed back to each input's shape because broadcasting copied it
    (see :class:`Add`).
    """

    def forward(self, a, b):
        """a, b: broadcastable float arrays -> a - b."""
        self.shapes = a.shape, b.shape
        return a - b

    def backward(self, gy):
        """gy: dL/dy -> (dL/da, dL/db); dL/db is None unless b needs it."""
        gb = -sum_to(gy, self.shapes[1]) if self.needs_input_grad[1] else None
        return sum_to(gy, self.shapes[0]), gb


class Mul(Function):
    """y = a * b, element-wise with broadcasting.

    Derivation: dy/da = b and dy/db = a (the other factor), so
        dL/da = sum_to(dL/dy * b, a.shape),   dL/db = sum_to(dL/dy * a, b.shape).
    The product dL/dy * b has y's (broadcast) shape; sum_to adds up the
    copies broadcasting made of each input element (see :class:`Add`).
    Saves both inputs for backward.
    """

    def forward(self, a, b):
        """a, b: broadcastable float arrays -> a * b; saves a and b."""
        self.a, self.b = a, b
        return a * b

    def backward(self, gy):
        """gy: dL/dy -> (dL/da, dL/db), None where no gradient is needed."""
        ga = sum_to(gy * self.b, self.a.shape) if self.needs_input_grad[0] else None
        gb = sum_to(gy * self.a, self.b.shape) if self.needs_input_grad[1] else None
        return ga, gb


class Div(Function):
    """y = a / b, element-wise with broadcasting.

    Derivation: dy/da = 1/b and dy/db = -a/b^2, so
        dL/da = sum_to(dL/dy / b, a.shape),
        dL/db = sum_to(-dL/dy * a / b^2, b.shape),
    computed as -(dL/dy / b) * a / b to reuse dL/da before it is summed.
    """

    def forward(self, a, b):
        """a, b: broadcastable float arrays -> a / b; saves a and b."""
        self.a, self.b = a, b
        return a / b

    def backward(self, gy):
        """gy: dL/dy -> (dL/da, dL/db); dL/db is None unless b needs it."""
        ga = gy / self.b
        gb = sum_to(-ga * self.a / self.b, self.b.shape) if self.needs_input_grad[1] else None
        return sum_to(ga, self.a.shape), gb


class Neg(Function):
    """y = -x.

    Derivation: dy/dx = -1 element by element, so dL/dx = -dL/dy
    (same shape: no broadcasting, nothing to sum).
    """

    def forward(self, x):
        """x -> -x (same shape and dtype)."""
        return -x

    def backward(self, gy):
        """dL/dy -> dL/dx = -dL/dy."""
        return -gy


class Exp(Function):
    """y = e^x, element-wise.

    Derivation: dy/dx = e^x = y, so dL/dx = dL/dy * y. Saving the output
    y (not x) means backward needs no second exp.
    """

    def forward(self, x):
        """x -> e^x (same shape and dtype); saves the output."""
        self.y = self.device.xp.exp(x)
        return self.y

    def backward(self, gy):
        """dL/dy -> dL/dx = dL/dy * y."""
        return gy * self.y


class Log(Function):
    """y = ln x (natural log), element-wise; x > 0 (x = 0 gives -inf,
    x < 0 NaN, as NumPy).

    Derivation: dy/dx = 1/x, so dL/dx = dL/dy / x. Saves x for backward.
    """

    def forward(self, x):
        """x -> ln x (same shape and dtype); saves x."""
        self.x = x
        return self.device.xp.log(x)

    def backward(self, gy):
        """dL/dy -> dL/dx = dL/dy / x."""
        return gy / self.x


class AsType(Function):
    """y = x cast to ``dtype`` (e.g. float32 -> float64 for a gradient check).

    Derivation: a cast keeps each value (up to rounding), so dy/dx = 1 and
    dL/dx = dL/dy cast back to x's dtype: a gradient has its tensor's dtype.
    """

    def __init__(self, dtype):
        self.dtype = dtype

    def forward(self, x):
        """x -> x.astype(dtype) (a copy, even when the dtype is the same)."""
        self.in_dtype = x.dtype
        return x.astype(self.dtype)

    def backward(self, gy):
        """dL/dy (in ``dtype``) -> dL/dx in x's dtype."""
        return gy.astype(self.in_dtype)


def add(a, b):
    """Element-wise ``a + b`` with broadcasting (``torch.add``).

    Tensors or Python numbers; a number takes the tensor's float dtype.
    Raises TypeError for integer or boolean tensors (see ``check_float``)."""
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
    """Differentiable cast of ``x`` to ``dtype`` (a NumPy dtype or its name,
    e.g. ``"float64"``); the gradient is cast back to x's dtype."""
    return AsType(dtype)(x)
