"""The convolution layer (paper section 3.5, figure 2)."""

import math
import numbers

import numpy

from ..functions._geometry import pair as _pair
from ..functions.conv2d import conv2d
from ..random import default_generator
from .module import Module, Parameter

__all__ = ["Conv2d"]


class Conv2d(Module):
    """2-D convolution layer, grouped: ``y = conv2d(x, weight, bias)``.

    Args:
        in_channels, out_channels (int): C_in and C_out; both must be
            divisible by ``groups``.
        kernel_size: int or (kh, kw).
        stride: int or (sh, sw). Default 1.
        padding: int or (ph, pw) zeros added on each side. Default 0.
        groups (int): split the channels into this many independent blocks.
            Default 1. ``groups=2`` is the paper's two towers (conv2, conv4,
            conv5 see only the kernel maps of their own GPU).
        bias (bool): learn an additive bias per output channel. Default True.
        device: where the weights live (default "cpu").
        dtype: default float32.

    Shapes: x (N, C_in, H, W) -> y (N, C_out, OH, OW), with
    ``OH = (H + 2*ph - kh) // sh + 1`` (likewise OW). ``weight`` is
    (C_out, C_in // groups, kh, kw), ``bias`` (C_out,).

    Initialisation: PyTorch's default, U(-1/sqrt(fan_in), 1/sqrt(fan_in))
    with fan_in = C_in // groups * kh * kw, drawn from
    :func:`minialex.random.default_generator` (seed it with
    :func:`minialex.manual_seed`). AlexNet re-initialises its layers as the
    paper says (:mod:`minialex.models`).

    Raises:
        ValueError: channels not positive or not divisible by ``groups``,
            groups < 1, a kernel/stride < 1 or padding < 0 (at construction);
            on call, whatever :func:`minialex.functional.conv2d` raises
            (non-4-D input, wrong channel count, a kernel larger than the
            padded input).
        TypeError: kernel_size/stride/padding not ints or pairs of ints; on
            call, a non-float input.

    Source: paper section 3.5, figure 2 (the five conv layers of AlexNet).
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, groups=1,
                 bias=True, device=None, dtype=numpy.float32):
        super().__init__()
        for name, v in (("in_channels", in_channels), ("out_channels", out_channels),
                        ("groups", groups)):
            if not isinstance(v, numbers.Integral) or isinstance(v, (bool, numpy.bool_)) or v < 1:
                raise ValueError(f"Conv2d: {name} must be a positive int, got {v!r}")
        in_channels, out_channels, groups = int(in_channels), int(out_channels), int(groups)
        for name, v in (("in_channels", in_channels), ("out_channels", out_channels)):
            if v % groups:
                raise ValueError(f"Conv2d: {name}={v} is not divisible by groups={groups}")
        self.kernel_size = _pair(kernel_size, "kernel_size", "Conv2d")
        self.stride = _pair(stride, "stride", "Conv2d")
        self.padding = _pair(padding, "padding", "Conv2d")
        if min(self.kernel_size) < 1 or min(self.stride) < 1 or min(self.padding) < 0:
            raise ValueError(f"Conv2d: need kernel_size >= 1, stride >= 1, padding >= 0; got "
                             f"kernel_size={self.kernel_size}, stride={self.stride}, "
                             f"padding={self.padding}")
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        kh, kw = self.kernel_size
        fan_in = in_channels // groups * kh * kw
        bound = 1.0 / math.sqrt(fan_in)
        rng = default_generator()
        shape = (out_channels, in_channels // groups, kh, kw)
        self.weight = Parameter(rng.uniform(-bound, bound, shape).astype(dtype), device=device)
        self.bias = (Parameter(rng.uniform(-bound, bound, out_channels).astype(dtype), device=device)
                     if bias else None)

    def forward(self, x):
        """x (N, in_channels, H, W) -> (N, out_channels, OH, OW), x's dtype."""
        return conv2d(x, self.weight, self.bias, self.stride, self.padding, self.groups)

    def extra_repr(self):
        """The arguments as they appear inside ``repr(module)``."""
        s = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
             f"stride={self.stride}")
        if self.padding != (0, 0):
            s += f", padding={self.padding}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        return s
