"""Loss modules: CrossEntropyLoss and MSELoss (PyTorch's)."""

from .. import functional as F
from .module import Module

__all__ = ["CrossEntropyLoss", "MSELoss"]


class CrossEntropyLoss(Module):
    """Softmax cross-entropy averaged over the batch:
    ``loss(logits (N, C), target (N,) int64) -> scalar``.

    Args:
        label_smoothing (float): eps in [0, 1]; the target distribution is
            (1 - eps) * one_hot + eps / C (PyTorch's definition). Default 0.
        reduction: only "mean" (the batch average; the paper's objective).

    Raises ValueError: another reduction, or label_smoothing outside [0, 1].
    See :func:`minialex.functional.cross_entropy` (derivation there)."""

    def __init__(self, label_smoothing=0.0, reduction="mean"):
        super().__init__()
        if reduction != "mean":
            raise ValueError(f"CrossEntropyLoss supports reduction='mean' only, got {reduction!r}")
        if not 0.0 <= label_smoothing <= 1.0:
            raise ValueError(f"label_smoothing={label_smoothing} must be in [0, 1]")
        self.label_smoothing, self.reduction = float(label_smoothing), reduction

    def forward(self, logits, target):
        """Apply the layer (see the class docstring)."""
        return F.cross_entropy(logits, target, label_smoothing=self.label_smoothing)

    def extra_repr(self):
        """The arguments shown by repr()."""
        return f"label_smoothing={self.label_smoothing}" if self.label_smoothing else ""


class MSELoss(Module):
    """Mean squared error ``loss(input, target)``, same shapes.

    Args:
        reduction: "mean" (default), "sum" or "none".

    See :func:`minialex.functional.mse_loss`."""

    def __init__(self, reduction="mean"):
        super().__init__()
        if reduction not in ("mean", "sum", "none"):
            raise ValueError(f"MSELoss: reduction={reduction!r}; use 'mean', 'sum' or 'none'")
        self.reduction = reduction

    def forward(self, input, target):  # noqa: A002 (mirrors torch)
        """Apply the layer (see the class docstring)."""
        return F.mse_loss(input, target, self.reduction)

    def extra_repr(self):
        """The arguments shown by repr()."""
        return f"reduction={self.reduction!r}"
