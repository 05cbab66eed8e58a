"""The overlapping max-pooling layer (paper section 3.4)."""

from ..functions.max_pool2d import max_pool2d, pool_arguments
from .module import Module

__all__ = ["MaxPool2d"]


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
        return max_pool2d(x, self.kernel_size, self.stride, self.padding, self.ceil_mode)

    def extra_repr(self):
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, "
                f"padding={self.padding}, ceil_mode={self.ceil_mode}")
