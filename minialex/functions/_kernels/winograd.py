"""conv2d's ``winograd_f2x2_3x3`` and ``winograd_f3x3_3x3`` paths: 3x3
stride-1 convolutions by Winograd's minimal filtering F(m x m, 3x3), m = 2
or 3 (Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks",
CVPR 2016, section 4), forward and backward; every other window falls
back to im2col (this module re-exports :mod:`.im2col_cpu`'s interface, so
``paths.use`` can force it on any conv). This module is the F(2x2) path;
:mod:`.winograd_f3x3` runs the same code with m = 3, and
:mod:`.winograd_f2x2_5x5` with m = 2 on 5x5 kernels (r = 5): everything
below holds for an r x r kernel with n = m + r - 1 and tiles overlapping
by r - 1, the matrices F(m, r)'s.

One dimension first, F(m, 3): m outputs of a 3-tap correlation,
``y_k = d_k g0 + d_{k+1} g1 + d_{k+2} g2``, from a tile of n = m + 2
inputs d, in n products instead of 3m:

    y = AT [(G g) * (BT d)]        (``*`` element-wise)

with AT (m, n), G (n, 3), BT (n, n) built exactly from n - 1 interpolation
points and infinity (:mod:`.winograd_matrices`, which derives the
construction and checks F(2, 3) and F(3, 3) by hand). For F(2, 3) with
points 0, 1, -1:

    BT = [[-1, 0, 1, 0],     G = [[-1,    0,   0  ],     AT = [[1, 1,  1, 0],
          [0,  1, 1, 0],          [1/2,  1/2, 1/2],            [0, 1, -1, 1]]
          [0, -1, 1, 0],          [1/2, -1/2, 1/2],
          [0, -1, 0, 1]]          [0,    0,   1  ]]

and with m = (G g) * (BT d): m0 = -g0 (d2 - d0), m1 = (g0 + g1 + g2)(d1 + d2)/2,
m2 = (g0 - g1 + g2)(d2 - d1)/2, m3 = g2 (d3 - d1), so
m0 + m1 + m2 = d0 g0 + d1 g1 + d2 g2 = y0 and m1 - m2 + m3 = d1 g0 + d2 g1 + d3 g2 = y1.
F(3, 3) uses the points 0, -1, 1/2, 2 (5 products for 3 outputs).

Two dimensions, F(m x m, 3x3): the 1-D identity on rows, then on columns
(the 2-D correlation is the 1-D one nested), so for an n x n input tile d
and the 3x3 kernel g the m x m output tile is

    y = AT [ (G g GT) * (BT d B) ] A         (n^2 products instead of 9 m^2)

The n x n tile of products ``m = U * V`` with ``U = G g GT`` and
``V = BT d B`` is thus a tile of partial sums that ``AT . A`` adds into
the m x m outputs. Output tiles step by m, so input tiles (n x n) step by
m too and overlap by 2 rows/columns. Summing over input channels c
commutes with ``AT . A`` (it is linear), so per position (a, b) of the
n x n tile the channel sum is one matrix product over channels:

    M[a, b] = U[a, b] @ V[a, b]    U[a, b]: (C_out/G, C/G), V[a, b]: (C/G, T)

n^2 batched GEMMs per group, T = N * ceil(OH/m) * ceil(OW/m) tiles: the
convolution's 9 * OH * OW multiplications per (output, input) channel
pair become n^2 * OH*OW/m^2: 16/4 = 4 a output for F(2x2) (2.25x fewer
than 9), 25/9 = 2.78 for F(3x3) (3.24x fewer; 1.44x fewer than F(2x2)).
When m does not divide OH (or OW) the last tile row (column) is partly
padding: the input is zero-padded at the end to m*th + 2 rows, those
outputs are computed and dropped. (The transforms skip zero coefficients,
so a NaN pixel spoils the outputs BT's and AT's nonzero entries connect it
to in each tile holding it: for F(2x2) exactly those whose 3x3 windows
hold it; F(3x3) connects a tile's middle three inputs to all three
outputs, so a NaN there spreads a little further than the reference's.)
AlexNet's CIFAR conv3-conv5 maps are
6x6: whole 3x3 tiles (F(4x4) would need 8x8). The three transforms are
small matrix products applied on the two tile axes of stacks
``(n, n, ...)``, batched over the rest (:func:`both_sides`).

Shapes (K = C_out, th = ceil(OH/m), tw = ceil(OW/m)): the padded image
xb (C, m th + 2, m tw + 2, N), V (n, n, C, th, tw, N), U (n*n, G, K/G, C/G),
M (n*n, G, K/G, th tw N), the output Y (K, m th, m tw, N) before cropping.

Backward. Each step is linear, so its gradient is its transpose:

- ``Y = AT M A`` per tile gives ``dL/dM = A (dL/dY) AT`` (for
  ``Y = P M Q``, ``dL/dM = PT (dL/dY) QT``);
- ``M[a,b] = U[a,b] @ V[a,b]`` gives ``dL/dU[a,b] = dL/dM[a,b] @ V[a,b]T``
  and ``dL/dV[a,b] = U[a,b]T @ dL/dM[a,b]`` (the matrix product's rules);
- ``U = G g GT`` gives ``dL/dg = GT (dL/dU) G``;
  ``V = BT d B`` gives ``dL/dd = B (dL/dV) BT``;
- d is a copy of overlapping n x n windows of the zero-padded input
  (im2col with an n x n window and stride m), so ``dL/dx`` adds each
  tile's gradient back onto the pixels it was copied from (col2im),
  padding dropped;
- ``dL/db`` sums gy over images and positions: each channel's row of the
  (K, m th, m tw, N) copy of gy that ``dL/dM`` reads anyway (NumPy's
  pairwise sum of a contiguous row, as the im2col paths; the end padding
  adds zeros). ``gy.sum(axis=(0, 2, 3))`` adds image by image, several
  times less exact in float32.

This is the exact gradient of the computation done forward, which equals
the convolution in exact arithmetic, so it is the convolution's gradient
(the reference test and float64 gradcheck check it). Both input and
weight gradients run through the transforms (no im2col columns at all).

Accuracy (float32 against the float64 loop reference, max |error| / max
|reference| over y, dL/dx and dL/dW, conv3-conv5 at batch 4, 10 seeds;
tests/test_conv2d_paths.py checks it): small preset F(2x2) 4.3e-7,
F(3x3) 1.5e-6, im2col 8.4e-7; half preset 6.9e-7, 1.9e-6, 8.3e-7. The
error is mostly the rounding of the channel sums in M, which the output
transform amplifies more for F(3x3) (:func:`.winograd_matrices.error_growth`:
1.7 for F(2x2), 4.8 for F(3x3) at its worst output).

Speed (benchmarks/conv_paths.py, forward + backward, batch 128, an idle
2-core AVX-512 EPYC), F(2x2): 0.97-1.11x the im2col path's time on the
small preset, 0.81-0.92x on half, 0.42-0.64x on paper; 1.2-3.7x PyTorch's.
(Under load 8 the first measurements read 0.20-0.41x: PyTorch and
im2col's threads suffered more from the shared cores.) F(3x3): not yet
measured on an idle machine (``paths`` does not choose it).
The n*n*G products run split over minialex's threads with one BLAS thread
each (:func:`batched_products`): as n*n*G multithreaded BLAS calls they were
slower than im2col's few big products (see there).
"""

