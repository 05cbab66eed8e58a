"""conv2d's ``winograd_f2x2_3x3`` path: 3x3 stride-1 convolutions by
Winograd's minimal filtering F(2x2, 3x3) (Lavin & Gray, "Fast Algorithms
for Convolutional Neural Networks", CVPR 2016, section 4), forward and
backward; every other window falls back to im2col (this module re-exports
:mod:`.im2col_cpu`'s interface, so ``paths.use`` can force it on any conv).

One dimension first, F(2, 3): two outputs of a 3-tap correlation,
``y0 = d0 g0 + d1 g1 + d2 g2`` and ``y1 = d1 g0 + d2 g1 + d3 g2``, from a
tile of 4 inputs d. With

    BT = [[1, 0, -1, 0],      G = [[1,    0,   0  ],      AT = [[1, 1,  1,  0],
          [0, 1,  1, 0],           [1/2,  1/2, 1/2],            [0, 1, -1, -1]]
          [0, -1, 1, 0],           [1/2, -1/2, 1/2],
          [0, 1,  0, -1]]          [0,    0,   1  ]]

``y = AT [(G g) * (BT d)]`` (``*`` element-wise, 4 products instead of 6).
Check by expanding: with m = (G g) * (BT d),
m0 = (d0 - d2) g0, m1 = (d1 + d2)(g0 + g1 + g2)/2,
m2 = (d2 - d1)(g0 - g1 + g2)/2, m3 = (d1 - d3) g2, and
m0 + m1 + m2 = d0 g0 + d1 g1 + d2 g2 = y0, m1 - m2 - m3 = d1 g0 + d2 g1 + d3 g2 = y1
(the g1 terms of m1 and m2 cancel or add as needed; multiply out to see).

Two dimensions, F(2x2, 3x3): the 1-D identity on rows, then on columns
(the 2-D correlation is the 1-D one nested), so for a 4x4 input tile d and
the 3x3 kernel g the 2x2 output tile is

    y = AT [ (G g GT) * (BT d B) ] A         (16 products instead of 36)

The 4x4 tile of products ``m = U * V`` with ``U = G g GT`` and
``V = BT d B`` is thus a tile of partial sums that ``AT . A`` adds into the
2x2 outputs. Output tiles are 2x2 and step by 2, so input tiles (4x4) step
by 2 too and overlap by 2 rows/columns. Summing over input channels c
commutes with ``AT . A`` (it is linear), so per position (a, b) of the
4x4 tile the channel sum is one matrix product over channels:

    M[a, b] = U[a, b] @ V[a, b]    U[a, b]: (C_out/G, C/G), V[a, b]: (C/G, T)

16 batched GEMMs per group, T = N * ceil(OH/2) * ceil(OW/2) tiles: the
convolution's 9 * OH * OW multiplications per (output, input) channel pair
become 16 * OH*OW/4, 2.25x fewer (a little less for odd OH, whose last
tile row is half padding). The three transforms are small matrix products
applied on the two tile axes of stacks ``(4, 4, ...)``, batched over the
rest (:func:`both_sides`).

Backward. Each step is linear, so its gradient is its transpose:

- ``Y = AT M A`` per tile gives ``dL/dM = A (dL/dY) AT`` (for
  ``Y = P M Q``, ``dL/dM = PT (dL/dY) QT``);
- ``M[a,b] = U[a,b] @ V[a,b]`` gives ``dL/dU[a,b] = dL/dM[a,b] @ V[a,b]T``
  and ``dL/dV[a,b] = U[a,b]T @ dL/dM[a,b]`` (the matrix product's rules);
- ``U = G g GT`` gives ``dL/dg = GT (dL/dU) G``;
  ``V = BT d B`` gives ``dL/dd = B (dL/dV) BT``;
- d is a copy of overlapping 4x4 windows of the zero-padded input (im2col
  with a 4x4 window and stride 2), so ``dL/dx`` adds each tile's gradient
  back onto the pixels it was copied from (col2im), padding dropped.

This is the exact gradient of the computation done forward, which equals
the convolution in exact arithmetic, so it is the convolution's gradient
(the reference test and float64 gradcheck check it). Both input and
weight gradients run through the transforms (no im2col columns at all).

Accuracy (float32 against the float64 loop reference, max |error| / max
|reference| over y, dL/dx and dL/dW; benchmarks/conv_paths.py): 3.6e-7 to
6.4e-7 on conv3-conv5 of the CIFAR presets, im2col's 4.6e-7 to 9.1e-7.

Speed (the same script, forward + backward, batch 128, an idle 2-core
AVX-512 EPYC): 0.97-1.11x the im2col path's time on the small preset,
0.81-0.92x on half, 0.42-0.64x on paper; 1.2-3.7x PyTorch's. (Under load 8
the first measurements read 0.20-0.41x: PyTorch and im2col's threads
suffered more from the shared cores.)
The 16*G products run split over minialex's threads with one BLAS thread
each (:func:`batched_products`): as 16*G multithreaded BLAS calls they were
slower than im2col's few big products (see there).
"""

