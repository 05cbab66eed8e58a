"""Rectified linear unit (paper section 3.1)."""

from ..autograd import Function
from ._threads import parallel as _parallel
from ._utils import check_float


class ReLU(Function):
    """y = max(0, x)  (paper section 3.1, "ReLU nonlinearity").

    dy/dx = 1 where x > 0 and 0 where x < 0 (at x = 0 we take 0, the usual
    subgradient). Since y = 0 exactly where x <= 0: gx = gy * [y != 0].
    A NaN input gives y = NaN and passes its gradient on (NaN != 0), as
    PyTorch's threshold_backward does: the NaN is not hidden from the
    layers below.
    Only y is kept for the backward pass. Both passes treat the array as one
    flat run of numbers, split across the CPU threads for big arrays.
    """

    def forward(self, x):
        """x (any shape, float) -> y = max(0, x), a new array; saves y."""
        xp = self.device.xp
        x = xp.ascontiguousarray(x)
        self.y = xp.empty_like(x)
        xf, yf = x.reshape(-1), self.y.reshape(-1)

        def work(lo, hi):
            """y = max(0, x) on the flat numbers lo..hi-1 (one thread's share)."""
            xp.maximum(xf[lo:hi], 0, out=yf[lo:hi])
        _parallel(work, xf.size, x)
        return self.y

    def backward(self, gy):
        """dL/dy -> dL/dx = dL/dy * [y != 0], a new array of y's shape."""
        xp = self.device.xp
        gy = xp.ascontiguousarray(gy)
        gx = xp.empty_like(gy)
        gyf, yf, gxf = gy.reshape(-1), self.y.reshape(-1), gx.reshape(-1)

        def work(lo, hi):
            """dL/dx = dL/dy * [y != 0] on the flat numbers lo..hi-1."""
            xp.multiply(gyf[lo:hi], yf[lo:hi] != 0, out=gxf[lo:hi])
        _parallel(work, gyf.size, gy)
        return gx


def relu(x):
    """Element-wise ``max(0, x)``. Any shape; float tensors (TypeError otherwise)."""
    check_float("relu", x=x)
    return ReLU()(x)
