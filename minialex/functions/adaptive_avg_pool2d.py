"""Adaptive 2-D average pooling: a fixed output size for any input size
(torchvision's AlexNet puts ``AdaptiveAvgPool2d((6, 6))`` before fc6)."""

from ..engine import Function
from ._utils import check_float


def bin_matrix(xp, length, out, dtype):
    """The (out, length) averaging matrix of one axis: row i is
    1/(end_i - start_i) on columns start_i..end_i - 1, with PyTorch's bins
    start_i = floor(i * L / out), end_i = ceil((i + 1) * L / out)."""
    i = xp.arange(out)
    start = (i * length) // out
    end = -((-(i + 1) * length) // out)                  # ceil division
    col = xp.arange(length)
    inside = (col[None, :] >= start[:, None]) & (col[None, :] < end[:, None])
    return (inside / (end - start)[:, None]).astype(dtype)


class AdaptiveAvgPool2d(Function):
    """y[n,c] = A_h @ x[n,c] @ A_w^T  for every (n, c) plane,

    A_h (OH, H) and A_w (OW, W) the bin matrices (:func:`bin_matrix`): output
    (i, j) is the mean of the rows of bin i and the columns of bin j, so the
    average over the bin is separable into a row average and a column
    average. Bins may overlap (e.g. 13 rows into 6 bins).

    Derivation: y is linear in x, y = A_h X A_w^T, so for L = <G, y>,
    dL/dX = A_h^T G A_w: gx[n,c] = A_h^T @ gy[n,c] @ A_w.
    """

    def __init__(self, out):
        self.out = out

    def forward(self, x):
        """y = A_h @ x @ A_w^T."""
        xp = self.device.xp
        h, w = x.shape[2:]
        self.a_h = bin_matrix(xp, h, self.out[0], x.dtype)
        self.a_w = bin_matrix(xp, w, self.out[1], x.dtype)
        return self.a_h @ x @ self.a_w.T

    def backward(self, gy):
        """gx = A_h^T @ gy @ A_w."""
        return self.a_h.T @ gy @ self.a_w


def adaptive_avg_pool2d(x, output_size):
    """Average-pool (N, C, H, W) to (N, C, OH, OW) for any H, W
    (PyTorch's ``F.adaptive_avg_pool2d``, the same bins).

    Args:
        x: Tensor (N, C, H, W), float.
        output_size: int or (OH, OW); None in a place keeps that input size.

    Raises:
        ValueError: x not 4-D, or an output size < 1.
    """
    if x.ndim != 4:
        raise ValueError(f"adaptive_avg_pool2d expects x of shape (N, C, H, W), got "
                         f"{tuple(x.shape)}")
    check_float("adaptive_avg_pool2d", x=x)
    size = tuple(output_size) if isinstance(output_size, (tuple, list)) else (output_size,) * 2
    if len(size) != 2:
        raise ValueError(f"adaptive_avg_pool2d: output_size={output_size!r} must be an int or "
                         "a pair (OH, OW)")
    size = tuple(x.shape[2 + i] if s is None else int(s) for i, s in enumerate(size))
    if min(size) < 1:
        raise ValueError(f"adaptive_avg_pool2d: output_size={size} must be >= 1")
    return AdaptiveAvgPool2d(size)(x)
