"""Pooling layers: the paper's overlapping max-pooling (section 3.4),
average pooling and adaptive average pooling."""

from ..functions.adaptive_avg_pool2d import adaptive_avg_pool2d
from ..functions.avg_pool2d import avg_pool2d
from ..functions.max_pool2d import max_pool2d, pool_arguments
from .module import Module

__all__ = ["MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d"]


class MaxPool2d(Module):
    """2-D max-pooling: ``y = max_pool2d(x, kernel_size, stride, padding, ceil_mode)``.

    Args:
        kernel_size: int or (kh, kw), >= 1. The paper: 3 (z = 3).
        stride: int or (sh, sw), >= 1. Default: ``kernel_size`` (no
            overlap). The paper: 2 (s = 2 < z, so windows overlap).
        padding: int or (ph, pw), 0 <= p <= k // 2, read as -inf. Default 0.
        ceil_mode (bool): output size rounded up (cuda-convnet's/Chainer's)
            instead of down (PyTorch's default). Default False.

    Shapes: x (N, C, H, W) float32 (or float64) -> y (N, C, OH, OW) with
    ``OH = floor((H + 2*ph - kh) / sh) + 1`` (ceil instead of floor with
    ``ceil_mode``, minus a last window that would start in the padding);
    likewise OW. AlexNet: 55 -> 27 -> 13 -> 6 (ImageNet), 28 -> 13 -> 6 -> 2
    (our CIFAR version). No parameters.

    Gradient: to the first maximum of each window in row-major order;
    overlapping windows add. See :func:`minialex.functional.max_pool2d`.

    Raises:
        TypeError / ValueError: at construction, for arguments
            :func:`minialex.functional.max_pool2d` would reject (non-ints,
            kernel or stride < 1, padding outside 0..kernel // 2); on call,
            a non-4-D or non-float input, or a kernel larger than the padded
            input.

    Source: paper section 3.4 ("Overlapping Pooling").
    """

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False):
        super().__init__()
        self.kernel_size, self.stride, self.padding = pool_arguments(kernel_size, stride, padding)
        self.ceil_mode = bool(ceil_mode)

    def forward(self, x):
        """x (N, C, H, W) -> (N, C, OH, OW), the maximum of each window."""
        return max_pool2d(x, self.kernel_size, self.stride, self.padding, self.ceil_mode)

    def extra_repr(self):
        """The arguments as they appear inside ``repr(module)``."""
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, "
                f"padding={self.padding}, ceil_mode={self.ceil_mode}")


class AvgPool2d(Module):
    """2-D average pooling, PyTorch's ``nn.AvgPool2d`` (cuda-convnet's CIFAR
    nets pool this way).

    Args:
        kernel_size, stride (default ``kernel_size``), padding (zeros,
            0 <= p <= k // 2), ceil_mode (default False),
            count_include_pad (default True): see
            :func:`minialex.functional.avg_pool2d`, which checks them on call.

    Shapes: (N, C, H, W) -> (N, C, OH, OW), OH = floor((H + 2p - k)/s) + 1
    (or ceil). No parameters.
    """

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False,
                 count_include_pad=True):
        super().__init__()
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        self.ceil_mode, self.count_include_pad = bool(ceil_mode), bool(count_include_pad)

    def forward(self, x):
        """x (N, C, H, W) -> (N, C, OH, OW), the mean of each window."""
        return avg_pool2d(x, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                          self.count_include_pad)

    def extra_repr(self):
        """The arguments as they appear inside ``repr(module)``."""
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"ceil_mode={self.ceil_mode}, count_include_pad={self.count_include_pad}")


class AdaptiveAvgPool2d(Module):
    """Average-pool to a fixed ``output_size`` (int or (OH, OW), None keeps
    that input size) for any input size, PyTorch's bins: output row i
    averages rows floor(i*H/OH) .. ceil((i+1)*H/OH) - 1. torchvision's
    AlexNet uses ``AdaptiveAvgPool2d((6, 6))`` before fc6 (the identity on
    its 6x6 maps). Shapes: (N, C, H, W) -> (N, C, OH, OW). No parameters."""

    def __init__(self, output_size):
        super().__init__()
        self.output_size = output_size

    def forward(self, x):
        """x (N, C, H, W) -> (N, C, OH, OW), the mean of each of PyTorch's bins."""
        return adaptive_avg_pool2d(x, self.output_size)

    def extra_repr(self):
        """The arguments as they appear inside ``repr(module)``."""
        return f"output_size={self.output_size}"
