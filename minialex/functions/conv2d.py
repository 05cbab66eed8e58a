"""2-D convolution by im2col: AlexNet's conv layers (paper section 3.5,
figure 2), grouped convolution included (``groups=2`` is the paper's two
towers: each half of the kernels sees only its own half of the channels).

The plan, for an input x (N, C, H, W) and a kernel (C_out, C/G, kh, kw):

1. ``im2col`` copies every kh x kw window of the (zero-padded) input into a
   column of a matrix ``cols`` (C*kh*kw, OH*OW*N).
2. Each group's output is then ONE matrix product: its weights, flattened to
   (C_out/G, C/G*kh*kw), times its block of rows of ``cols``. The G products
   are one batched ``xp.matmul`` on (G, ...) arrays.
3. Backward is the same two products transposed (as for a Linear layer),
   and ``col2im``, the adjoint of ``im2col``, scatters the columns' gradient
   back onto the pixels they were copied from.

Output size along each axis: ``OH = (H + 2*ph - kh) // sh + 1`` (likewise W).

Speed notes (the products are BLAS; the rest is moving numbers around).
- Layout: inside this file an image batch is (C, H, W, N), the image index
  fastest, so each kernel offset copies runs of OW*N neighbouring numbers
  (in NCHW they would be runs of OW, which costs a Python-level step per
  run in NumPy). It costs one transpose in (x) and one out (y), each the
  size of an activation, far smaller than ``cols``.
- ``im2col`` writes kh*kw strided slices into one preallocated array (a
  loop over kernel offsets, never over pixels); ``col2im`` adds them back
  the same way. Big copies are split across the CPU cores
  (:mod:`minialex.functions._threads`).
- On the CPU, column arrays are recycled between calls (fresh memory of
  that size costs as much as filling it), and the backward pass writes the
  columns' gradient over the columns once dL/dW is done.
- A backward pass skips every product whose gradient is not needed (conv1's
  input is the image, so its ``col2im`` never runs).

Every function here uses the array module of its input (NumPy or CuPy).
"""

import numpy

from ..autograd import Function, Tensor
from ..backend import get_array_module
from ._utils import check_float
from ._threads import parallel as _parallel

__all__ = ["conv2d", "im2col", "col2im", "conv_output_size", "Conv2d"]


# ---------------------------------------------------------------- helpers
def _pair(value, name):
    """``3 -> (3, 3)``, ``(3, 5) -> (3, 5)``; anything else is an error."""
    if isinstance(value, (tuple, list)) and len(value) == 2:
        pair = tuple(value)
    else:
        pair = (value, value)
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in pair):
        raise TypeError(f"{name} must be an int or a pair of ints (h, w), got {value!r}")
    return pair


def conv_output_size(size, kernel, stride, padding):
    """``floor((size + 2*padding - kernel) / stride) + 1``: the number of
    window positions along one axis (also used by pooling)."""
    return (size + 2 * padding - kernel) // stride + 1


def _check_geometry(x_shape, kernel_size, stride, padding, who):
    """Validate the window parameters against an (N, C, H, W) shape and
    return ``(kh, kw), (sh, sw), (ph, pw), (OH, OW)``."""
    (kh, kw), (sh, sw) = _pair(kernel_size, "kernel_size"), _pair(stride, "stride")
    ph, pw = _pair(padding, "padding")
    if len(x_shape) != 4:
        raise ValueError(f"{who} expects a 4-D input (N, C, H, W), got shape {tuple(x_shape)}; "
                         "add the batch axis with x.reshape(1, *x.shape) for a single image")
    if kh < 1 or kw < 1:
        raise ValueError(f"{who}: kernel_size must be >= 1, got {(kh, kw)}")
    if sh < 1 or sw < 1:
        raise ValueError(f"{who}: stride must be >= 1, got {(sh, sw)}")
    if ph < 0 or pw < 0:
        raise ValueError(f"{who}: padding must be >= 0, got {(ph, pw)}")
    H, W = x_shape[2], x_shape[3]
    if kh > H + 2 * ph or kw > W + 2 * pw:
        raise ValueError(f"{who}: kernel {(kh, kw)} is larger than the padded input "
                         f"{(H + 2 * ph, W + 2 * pw)} (input {(H, W)}, padding {(ph, pw)}); "
                         "use a smaller kernel or more padding")
    OH, OW = conv_output_size(H, kh, sh, ph), conv_output_size(W, kw, sw, pw)
    return (kh, kw), (sh, sw), (ph, pw), (OH, OW)


