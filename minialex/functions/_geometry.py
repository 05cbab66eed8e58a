"""Window geometry and argument checks shared by conv2d, max_pool2d and
local_response_norm: the one ``pair``, the one output-size rule (floor and
ceil), and every check of these ops' arguments, each raising an error that
names the bad value and the fix.
"""

import numbers

from ..autograd import Tensor
from ._utils import check_float

__all__ = ["pair", "output_size", "PoolWindow", "check_image_batch", "check_conv2d",
           "check_conv_window", "check_pool", "check_lrn"]


def pair(value, name, who="argument"):
    """``3 -> (3, 3)``, ``(3, 5) -> (3, 5)``; anything else is a TypeError
    naming ``who`` (the op) and ``name`` (the argument)."""
    both = tuple(value) if isinstance(value, (tuple, list)) else (value, value)
    if len(both) != 2 or not all(isinstance(v, numbers.Integral) and not isinstance(v, bool)
                                 for v in both):
        raise TypeError(f"{who}: {name}={value!r} is invalid; give an int or a pair (h, w) "
                        "of ints")
    return int(both[0]), int(both[1])


def output_size(size, kernel, stride, padding, ceil_mode=False):
    """Number of window positions along one axis (PyTorch's rule, used by
    conv2d, im2col and max_pool2d).

    floor mode (default): ``floor((size + 2*padding - kernel) / stride) + 1``,
    the windows that fit. ceil mode: ``ceil(...) + 1``, one more partial
    window at the end when the stride leaves a remainder (cuda-convnet's and
    Chainer's size), except that a window starting at or beyond
    ``size + padding`` (in the right/bottom padding only) is dropped.
    """
    span = size + 2 * padding - kernel
    n = (span + (stride - 1 if ceil_mode else 0)) // stride + 1
    if ceil_mode and (n - 1) * stride >= size + padding:
        n -= 1
    return n


class PoolWindow:
    """A pooling window's geometry: kernel (kh, kw), stride (sh, sw),
    padding (ph, pw) and output size (oh, ow). ``padded_size(h, w)`` is
    (Hp, Wp), the rows and columns of the -inf-padded input xpad, enough for
    the whole input and every window (floor mode without padding: (H, W))."""

    def __init__(self, kernel, stride, padding, out_size):
        (self.kh, self.kw), (self.sh, self.sw) = kernel, stride
        (self.ph, self.pw), (self.oh, self.ow) = padding, out_size

    def padded_size(self, h, w):
        """(Hp, Wp) of xpad for an input of h rows and w columns (see above)."""
        return (max(self.sh * (self.oh - 1) + self.kh, h + self.ph),
                max(self.sw * (self.ow - 1) + self.kw, w + self.pw))


# ---------------------------------------------------------------- checks
def check_image_batch(x, who, why=""):
    """x must be a 4-D (N, C, H, W) floating-point array or Tensor."""
    if x.ndim != 4:
        raise ValueError(f"{who} expects x of shape (N, C, H, W), got shape {tuple(x.shape)}; "
                         "add the missing axes with reshape")
    check_float(who, x=x)


def check_conv_window(x_shape, kernel_size, stride, padding, who):
    """Validate convolution window parameters against an (N, C, H, W) shape
    and return ``(kh, kw), (sh, sw), (ph, pw), (OH, OW)``."""
    (kh, kw), (sh, sw) = pair(kernel_size, "kernel_size", who), pair(stride, "stride", who)
    ph, pw = pair(padding, "padding", who)
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
    return (kh, kw), (sh, sw), (ph, pw), (output_size(H, kh, sh, ph), output_size(W, kw, sw, pw))


def check_conv2d(x, weight, bias, groups):
    """The checks of conv2d that do not involve window geometry."""
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
    if C_in == 0:
        raise ValueError(f"conv2d needs at least one input channel, got x of shape {x.shape}")
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


def check_pool(kernel_size, stride=None, padding=0):
    """Check max_pool2d's window arguments; return (kernel, stride, padding)
    as (h, w) pairs, stride defaulting to the kernel. Raises TypeError for
    non-integers, ValueError for kernel or stride < 1 and for padding outside
    0..kernel // 2 (a wider padding could make a window of padding only)."""
    kernel = pair(kernel_size, "kernel_size", "max_pool2d")
    stride = kernel if stride is None else pair(stride, "stride", "max_pool2d")
    padding = pair(padding, "padding", "max_pool2d")
    if min(kernel) < 1:
        raise ValueError(f"max_pool2d: kernel_size={kernel_size!r} must be >= 1")
    if min(stride) < 1:
        raise ValueError(f"max_pool2d: stride={stride!r} must be >= 1")
    if min(padding) < 0 or padding[0] > kernel[0] // 2 or padding[1] > kernel[1] // 2:
        raise ValueError(f"max_pool2d: padding={padding!r} must be between 0 and half the "
                         f"kernel {kernel}, i.e. at most {(kernel[0] // 2, kernel[1] // 2)}, so "
                         "every window holds at least one input element")
    return kernel, stride, padding


def _check_number(name, value, ok, rule):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"local_response_norm: {name}={value!r} is not a real number; "
                        f"{name} must be {rule}")
    if not ok(value):
        raise ValueError(f"local_response_norm: {name}={value!r} is invalid; {name} must be {rule}")


def check_lrn(size, alpha, beta, k):
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
