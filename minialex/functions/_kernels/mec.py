"""conv2d's ``mec_rows`` path: stride-1 convolutions lowered along one
axis only, then one matrix product per output row (MEC, Cho & Brand,
"MEC: Memory-efficient Convolution for Deep Neural Network", ICML 2017).

The maths, per group g (channels c < C/G, kernel offsets i < kh, j < kw,
stride 1, x zero-padded to Hp x Wp rows and columns):

    y[n, o, oh, ow] = sum_{i, c, j} W[o, c, i, j] xpad[n, c, oh + i, ow + j]

im2col copies every window, kh*kw copies of each pixel. MEC copies only
the kw column shifts: the lowered input

    L[hp, (c, j), (ow, n)] = xpad[n, c, hp, ow + j]        (Hp, C/G*kw, OW*N)

holds, for output row oh, the window rows oh..oh+kh-1 as the kh
consecutive slabs L[oh : oh + kh]. Read as one matrix, that slab is
V_oh = L[oh : oh + kh].reshape(kh*C/G*kw, OW*N), rows (i, c, j): a view
(L is contiguous, so the slabs of neighbouring rows overlap and nothing
is copied), and

    Y[oh] = Wm @ V_oh          Wm = W reordered to (C_out/G, (i, c, j))

is output row oh, laid out (C_out/G, OW*N): OH matrix products of the
same K = kh*C/G*kw as im2col's single one, over kw*Hp/(kh*kw*OH) of its
copies (0.26 for a 5x5 kernel on a 13x13 map).

Backward, with gY[oh] = dL/dY[oh] (C_out/G, OW*N):

- dL/dW: Y[oh] = Wm @ V_oh, summed over rows, gives
  dL/dWm = sum_oh gY[oh] @ V_oh^T (the matrix product's rule; L rebuilt
  from x, it is small).
- dL/dx: stride 1 makes the input gradient a convolution of gy again.
  In one dimension y[o] = sum_i w[i] x[o + i - p], so
  dL/dx[t] = sum_o gy[o] w[t - o + p]; with i' = k - 1 - (t - o + p),
  dL/dx[t] = sum_i' w[k - 1 - i'] gy[t + i' - (k - 1 - p)]: the
  correlation of gy zero-padded by k - 1 - p with the flipped kernel. In
  two dimensions, per group, the kernel is flipped in both axes and its
  channel axes swapped (W_g^T: C/G outputs from C_out/G inputs), and that
  convolution runs by the same row products. (Padding over k - 1 crops
  gy instead.)
- dL/db: gy summed over n, oh, ow.

Chunks. The images of a chunk are the columns' (ow, n) axis, so every
product splits over chunks of images (dL/dW sums the chunks' parts in
chunk order: the same bits on any number of threads), each thread runs
whole chunks on one BLAS thread (as :mod:`.im2col_chunks` does), and
nothing but x is kept between the passes.

Other strides fall back to im2col (this module re-exports
:mod:`.im2col_cpu`'s interface, so ``paths.use`` can force it on any conv).
"""

from ...backend import get_array_module
from .im2col_chunks import _over_chunks as over_chunks
from .im2col_cpu import (a_times_b_transposed, col2im, free_columns, im2col,  # noqa: F401
                         new_columns, to_chwn, to_nchw)

__all__ = ["applies", "forward", "backward", "chunk_images", "CHUNK_COLUMNS"]

# Images per chunk: enough that each row product has at least this many
# columns (OW * images), fewer if the lowered input would be over
# CHUNK_NUMBERS numbers (32 MB of float32). Measured fwd+bwd (2-core
# Zen 4, 2026-12-03): the small preset's conv2 runs in two chunks of 64
# images (832 columns); the ImageNet conv2 (27x27, batch 32) ran 311.6 ms
# with 8M numbers (forward in 2 chunks of 16 images, backward in 6 of 5-6)
# against 400.8 with 4M (4 and 12 chunks) and 346.1 with 16M (2 and 4).
CHUNK_COLUMNS = 1024
CHUNK_NUMBERS = 1 << 23


def applies(kernel, stride):
    """True for stride-1 windows (any kernel size)."""
    return tuple(stride) == (1, 1)