import contextlib

import numpy

from ...backend import get_array_module
from .._threads import parallel
from .im2col_cpu import (a_times_b_transposed, col2im, free_columns, im2col,  # noqa: F401
                         new_columns, to_chwn, to_nchw)
from .winograd_matrices import winograd_matrices

__all__ = ["applies", "forward", "backward", "both_sides", "combine", "input_transform",
           "input_transform_transposed", "output_transform", "output_transform_transposed",
           "MATRICES", "BT", "G", "AT"]

# (m, r) -> (AT (m, n), G (n, r), BT (n, n)) of F(m, r), n = m + r - 1, float64:
# F(2, 3) and F(3, 3) here, F(2, 5) for :mod:`.winograd_f2x2_5x5`
MATRICES = {(m, r): winograd_matrices(m, r) for m, r in ((2, 3), (3, 3), (2, 5))}
AT, G, BT = MATRICES[(2, 3)]


def applies(kernel, stride):
    """True for the windows this path computes by Winograd: 3x3, stride 1."""
    return tuple(kernel) == (3, 3) and tuple(stride) == (1, 1)


def both_sides(M, a):
    """``M a MT`` on the first two axes of a stack ``a`` (q, q, ...):
    ``out[i, j, ...] = sum_{k,l} M[i, k] M[j, l] a[k, l, ...]``, shape
    (p, p, ...) for M (p, q): M along the first axis, then along the
    second. Used for the kernel's transforms (small); the image-sized
    transforms below do the same sums straight from and into the images."""
    rows = [[combine(M[i], [a[k, l] for k in range(M.shape[1])]) for l in range(M.shape[1])]
            for i in range(M.shape[0])]
    xp = get_array_module(a)
    return xp.stack([xp.stack([combine(M[j], rows[i]) for j in range(M.shape[0])])
                     for i in range(M.shape[0])])


