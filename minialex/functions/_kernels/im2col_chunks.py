"""conv2d's ``chwn_chunks`` path: the im2col convolution of
:mod:`minialex.functions.conv2d`, a chunk of images at a time.

The maths is conv2d's, unchanged: per group g, with X = im2col(x) viewed
as (G, K, P) and W as (G, C_out/G, K),

    Y_g = W_g @ X_g,   dL/dW_g = gY_g @ X_g^T,   dL/dX_g = W_g^T @ gY_g,
    dL/dx = col2im(dL/dX),   dL/db = gy summed over n, oh, ow.

The columns of image n are only ever read with the outputs of image n, so
every product splits over chunks of images: Y and dL/dX chunk by chunk,
and dL/dW as the sum over chunks of ``gY_chunk @ X_chunk^T``.

Why chunks pay (the products and copies are the same; only where and
on which core they run changes):

- Whole batch (:mod:`.im2col_cpu`), the column array is kh*kw times the
  input, 69 MB for the small preset's conv2 at batch 128: written to
  memory, read back by the forward product, kept until the backward pass,
  read for dL/dW, overwritten by dL/dX and read by col2im. A chunk's
  columns are used while they are still in cache, and the backward pass
  rebuilds them from x (one copy) instead of keeping them: a convolution
  keeps only its input between the passes.
- Each thread takes whole chunks and runs its products on one BLAS thread
  (:func:`.winograd.batched_products`): each core copies and multiplies
  its own images, where the whole-batch path splits each skinny product
  over both cores' BLAS threads and each copy over minialex's threads.
- Measured fwd+bwd against the whole-batch path (benchmarks/conv_paths.py,
  batch 128, 2 cores): 11-32% faster on the 5x5 stride-1 layers, 5-7% on
  the small preset's 3x3 layers; chunks of one or two images are 1.5-4x
  slower (thin products), hence :data:`CHUNK_POSITIONS`. The ImageNet
  conv1 (11x11, stride 4) runs 1.56x slower in chunks: the path table keeps
  strides over 1 on the whole batch.
"""

import numpy

from ...backend import get_array_module
from .im2col_cpu import (a_times_b_transposed, col2im, free_columns, im2col,  # noqa: F401
                         new_columns, offset_slices, to_chwn, to_nchw)
from .winograd import batched_products

__all__ = ["applies", "forward", "backward", "chunk_images", "CHUNK_NUMBERS"]

# A chunk of images: enough output positions (OH*OW*n) that its matrix
# products run at BLAS speed, and at most this many numbers in its column
# array (C*kh*kw*OH*OW*n; at least one image). Measured fwd+bwd on
# AlexNet's CIFAR layers at batch 128 (benchmarks/conv_paths.py
# --chunk-numbers, 2-core AVX-512 Xeon, 2026-12-02): 5x5 layers with few
# input channels (conv1, K = 75) ran fastest with chunks of 6,000-13,000
# positions (2-4 MB of columns: they stay in the core's cache), conv2 with
# 2,500-5,000 positions up to 16 MB; chunks of one or two images (under
# 500 positions) took 1.5-4x as long (per-call costs, thin products).
CHUNK_POSITIONS = 4096
CHUNK_NUMBERS = 1 << 22


def applies(kernel, stride):
    """Every window: this path computes any convolution."""
    return True


