"""Reductions: sum and mean over axes."""

from ..autograd import Function
from ._utils import check_float


def _normalize_axis(axis, ndim):
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, int):
        axis = (axis,)
    out = []
    for a in axis:
        if not -ndim <= a < ndim:
            raise ValueError(f"axis {a} is out of range for a tensor of {ndim} dimensions")
        out.append(a % ndim)
    return tuple(sorted(out))


class Sum(Function):
    """y = sum of x over ``axis``.

    Each x element contributes with weight 1 to exactly one y element, so
    gx = gy broadcast back over the summed axes (reinsert them as length 1,
    then broadcast to x's shape).
    """

    def __init__(self, axis=None, keepdims=False):
        self.axis, self.keepdims = axis, keepdims

    def forward(self, x):
        self.in_shape = x.shape
        self.axes = _normalize_axis(self.axis, x.ndim)
        return x.sum(axis=self.axes, keepdims=self.keepdims)

    def backward(self, gy):
        if not self.keepdims:
            gy = self.device.xp.expand_dims(gy, self.axes) if self.axes else gy
        return self.device.xp.broadcast_to(gy, self.in_shape).copy()


class Mean(Sum):
    """y = mean of x over ``axis`` = sum / M, M the number of elements
    averaged.  gx = gy / M broadcast back (as for Sum)."""

    def forward(self, x):
        y = super().forward(x)
        self.count = 1
        for a in self.axes:
            self.count *= x.shape[a]
        return y / x.dtype.type(self.count) if x.dtype.kind == "f" else y / self.count

    def backward(self, gy):
        return super().backward(gy / gy.dtype.type(self.count))


def sum(x, axis=None, keepdims=False):  # noqa: A001 (mirrors numpy/torch)
    """Sum of ``x`` over ``axis`` (int, tuple or None for all)."""
    check_float("sum", x=x)
    return Sum(axis, keepdims)(x)


def mean(x, axis=None, keepdims=False):
    """Mean of ``x`` over ``axis`` (int, tuple or None for all)."""
    check_float("mean", x=x)
    return Mean(axis, keepdims)(x)
