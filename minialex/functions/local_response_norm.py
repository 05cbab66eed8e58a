"""Local response normalization across channels (paper section 3.3)."""

import numbers

import numpy

from ..autograd import Function
from ._threads import parallel as _parallel
from ._utils import check_float

# Channels per block of the banded matrix product on the CPU (see ``_band_sum``).
_BLOCK = 16


def _windows(size):
    """(front, back) of the channel window: channel i sums the squares of
    channels i - front .. i + back. Odd size: front = back = size // 2 (the
    paper's, centred). Even size: front = size // 2, back = size // 2 - 1,
    PyTorch's convention (one more channel before i than after)."""
    return size // 2, (size - 1) // 2


def _padded(xp, shape, size, front, dtype):
    """A zero buffer with ``size - 1`` extra channels, ``front`` of them
    before the real ones; returns it and the view of the real channels.
    Channels outside 0..C-1 are the zeros of the clipped window sums."""
    n, c, h, w = shape
    buf = xp.empty((n, c + size - 1, h, w), dtype=dtype)
    buf[:, :front] = 0
    buf[:, front + c:] = 0
    return buf, buf[:, front:front + c]


def _band_sum(xp, buf, size, scale, out=None):
    """s_i = scale * sum_{q=0}^{size-1} buf_{i+q} over channels: a sliding
    sum of ``size`` neighbouring channels, i.e. s = A @ buf with the banded
    matrix A[i, i+q] = scale (q = 0..size-1), applied at every (n, y, x).

    A dense (C, C+size-1) matrix would waste C/size of its multiply-adds
    on zeros, so the product runs over blocks of ``_BLOCK`` output channels:
    block [c0, c1) needs only input channels [c0, c1 + size - 1), and every
    block uses the same small band matrix. One BLAS call per block (a loop
    over channel blocks, never over pixels) reads each input about once.
    On a GPU multiply-adds are cheap and launches are not: one block.
    """
    n, cp, h, w = buf.shape
    c = cp - size + 1
    b = max(1, min(_BLOCK, c) if xp is numpy else c)
    rows = xp.arange(b)[:, None]
    cols = xp.arange(b + size - 1)[None, :]
    band = ((cols >= rows) & (cols < rows + size)).astype(buf.dtype) * buf.dtype.type(scale)
    if out is None:
        out = xp.empty((n, c, h, w), dtype=buf.dtype)
    src, dst = buf.reshape(n, cp, h * w), out.reshape(n, c, h * w)
    for c0 in range(0, c, b):
        m = min(b, c - c0)
        xp.matmul(band[:m, :m + size - 1], src[:, c0:c0 + m + size - 1], out=dst[:, c0:c0 + m])
    return out


class LocalResponseNorm(Function):
    """b_i = a_i / d_i^beta,  d_i = k + alpha * sum_{j in W(i)} a_j^2
    (paper section 3.3), over channels i at every (n, y, x); W(i) is the
    window i - f .. i + e clipped to 0..C-1, f = size // 2, e = (size-1) // 2.

    Backward. d_i depends on a_j exactly when j is in W(i), i.e. when i is in
    the *transposed* window W'(j) = j - e .. j + f (mirrored for even size):

      db_i/da_j = [i = j] d_i^-beta - beta a_i d_i^(-beta-1) * 2 alpha a_j [j in W(i)]

    so, with the output gradient g and b_i = a_i d_i^-beta,

      ga_j = sum_i g_i db_i/da_j
           = g_j d_j^-beta - 2 alpha beta a_j * sum_{i in W'(j)} g_i b_i / d_i.

    Forward and backward are the same sliding sum (``_band_sum``), the
    backward one with the window's front and back swapped (A transposed).
    Saved for backward: d, d^-beta and b (the input a is kept by the graph).
    Images are independent, so on the CPU both passes run on parts of the
    batch at once, one per thread (:mod:`minialex.functions._threads`); each
    part writes its own slice of the outputs.
    """

    def __init__(self, size, alpha, beta, k):
        self.size, self.alpha, self.beta, self.k = size, alpha, beta, k

    def forward(self, a):
        xp = self.device.xp
        a = xp.ascontiguousarray(a)       # parts must be contiguous (see _band_sum)
        d, r, b = xp.empty_like(a), xp.empty_like(a), xp.empty_like(a)

        def work(lo, hi):                 # images lo..hi-1
            self._forward(xp, a[lo:hi], d[lo:hi], r[lo:hi], b[lo:hi])
        _parallel(work, a.shape[0], a)
        if self.needs_input_grad[0]:
            self.a, self.d, self.r, self.b = a, d, r, b
        return b

    def _forward(self, xp, a, d, r, b):
        """d, d^-beta and b of the images in ``a``, written into d, r, b."""
        dt = a.dtype.type
        front, _ = _windows(self.size)
        buf, mid = _padded(xp, a.shape, self.size, front, a.dtype)
        xp.multiply(a, a, out=mid)                        # a_j^2
        _band_sum(xp, buf, self.size, self.alpha, out=d)  # alpha * sum a_j^2
        d += dt(self.k)
        xp.power(d, dt(-self.beta), out=r)                # d^-beta
        xp.multiply(a, r, out=b)

    def backward(self, g):
        xp = self.device.xp
        g = xp.ascontiguousarray(g)
        ga = xp.empty_like(g)

        def work(lo, hi):                 # images lo..hi-1
            s = slice(lo, hi)
            self._backward(xp, g[s], self.a[s], self.d[s], self.r[s], self.b[s], ga[s])
        _parallel(work, g.shape[0], g)
        return ga

    def _backward(self, xp, g, a, d, r, b, ga):
        """The input gradient of the images in ``g``, written into ga."""
        _, back = _windows(self.size)
        buf, mid = _padded(xp, g.shape, self.size, back, g.dtype)  # transposed window
        xp.multiply(g, b, out=mid)
        xp.divide(mid, d, out=mid)                   # g_i b_i / d_i
        _band_sum(xp, buf, self.size, -2.0 * self.alpha * self.beta, out=ga)
        ga *= a                                      # the cross-channel part
        xp.multiply(g, r, out=mid)                   # buf is free again: g_j d_j^-beta
        ga += mid


