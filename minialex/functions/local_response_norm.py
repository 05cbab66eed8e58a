"""Local response normalization across channels (paper section 3.3).

This file is the maths; the sliding window sum over channels is
:mod:`minialex.functions._kernels.lrn_window` (chosen through
:mod:`minialex.functions._kernels.paths`).
"""

from ..autograd import Function
from ._geometry import check_image_batch, check_lrn
from ._kernels import paths

__all__ = ["local_response_norm", "LocalResponseNormFunction", "lrn_arguments"]

lrn_arguments = check_lrn    # the argument checks, shared with nn.LocalResponseNorm


class LocalResponseNormFunction(Function):
    """b_i = a_i / d_i^beta,  d_i = k + alpha * sum_{j in W(i)} a_j^2
    (paper section 3.3), over channels i at every (n, y, x); W(i) is the
    window i - f .. i + e clipped to 0..C-1, f = size // 2, e = (size-1) // 2.

    Backward. d_i depends on a_j exactly when j is in W(i), i.e. when i is in
    the *transposed* window W'(j) = j - e .. j + f (mirrored for even size):

      db_i/da_j = [i = j] d_i^-beta - beta a_i d_i^(-beta-1) * 2 alpha a_j [j in W(i)]

    so, with the output gradient g and b_i = a_i d_i^-beta,

      ga_j = sum_i g_i db_i/da_j
           = g_j d_j^-beta - 2 alpha beta a_j * sum_{i in W'(j)} g_i b_i / d_i.

    Forward and backward are the same sliding window sum, the backward one
    with the window's front and back swapped (W' instead of W). Saved for
    backward: d, d^-beta and b (the input a is kept by the graph). Images
    are independent, so both passes run on blocks of images
    (``over_image_blocks``: cache-sized blocks, split across the CPU
    threads); each block writes its own slice of the outputs.
    """

    def __init__(self, size, alpha, beta, k):
        self.size, self.alpha, self.beta, self.k = size, alpha, beta, k

    def _forward_images(self, a, d, d_neg_beta, b):
        """d, d^-beta and b of the images in ``a``, written into the others."""
        xp, dt = self.device.xp, a.dtype.type
        front, _ = self.kern.window_extent(self.size)
        window = self.kern.ChannelWindow(xp, a.shape, a.dtype, self.size, front)
        xp.multiply(a, a, out=window.inner)            # a_j^2
        window.sum(self.alpha, out=d)                  # alpha * sum_{j in W(i)} a_j^2
        d += dt(self.k)                                # d_i
        xp.power(d, dt(-self.beta), out=d_neg_beta)    # d_i^-beta
        xp.multiply(a, d_neg_beta, out=b)              # b_i = a_i d_i^-beta

    def _backward_images(self, g, a, d, d_neg_beta, b, ga):
        """ga, the input gradient of the images in ``g``, written in place."""
        xp = self.device.xp
        _, back = self.kern.window_extent(self.size)
        window = self.kern.ChannelWindow(xp, g.shape, g.dtype, self.size, back)  # W'
        xp.multiply(g, b, out=window.inner)
        xp.divide(window.inner, d, out=window.inner)   # g_i b_i / d_i
        window.sum(-2.0 * self.alpha * self.beta, out=ga)   # -2 alpha beta sum_{i in W'(j)} ...
        ga *= a                                        # ... times a_j
        xp.multiply(g, d_neg_beta, out=window.inner)   # g_j d_j^-beta (the buffer is free again)
        ga += window.inner

    def forward(self, a):
        """a (N, C, H, W) float -> b, same shape and dtype; saves d, d^-beta,
        b (and a) when a gradient is needed."""
        xp = self.device.xp
        self.kern = paths.choose("local_response_norm", xp)
        a = xp.ascontiguousarray(a)       # the image blocks must be contiguous
        d, d_neg_beta, b = xp.empty_like(a), xp.empty_like(a), xp.empty_like(a)

        def work(lo, hi):
            """The forward of images lo..hi-1 (one block)."""
            self._forward_images(a[lo:hi], d[lo:hi], d_neg_beta[lo:hi], b[lo:hi])
        self.kern.over_image_blocks(work, a)
        if self.needs_input_grad[0]:
            self.a, self.d, self.d_neg_beta, self.b = a, d, d_neg_beta, b
        return b

    def backward(self, g):
        """ga_j = g_j d_j^-beta - 2 alpha beta a_j sum_{i in W'(j)} g_i b_i / d_i
        (derived in the class docstring), block of images by block."""
        xp = self.device.xp
        g = xp.ascontiguousarray(g)
        ga = xp.empty_like(g)

        def work(lo, hi):
            """The backward of images lo..hi-1 (one block)."""
            s = slice(lo, hi)
            self._backward_images(g[s], self.a[s], self.d[s], self.d_neg_beta[s], self.b[s],
                                  ga[s])
        self.kern.over_image_blocks(work, g)
        return ga


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

    Gradient: in closed form, derived in :class:`LocalResponseNormFunction`; it uses
    the transposed window (i - (size-1)//2 .. i + size//2), which differs
    from the forward window for even sizes. The window sums add the
    window's channels only (no band-matrix zeros, no cumulative-sum
    differences), so a non-finite or huge input value reaches only the
    channels whose window holds it: i - (size-1)//2 .. i + size//2 forward,
    and the transposed window of those in the gradient.

    Raises:
        ValueError: x is not 4-D; size < 1; alpha < 0 or not finite; k <= 0
            or not finite (the denominator must stay positive); beta not
            finite.
        TypeError: x is not floating point (e.g. integer images); size not
            an int; alpha, beta or k not a real number.

    Source: Krizhevsky et al. 2012, section 3.3 (k = 2, n = 5,
    alpha = 1e-4, beta = 0.75, applied after the ReLU of conv1 and conv2).
    """
    check_image_batch(x, "local_response_norm")
    check_lrn(size, alpha, beta, k)
    return LocalResponseNormFunction(int(size), float(alpha), float(beta), float(k))(x)