def combine(coeffs, terms, out=None):
    """``sum_k coeffs[k] * terms[k]`` over the nonzero coefficients, added
    left to right (one row of a transform matrix times a stack of arrays),
    into ``out`` if given (zeros if every coefficient is 0). Coefficients
    +-1 are whole-array adds and subtractions (this measured 10-30x faster
    than BLAS for a 4x4 matrix times millions of columns); any other one
    is a multiplication (by the coefficient rounded to the terms' dtype)
    into one scratch array, then an add."""
    xp = get_array_module(terms[0])
    nz = [(float(c), t) for c, t in zip(coeffs, terms) if c != 0]
    if not nz:
        if out is None:
            return xp.zeros_like(terms[0])
        out[...] = 0
        return out
    (c0, t0), rest = nz[0], nz[1:]
    if rest and c0 == 1 and abs(rest[0][0]) == 1:
        c1, t1 = rest.pop(0)
        out = (xp.add if c1 == 1 else xp.subtract)(t0, t1, out=out)
    elif rest and c0 == -1 and rest[0][0] == 1:
        out = xp.subtract(rest.pop(0)[1], t0, out=out)
    else:
        out = xp.multiply(t0, t0.dtype.type(c0), out=out)
    scratch = None
    for c, t in rest:
        if c == 1:
            out += t
        elif c == -1:
            out -= t
        else:
            if scratch is None:
                scratch = xp.empty(out.shape, dtype=out.dtype)
            out += xp.multiply(t, t.dtype.type(c), out=scratch)
    return out


_controller = []        # threadpoolctl's ThreadpoolController, made once (None: not installed)


def _one_blas_thread():
    """A context in which NumPy's BLAS runs on one thread, where
    threadpoolctl is installed (else nothing changes)."""
    if not _controller:
        try:
            from threadpoolctl import ThreadpoolController
            _controller.append(ThreadpoolController())
        except ImportError:
            _controller.append(None)
    if _controller[0] is None:
        return contextlib.nullcontext()
    return _controller[0].limit(limits=1, user_api="blas")


def batched_products(product, count, a):
    """Run ``product(lo, hi)`` (matrix products lo..hi-1 of a stack) split
    over minialex's threads, each product on one BLAS thread: the n*n*G
    products are small, and a multithreaded BLAS call pays a wake-up of its
    threads per product (on a busy machine, up to a scheduler time slice
    each: 32 calls of (96, 96) @ (96, 1152) took 250 ms on 2 loaded cores,
    the same numbers in one call 11 ms)."""
    if get_array_module(a) is not numpy:
        product(0, count)
        return
    with _one_blas_thread():
        parallel(product, count, a)