import contextlib

import numpy

from ...backend import get_array_module
from .._threads import parallel
from .im2col_cpu import (a_times_b_transposed, col2im, free_columns, im2col,  # noqa: F401
                         new_columns, to_chwn, to_nchw)

__all__ = ["applies", "forward", "backward", "both_sides", "combine", "input_transform",
           "input_transform_transposed", "output_transform", "output_transform_transposed",
           "BT", "G", "AT"]

BT = numpy.array([[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]], dtype=numpy.float64)
G = numpy.array([[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]], dtype=numpy.float64)
AT = numpy.array([[1, 1, 1, 0], [0, 1, -1, -1]], dtype=numpy.float64)


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
    """``sum_k coeffs[k] * terms[k]`` over the nonzero coefficients (one row
    of a transform matrix times a stack of arrays), into ``out`` if given.
    The entries are 0, +-1 and +-1/2: whole-array adds and subtractions
    (this measured 10-30x faster than BLAS for a 4x4 matrix times millions
    of columns)."""
    xp = get_array_module(terms[0])
    nz = [(float(c), t) for c, t in zip(coeffs, terms) if c != 0]
    (c0, t0), rest = nz[0], nz[1:]
    if rest and c0 == 1 and abs(rest[0][0]) == 1:
        c1, t1 = rest.pop(0)
        out = (xp.add if c1 == 1 else xp.subtract)(t0, t1, out=out)
    elif rest and c0 == -1 and rest[0][0] == 1:
        out = xp.subtract(rest.pop(0)[1], t0, out=out)
    else:
        out = xp.multiply(t0, t0.dtype.type(c0), out=out)
    for c, t in rest:
        if c == 1:
            out += t
        elif c == -1:
            out -= t
        else:
            out += t.dtype.type(c) * t
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
    over minialex's threads, each product on one BLAS thread: the 16*G
    products are small, and a multithreaded BLAS call pays a wake-up of its
    threads per product (on a busy machine, up to a scheduler time slice
    each: 32 calls of (96, 96) @ (96, 1152) took 250 ms on 2 loaded cores,
    the same numbers in one call 11 ms)."""
    if get_array_module(a) is not numpy:
        product(0, count)
        return
    with _one_blas_thread():
        parallel(product, count, a)


def _tiles(out_hw):
    return -(-out_hw[0] // 2), -(-out_hw[1] // 2)


def input_transform(xb, th, tw, V):
    """``V[a, b] = (BT d B)[a, b]`` for every 4x4 tile d (stride 2) of the
    padded image xb (C, 2th+2, 2tw+2, N), into V (4, 4, C, th, tw, N):
    ``BT`` along the rows from strided row slices of xb (the tile rows i of
    all tiles are the rows i, i+2, ...), then along the columns likewise,
    so the tiles themselves are never copied out. Split over channels."""
    def work(lo, hi):
        x = xb[lo:hi]
        for a in range(4):
            r = combine(BT[a], [x[:, i:i + 2 * th:2] for i in range(4)])      # (c, th, Wp, N)
            for b in range(4):
                combine(BT[b], [r[:, :, j:j + 2 * tw:2] for j in range(4)], out=V[a, b, lo:hi])
    parallel(work, xb.shape[0], xb)


def input_transform_transposed(gV, th, tw, gxb):
    """The adjoint of :func:`input_transform`: adds ``(B gV BT)`` of every
    tile onto the tile's pixels of gxb (C, 2th+2, 2tw+2, N)."""
    xp = get_array_module(gV)

    def work(lo, hi):
        for a in range(4):
            r = xp.zeros((hi - lo, th) + gxb.shape[2:], dtype=gV.dtype)
            for j in range(4):
                r[:, :, j:j + 2 * tw:2] += combine(BT[:, j], [gV[a, b, lo:hi] for b in range(4)])
            for i in range(4):
                if BT[a, i]:
                    window = gxb[lo:hi, i:i + 2 * th:2]
                    window += r if BT[a, i] == 1 else -r
    parallel(work, gV.shape[2], gV)


