"""Rectified linear unit (paper section 3.1)."""

from ..autograd import Function


class ReLU(Function):
    """y = max(0, x)  (paper section 3.1, "ReLU nonlinearity").

    dy/dx = 1 where x > 0 and 0 where x < 0 (at x = 0 we take 0, the usual
    subgradient). Since y > 0 exactly where x > 0: gx = gy * [y > 0].
    Only y is kept for the backward pass.
    """

    def forward(self, x):
        self.y = self.device.xp.maximum(x, 0)
        return self.y

    def backward(self, gy):
        return gy * (self.y > 0)


def relu(x):
    """Element-wise ``max(0, x)``. Any shape; float tensors."""
    return ReLU()(x)
