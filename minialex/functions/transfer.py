"""Explicit, differentiable copies between devices."""

from ..autograd import Function, Tensor
from ..backend import get_device, _log_transfer


class ToDevice(Function):
    """y = x, copied from x's device to ``dst``.

    The value is unchanged, so dy/dx = I: the gradient is gy copied back to
    x's device. Both copies are recorded by ``record_transfers``. Between
    two logical CPU devices the copy is a real one too, so the two sides
    never share memory (as with two GPUs).
    """

    def __init__(self, dst, tag=None):
        self.dst, self.out_device, self.tag = dst, dst, tag

    def forward(self, x):
        """x on the source device -> a copy on ``dst`` (never shared memory)."""
        _log_transfer(self.device, self.dst, x.shape, "forward", self.tag)
        return _copy_to(self.dst, x)

    def backward(self, gy):
        """dL/dy on ``dst`` -> dL/dx = the same values copied back to x's device."""
        _log_transfer(self.dst, self.device, gy.shape, "backward", self.tag)
        return _copy_to(self.device, gy)


def _copy_to(device, a):
    out = device.put(a)
    return out.copy() if out is a else out


def to_device(x, device, tag=None):
    """Copy Tensor ``x`` to ``device`` (differentiable). Returns ``x`` itself
    when it already lives there."""
    dst = get_device(device)
    if x.device == dst:
        return x
    return ToDevice(dst, tag)(x)