def _data(a):
    return a.data if isinstance(a, Tensor) else a


# ---------------------------------------------------------------- spare arrays
# A column array is the biggest thing a convolution makes (kh*kw times its
# input). Fresh memory of that size costs about as much again as filling it
# (the OS maps and zeroes every page), so on the CPU a finished column array
# is kept here and handed to the next call that needs the same shape. CuPy
# has its own memory pool and does not use this.
_spare_columns = {}          # (shape, dtype) -> a free NumPy array
_MAX_SPARE = 16              # arrays kept at most (the oldest goes first)


def _new_columns(xp, shape, dtype):
    cols = _spare_columns.pop((shape, dtype), None) if xp is numpy else None
    return cols if cols is not None else xp.empty(shape, dtype=dtype)


def _free_columns(cols):
    if isinstance(cols, numpy.ndarray):
        _spare_columns[cols.shape, cols.dtype] = cols
        while len(_spare_columns) > _MAX_SPARE:
            del _spare_columns[next(iter(_spare_columns))]


# ---------------------------------------------------------------- layouts
# Inside this file images are kept "CHWN": (C, H, W, N), the batch index
# fastest. A kernel offset (i, j) then selects, for each channel and output
# row, OW*N numbers that lie next to each other in memory (N numbers when
# the stride is > 1), so im2col and col2im move long contiguous runs.
_BLOCK = 1 << 16            # numbers per block of the NCHW <-> CHWN transposes


def _to_chwn(x, padding=(0, 0)):
    """(N, C, H, W) -> (C, H + 2*ph, W + 2*pw, N), zero-padded, contiguous."""
    xp, (N, C, H, W), (ph, pw) = get_array_module(x), x.shape, padding
    out = xp.empty((C, H + 2 * ph, W + 2 * pw, N), dtype=x.dtype)
    out[:, :ph] = 0                     # the zero border (cheaper than zeroing it all)
    out[:, H + ph:] = 0
    out[:, :, :pw] = 0
    out[:, :, W + pw:] = 0

    def copy(lo, hi):                   # channels lo..hi-1
        out[lo:hi, ph:ph + H, pw:pw + W, :] = x[:, lo:hi].transpose(1, 2, 3, 0)
    _parallel(copy, C, x)
    return out


