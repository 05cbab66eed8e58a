"""Overlapping max-pooling (paper section 3.4).

This file is the maths; the forward passes (the ``phases`` and
``planes_last`` paths) and the scatter-add backward are in
:mod:`minialex.functions._kernels`, chosen through
:mod:`minialex.functions._kernels.paths`.
"""

from ..autograd import Function
from ._geometry import PoolWindow, check_image_batch, check_pool, output_size
from ._kernels import paths

__all__ = ["max_pool2d", "MaxPool2dFunction", "pool_arguments", "pool_output_size"]

pool_arguments = check_pool      # the argument checks, shared with nn.MaxPool2d
pool_output_size = output_size   # windows along one axis, floor or ceil mode


class MaxPool2dFunction(Function):
    """y[n,c,oy,ox] = max_{0<=i<kh, 0<=j<kw} xpad[n, c, oy*sh + i, ox*sw + j]
    with xpad the input padded by -inf (section 3.4: z = 3, s = 2, so
    neighbouring windows overlap by one row and one column).

    The forward pass also records, for each output, where its maximum came
    from: the argmax code i*Wp + j of the window offset (i, j) (Wp = xpad's
    width). Ties keep the first maximal offset in row-major window order.

    Backward. y = xpad[argmax], so dy/dx is 1 at the recorded argmax of the
    window and 0 elsewhere: each output sends its whole gradient to that one
    input. An input inside several (overlapping) windows receives the sum
    of the gradients of the windows that picked it:

      gx[u] = sum over outputs w with argmax(w) = u of gy[w],

    a scatter-add of gy onto the argmax positions (entries on the padding
    are dropped).
    """

    def __init__(self, window):
        self.window = window

    def forward(self, x):
        """x (N, C, H, W) float -> y (N, C, OH, OW), same dtype; saves the
        argmax codes (and x's shape) when a gradient is needed."""
        xp, track = self.device.xp, self.needs_input_grad[0]
        hp, wp = self.window.padded_size(*x.shape[2:])
        self.kern = paths.choose("max_pool2d", xp, padded_pixels=hp * wp)
        y, argmax = self.kern.forward(x, self.window, track)   # max and where it came from
        if track:
            self.argmax, self.x_shape = argmax, x.shape
        return y

    def backward(self, gy):
        """gx[u] = sum of gy[w] over the outputs w whose argmax is u (derived
        in the class docstring): one scatter-add."""
        return self.kern.backward(gy, self.argmax, self.window, self.x_shape)


def max_pool2d(x, kernel_size, stride=None, padding=0, ceil_mode=False):
    """2-D max-pooling, overlapping when ``stride < kernel_size`` (paper
    section 3.4 uses kernel_size=3, stride=2).

    Args:
        x: Tensor (N, C, H, W), float32 (float64 for gradient checks).
        kernel_size: int or (kh, kw), >= 1.
        stride: int or (sh, sw), >= 1. Default: ``kernel_size``.
        padding: int or (ph, pw), 0 <= p <= k // 2, on both sides. Padding
            is read as -inf, never 0, so it is never the maximum.
        ceil_mode (bool): False (default, PyTorch's): floor((H + 2p - k)/s) + 1
            output rows. True: ceil((H + 2p - k)/s) + 1 (cuda-convnet's and
            Chainer's size), dropping a last window that would start at or
            beyond H + p (PyTorch's rule; see :func:`pool_output_size`).

    Returns:
        Tensor (N, C, OH, OW), same dtype and device as ``x``.

    Gradient: each output's gradient goes to one argmax of its window; ties
    go to the first maximal element in row-major window order (top row
    first, then left to right); where windows overlap, gradients add.

    Raises:
        ValueError: x is not 4-D; kernel_size or stride < 1; padding < 0 or
            padding > kernel_size // 2; the kernel larger than the padded
            input (H + 2p < kh or W + 2p < kw).
        TypeError: x is not floating point (e.g. integer images);
            kernel_size, stride or padding not an int or a pair of ints.

    Source: Krizhevsky et al. 2012, section 3.4 ("Overlapping Pooling":
    z = 3, s = 2 lowered their top-1 error by 0.4% against z = s = 2), after
    conv1, conv2 and conv5.
    """
    check_image_batch(x, "max_pool2d", " (padding is -inf)")
    kernel, stride, padding = check_pool(kernel_size, stride, padding)
    h, w = x.shape[2:]
    if h + 2 * padding[0] < kernel[0] or w + 2 * padding[1] < kernel[1]:
        raise ValueError(f"max_pool2d: kernel_size={kernel} is larger than the padded input "
                         f"({h + 2 * padding[0]}, {w + 2 * padding[1]}) (H, W = {h}, {w}, "
                         f"padding={padding}); use a smaller kernel or a larger input")
    out = tuple(output_size(n, k, s, p, bool(ceil_mode))
                for n, k, s, p in zip((h, w), kernel, stride, padding))
    return MaxPool2dFunction(PoolWindow(kernel, stride, padding, out))(x)
