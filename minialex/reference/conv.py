"""Convolution, im2col and col2im from the formula: read this before
:mod:`minialex.functions.conv2d` (same arguments, same results).

Notation: x (N, C, H, W); weight (C_out, C/G, kh, kw); bias (C_out,);
y (N, C_out, OH, OW); G = groups, Cg = C/G; xpad is x with ``padding``
zeros on each side of H and W. Output channel o belongs to group
g = o // (C_out/G) and reads input channels g*Cg .. g*Cg + Cg - 1 only.
"""

import numpy as np


def _pair(v):
    """``3 -> (3, 3)``; ``(3, 5) -> (3, 5)``."""
    return tuple(v) if isinstance(v, (tuple, list)) else (v, v)


def output_size(size, kernel, stride, padding):
    """``floor((size + 2*padding - kernel) / stride) + 1``: the window
    positions along one axis (docs/paper.md, "Arrays and shapes")."""
    return (size + 2 * padding - kernel) // stride + 1


def _geometry(x_shape, kernel_size, stride, padding):
    """(kh, kw), (sh, sw), (ph, pw), (OH, OW) of windows on an (N, C, H, W) input."""
    (kh, kw), (sh, sw), (ph, pw) = _pair(kernel_size), _pair(stride), _pair(padding)
    OH, OW = output_size(x_shape[2], kh, sh, ph), output_size(x_shape[3], kw, sw, pw)
    if OH < 1 or OW < 1:
        raise ValueError(f"kernel {(kh, kw)} is larger than the padded input "
                         f"{(x_shape[2] + 2 * ph, x_shape[3] + 2 * pw)}; use a smaller kernel "
                         "or more padding")
    return (kh, kw), (sh, sw), (ph, pw), (OH, OW)


def _pad(x, ph, pw):
    """x (N, C, H, W) -> xpad (N, C, H + 2*ph, W + 2*pw), zeros around."""
    return np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))


def im2col(x, kernel_size, stride=1, padding=0):
    """Copy every kh x kw window of xpad into one column (the layout of
    :func:`minialex.functional.im2col`):

        cols[(c*kh + i)*kw + j, (oh*OW + ow)*N + n] = xpad[n, c, sh*oh + i, sw*ow + j]

    Rows run over (channel, kernel row, kernel column), the order of
    ``weight.reshape(C_out, -1)``; columns over (output row, output column,
    image), the image fastest. So ``weight.reshape(C_out, -1) @ cols`` is
    the convolution (groups=1, no bias), laid out (C_out, OH, OW, N).

    Args: x (N, C, H, W) array; kernel_size, stride, padding int or (h, w).
    Returns: (C*kh*kw, OH*OW*N) array of x's dtype.
    """
    (kh, kw), (sh, sw), (ph, pw), (OH, OW) = _geometry(x.shape, kernel_size, stride, padding)
    N, C = x.shape[:2]
    xpad = _pad(x, ph, pw)
    cols = np.zeros((C * kh * kw, OH * OW * N), dtype=x.dtype)
    for oh, ow, n in np.ndindex(OH, OW, N):                     # one column per window
        window = xpad[n, :, sh * oh:sh * oh + kh, sw * ow:sw * ow + kw]   # (C, kh, kw)
        cols[:, (oh * OW + ow) * N + n] = window.reshape(-1)    # row (c*kh + i)*kw + j
    return cols


def col2im(cols, x_shape, kernel_size, stride=1, padding=0):
    """The adjoint of :func:`im2col`: add every column back onto the
    pixels its window was copied from; entries on the padding are dropped.

    Why this is the adjoint. im2col is linear, cols = A x, with the 0/1
    matrix A[(r, q), p] = 1 when entry r of column q is a copy of pixel p.
    For any x and any c of the columns' shape,

        <A x, c> = sum_{r,q} c[r, q] x[pixel copied to (r, q)]
                 = sum_p x[p] * (sum of c[r, q] over the copies (r, q) of p)
                 = <x, col2im(c)>,

    so col2im = A^T: the loop of im2col with the copy turned into ``+=``.
    It is the input gradient of anything computed from ``im2col(x)``:
    dL/dx = A^T dL/dcols. ``col2im(im2col(x))`` is x times the number of
    windows that read each pixel, not x.

    Args: cols (C*kh*kw, OH*OW*N); x_shape (N, C, H, W); kernel_size,
    stride, padding as given to im2col.
    Returns: (N, C, H, W) array of cols' dtype.
    """
    (kh, kw), (sh, sw), (ph, pw), (OH, OW) = _geometry(x_shape, kernel_size, stride, padding)
    N, C, H, W = x_shape
    dxpad = np.zeros((N, C, H + 2 * ph, W + 2 * pw), dtype=cols.dtype)
    for oh, ow, n in np.ndindex(OH, OW, N):
        column = cols[:, (oh * OW + ow) * N + n].reshape(C, kh, kw)
        dxpad[n, :, sh * oh:sh * oh + kh, sw * ow:sw * ow + kw] += column
    return dxpad[:, :, ph:ph + H, pw:pw + W]


