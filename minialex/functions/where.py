"""Element-wise choice between two tensors."""

from ..engine import Function
from ..tensor import Tensor
from ._utils import check_float, sum_to


class Where(Function):
    """y = a where ``condition`` else b (broadcasting the three).

    Derivation: dy/da = [condition], dy/db = [not condition] element by
    element, so ga = sum_to(gy * condition, a.shape) and
    gb = sum_to(gy * ~condition, b.shape) (sum_to undoes broadcasting).
    The condition is a constant: it has no gradient.
    """

    def __init__(self, condition):
        self.condition = condition

    def forward(self, a, b):
        """y = where(condition, a, b)."""
        self.shapes = a.shape, b.shape
        return self.device.xp.where(self.condition, a, b)

    def backward(self, gy):
        """ga = gy where condition, gb = gy elsewhere, summed to their shapes."""
        xp = self.device.xp
        ga = gb = None
        if self.needs_input_grad[0]:
            ga = sum_to(xp.where(self.condition, gy, 0).astype(gy.dtype, copy=False),
                        self.shapes[0])
        if self.needs_input_grad[1]:
            gb = sum_to(xp.where(self.condition, 0, gy).astype(gy.dtype, copy=False),
                        self.shapes[1])
        return ga, gb


def where(condition, a, b):
    """``a`` where ``condition`` is true, else ``b`` (``torch.where``).

    Args:
        condition: bool array or Tensor (no gradient), broadcastable.
        a, b: Tensors or numbers, broadcastable with ``condition``.

    Raises TypeError: a non-boolean condition."""
    c = condition.data if isinstance(condition, Tensor) else condition
    if getattr(c, "dtype", None) is None or c.dtype != bool:
        raise TypeError("where: condition must be a boolean array or Tensor (e.g. x > 0), got "
                        f"{getattr(c, 'dtype', type(c).__name__)}")
    check_float("where", a=a, b=b)
    device = next((t.device for t in (a, b) if isinstance(t, Tensor)), None)
    if device is not None:
        c = device.put(c)
    return Where(c)(a, b)