def _to_nchw(a, bias=None):
    """(C, H, W, N) -> (N, C, H, W) contiguous, plus ``bias[c]`` if given.
    Copied a block of channels at a time: each block is read and written
    while it sits in the cache (one big strided copy is several times slower
    with NumPy; CuPy does it in one go)."""
    xp, (C, H, W, N) = get_array_module(a), a.shape
    out = xp.empty((N, C, H, W), dtype=a.dtype)
    step = C if xp is not numpy else max(1, _BLOCK // max(1, H * W * N))

    def copy(lo, hi):                   # blocks lo..hi-1
        for c in range(lo * step, min(C, hi * step), step):
            block = a[c:c + step].transpose(3, 0, 1, 2)
            if bias is None:
                out[:, c:c + step] = block
            else:
                xp.add(block, bias[c:c + step].reshape(-1, 1, 1), out=out[:, c:c + step])
    _parallel(copy, -(-C // step), a)
    return out


# ---------------------------------------------------------------- im2col / col2im
def _windows(k, s, out_hw):
    """For each kernel offset (i, j) in row-major order: i, j and the
    slices of a padded (C, Hp, Wp, N) image that the offset reads,
    ``[:, i : i + sh*OH : sh, j : j + sw*OW : sw, :]``."""
    (kh, kw), (sh, sw), (OH, OW) = k, s, out_hw
    return [(i, j, (slice(None), slice(i, i + sh * OH, sh), slice(j, j + sw * OW, sw)))
            for i in range(kh) for j in range(kw)]


def _im2col(xb, k, s, out_hw):
    """Padded xb (C, Hp, Wp, N) -> cols (C, kh, kw, OH, OW, N): one strided
    copy per kernel offset, into one preallocated array."""
    xp, C, N = get_array_module(xb), xb.shape[0], xb.shape[3]
    cols = _new_columns(xp, (C, k[0], k[1], out_hw[0], out_hw[1], N), xb.dtype)
    windows = _windows(k, s, out_hw)

    def copy(lo, hi):                   # kernel offsets lo..hi-1
        for i, j, window in windows[lo:hi]:
            cols[:, i, j] = xb[window]
    _parallel(copy, len(windows), cols)
    return cols


def _col2im(cols, padded_shape, k, s, out_hw):
    """cols (C, kh, kw, OH, OW, N) -> padded (C, Hp, Wp, N): the same slices
    as :func:`_im2col`, added instead of copied."""
    xp = get_array_module(cols)
    out = xp.zeros(padded_shape, dtype=cols.dtype)
    windows = _windows(k, s, out_hw)

    def add(lo, hi):                    # channels lo..hi-1 (offsets overlap, channels don't)
        for i, j, window in windows:
            out[lo:hi][window] += cols[lo:hi, i, j]
    _parallel(add, padded_shape[0], cols)
    return out


def im2col(x, kernel_size, stride=1, padding=0):
    """Unfold every convolution window of ``x`` into a column.

    Layout (exact): with ``xpad`` = x zero-padded by ``padding`` on both
    sides of H and W,

        cols[(c*kh + i)*kw + j, (oh*OW + ow)*N + n] = xpad[n, c, sh*oh + i, sw*ow + j]

    Rows run over (channel, kernel row, kernel column): the order of
    ``weight.reshape(C_out, C*kh*kw)``, so ``weight2d @ cols`` is the
    convolution, laid out (C_out, OH, OW, N). Columns run over (output row,
    output column, image), the image fastest: each kernel offset then copies
    runs of OW*N neighbouring numbers (fast), and the product needs one
    transpose to become NCHW. Channels are the slowest row index, so the
    rows of group g are one block: ``cols.reshape(G, C//G*kh*kw, -1)`` is a
    view. A pixel appears once per window that covers it.

    Args:
        x: (N, C, H, W) float array (NumPy or CuPy) or Tensor (its data is used).
        kernel_size, stride, padding: int or (h, w) pair. Defaults stride 1,
            padding 0.

    Returns:
        Array (C*kh*kw, OH*OW*N) of x's dtype and array module, where
        ``OH = (H + 2*ph - kh) // sh + 1``, ``OW`` likewise.

    Raises:
        ValueError: x is not 4-D, kernel/stride < 1, padding < 0, or the
            kernel is larger than the padded input.
        TypeError: a non-integer kernel_size/stride/padding.

    Source: the standard way to run convolutions as matrix products (Caffe's
    im2col, Chellapilla et al. 2006); it is how AlexNet's conv layers (paper
    section 3.5) are computed here.
    """
    x = _data(x)
    k, s, p, out_hw = _check_geometry(x.shape, kernel_size, stride, padding, "im2col")
    cols = _im2col(_to_chwn(x, p), k, s, out_hw)
    return cols.reshape(x.shape[1] * k[0] * k[1], -1)


def col2im(cols, x_shape, kernel_size, stride=1, padding=0):
    """The adjoint (transpose) of :func:`im2col`: scatter-add columns back
    onto the pixels they were copied from.

    For cols laid out as in :func:`im2col` (shape (C*kh*kw, OH*OW*N)),
    returns ``dx`` (N, C, H, W) with

        dx[n, c, y, x] = sum of cols[(c*kh + i)*kw + j, (oh*OW + ow)*N + n]
                         over all (i, j, oh, ow) with sh*oh + i - ph == y
                         and sw*ow + j - pw == x

    (entries that fell on the zero padding are dropped). So
    ``col2im(im2col(x))`` is x times the number of windows reading each
    pixel (not x), and ``<im2col(x), c> == <x, col2im(c)>`` for all x, c:
    this is exactly the input gradient of a convolution. Pixels no window
    reads (when ``H + 2p - k`` is not a multiple of the stride) get 0.

    Args:
        cols: (C*kh*kw, OH*OW*N) float array (NumPy or CuPy) or Tensor.
        x_shape: (N, C, H, W), the shape of the image the columns came from.
        kernel_size, stride, padding: as given to :func:`im2col`.

    Returns:
        Array (N, C, H, W) of cols' dtype and array module.

    Raises:
        ValueError: x_shape is not 4-D, bad kernel/stride/padding (as in
            :func:`im2col`), or cols does not have the shape im2col gives.
    """
    cols = _data(cols)
    x_shape = tuple(int(d) for d in x_shape)
    k, s, p, (OH, OW) = _check_geometry(x_shape, kernel_size, stride, padding, "col2im")
    N, C, H, W = x_shape
    expected = (C * k[0] * k[1], OH * OW * N)
    if tuple(cols.shape) != expected:
        raise ValueError(f"col2im: cols has shape {tuple(cols.shape)}, but im2col of an input "
                         f"{x_shape} with kernel {k}, stride {s}, padding {p} gives {expected}")
    padded = _col2im(cols.reshape(C, k[0], k[1], OH, OW, N),
                     (C, H + 2 * p[0], W + 2 * p[1], N), k, s, (OH, OW))
    return _to_nchw(padded[:, p[0]:p[0] + H, p[1]:p[1] + W, :])


# ---------------------------------------------------------------- the op
class Conv2d(Function):
    """y = conv(x, W) + b, grouped, by im2col and one matmul per group.

    Shapes: x (N, C, H, W), W (C_out, C/G, kh, kw), b (C_out,),
    y (N, C_out, OH, OW); K = C/G*kh*kw, P = OH*OW*N.

    Forward. With X = im2col(x) viewed as (G, K, P) and W viewed as
    (G, C_out/G, K), each group is one matrix product

        Y_g = W_g @ X_g          (C_out/G, P), i.e. Y is (C_out, OH, OW, N)
        y[n, o, oh, ow] = Y[o, (oh, ow, n)] + b[o]

    Backward (the Linear layer's rules, per group, plus the im2col adjoint).
    Y_g[o, q] = sum_r W_g[o, r] X_g[r, q], so

        dL/dW_g = gY_g @ X_g^T                 (sum over the P positions)
        dL/db   = gy summed over n, oh, ow
        dL/dX_g = W_g^T @ gY_g                 (C/G*kh*kw, P)
        dL/dx   = col2im(dL/dX)

    The last line: X = A x for the 0/1 copying matrix A of im2col, so
    dL/dx = A^T dL/dX, and A^T is col2im (each pixel sums the gradients of
    all the copies made of it; pixels of the padding are dropped).
    """

    returns_new_arrays = True    # gx, gW, gb are fresh arrays: weights take them as .grad

    def __init__(self, stride, padding, groups):
        self.stride, self.padding, self.groups = stride, padding, groups

    def forward(self, x, W, b=None):
        xp, G = self.device.xp, self.groups
        (N, _, H, W_in), (C_out, _, kh, kw) = x.shape, W.shape
        (sh, sw), (ph, pw) = self.stride, self.padding
        out_hw = conv_output_size(H, kh, sh, ph), conv_output_size(W_in, kw, sw, pw)
        cols = _im2col(_to_chwn(x, self.padding), (kh, kw), self.stride, out_hw)
        w3 = xp.ascontiguousarray(W).reshape(G, C_out // G, -1)           # (G, C_out/G, K)
        Y = xp.matmul(w3, cols.reshape(G, w3.shape[2], -1))             # (G, C_out/G, P)
        self.x, self.w3, self.w_shape = x, w3, W.shape
        self.cols = cols if self.needs_input_grad[1] else None   # only dL/dW reads them again
        if self.cols is None:
            _free_columns(cols)
        return _to_nchw(Y.reshape(C_out, out_hw[0], out_hw[1], N), b)

    def backward(self, gy):
        xp, G = self.device.xp, self.groups
        N, C_out, OH, OW = gy.shape
        needs, w3, k = self.needs_input_grad, self.w3, self.w_shape[2:]
        K = w3.shape[2]
        gY = _to_chwn(gy).reshape(G, C_out // G, -1)    # (C_out, OH, OW, N) as (G, C_out/G, P)
        gx = gW = gb = None
        if len(needs) == 3 and needs[2]:
            gb = gY.reshape(C_out, -1).sum(axis=1)
        cols, self.cols = self.cols, None
        if needs[1]:
            if cols is None:     # a second backward (retain_graph): rebuild the columns
                cols = _im2col(_to_chwn(self.x, self.padding), k, self.stride, (OH, OW))
            # dL/dW_g^T = X_g @ gY_g^T: the same numbers as gY_g @ X_g^T, and
            # BLAS runs this orientation faster when C_out/G is small
            gWt = xp.matmul(cols.reshape(G, K, -1), gY.transpose(0, 2, 1))   # (G, K, C_out/G)
            gW = xp.ascontiguousarray(gWt.transpose(0, 2, 1)).reshape(self.w_shape)
        if needs[0]:
            # dL/dX has the columns' shape; their memory is free once dL/dW is done
            if cols is None:
                cols = _new_columns(xp, (self.x.shape[1],) + tuple(k) + (OH, OW, N), gy.dtype)
            gcols = xp.matmul(w3.transpose(0, 2, 1), gY, out=cols.reshape(G, K, -1))
            (_, C, H, W), (ph, pw) = self.x.shape, self.padding
            padded = _col2im(gcols.reshape(cols.shape), (C, H + 2 * ph, W + 2 * pw, N),
                             k, self.stride, (OH, OW))
            gx = _to_nchw(padded[:, ph:ph + H, pw:pw + W, :])
        _free_columns(cols)
        return (gx, gW, gb) if len(needs) == 3 else (gx, gW)


def conv2d(x, weight, bias=None, stride=1, padding=0, groups=1):
    """2-D convolution (cross-correlation, as in every DL framework), grouped.

    ``y[n, o, oh, ow] = b[o] + sum_{c, i, j} w[o, c, i, j] * xpad[n, g*C/G + c, sh*oh + i, sw*ow + j]``
    where g = o // (C_out/G) is output channel o's group and xpad is x
    zero-padded by ``padding``.

    Args:
        x: Tensor (N, C_in, H, W), float32 (float64 for gradient checks).
        weight: Tensor (C_out, C_in // groups, kh, kw), x's dtype and device.
        bias: Tensor (C_out,) or None (default).
        (A plain NumPy or CuPy array in place of a Tensor is taken as a
        constant: no gradient flows to it.)
        stride: int or (sh, sw), default 1.
        padding: int or (ph, pw) zeros on each side, default 0.
        groups: int, default 1. Input and output channels are split into
            ``groups`` equal blocks; output block g sees input block g only.

    Returns:
        Tensor (N, C_out, OH, OW) with ``OH = (H + 2*ph - kh) // sh + 1``.

    Raises:
        ValueError: x not 4-D; weight not 4-D; groups < 1; C_in or C_out not
            divisible by groups; weight.shape[1] != C_in // groups; bias not
            (C_out,); stride < 1, padding < 0, or a kernel larger than the
            padded input.
        TypeError: x, weight or bias not floating point (e.g. uint8 images:
            convert with ``.astype("float32")``), or their dtypes differ;
            stride/padding not ints.

    Source: paper section 3.5 and figure 2. ``groups=2`` is the two-tower
    layout: conv2, conv4 and conv5 connect only to "kernel maps in the
    previous layer which reside on the same GPU", which is a grouped
    convolution; conv1 and conv3 (and a one-tower net) use ``groups=1``.
    """
    _check_conv_args(x, weight, bias, groups)
    _, s, p, _ = _check_geometry(x.shape, weight.shape[2:], stride, padding, "conv2d")
    if bias is None:
        return Conv2d(s, p, groups)(x, weight)
    return Conv2d(s, p, groups)(x, weight, bias)


def _check_conv_args(x, weight, bias, groups):
    """The checks of :func:`conv2d` that do not involve window geometry."""
    for name, t in (("x", x), ("weight", weight), ("bias", bias)):
        # a plain NumPy/CuPy array is a constant (the op wraps it on the
        # Tensors' device, as every functional does); anything else is an error
        if t is not None and not isinstance(t, Tensor) and not hasattr(t, "dtype"):
            raise TypeError(f"conv2d: {name} must be a minialex Tensor or an array, got "
                            f"{type(t).__name__}; wrap it: minialex.Tensor({name})")
        check_float("conv2d", **{name: t})
    if x.ndim != 4:
        raise ValueError(f"conv2d expects a 4-D x (N, C_in, H, W), got shape {x.shape}; "
                         "add the batch axis with x.reshape(1, *x.shape) for a single image")
    if weight.ndim != 4:
        raise ValueError(f"conv2d expects a 4-D weight (C_out, C_in // groups, kh, kw), "
                         f"got shape {weight.shape}")
    if weight.dtype != x.dtype or (bias is not None and bias.dtype != x.dtype):
        raise TypeError(f"conv2d: x is {x.dtype} but weight is {weight.dtype}"
                        + (f" and bias is {bias.dtype}" if bias is not None else "")
                        + "; cast them to one dtype")
    if not isinstance(groups, int) or isinstance(groups, bool) or groups < 1:
        raise ValueError(f"conv2d: groups must be a positive int, got {groups!r}")
    C_in, C_out = x.shape[1], weight.shape[0]
    if C_in % groups:
        raise ValueError(f"conv2d: input channels C_in={C_in} are not divisible by "
                         f"groups={groups}")
    if C_out % groups:
        raise ValueError(f"conv2d: output channels C_out={C_out} (weight.shape[0]) are not "
                         f"divisible by groups={groups}")
    want = weight.shape[1] * groups      # channels-last is likely only when the last axis
    if weight.shape[1] != C_in // groups and x.shape[3] == want != x.shape[2]:  # is no square W
        raise ValueError(f"conv2d: expected {want} input channels, got {C_in}: x {x.shape} looks "
                         "channels-last (N, H, W, C); conv2d needs NCHW (N, C, H, W): use "
                         "x.transpose(0, 3, 1, 2)")
    if weight.shape[1] != C_in // groups:
        raise ValueError(f"conv2d: expected {want} input channels, got {C_in}: x {x.shape} has "
                         f"C_in={C_in}, weight {weight.shape} with groups={groups} needs "
                         f"weight.shape[1] * groups = {want}")
    if bias is not None and bias.shape != (C_out,):
        raise ValueError(f"conv2d: bias has shape {bias.shape}, expected ({C_out},)")
