"""conv2d's ``chwn_slices`` path: im2col and col2im as kh*kw strided slices
of an image-last (C, H, W, N) layout, with recycled column arrays.

Why this is faster (the products are BLAS; the rest is moving numbers):

- Layout. Here an image batch is (C, H, W, N), the image index fastest, so
  each kernel offset copies runs of OW*N neighbouring numbers; in NCHW they
  would be runs of OW (6 or 13 numbers in AlexNet), and NumPy pays a
  Python-level step per run. It costs one transpose in (x) and one out (y),
  each the size of an activation, far smaller than the columns (commit
  8c0dc7b). The transposes go a cache-sized block of channels at a time
  (one big strided copy is several times slower with NumPy).
- One preallocated column array written by kh*kw strided copies (a loop
  over kernel offsets, never over pixels); col2im adds them back the same
  way. Big copies are split across the CPU cores (``_threads``; commit
  1a1a8a0).
- Spare columns. A column array is the biggest thing a convolution makes
  (kh*kw times its input); fresh memory of that size costs about as much
  again as filling it (the OS maps and zeroes every page), so on the CPU a
  finished column array is kept and handed to the next call of the same
  shape (commit e6ebd06). The backward pass writes the columns' gradient
  over the columns once dL/dW is done. CuPy has its own memory pool.
- The weight gradient ``gY @ cols^T`` is computed as ``(cols @ gY^T)^T``:
  the same numbers, and BLAS runs that orientation faster when C_out/G is
  small (commit e6ebd06).

Benchmark (benchmarks/layers_conv.py, 2 shared cores, 2026-11-30): the
whole layer is within 1.1-1.3x of its own matrix products (the floor of an
im2col convolution on NumPy's BLAS), e.g. paper conv2 217 ms against 193
ms of products.

Every function uses the array module of its input (NumPy or CuPy).
"""

import numpy

from ...backend import get_array_module
from .._threads import parallel

__all__ = ["to_chwn", "to_nchw", "im2col", "col2im", "new_columns", "free_columns",
           "a_times_b_transposed"]

# Numbers per block of the NCHW <-> CHWN transposes (a block stays in cache).
TRANSPOSE_BLOCK_NUMBERS = 1 << 16
# Spare column arrays kept at most (the oldest goes first).
MAX_SPARE_COLUMNS = 16
_spare_columns = {}          # (shape, dtype) -> a free NumPy array


def new_columns(xp, shape, dtype):
    """An uninitialised array: a spare one of that shape if there is one."""
    cols = _spare_columns.pop((shape, dtype), None) if xp is numpy else None
    return cols if cols is not None else xp.empty(shape, dtype=dtype)


def free_columns(cols):
    """Hand a column array back for reuse (NumPy only; None is ignored)."""
    if isinstance(cols, numpy.ndarray):
        _spare_columns[cols.shape, cols.dtype] = cols
        while len(_spare_columns) > MAX_SPARE_COLUMNS:
            del _spare_columns[next(iter(_spare_columns))]


# ---------------------------------------------------------------- layouts
def to_chwn(x, padding=(0, 0), end=(0, 0)):
    """(N, C, H, W) -> (C, H + 2*ph + eh, W + 2*pw + ew, N), zero-padded
    (``end`` = (eh, ew) extra zeros after the bottom and right), contiguous."""
    xp, (N, C, H, W), (ph, pw), (eh, ew) = get_array_module(x), x.shape, padding, end
    out = xp.empty((C, H + 2 * ph + eh, W + 2 * pw + ew, N), dtype=x.dtype)
    out[:, :ph] = 0                     # the zero border (cheaper than zeroing it all)
    out[:, H + ph:] = 0
    out[:, :, :pw] = 0
    out[:, :, W + pw:] = 0

    def copy(lo, hi):                   # channels lo..hi-1
        out[lo:hi, ph:ph + H, pw:pw + W, :] = x[:, lo:hi].transpose(1, 2, 3, 0)
    parallel(copy, C, x)
    return out


def to_nchw(a, bias=None):
    """(C, H, W, N) -> (N, C, H, W) contiguous, plus ``bias[c]`` if given,
    a cache-sized block of channels at a time (CuPy: in one go)."""
    xp, (C, H, W, N) = get_array_module(a), a.shape
    out = xp.empty((N, C, H, W), dtype=a.dtype)
    step = C if xp is not numpy else max(1, TRANSPOSE_BLOCK_NUMBERS // max(1, H * W * N))

    def copy(lo, hi):                   # blocks lo..hi-1
        for c in range(lo * step, min(C, hi * step), step):
            block = a[c:c + step].transpose(3, 0, 1, 2)
            if bias is None:
                out[:, c:c + step] = block
            else:
                xp.add(block, bias[c:c + step].reshape(-1, 1, 1), out=out[:, c:c + step])
    parallel(copy, -(-C // step), a)
    return out


# ---------------------------------------------------------------- im2col / col2im
def offset_slices(kernel, stride, out_hw):
    """For each kernel offset (i, j) in row-major order: i, j and the
    slices of a padded (C, Hp, Wp, N) image that the offset reads,
    ``[:, i : i + sh*OH : sh, j : j + sw*OW : sw]``."""
    (kh, kw), (sh, sw), (OH, OW) = kernel, stride, out_hw
    return [(i, j, (slice(None), slice(i, i + sh * OH, sh), slice(j, j + sw * OW, sw)))
            for i in range(kh) for j in range(kw)]


def im2col(x, kernel, stride, padding, out_hw):
    """x (N, C, H, W) -> cols (C, kh, kw, OH, OW, N): the zero-padded image
    in CHWN, then one strided copy per kernel offset into one array."""
    xb = to_chwn(x, padding)
    xp, C, N = get_array_module(xb), xb.shape[0], xb.shape[3]
    cols = new_columns(xp, (C, kernel[0], kernel[1], out_hw[0], out_hw[1], N), xb.dtype)
    offsets = offset_slices(kernel, stride, out_hw)

    def copy(lo, hi):                   # kernel offsets lo..hi-1
        for i, j, window in offsets[lo:hi]:
            cols[:, i, j] = xb[window]
    parallel(copy, len(offsets), cols)
    return cols


def col2im(cols, x_shape, kernel, stride, padding, out_hw):
    """cols (C, kh, kw, OH, OW, N) -> dx (N, C, H, W): the same slices as
    :func:`im2col` added (not copied) into a zero padded CHWN image, whose
    inside is then transposed back to NCHW."""
    xp, (N, C, H, W), (ph, pw) = get_array_module(cols), x_shape, padding
    padded = xp.zeros((C, H + 2 * ph, W + 2 * pw, N), dtype=cols.dtype)
    offsets = offset_slices(kernel, stride, out_hw)

    def add(lo, hi):                    # channels lo..hi-1 (offsets overlap, channels don't)
        for i, j, window in offsets:
            padded[lo:hi][window] += cols[lo:hi, i, j]
    parallel(add, C, cols)
    return to_nchw(padded[:, ph:ph + H, pw:pw + W, :])


def a_times_b_transposed(a, b):
    """``a @ b^T`` for stacks (G, M, P) and (G, K, P) -> (G, M, K),
    contiguous: computed as ``(b @ a^T)^T`` (see the module note)."""
    xp = get_array_module(a)
    return xp.ascontiguousarray(xp.matmul(b, a.transpose(0, 2, 1)).transpose(0, 2, 1))
