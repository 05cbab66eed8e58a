"""Shape ops: reshape, transpose, flatten, indexing, concatenate, split.

None of these changes a value, only where it sits, so every backward pass
puts each gradient back where its value came from.
"""

import numbers

from ..autograd import Function, Tensor


class Reshape(Function):
    """y = x with a new ``shape`` (same elements in the same C order).

    Derivation: element k of x (in C order) is element k of y, so
    dy_k/dx_k = 1 and dL/dx = reshape(dL/dy, x.shape): the backward is the
    inverse layout, putting each gradient where its value came from.

    Raises:
        ValueError: the new shape holds a different number of elements.
    """

    def __init__(self, shape):
        self.shape = tuple(shape)

    def forward(self, x):
        """x of any shape and dtype -> x.reshape(shape) (a view where NumPy can)."""
        self.in_shape = x.shape
        try:
            return x.reshape(self.shape)
        except ValueError as exc:
            raise ValueError(f"cannot reshape a tensor of shape {x.shape} "
                             f"({x.size} elements) to {self.shape}") from exc

    def backward(self, gy):
        """dL/dy of the new shape -> dL/dx of x's shape."""
        return gy.reshape(self.in_shape)


class Transpose(Function):
    """y = x with axes permuted by ``axes`` (reversed if None), as
    ``numpy.transpose`` / ``torch.permute``.

    Derivation: axis k of y is axis p[k] of x, y[i_0, ..., i_{n-1}] =
    x[j] with j[p[k]] = i_k, a one-to-one move with slope 1. So dL/dx is
    dL/dy moved back: dL/dx = transpose(dL/dy, p^-1), the inverse
    permutation (p^-1[p[k]] = k), e.g. for p = (0, 2, 3, 1), p^-1 = (0, 3, 1, 2).

    Raises:
        TypeError: an axis is not an int.
        ValueError: ``axes`` is not a permutation of x's axes.
    """

    def __init__(self, axes=None):
        self.axes = axes

    def forward(self, x):
        """x -> x.transpose(perm) (a view); any dtype."""
        axes = self.axes if self.axes is not None else tuple(range(x.ndim))[::-1]
        if not all(isinstance(a, numbers.Integral) for a in axes):
            raise TypeError(f"transpose axes must be ints, got {axes!r}; "
                            f"e.g. {tuple(range(x.ndim))[::-1]} reverses the {x.ndim} axes")
        if (len(axes) != x.ndim or any(not -x.ndim <= a < x.ndim for a in axes)
                or sorted(a % x.ndim for a in axes) != list(range(x.ndim))):
            raise ValueError(f"axes {axes} are not a permutation of the {x.ndim} axes")
        self.perm = tuple(a % x.ndim for a in axes)
        return x.transpose(self.perm)

    def backward(self, gy):
        """dL/dy -> dL/dx = dL/dy transposed by the inverse permutation."""
        inverse = [0] * len(self.perm)
        for i, p in enumerate(self.perm):
            inverse[p] = i
        return gy.transpose(inverse)


class GetItem(Function):
    """y = x[key] (basic slicing or integer-array indexing).

    Each y element is one x element, so gx is zeros with gy scattered back
    into the indexed places; with repeated integer indices one x element
    feeds several y elements and their gradients must add (``add.at``).
    """

    def __init__(self, key):
        self.key = key

    def forward(self, x):
        """x -> x[key] (a view for basic slicing, a copy for index arrays)."""
        self.in_shape, self.in_dtype = x.shape, x.dtype
        return x[self.key]

    def backward(self, gy):
        """dL/dy of y's shape -> dL/dx: zeros of x's shape, dL/dy scattered in."""
        xp = self.device.xp
        gx = xp.zeros(self.in_shape, dtype=gy.dtype)
        if _may_repeat(self.key):
            xp.add.at(gx, self.key, gy)    # repeated indices: their gradients add
        else:
            gx[self.key] = gy              # each x element picked at most once
        return gx