def conv2d(x, weight, bias=None, stride=1, padding=0, groups=1):
    """2-D convolution (cross-correlation), grouped, output by output:

        y[n, o, oh, ow] = bias[o] + sum_{c < Cg, i < kh, j < kw}
                          weight[o, c, i, j] * xpad[n, g*Cg + c, sh*oh + i, sw*ow + j]

    with g = o // (C_out/G), the group of output channel o; ``groups=2`` is
    the paper's two towers (section 3.5). Same arguments and result as
    :func:`minialex.functional.conv2d`, on NumPy arrays.

    Args:
        x: (N, C, H, W) float array. weight: (C_out, C/groups, kh, kw).
        bias: (C_out,) or None. stride, padding: int or (h, w). groups: int.
    Returns:
        (N, C_out, OH, OW) array of x's dtype, ``OH = (H + 2*ph - kh) // sh + 1``.
    """
    C_out, Cg, kh, kw = weight.shape
    _, (sh, sw), (ph, pw), (OH, OW) = _geometry(x.shape, (kh, kw), stride, padding)
    if x.shape[1] != Cg * groups or C_out % groups:
        raise ValueError(f"weight {weight.shape} with groups={groups} does not fit x {x.shape}")
    xpad = _pad(x, ph, pw)
    y = np.zeros((x.shape[0], C_out, OH, OW), dtype=x.dtype)
    for n, o, oh, ow in np.ndindex(y.shape):                    # one output at a time
        g = o // (C_out // groups)                               # o's group
        chans = slice(g * Cg, (g + 1) * Cg)
        rows, cols = slice(sh * oh, sh * oh + kh), slice(sw * ow, sw * ow + kw)
        window = xpad[n, chans, rows, cols]                     # (Cg, kh, kw)
        y[n, o, oh, ow] = np.sum(weight[o] * window) + (0 if bias is None else bias[o])
    return y


def conv2d_backward(dy, x, weight, stride=1, padding=0, groups=1):
    """Gradients of a loss L given dy = dL/dy of :func:`conv2d`.

    Derivation. Each output y[n, o, oh, ow] is a sum of products: it has
    the partial derivatives

        dy[n,o,oh,ow] / dweight[o, c, i, j]         = xpad[n, g*Cg + c, sh*oh + i, sw*ow + j]
        dy[n,o,oh,ow] / dxpad[n, g*Cg + c, sh*oh + i, sw*ow + j] = weight[o, c, i, j]
        dy[n,o,oh,ow] / dbias[o]                    = 1

    and no others. The chain rule sums ``dL/dy * partial`` over all the
    outputs, so each output, in turn, adds dy[n, o, oh, ow] times

        its input window   to dW[o]                 (all of dW[o], shape (Cg, kh, kw)),
        weight[o]          to its window of dxpad   (overlapping windows add up),
        1                  to db[o].

    dx is dxpad without its border: padding zeros are constants, not x.
    (In matrix form, per group: dW = dY @ cols^T, dcols = W^T @ dY,
    dx = col2im(dcols), which is what the fast op computes.)

    Args:
        dy: (N, C_out, OH, OW). x, weight, stride, padding, groups: as given
            to :func:`conv2d`.
    Returns:
        (dx, dW, db): arrays shaped like x, weight and (C_out,).
    """
    C_out, Cg, kh, kw = weight.shape
    _, (sh, sw), (ph, pw), _ = _geometry(x.shape, (kh, kw), stride, padding)
    H, W = x.shape[2:]
    xpad = _pad(x, ph, pw)
    dxpad, dW, db = np.zeros_like(xpad), np.zeros_like(weight), np.zeros(C_out, dy.dtype)
    for n, o, oh, ow in np.ndindex(dy.shape):
        g = o // (C_out // groups)
        chans = slice(g * Cg, (g + 1) * Cg)
        rows, cols = slice(sh * oh, sh * oh + kh), slice(sw * ow, sw * ow + kw)
        dW[o] += dy[n, o, oh, ow] * xpad[n, chans, rows, cols]
        dxpad[n, chans, rows, cols] += dy[n, o, oh, ow] * weight[o]
        db[o] += dy[n, o, oh, ow]
    return dxpad[:, :, ph:ph + H, pw:pw + W], dW, db
