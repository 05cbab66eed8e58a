"""Maximum and minimum over an axis (and their arg-forms, which have no
gradient)."""

from ..engine import Function
from ..tensor import Tensor
from ._utils import check_float


class Max(Function):
    """y = max of x over ``axis`` (an int, or None for all elements).

    Derivation: y depends on x only through the element that is the
    maximum, with slope 1; every other element has slope 0. Where several
    elements tie, the gradient goes as PyTorch sends it:
    - over an axis (``torch.max(x, dim)``): to the element whose index is
      returned, the first maximum along the axis (``argmax``);
    - over all elements (``torch.max(x)``): split evenly among the ties.
    So gx = gy (broadcast back) * mask, the mask one-hot at the first
    maximum, or 1/count at every tie for ``axis=None``.
    ``Min`` is the same with ``argmin`` / ``==`` the minimum.
    """

    _arg = "argmax"

    def __init__(self, axis=None, keepdims=False):
        self.axis, self.keepdims = axis, keepdims

    def forward(self, x):
        """y = max (or min) over the axis; keeps where the gradient goes."""
        xp = self.device.xp
        self.in_shape = x.shape
        if self.axis is None:
            y = x.max() if self._arg == "argmax" else x.min()
            self.mask = (x == y).astype(x.dtype)
            self.mask /= self.mask.sum()
            return y.reshape((1,) * x.ndim) if self.keepdims else y
        if not -x.ndim <= self.axis < x.ndim:
            raise ValueError(f"axis {self.axis} is out of range for a tensor of {x.ndim} dimensions")
        self.axis %= x.ndim
        index = xp.expand_dims(getattr(x, self._arg)(axis=self.axis), self.axis)
        self.index = index
        y = xp.take_along_axis(x, index, axis=self.axis)
        return y if self.keepdims else y.squeeze(self.axis)

    def backward(self, gy):
        """gx = gy placed at the chosen element (or shared among ties)."""
        xp = self.device.xp
        if self.axis is None:
            return gy * self.mask          # gy is one number
        if not self.keepdims:
            gy = xp.expand_dims(gy, self.axis)
        # one-hot along the axis at the chosen index (NumPy and CuPy alike)
        positions = xp.arange(self.in_shape[self.axis]).reshape(
            (-1,) + (1,) * (len(self.in_shape) - self.axis - 1))
        return xp.where(positions == self.index, gy, 0).astype(gy.dtype, copy=False)


class Min(Max):
    """y = min of x over ``axis``; the gradient as for :class:`Max`."""

    _arg = "argmin"


def max(x, axis=None, keepdims=False):  # noqa: A001 (mirrors torch.max)
    """Largest value of ``x`` over ``axis`` (int) or over all elements
    (None). Gradient: to the first maximum along ``axis`` (the index
    :func:`argmax` returns), or shared evenly by tied maxima for
    ``axis=None``, as in PyTorch. Returns the values only (for the indices
    use :func:`argmax`).

    Raises ValueError: ``axis`` out of range."""
    check_float("max", x=x)
    return Max(axis, keepdims)(x)


def min(x, axis=None, keepdims=False):  # noqa: A001 (mirrors torch.min)
    """Smallest value of ``x`` over ``axis``; see :func:`max`."""
    check_float("min", x=x)
    return Min(axis, keepdims)(x)


def argmax(x, axis=None, keepdims=False):
    """Index of the first maximum over ``axis`` (flat index for None), an
    int64 Tensor without gradient (``torch.argmax``)."""
    return _arg(x, "argmax", axis, keepdims)


def argmin(x, axis=None, keepdims=False):
    """Index of the first minimum over ``axis``; see :func:`argmax`."""
    return _arg(x, "argmin", axis, keepdims)


def _arg(x, name, axis, keepdims):
    if not isinstance(x, Tensor):
        x = Tensor(x)
    with x.device:
        out = getattr(x.data, name)(axis=axis, keepdims=keepdims).astype("int64")
    return Tensor(out, device=x.device)
