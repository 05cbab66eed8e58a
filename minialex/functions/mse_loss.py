"""Mean squared error (PyTorch's ``F.mse_loss``)."""

from ..engine import Function
from ._utils import check_float


class MSELoss(Function):
    """L = (1/M) sum_i (x_i - t_i)^2 over all M elements ("mean"), the sum
    ("sum") or the element-wise squares ("none").

    Derivation: with d = x - t, dL/dx_i = 2 d_i / M ("mean"; 2 d_i for the
    others, times gy), and dL/dt_i = -dL/dx_i.
    """

    def __init__(self, reduction):
        self.reduction = reduction

    def forward(self, x, t):
        """L = reduced (x - t)^2; keeps d = x - t."""
        self.d = x - t
        sq = self.d * self.d
        if self.reduction == "none":
            return sq
        total = sq.sum()
        return (total / x.dtype.type(sq.size) if self.reduction == "mean" else total).astype(x.dtype)

    def backward(self, gy):
        """gx = 2 d gy (/ M for the mean), gt = -gx."""
        scale = 2 / self.d.size if self.reduction == "mean" else 2
        gx = self.d * (gy * gy.dtype.type(scale))
        return (gx if self.needs_input_grad[0] else None,
                -gx if self.needs_input_grad[1] else None)


def mse_loss(input, target, reduction="mean"):  # noqa: A002 (mirrors torch)
    """Squared error between ``input`` and ``target`` (same shape, any),
    reduced by "mean" (default), "sum" or "none" (PyTorch's ``F.mse_loss``).

    Raises:
        ValueError: shapes that differ, or an unknown reduction.
    """
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"mse_loss: reduction={reduction!r}; use 'mean', 'sum' or 'none'")
    check_float("mse_loss", input=input, target=target)
    if tuple(input.shape) != tuple(getattr(target, "shape", ())):
        raise ValueError(f"mse_loss: input shape {tuple(input.shape)} differs from target shape "
                         f"{tuple(getattr(target, 'shape', ()))}; reshape one of them")
    return MSELoss(reduction)(input, target)