def chunk_images(N, positions_per_image, numbers_per_image):
    """Images per chunk: enough for :data:`CHUNK_POSITIONS` output positions,
    fewer if that is over :data:`CHUNK_NUMBERS` numbers; 1 to N."""
    n = min(-(-CHUNK_POSITIONS // max(1, positions_per_image)),
            CHUNK_NUMBERS // max(1, numbers_per_image))
    return max(1, min(N, n))


def _padded_chwn(x, padding):
    """x (n, C, H, W) -> (C, H+2ph, W+2pw, n), zero border (one thread)."""
    (n, C, H, W), (ph, pw) = x.shape, padding
    out = get_array_module(x).zeros((C, H + 2 * ph, W + 2 * pw, n), dtype=x.dtype)
    out[:, ph:ph + H, pw:pw + W] = x.transpose(1, 2, 3, 0)
    return out


def _columns(x, kernel, stride, padding, out_hw, cols):
    """im2col of the chunk x (n, C, H, W) into cols (C, kh, kw, OH, OW, n)."""
    xb = _padded_chwn(x, padding)
    for i, j, window in offset_slices(kernel, stride, out_hw):
        cols[:, i, j] = xb[window]
    return cols


def _uncolumns(gcols, x_shape, kernel, stride, padding, out_hw, gx):
    """col2im of a chunk's column gradient into gx (n, C, H, W)."""
    (n, C, H, W), (ph, pw) = x_shape, padding
    padded = get_array_module(gcols).zeros((C, H + 2 * ph, W + 2 * pw, n), dtype=gcols.dtype)
    for i, j, window in offset_slices(kernel, stride, out_hw):
        padded[window] += gcols[:, i, j]
    gx[...] = padded[:, ph:ph + H, pw:pw + W].transpose(3, 0, 1, 2)


def _chunks(N, C, kernel, out_hw):
    """The chunks (lo, hi) of the N images: :func:`chunk_images` a chunk at
    most, an even number of chunks (two threads get equal work; at least two
    unless N = 1), sizes differing by at most one. The split depends on the
    shapes only, not on the thread count, so dL/dW (summed in chunk order)
    is the same to the bit on any number of threads."""
    positions = out_hw[0] * out_hw[1]
    n = chunk_images(N, positions, C * kernel[0] * kernel[1] * positions)
    k = -(-N // n)
    k = max(1, min(N, k + k % 2))              # N = 0: one empty chunk
    return [(N * i // k, N * (i + 1) // k) for i in range(k)]


def _over_chunks(step, chunks, shape, dtype, a):
    """Run ``step(c, lo, hi, cols)`` for every chunk c = (lo, hi) of images,
    the chunks split over minialex's threads, each thread's products on one
    BLAS thread (a single chunk runs here, BLAS threads as they are);
    ``cols`` is the thread's column buffer, shaped ``shape + (hi - lo,)``,
    allocated once per thread for the biggest chunk."""
    per_image, xp = int(numpy.prod(shape)), get_array_module(a)
    most = max(hi - lo for lo, hi in chunks)

    def work(c0, c1):
        buffer = xp.empty(per_image * most, dtype=dtype)
        for c in range(c0, c1):
            lo, hi = chunks[c]
            step(c, lo, hi, buffer[:per_image * (hi - lo)].reshape(shape + (hi - lo,)))
    if len(chunks) == 1:
        work(0, 1)
    else:
        batched_products(work, len(chunks), a)


def forward(x, W, b, stride, padding, groups, out_hw, keep=True):
    """y = conv(x, W) + b chunk by chunk (NumPy or CuPy). x (N, C, H, W),
    W (C_out, C/G, kh, kw), b (C_out,) or None. Returns (y, saved): y
    (N, C_out, OH, OW) and what :func:`backward` needs (x, never columns;
    ``keep`` is accepted for the interface and has nothing to keep)."""
    xp, (N, C, _, _), (C_out, _, kh, kw), G = get_array_module(x), x.shape, W.shape, groups
    W3 = xp.ascontiguousarray(W).reshape(G, C_out // G, -1)             # (G, C_out/G, K)
    y = xp.empty((N, C_out) + tuple(out_hw), dtype=x.dtype)
    bias = None if b is None else b.reshape(1, C_out, 1, 1)

    def step(c, lo, hi, cols):
        _columns(x[lo:hi], (kh, kw), stride, padding, out_hw, cols)
        Y = xp.matmul(W3, cols.reshape(G, W3.shape[2], -1))          # W_g @ X_g
        Y = Y.reshape((C_out,) + tuple(out_hw) + (hi - lo,)).transpose(3, 0, 1, 2)
        if bias is None:
            y[lo:hi] = Y
        else:
            xp.add(Y, bias, out=y[lo:hi])
    _over_chunks(step, _chunks(N, C, (kh, kw), out_hw), (C, kh, kw) + tuple(out_hw), x.dtype, x)
    return y, [x, W3, W.shape, stride, padding, groups, out_hw]


def backward(saved, gy, needs_x, needs_W, needs_b):
    """(dL/dx, dL/dW, dL/db) of :func:`forward` for gy (N, C_out, OH, OW),
    each None where not needed; dL/dW sums the chunks' ``gY @ X^T``."""
    x, W3, w_shape, stride, padding, G, out_hw = saved
    xp, (N, C, _, _), C_out, (kh, kw) = get_array_module(gy), x.shape, gy.shape[1], w_shape[2:]
    K = W3.shape[2]
    gx = xp.empty_like(x) if needs_x else None
    chunks = _chunks(N, C, (kh, kw), out_hw)
    gWs, gbs = [None] * len(chunks), [None] * len(chunks)   # each chunk's part

    def step(c, lo, hi, cols):
        gY = xp.ascontiguousarray(gy[lo:hi].transpose(1, 2, 3, 0)).reshape(G, C_out // G, -1)
        if needs_b:         # rows of gY: NumPy's pairwise sum (gy.sum(axis=(0, 2, 3)) adds
            gbs[c] = gY.reshape(C_out, -1).sum(axis=1)   # over images one by one: less exact)
        if needs_W:
            _columns(x[lo:hi], (kh, kw), stride, padding, out_hw, cols)   # rebuilt, in cache
            gWs[c] = a_times_b_transposed(gY, cols.reshape(G, K, -1))     # gY_g @ X_g^T
        if needs_x:
            xp.matmul(W3.transpose(0, 2, 1), gY, out=cols.reshape(G, K, -1))  # W_g^T @ gY_g
            _uncolumns(cols, (hi - lo,) + x.shape[1:], (kh, kw), stride, padding, out_hw,
                       gx[lo:hi])
    _over_chunks(step, chunks, (C, kh, kw) + tuple(out_hw), gy.dtype, x)
    gW = xp.stack(gWs).sum(axis=0).reshape(w_shape) if needs_W else None
    gb = xp.stack(gbs).sum(axis=0) if needs_b else None
    return gx, gW, gb