def _check_number(name, value, ok, rule):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"local_response_norm: {name}={value!r} is not a real number; "
                        f"{name} must be {rule}")
    if not ok(value):
        raise ValueError(f"local_response_norm: {name}={value!r} is invalid; {name} must be {rule}")


def lrn_arguments(size, alpha, beta, k):
    """Check local_response_norm's arguments (TypeError for a wrong type,
    ValueError for a value out of range; the message names it)."""
    if isinstance(size, bool) or not isinstance(size, numbers.Integral):
        raise TypeError(f"local_response_norm: size={size!r} is not an int; size must be an "
                        "integer >= 1 (the paper uses 5)")
    if size < 1:
        raise ValueError(f"local_response_norm: size={size!r} is invalid; size must be an "
                         "integer >= 1 (the paper uses 5)")
    _check_number("alpha", alpha, lambda v: 0 <= v < float("inf"),
                  "a finite real number >= 0 (the paper uses 1e-4)")
    _check_number("beta", beta, lambda v: abs(v) < float("inf"),
                  "a finite real number (the paper uses 0.75)")
    _check_number("k", k, lambda v: 0 < v < float("inf"),
                  "a finite real number > 0 so k + alpha*sum stays positive (the paper uses 2)")


def local_response_norm(x, size=5, alpha=1e-4, beta=0.75, k=2.0):
    """Local response normalization across channels (paper section 3.3):

        b_i = a_i / (k + alpha * sum_{j=i-size//2}^{i+(size-1)//2} a_j^2) ** beta

    at every position (n, y, x), the sum clipped to channels 0..C-1. For odd
    ``size`` the window is centred (i - size//2 .. i + size//2, as in the
    paper and docs/paper.md); for even ``size`` it has one more channel before
    i than after (PyTorch's convention, so results match it for every size).

    Args:
        x: Tensor (N, C, H, W), float32 (float64 for gradient checks); the
            output keeps its dtype. C may be smaller than ``size``.
        size (int): channels in the window, n in the paper. Default 5.
        alpha (float): scale of the sum, NOT divided by ``size``. Default 1e-4.
        beta (float): exponent. Default 0.75.
        k (float): additive constant, > 0. Default 2.0.

    Returns:
        Tensor (N, C, H, W), same dtype and device as ``x``.

    Converting from/to PyTorch and Caffe: ``torch.nn.LocalResponseNorm`` and
    Caffe's LRN layer divide alpha by size, so the paper's layer is
    ``torch.nn.LocalResponseNorm(5, alpha=5 * 1e-4, beta=0.75, k=2.0)``;
    in general ``alpha_torch = alpha_ours * size`` and
    ``alpha_ours = alpha_torch / size`` (size, beta and k are the same).

    Gradient: in closed form, derived in :class:`LocalResponseNorm`; it uses
    the transposed window (i - (size-1)//2 .. i + size//2), which differs
    from the forward window for even sizes. The window sums are banded
    matrix products (no cumulative-sum differences, so no float32
    cancellation).

    Raises:
        ValueError: x is not 4-D; size < 1; alpha < 0 or not finite; k <= 0
            or not finite (the denominator must stay positive); beta not
            finite.
        TypeError: x is not floating point (e.g. integer images); size not
            an int; alpha, beta or k not a real number.

    Source: Krizhevsky et al. 2012, section 3.3 (k = 2, n = 5,
    alpha = 1e-4, beta = 0.75, applied after the ReLU of conv1 and conv2).
    """
    if x.ndim != 4:
        raise ValueError(f"local_response_norm expects x of shape (N, C, H, W), got shape "
                         f"{tuple(x.shape)}; add the missing axes with reshape")
    check_float("local_response_norm", x=x)
    lrn_arguments(size, alpha, beta, k)
    return LocalResponseNorm(int(size), float(alpha), float(beta), float(k))(x)