def output_transform(M, Yv):
    """``(AT m A)`` of each 4x4 tile m of M (4, 4, K, th, tw, N), written
    into the output tiles Yv (K, th, 2, tw, 2, N) (a view of the
    (K, 2th, 2tw, N) output). Split over output channels."""
    def work(lo, hi):
        for p in range(2):
            z = [combine(AT[p], [M[a, b, lo:hi] for a in range(4)]) for b in range(4)]
            for q in range(2):
                combine(AT[q], z, out=Yv[lo:hi, :, p, :, q])
    parallel(work, M.shape[2], M)


def output_transform_transposed(gYv, gM):
    """The adjoint of :func:`output_transform`: ``gM[a, b] = (A gy AT)[a, b]``
    from the output tiles gYv (K, th, 2, tw, 2, N), into gM (4, 4, K, th, tw, N)."""
    def work(lo, hi):
        for a in range(4):
            z = [combine(AT[:, a], [gYv[lo:hi, :, p, :, q] for p in range(2)]) for q in range(2)]
            for b in range(4):
                combine(AT[:, b], z, out=gM[a, b, lo:hi])
    parallel(work, gM.shape[2], gM)


def _transformed_input(x, padding, out_hw):
    """V (4, 4, C, th, tw, N): ``BT d B`` of every input tile d of x."""
    (N, C, H, Wd), (ph, pw), (th, tw) = x.shape, padding, _tiles(out_hw)
    xb = to_chwn(x, padding, end=(2 * th + 2 - H - 2 * ph, 2 * tw + 2 - Wd - 2 * pw))
    V = new_columns(get_array_module(x), (4, 4, C, th, tw, N), x.dtype)
    input_transform(xb, th, tw, V)
    return V


