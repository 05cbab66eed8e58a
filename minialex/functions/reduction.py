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
    """y = sum of x over ``axis`` (``torch.sum`` / ``numpy.sum``).

    Derivation: for x of shape (N, C) and axis=1, y_n = sum_c x_nc, so
    dy_n/dx_nc = 1: each x element feeds exactly one y element with
    weight 1, and
        dL/dx_nc = dL/dy_n,
    i.e. dL/dy broadcast back over the summed axes (reinsert them as
    length 1 unless ``keepdims``, then broadcast to x's shape). This is the
    mirror image of broadcasting, whose backward is a sum (``sum_to``).
    """

    def __init__(self, axis=None, keepdims=False):
        self.axis, self.keepdims = axis, keepdims

    def forward(self, x):
        """x -> its sum over the axes (same dtype; 0-d for axis=None)."""
        self.in_shape = x.shape
        self.axes = _normalize_axis(self.axis, x.ndim)
        return x.sum(axis=self.axes, keepdims=self.keepdims)

    def backward(self, gy):
        """dL/dy of y's shape -> dL/dx of x's shape (a new array)."""
        if not self.keepdims:
            gy = self.device.xp.expand_dims(gy, self.axes) if self.axes else gy
        return self.device.xp.broadcast_to(gy, self.in_shape).copy()


class Mean(Sum):
    """y = mean of x over ``axis`` (``torch.mean``): y = sum(x) / M, with
    M the number of elements averaged into each y (product of the reduced
    axis lengths).

    Derivation: dy_n/dx_nc = 1/M, so dL/dx_nc = dL/dy_n / M: the Sum
    backward applied to dL/dy / M. M is cast to x's float dtype, so float32
    stays float32.
    """

    def forward(self, x):
        """x -> its mean over the axes (float dtype kept)."""
        y = super().forward(x)
        self.count = 1
        for a in self.axes:
            self.count *= x.shape[a]
        return y / x.dtype.type(self.count) if x.dtype.kind == "f" else y / self.count

    def backward(self, gy):
        """dL/dy -> dL/dx = dL/dy / M broadcast to x's shape."""
        return super().backward(gy / gy.dtype.type(self.count))


def sum(x, axis=None, keepdims=False):  # noqa: A001 (mirrors numpy/torch)
    """Sum of ``x`` over ``axis`` (int, tuple or None for all; negative
    axes count from the end). ``keepdims=True`` keeps reduced axes as
    length 1. Raises ValueError for an axis out of range, TypeError for a
    non-float tensor."""
    check_float("sum", x=x)
    return Sum(axis, keepdims)(x)


def mean(x, axis=None, keepdims=False):
    """Mean of ``x`` over ``axis`` (int, tuple or None for all), as
    :func:`sum` divided by the count; same arguments and errors."""
    check_float("mean", x=x)
    return Mean(axis, keepdims)(x)
