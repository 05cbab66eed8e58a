"""Max-pooling from the formula: read this before
:mod:`minialex.functions.max_pool2d` (same arguments, same results).

    y[n, c, oy, ox] = max over the window's real elements of x[n, c, r, col],
    r = oy*sh + i - ph, col = ox*sw + j - pw, 0 <= i < kh, 0 <= j < kw

Padding (and ceil mode's overhang past the input) is -inf: it is never the
maximum, so the loops below simply skip positions outside the input.
"""

import numpy as np


def _pair(v):
    """``3 -> (3, 3)``; ``(3, 5) -> (3, 5)``."""
    return tuple(v) if isinstance(v, (tuple, list)) else (v, v)


def pool_output_size(length, kernel, stride, padding, ceil_mode):
    """Windows along one axis (PyTorch's rule). Floor mode:
    ``floor((L + 2p - k) / s) + 1``. Ceil mode: ``ceil((L + 2p - k) / s) + 1``,
    less one when the last window would start at or beyond ``L + p`` (in the
    right/bottom padding only)."""
    span = length + 2 * padding - kernel
    if not ceil_mode:
        return span // stride + 1
    n = -(-span // stride) + 1
    return n - 1 if (n - 1) * stride >= length + padding else n


def _windows(x_shape, kernel_size, stride, padding, ceil_mode):
    """The output shape, and for every output (n, c, oy, ox) the positions
    (r, col) of its window that lie inside the input, in row-major window
    order (top row first, then left to right)."""
    (kh, kw), (ph, pw) = _pair(kernel_size), _pair(padding)
    sh, sw = _pair(kernel_size if stride is None else stride)
    N, C, H, W = x_shape
    OH = pool_output_size(H, kh, sh, ph, ceil_mode)
    OW = pool_output_size(W, kw, sw, pw, ceil_mode)
    windows = []
    for n, c, oy, ox in np.ndindex(N, C, OH, OW):
        cells = [(oy * sh + i - ph, ox * sw + j - pw) for i in range(kh) for j in range(kw)]
        inside = [(r, col) for r, col in cells if 0 <= r < H and 0 <= col < W]
        if not inside:
            raise ValueError(f"window {(oy, ox)} holds padding only: padding {(ph, pw)} must be "
                             f"at most half the kernel {(kh, kw)}")
        windows.append(((n, c, oy, ox), inside))
    return (N, C, OH, OW), windows


def _first_max(plane, cells):
    """The first of ``cells`` (row-major) holding the window's maximum of
    ``plane``: a later cell wins only when strictly greater, so ties keep
    the first. A NaN counts as larger than any number (the first NaN wins,
    and the output is NaN), as in PyTorch."""
    best = cells[0]
    for cell in cells[1:]:
        v, b = plane[cell], plane[best]
        if v > b or (np.isnan(v) and not np.isnan(b)):
            best = cell
    return best


def max_pool2d(x, kernel_size, stride=None, padding=0, ceil_mode=False):
    """Max-pooling (paper section 3.4: kernel 3, stride 2, overlapping).

    Args:
        x: (N, C, H, W) float array. kernel_size: int or (kh, kw).
        stride: int or (sh, sw); default ``kernel_size``. padding: int or
            (ph, pw), at most half the kernel (every window then holds a
            real element). ceil_mode: see :func:`pool_output_size`.
    Returns:
        (N, C, OH, OW) array of x's dtype.
    """
    shape, windows = _windows(x.shape, kernel_size, stride, padding, ceil_mode)
    y = np.empty(shape, dtype=x.dtype)
    for (n, c, oy, ox), cells in windows:
        y[n, c, oy, ox] = x[n, c][_first_max(x[n, c], cells)]
    return y


def max_pool2d_backward(dy, x, kernel_size, stride=None, padding=0, ceil_mode=False):
    """dL/dx given dy = dL/dy of :func:`max_pool2d`.

    Derivation. y[w] = x[a(w)], where a(w) is the window's (first) maximum,
    so dy[w]/dx[u] = 1 if u = a(w) and 0 otherwise (a small change of x
    does not move the maximum, except at ties, where we take the first
    element's side). By the chain rule

        dx[u] = sum over outputs w of dy[w] * [u = a(w)],

    i.e. each output sends its whole gradient to its argmax; an input that
    is the argmax of several overlapping windows receives the sum, an input
    that is no window's argmax gets 0.

    Returns: an array shaped like x.
    """
    _, windows = _windows(x.shape, kernel_size, stride, padding, ceil_mode)
    dx = np.zeros(x.shape, dtype=dy.dtype)
    for (n, c, oy, ox), cells in windows:
        r, col = _first_max(x[n, c], cells)
        dx[n, c, r, col] += dy[n, c, oy, ox]
    return dx
