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

This file is the maths; how im2col, col2im and the layout changes are made
fast (an image-last layout, recycled column arrays, threads) is in
:mod:`minialex.functions._kernels.im2col_cpu`, and which implementation
runs is chosen by :mod:`minialex.functions._kernels.paths`.
"""

from ..autograd import Function, Tensor
from ..backend import get_array_module
from ._geometry import check_conv2d, check_conv_window, output_size
from ._kernels import paths

__all__ = ["conv2d", "im2col", "col2im", "conv_output_size", "Conv2dFunction"]

conv_output_size = output_size   # the window count along one axis (floor mode)


def _data(a):
    return a.data if isinstance(a, Tensor) else a


# ---------------------------------------------------------------- the op
class Conv2dFunction(Function):
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

    A backward pass skips every product whose gradient is not needed
    (conv1's input is the image, so its col2im never runs), and dL/dX is
    written over X's memory once dL/dW is done.

    3x3 stride-1 windows may instead run Winograd's F(2x2, 3x3) or
    F(3x3, 3x3), 5x5 stride-1 ones F(2x2, 5x5) (``.winograd_f2x2_5x5``),
    any stride-1 window MEC's one product per output row over columns
    lowered along one axis only (``.mec``), and any window the same
    products a chunk of images at a time (the path table decides; forward,
    backward and their derivation in
    :mod:`minialex.functions._kernels.winograd`, ``.mec`` and ``.im2col_chunks``).
    """

    returns_new_arrays = True    # gx, gW, gb are fresh arrays: weights take them as .grad

    def __init__(self, stride, padding, groups):
        self.stride, self.padding, self.groups = stride, padding, groups

    def forward(self, x, W, b=None):
        (N, _, H, W_in), (C_out, _, kh, kw) = x.shape, W.shape
        (sh, sw), (ph, pw) = self.stride, self.padding
        out_hw = output_size(H, kh, sh, ph), output_size(W_in, kw, sw, pw)
        xp, G = self.device.xp, self.groups
        kern = paths.choose("conv2d", xp, window=((kh, kw), self.stride),
                            group_channels=x.shape[1] // G, out_group_channels=C_out // G)
        self.delegated = getattr(kern, "applies", lambda *a: False)((kh, kw), self.stride)
        self.winograd = self.delegated and kern.__name__.rsplit(".", 1)[1].startswith("winograd")
        if self.delegated:      # a path with its own passes: Winograd, or im2col in chunks
            y, self.saved = kern.forward(x, W, b, self.stride, self.padding, G, out_hw,
                                         keep=any(self.needs_input_grad[:2]))
            self.kern, self.w_shape = kern, W.shape
            return y
        X = kern.im2col(x, (kh, kw), self.stride, self.padding, out_hw)   # (C, kh, kw, OH, OW, N)
        W_groups = xp.ascontiguousarray(W).reshape(G, C_out // G, -1)      # (G, C_out/G, K)
        Y = xp.matmul(W_groups, X.reshape(G, W_groups.shape[2], -1))       # (G, C_out/G, P)
        self.kern, self.x, self.W_groups, self.w_shape = kern, x, W_groups, W.shape
        self.X = X if self.needs_input_grad[1] else None    # only dL/dW reads X again
        if self.X is None:
            kern.free_columns(X)
        return kern.to_nchw(Y.reshape(C_out, out_hw[0], out_hw[1], N), b)

    def backward(self, gy):
        """dL/db = sum of gy; per group dL/dW_g = gY_g @ X_g^T and
        dL/dx = col2im(W_g^T @ gY_g) (derived in the class docstring)."""
        xp, G, kern, needs = self.device.xp, self.groups, self.kern, self.needs_input_grad
        if self.delegated:      # that path's backward (derived in its module)
            gx, gW, gb = kern.backward(self.saved, gy, needs[0], needs[1],
                                       len(needs) == 3 and needs[2])
            return (gx, gW, gb) if len(needs) == 3 else (gx, gW)
        N, C_out, OH, OW = gy.shape
        x_shape, kernel, K = self.x.shape, self.w_shape[2:], self.W_groups.shape[2]
        gY = kern.to_chwn(gy).reshape(G, C_out // G, -1)     # (C_out, OH, OW, N) as groups
        gx = gW = gb = None
        if len(needs) == 3 and needs[2]:
            gb = gY.reshape(C_out, -1).sum(axis=1)                         # dL/db
        X, self.X = self.X, None
        if needs[1]:
            if X is None:    # a second backward (retain_graph): rebuild the columns
                X = kern.im2col(self.x, kernel, self.stride, self.padding, (OH, OW))
            gW = kern.a_times_b_transposed(gY, X.reshape(G, K, -1))        # gY_g @ X_g^T
            gW = gW.reshape(self.w_shape)
        if needs[0]:
            if X is None:    # dL/dX takes X's memory, or a spare array of its shape
                X = kern.new_columns(xp, (x_shape[1],) + tuple(kernel) + (OH, OW, N), gy.dtype)
            gX = xp.matmul(self.W_groups.transpose(0, 2, 1), gY,
                           out=X.reshape(G, K, -1))                         # W_g^T @ gY_g
            gx = kern.col2im(gX.reshape(X.shape), x_shape, kernel, self.stride, self.padding,
                             (OH, OW))                                      # col2im(dL/dX)
        kern.free_columns(X)
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
    check_conv2d(x, weight, bias, groups)
    _, s, p, _ = check_conv_window(x.shape, weight.shape[2:], stride, padding, "conv2d")
    if bias is None:
        return Conv2dFunction(s, p, groups)(x, weight)
    return Conv2dFunction(s, p, groups)(x, weight, bias)


# ---------------------------------------------------------------- im2col / col2im
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
    k, s, p, out_hw = check_conv_window(x.shape, kernel_size, stride, padding, "im2col")
    cols = paths.choose("conv2d", get_array_module(x)).im2col(x, k, s, p, out_hw)
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
    k, s, p, (OH, OW) = check_conv_window(x_shape, kernel_size, stride, padding, "col2im")
    N, C, H, W = x_shape
    expected = (C * k[0] * k[1], OH * OW * N)
    if tuple(cols.shape) != expected:
        raise ValueError(f"col2im: cols has shape {tuple(cols.shape)}, but im2col of an input "
                         f"{x_shape} with kernel {k}, stride {s}, padding {p} gives {expected}")
    kern = paths.choose("conv2d", get_array_module(cols))
    return kern.col2im(cols.reshape(C, k[0], k[1], OH, OW, N), x_shape, k, s, p, (OH, OW))