def _tiles(out_hw, m):
    return -(-out_hw[0] // m), -(-out_hw[1] // m)


def input_transform(xb, th, tw, V, m):
    """``V[a, b] = (BT d B)[a, b]`` for every n x n tile d (stride m,
    n = m + r - 1 = V.shape[0]) of the padded image xb (C, m th+r-1, m tw+r-1, N),
    into V (n, n, C, th, tw, N): ``BT`` along the rows from strided row
    slices of xb (the tile rows i of all tiles are the rows i, i+m, ...),
    then along the columns likewise, so the tiles themselves are never
    copied out. Split over channels."""
    n = V.shape[0]
    bt = MATRICES[(m, n - m + 1)][2]

    def work(lo, hi):
        x = xb[lo:hi]
        for a in range(n):
            r = combine(bt[a], [x[:, i:i + m * th:m] for i in range(n)])      # (c, th, Wp, N)
            for b in range(n):
                combine(bt[b], [r[:, :, j:j + m * tw:m] for j in range(n)], out=V[a, b, lo:hi])
    parallel(work, xb.shape[0], xb)


def input_transform_transposed(gV, th, tw, gxb, m):
    """The adjoint of :func:`input_transform`: adds ``(B gV BT)`` of every
    tile onto the tile's pixels of gxb (C, m th+r-1, m tw+r-1, N)."""
    xp, n = get_array_module(gV), gV.shape[0]
    bt = MATRICES[(m, n - m + 1)][2]

    def work(lo, hi):
        for a in range(n):
            r = xp.zeros((hi - lo, th) + gxb.shape[2:], dtype=gV.dtype)
            for j in range(n):
                r[:, :, j:j + m * tw:m] += combine(bt[:, j], [gV[a, b, lo:hi] for b in range(n)])
            for i in range(n):
                c = bt[a, i]
                if c:
                    window = gxb[lo:hi, i:i + m * th:m]
                    if c == 1:
                        window += r
                    elif c == -1:
                        window -= r
                    else:
                        window += r * r.dtype.type(c)
    parallel(work, gV.shape[2], gV)


def output_transform(M, Yv):
    """``(AT m A)`` of each n x n tile m of M (n, n, K, th, tw, N), written
    into the output tiles Yv (K, th, m, tw, m, N) (a view of the
    (K, m th, m tw, N) output). Split over output channels."""
    n, m = M.shape[0], Yv.shape[2]
    at = MATRICES[(m, n - m + 1)][0]

    def work(lo, hi):
        for p in range(m):
            z = [combine(at[p], [M[a, b, lo:hi] for a in range(n)]) for b in range(n)]
            for q in range(m):
                combine(at[q], z, out=Yv[lo:hi, :, p, :, q])
    parallel(work, M.shape[2], M)


def output_transform_transposed(gYv, gM):
    """The adjoint of :func:`output_transform`: ``gM[a, b] = (A gy AT)[a, b]``
    from the output tiles gYv (K, th, m, tw, m, N), into gM (n, n, K, th, tw, N)."""
    n, m = gM.shape[0], gYv.shape[2]
    at = MATRICES[(m, n - m + 1)][0]

    def work(lo, hi):
        for a in range(n):
            z = [combine(at[:, a], [gYv[lo:hi, :, p, :, q] for p in range(m)]) for q in range(m)]
            for b in range(n):
                combine(at[:, b], z, out=gM[a, b, lo:hi])
    parallel(work, gM.shape[2], gM)


def _transformed_input(x, padding, out_hw, m, r):
    """V (n, n, C, th, tw, N): ``BT d B`` of every input tile d of x."""
    (N, C, H, Wd), (ph, pw), (th, tw) = x.shape, padding, _tiles(out_hw, m)
    xb = to_chwn(x, padding, end=(m * th + r - 1 - H - 2 * ph, m * tw + r - 1 - Wd - 2 * pw))
    V = new_columns(get_array_module(x), (m + r - 1, m + r - 1, C, th, tw, N), x.dtype)
    input_transform(xb, th, tw, V, m)
    return V


def forward(x, W, b, stride, padding, groups, out_hw, keep=True, m=2):
    """y = conv(x, W) + b for an r x r kernel, stride 1, by F(m x m, r x r)
    ((m, r) = (2, 3), (3, 3) or (2, 5); n = m + r - 1).

    x (N, C, H, W), W (C_out, C/G, r, r), b (C_out,) or None, ``stride``
    (1, 1) (the caller checked :func:`applies`); returns
    (y (N, C_out, OH, OW), saved) where ``saved`` is what :func:`backward`
    needs (x, the transformed kernel U, if ``keep`` the transformed input
    V, m and r; a backward pass uses V's memory, a second one rebuilds it)."""
    xp = get_array_module(x)
    (N, C), C_out, Gr, r = x.shape[:2], W.shape[0], groups, W.shape[2]
    n = m + r - 1
    th, tw = _tiles(out_hw, m)
    V = _transformed_input(x, padding, out_hw, m, r)    # BT d B of every tile
    g = xp.ascontiguousarray(W.transpose(2, 3, 0, 1))   # (r, r, C_out, C/G)
    U = both_sides(MATRICES[(m, r)][1], g).reshape(n * n, Gr, C_out // Gr, C // Gr)  # G g GT
    M = new_columns(xp, (n * n, Gr, C_out // Gr, th * tw * N), x.dtype)
    U3, V3, M3 = (a.reshape((n * n * Gr,) + a.shape[2:])
                  for a in (U, V.reshape(n * n, Gr, C // Gr, -1), M))

    def product(lo, hi):                                # n*n GEMMs per group
        xp.matmul(U3[lo:hi], V3[lo:hi], out=M3[lo:hi])
    batched_products(product, n * n * Gr, M)
    Y = xp.empty((C_out, m * th, m * tw, N), dtype=x.dtype)
    output_transform(M.reshape(n, n, C_out, th, tw, N), Y.reshape(C_out, th, m, tw, m, N))
    free_columns(M)
    y = to_nchw(Y[:, :out_hw[0], :out_hw[1]], b)
    if not keep:
        free_columns(V)
    return y, [x, padding, groups, out_hw, U, V if keep else None, m, r]


def backward(saved, gy, needs_x, needs_W, needs_b):
    """(dL/dx, dL/dW, dL/db) of :func:`forward` for gy (N, C_out, OH, OW),
    each None where not needed (derivation in the module doc)."""
    xp = get_array_module(gy)
    x, (ph, pw), Gr, (OH, OW), U, V, m, r = saved
    saved[5] = None                                     # V's memory is reused below
    if V is None:                                       # a second backward: rebuild it
        V = _transformed_input(x, (ph, pw), (OH, OW), m, r)
    (N, C, H, Wd), C_out, n = x.shape, gy.shape[1], m + r - 1
    th, tw = _tiles((OH, OW), m)
    gyb = to_chwn(gy, (0, 0), end=(m * th - OH, m * tw - OW))     # (C_out, m th, m tw, N)
    gb = gyb.reshape(C_out, -1).sum(axis=1) if needs_b else None   # rows: pairwise sums
    gM = new_columns(xp, (n, n, C_out, th, tw, N), gy.dtype)
    output_transform_transposed(gyb.reshape(C_out, th, m, tw, m, N), gM)   # A gy AT
    gM = gM.reshape(n * n * Gr, C_out // Gr, -1)
    gx = gW = None
    if needs_W:
        V3 = V.reshape(n * n * Gr, C // Gr, -1)
        gU = xp.empty((n * n * Gr, C_out // Gr, C // Gr), dtype=gy.dtype)

        def product(lo, hi):                                           # gM V^T
            gU[lo:hi] = a_times_b_transposed(gM[lo:hi], V3[lo:hi])
        batched_products(product, n * n * Gr, V3)
        gW = both_sides(MATRICES[(m, r)][1].T, gU.reshape(n, n, C_out, C // Gr))  # GT gU G
        gW = xp.ascontiguousarray(gW.transpose(2, 3, 0, 1))            # (C_out, C/G, r, r)
    if needs_x:
        UT, gV = U.reshape(n * n * Gr, C_out // Gr, C // Gr).transpose(0, 2, 1), \
            V.reshape(n * n * Gr, C // Gr, -1)

        def product(lo, hi):                                           # U^T gM, over V
            xp.matmul(UT[lo:hi], gM[lo:hi], out=gV[lo:hi])
        batched_products(product, n * n * Gr, gV)
        gxb = xp.zeros((C, m * th + r - 1, m * tw + r - 1, N), dtype=gy.dtype)
        input_transform_transposed(gV.reshape(n, n, C, th, tw, N), th, tw, gxb, m)  # B gV BT
        gx = to_nchw(gxb[:, ph:ph + H, pw:pw + Wd])
    free_columns(gM.reshape(n, n, C_out, th, tw, N))
    free_columns(V)
    return gx, gW, gb