def chunk_images(N, out_w, numbers_per_image):
    """Images per chunk, 1 to N: :data:`CHUNK_COLUMNS` columns' worth,
    fewer if that is over :data:`CHUNK_NUMBERS` numbers of lowered input."""
    n = min(-(-CHUNK_COLUMNS // max(1, out_w)), CHUNK_NUMBERS // max(1, numbers_per_image))
    return max(1, min(N, n))


def _chunks(N, out_w, numbers_per_image):
    """(lo, hi) image ranges: an even number of chunks (two threads get
    equal work; one if N <= 1), sizes within one of each other, from the
    shapes alone (not the thread count)."""
    k = -(-N // chunk_images(N, out_w, numbers_per_image))
    k = max(1, min(N, k + k % 2))
    return [(N * i // k, N * (i + 1) // k) for i in range(k)]


def _lowered(x, groups, kw, padding, out_w):
    """L (G, Hp, C/G, kw, OW, n) of the chunk x (n, C, H, W): L[g, hp, c, j,
    ow, :] = xpad[:, g*C/G + c, hp, ow + j] (zero padding), by a padded
    image-last copy and kw shifted slices of it."""
    xp, (n, C, H, W), (ph, pw) = get_array_module(x), x.shape, padding
    G, Hp = groups, H + 2 * ph
    xb = xp.zeros((G, Hp, C // G, W + 2 * pw, n), dtype=x.dtype)       # layout: image last
    xb[:, ph:ph + H, :, pw:pw + W] = x.reshape(n, G, C // G, H, W).transpose(1, 3, 2, 4, 0)
    L = xp.empty((G, Hp, C // G, kw, out_w, n), dtype=x.dtype)
    for j in range(kw):
        L[:, :, :, j] = xb[:, :, :, j:j + out_w]
    return L


def _row_matrices(L, kh, out_h):
    """V (G, OH, kh*C/G*kw, OW*n): V[g, oh] = L[g, oh:oh+kh] as one matrix,
    a strided view of L (the matrices of neighbouring rows overlap). The
    rows (i, c, j) are evenly spaced because L is contiguous."""
    G, _, Cg, kw, OW, n = L.shape
    s = L.strides
    return get_array_module(L).lib.stride_tricks.as_strided(
        L, (G, out_h, kh * Cg * kw, OW * n), (s[0], s[1], s[3], s[5]))


def _rows_weights(W, groups):
    """Wm (G, 1, C_out/G, kh*C/G*kw) of W (C_out, C/G, kh, kw): columns in
    the (i, c, j) order of :func:`_row_matrices`' rows."""
    C_out, Cg, kh, kw = W.shape
    xp = get_array_module(W)
    Wm = W.reshape(groups, C_out // groups, Cg, kh, kw).transpose(0, 1, 3, 2, 4)
    return xp.ascontiguousarray(Wm).reshape(groups, 1, C_out // groups, -1)


def _convolve_rows(x, Wm, kernel, padding, out_hw, out, bias=None):
    """out (n, C_out, OH, OW) = the stride-1 convolution of the chunk x with
    the row weights Wm (G, 1, C_out/G, K), plus bias (C_out,) if given: OH
    row products per group, then one copy into NCHW."""
    G, _, Cog, _ = Wm.shape
    xp, n, (kh, kw) = get_array_module(x), x.shape[0], kernel
    V = _row_matrices(_lowered(x, G, kw, padding, out_hw[1]), kh, out_hw[0])
    Y = xp.matmul(Wm, V)                                          # (G, OH, C_out/G, OW*n)
    Y = Y.reshape(G, out_hw[0], Cog, out_hw[1], n).transpose(4, 0, 2, 1, 3)
    out = out.reshape(n, G, Cog, out_hw[0], out_hw[1])   # a view (C split into groups)
    if bias is None:
        out[...] = Y
    else:
        xp.add(Y, bias.reshape(1, G, Cog, 1, 1), out=out)


def forward(x, W, b, stride, padding, groups, out_hw, keep=True):
    """y = conv(x, W) + b, stride 1, by row products a chunk of images at a
    time (NumPy or CuPy). x (N, C, H, W), W (C_out, C/G, kh, kw), b (C_out,)
    or None. Returns (y (N, C_out, OH, OW), saved): x and W, nothing bigger
    (``keep`` is accepted for the interface and has nothing to keep)."""
    xp, (N, C, H, _), (C_out, _, kh, kw) = get_array_module(x), x.shape, W.shape
    Wm = _rows_weights(W, groups)
    y = xp.empty((N, C_out) + tuple(out_hw), dtype=x.dtype)
    per_image = C * kw * (H + 2 * padding[0]) * out_hw[1]

    def step(c, lo, hi, _):
        _convolve_rows(x[lo:hi], Wm, (kh, kw), padding, out_hw, y[lo:hi], b)
    over_chunks(step, _chunks(N, out_hw[1], per_image), (0,), x.dtype, x)
    return y, [x, W, padding, groups, out_hw]


def _flipped(W, groups):
    """Per group, W_g (C_out/G, C/G, kh, kw) -> W_g^T flipped in both
    axes: (C, C_out/G, kh, kw), the kernel of dL/dx's convolution."""
    C_out, Cg, kh, kw = W.shape
    Wg = W.reshape(groups, C_out // groups, Cg, kh, kw)[:, :, :, ::-1, ::-1]
    return Wg.transpose(0, 2, 1, 3, 4).reshape(groups * Cg, C_out // groups, kh, kw)


def _weight_gradient(gY, V):
    """sum_oh gY[oh] @ V_oh^T, (G, C_out/G, K), computed as the transpose of
    sum_oh V_oh @ gY[oh]^T: the same numbers, and BLAS runs that
    orientation faster when C_out/G is small (small preset conv2, one
    chunk of 64 images on one thread: 8.6 against 12.2 ms)."""
    return get_array_module(gY).matmul(V, gY.transpose(0, 1, 3, 2)).sum(axis=1).transpose(0, 2, 1)


def backward(saved, gy, needs_x, needs_W, needs_b):
    """(dL/dx, dL/dW, dL/db) of :func:`forward` for gy (N, C_out, OH, OW),
    each None where not needed (derivation in the module doc)."""
    x, W, (ph, pw), G, out_hw = saved
    xp, (N, C, H, Wd), (C_out, Cg, kh, kw) = get_array_module(gy), x.shape, W.shape
    (OH, OW), Cog = out_hw, C_out // G
    gx = xp.empty(x.shape, dtype=x.dtype) if needs_x else None
    Wt = _rows_weights(_flipped(W, G), G) if needs_x else None
    qh, qw = kh - 1 - ph, kw - 1 - pw          # dL/dx's padding of gy (< 0: crop)
    gy_in = gy[:, :, max(0, -qh):OH - max(0, -qh), max(0, -qw):OW - max(0, -qw)]
    per_image = max(C * kw * (H + 2 * ph) * OW, C_out * kw * (OH + 2 * qh) * Wd)
    chunks = _chunks(N, OW, per_image)
    gWs, gbs = [None] * len(chunks), [None] * len(chunks)

    def step(c, lo, hi, _):
        n = hi - lo
        if needs_W or needs_b:
            gY = xp.ascontiguousarray(gy[lo:hi].reshape(n, G, Cog, OH, OW).transpose(1, 3, 2, 4, 0))
            gY = gY.reshape(G, OH, Cog, OW * n)                   # rows of dL/dY
            if needs_b:
                gbs[c] = gY.sum(axis=3).sum(axis=1).reshape(C_out)  # pairwise along rows
            if needs_W:
                V = _row_matrices(_lowered(x[lo:hi], G, kw, (ph, pw), OW), kh, OH)
                gWs[c] = _weight_gradient(gY, V)
        if needs_x:
            _convolve_rows(gy_in[lo:hi], Wt, (kh, kw), (max(0, qh), max(0, qw)), (H, Wd), gx[lo:hi])
    over_chunks(step, chunks, (0,), gy.dtype, x)
    gW = gb = None
    if needs_W:   # (G, C_out/G, (i, c, j)) -> (C_out, C/G, kh, kw)
        gW = xp.stack(gWs).sum(axis=0).reshape(G, Cog, kh, Cg, kw).transpose(0, 1, 3, 2, 4)
        gW = xp.ascontiguousarray(gW).reshape(C_out, Cg, kh, kw)
    if needs_b:
        gb = xp.stack(gbs).sum(axis=0)
    return gx, gW, gb