def forward(x, W, b, stride, padding, groups, out_hw, keep=True):
    """y = conv(x, W) + b for a 3x3 kernel, stride 1, by F(2x2, 3x3).

    x (N, C, H, W), W (C_out, C/G, 3, 3), b (C_out,) or None, ``stride``
    (1, 1) (the caller checked :func:`applies`); returns
    (y (N, C_out, OH, OW), saved) where ``saved`` is what :func:`backward`
    needs (x, the transformed kernel U and, if ``keep``, the transformed
    input V; a backward pass uses V's memory, a second one rebuilds it)."""
    xp = get_array_module(x)
    (N, C, H, Wd), C_out, Gr = x.shape, W.shape[0], groups
    th, tw = _tiles(out_hw)
    V = _transformed_input(x, padding, out_hw)          # BT d B of every tile
    g = xp.ascontiguousarray(W.transpose(2, 3, 0, 1))   # (3, 3, C_out, C/G)
    U = both_sides(G, g).reshape(16, Gr, C_out // Gr, C // Gr)          # G g GT
    M = new_columns(xp, (16, Gr, C_out // Gr, th * tw * N), x.dtype)
    U3, V3, M3 = (a.reshape((16 * Gr,) + a.shape[2:])
                  for a in (U, V.reshape(16, Gr, C // Gr, -1), M))

    def product(lo, hi):                                # 16 GEMMs per group
        xp.matmul(U3[lo:hi], V3[lo:hi], out=M3[lo:hi])
    batched_products(product, 16 * Gr, M)
    Y = xp.empty((C_out, 2 * th, 2 * tw, N), dtype=x.dtype)
    output_transform(M.reshape(4, 4, C_out, th, tw, N), Y.reshape(C_out, th, 2, tw, 2, N))
    free_columns(M)
    y = to_nchw(Y[:, :out_hw[0], :out_hw[1]], b)
    if not keep:
        free_columns(V)
    return y, [x, padding, groups, out_hw, U, V if keep else None]


def backward(saved, gy, needs_x, needs_W, needs_b):
    """(dL/dx, dL/dW, dL/db) of :func:`forward` for gy (N, C_out, OH, OW),
    each None where not needed (derivation in the module doc)."""
    xp = get_array_module(gy)
    x, (ph, pw), Gr, (OH, OW), U, V = saved
    saved[5] = None                                     # V's memory is reused below
    if V is None:                                       # a second backward: rebuild it
        V = _transformed_input(x, (ph, pw), (OH, OW))
    (N, C, H, Wd), C_out = x.shape, gy.shape[1]
    th, tw = _tiles((OH, OW))
    gb = gy.sum(axis=(0, 2, 3)) if needs_b else None
    gyb = to_chwn(gy, (0, 0), end=(2 * th - OH, 2 * tw - OW))     # (C_out, 2th, 2tw, N)
    gM = new_columns(xp, (4, 4, C_out, th, tw, N), gy.dtype)
    output_transform_transposed(gyb.reshape(C_out, th, 2, tw, 2, N), gM)   # A gy AT
    gM = gM.reshape(16 * Gr, C_out // Gr, -1)
    gx = gW = None
    if needs_W:
        V3 = V.reshape(16 * Gr, C // Gr, -1)
        gU = xp.empty((16 * Gr, C_out // Gr, C // Gr), dtype=gy.dtype)

        def product(lo, hi):                                           # gM V^T
            gU[lo:hi] = a_times_b_transposed(gM[lo:hi], V3[lo:hi])
        batched_products(product, 16 * Gr, V3)
        gW = both_sides(G.T, gU.reshape(4, 4, C_out, C // Gr))          # GT gU G
        gW = xp.ascontiguousarray(gW.transpose(2, 3, 0, 1))            # (C_out, C/G, 3, 3)
    if needs_x:
        UT, gV = U.reshape(16 * Gr, C_out // Gr, C // Gr).transpose(0, 2, 1), \
            V.reshape(16 * Gr, C // Gr, -1)

        def product(lo, hi):                                           # U^T gM, over V
            xp.matmul(UT[lo:hi], gM[lo:hi], out=gV[lo:hi])
        batched_products(product, 16 * Gr, gV)
        gxb = xp.zeros((C, 2 * th + 2, 2 * tw + 2, N), dtype=gy.dtype)
        input_transform_transposed(gV.reshape(4, 4, C, th, tw, N), th, tw, gxb)   # B gV BT
        gx = to_nchw(gxb[:, ph:ph + H, pw:pw + Wd])
    free_columns(gM.reshape(4, 4, C_out, th, tw, N))
    free_columns(V)
    return gx, gW, gb