def _may_repeat(key):
    """True if ``key`` holds an integer index array (which can pick one
    element several times); slices, ints and boolean masks never do."""
    for k in key if isinstance(key, tuple) else (key,):
        if isinstance(k, (list, tuple)) or (hasattr(k, "dtype") and k.ndim > 0
                                            and k.dtype.kind in "iu"):
            return True
    return False


class Concatenate(Function):
    """y = [x_0, x_1, ...] joined along ``axis`` (``torch.cat``).

    Derivation: x_i lands in y[..., o_i : o_i + n_i, ...] along ``axis``,
    with n_i = x_i.shape[axis] and o_i = n_0 + ... + n_{i-1}, slope 1, so
        dL/dx_i = dL/dy[..., o_i : o_i + n_i, ...],
    i.e. the inverse layout of concatenate is split at the same cut points.
    """

    def __init__(self, axis):
        self.axis = axis

    def forward(self, *xs):
        """xs: arrays equal in all but ``axis`` -> one array joined along it."""
        self.sizes = [x.shape[self.axis] for x in xs]
        return self.device.xp.concatenate(xs, axis=self.axis)

    def backward(self, gy):
        """dL/dy -> one gradient slice per input, each of that input's shape."""
        import itertools
        bounds = list(itertools.accumulate(self.sizes))[:-1]
        return tuple(self.device.xp.split(gy, bounds, axis=self.axis))


class Split(Function):
    """(y_0, y_1, ...) = x cut along ``axis`` at ``indices_or_sections``
    (as ``numpy.split``).

    Derivation: each x element is in exactly one piece y_i, with slope 1,
    so dL/dx = concatenate(dL/dy_0, dL/dy_1, ..., axis): the inverse layout
    of split is concatenate. A piece no loss used gets zeros from the
    engine, so its part of dL/dx is 0.

    Raises:
        ValueError: an int that does not divide the axis length.
    """

    def __init__(self, indices_or_sections, axis):
        self.ios, self.axis = indices_or_sections, axis

    def forward(self, x):
        """x -> a tuple of views of x, cut along ``axis``."""
        try:
            return tuple(self.device.xp.split(x, self.ios, axis=self.axis))
        except ValueError as exc:
            raise ValueError(f"cannot split axis {self.axis} of length "
                             f"{x.shape[self.axis]} into {self.ios}: {exc}") from exc

    def backward(self, *gys):
        """dL/dy_i for every piece -> dL/dx, the pieces joined back."""
        return self.device.xp.concatenate(gys, axis=self.axis)


def _key_arrays(key, device):
    """Turn Tensors used as indices into plain arrays."""
    if isinstance(key, tuple):
        return tuple(k.data if isinstance(k, Tensor) else k for k in key)
    return key.data if isinstance(key, Tensor) else key


def reshape(x, shape):
    """``x`` with a new ``shape`` (one entry may be -1)."""
    return Reshape(shape)(x)


def transpose(x, axes=None):
    """Permute the axes of ``x`` (reverse them if ``axes`` is None)."""
    return Transpose(axes)(x)


def flatten(x, start_dim=1):
    """Flatten all axes from ``start_dim`` on: (N, C, H, W) -> (N, C*H*W).

    The new length is the product of the flattened axes, not -1, so an
    empty batch works too: (0, C, H, W) -> (0, C*H*W)."""
    size = 1
    for n in x.shape[start_dim:]:
        size *= n
    return reshape(x, x.shape[:start_dim] + (size,))


def getitem(x, key):
    """``x[key]``: slices, ints, None/Ellipsis, integer or boolean arrays."""
    return GetItem(_key_arrays(key, x.device))(x)


def concatenate(xs, axis=0):
    """Join a sequence of tensors along ``axis`` (all on one device)."""
    if len(xs) == 0:
        raise ValueError("concatenate needs at least one tensor")
    return Concatenate(axis)(*xs)


def split(x, indices_or_sections, axis=0):
    """Split ``x`` along ``axis`` into a tuple of tensors, as ``numpy.split``:
    an int gives that many equal pieces, a list gives the cut points."""
    ys = Split(indices_or_sections, axis)(x)
    return ys if isinstance(ys, tuple) else (ys,)
