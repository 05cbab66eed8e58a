"""2-D average pooling (cuda-convnet's CIFAR configurations use it; PyTorch's
``F.avg_pool2d``)."""

from ..engine import Function
from ._utils import check_float
from ._geometry import pair
from .max_pool2d import pool_output_size


def _pair(name, value):
    """An int or an (h, w) pair of ints -> (h, w) (TypeError otherwise)."""
    return pair(value, name, "avg_pool2d")


def _divisors(xp, length, out, kernel, stride, padding, count_include_pad, dtype):
    """How many terms each window along one axis averages (PyTorch's rule).

    Window o covers padded rows start = o*s - p .. start + k - 1, clipped at
    the end of the right padding (L + p: ceil mode's last window may reach
    past it). With ``count_include_pad`` the padding rows inside count,
    otherwise only the input rows 0..L-1."""
    start = xp.arange(out) * stride - padding
    end = xp.minimum(start + kernel, length + padding)
    if not count_include_pad:
        start, end = xp.maximum(start, 0), xp.minimum(end, length)
    return (end - start).astype(dtype)


class AvgPool2d(Function):
    """y[n,c,oy,ox] = (1/d[oy,ox]) * sum_{0<=i<kh, 0<=j<kw} xpad[n,c, oy*sh+i, ox*sw+j]

    with xpad the input padded by zeros (``padding`` on each side, plus
    whatever rows ceil mode's last window needs) and d the number of terms
    counted (see :func:`_divisors`; d = d_h[oy] * d_w[ox]).

    Derivation: dy[oy,ox]/dxpad[r,c] = 1/d[oy,ox] when (r, c) lies in the
    window of (oy, ox), else 0. So every window spreads gy/d evenly over
    its kh*kw places, and where windows overlap the parts add:
    gxpad[.., oy*sh+i, ox*sw+j] += (gy/d)[oy, ox] for every offset (i, j);
    gx is gxpad without the padding. Both passes loop over the kh*kw
    kernel offsets only, each a strided slice of the whole batch.
    """

    def __init__(self, kernel, stride, padding, out, count_include_pad):
        self.kernel, self.stride, self.padding = kernel, stride, padding
        self.out, self.count_include_pad = out, count_include_pad

    def forward(self, x):
        """y = window sums / divisors, one strided slice per kernel offset."""
        xp = self.device.xp
        n, c, h, w = self.in_shape = x.shape
        (kh, kw), (sh, sw), (ph, pw), (oh, ow) = self.kernel, self.stride, self.padding, self.out
        # padded size: every window fits, even ceil mode's last one
        self.padded = (n, c, max(h + 2 * ph, (oh - 1) * sh + kh),
                       max(w + 2 * pw, (ow - 1) * sw + kw))
        xpad = xp.zeros(self.padded, dtype=x.dtype)
        xpad[:, :, ph:ph + h, pw:pw + w] = x
        y = xp.zeros((n, c, oh, ow), dtype=x.dtype)
        for i in range(kh):
            for j in range(kw):
                y += xpad[:, :, i:i + sh * (oh - 1) + 1:sh, j:j + sw * (ow - 1) + 1:sw]
        dh = _divisors(xp, h, oh, kh, sh, ph, self.count_include_pad, x.dtype)
        dw = _divisors(xp, w, ow, kw, sw, pw, self.count_include_pad, x.dtype)
        self.divisor = dh[:, None] * dw[None, :]
        y /= self.divisor
        return y

    def backward(self, gy):
        """gxpad += (gy / d) at every kernel offset; gx = gxpad without the padding."""
        xp = self.device.xp
        (kh, kw), (sh, sw), (ph, pw) = self.kernel, self.stride, self.padding
        oh, ow = self.out
        share = gy / self.divisor                     # each window's gy/d
        gxpad = xp.zeros(self.padded, dtype=gy.dtype)
        for i in range(kh):
            for j in range(kw):
                gxpad[:, :, i:i + sh * (oh - 1) + 1:sh, j:j + sw * (ow - 1) + 1:sw] += share
        h, w = self.in_shape[2:]
        return gxpad[:, :, ph:ph + h, pw:pw + w].copy()


def avg_pool2d(x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
    """2-D average pooling, PyTorch's ``F.avg_pool2d``.

    Args:
        x: Tensor (N, C, H, W), float32 (float64 for gradient checks).
        kernel_size: int or (kh, kw), >= 1.
        stride: int or (sh, sw), >= 1. Default: ``kernel_size``.
        padding: int or (ph, pw), 0 <= p <= k // 2, zeros on both sides.
        ceil_mode (bool): output size ceil((H + 2p - k)/s) + 1 instead of
            floor, dropping a last window that would start in the right
            padding (at or beyond H + p), as PyTorch. Default False.
        count_include_pad (bool): True (default, PyTorch's): divide by the
            window's size counting padding (clipped at H + p for ceil mode's
            last window); False: by the number of input elements it covers.

    Returns:
        Tensor (N, C, OH, OW), OH = floor((H + 2p - kh)/sh) + 1 (or ceil).

    Raises:
        ValueError: x not 4-D, kernel or stride < 1, padding outside
            0..k // 2, or a kernel larger than the padded input.
        TypeError: non-float x, or non-int window arguments.
    """
    if x.ndim != 4:
        raise ValueError(f"avg_pool2d expects x of shape (N, C, H, W), got shape "
                         f"{tuple(x.shape)}; "
                         + ("add the missing axes with reshape" if x.ndim < 4
                            else "merge the extra axes into N with reshape"))
    check_float("avg_pool2d", x=x)
    kernel = _pair("kernel_size", kernel_size)
    stride = kernel if stride is None else _pair("stride", stride)
    padding = _pair("padding", padding)
    if min(kernel) < 1 or min(stride) < 1:
        raise ValueError(f"avg_pool2d: kernel_size={kernel} and stride={stride} must be >= 1")
    if min(padding) < 0 or padding[0] > kernel[0] // 2 or padding[1] > kernel[1] // 2:
        raise ValueError(f"avg_pool2d: padding={padding} must be between 0 and half the "
                         f"kernel {kernel} (PyTorch's rule)")
    h, w = x.shape[2:]
    if h + 2 * padding[0] < kernel[0] or w + 2 * padding[1] < kernel[1]:
        raise ValueError(f"avg_pool2d: kernel_size={kernel} is larger than the padded input "
                         f"({h + 2 * padding[0]}, {w + 2 * padding[1]}); use a smaller kernel")
    out = tuple(pool_output_size(n, k, s, p, bool(ceil_mode))
                for n, k, s, p in zip((h, w), kernel, stride, padding))
    return AvgPool2d(kernel, stride, padding, out, bool(count_include_pad))(x)
