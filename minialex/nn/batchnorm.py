"""Batch normalization layers (Ioffe & Szegedy 2015), PyTorch's
BatchNorm1d and BatchNorm2d: the most common modern variant of AlexNet puts
one after each convolution instead of LRN."""

import numpy

from ..functions.batch_norm import batch_norm
from ..tensor import Tensor
from .module import Module, Parameter

__all__ = ["BatchNorm1d", "BatchNorm2d"]


class _BatchNorm(Module):
    """Shared body; see :class:`BatchNorm2d` for the documentation."""

    _ndims = ()

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True,
                 track_running_stats=True, device=None, dtype=numpy.float32):
        super().__init__()
        if num_features < 1:
            raise ValueError(f"num_features must be >= 1, got {num_features}")
        if momentum is not None and not 0.0 <= momentum <= 1.0:
            raise ValueError(f"momentum must be in [0, 1] or None, got {momentum}")
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        self.weight = Parameter(numpy.ones(num_features, dtype), device=device) if affine else None
        self.bias = Parameter(numpy.zeros(num_features, dtype), device=device) if affine else None
        if track_running_stats:
            self.register_buffer("running_mean", Tensor(numpy.zeros(num_features, dtype), device=device))
            self.register_buffer("running_var", Tensor(numpy.ones(num_features, dtype), device=device))
            self.register_buffer("num_batches_tracked",
                                 Tensor(numpy.array(0, numpy.int64), device=device))

    def forward(self, x):
        """Apply the layer (see the class docstring)."""
        if x.ndim not in self._ndims or x.shape[1] != self.num_features:
            raise ValueError(f"{type(self).__name__}({self.num_features}) expects input of "
                             f"{' or '.join(str(n) + '-D' for n in self._ndims)} with "
                             f"{self.num_features} channels on axis 1, got shape {tuple(x.shape)}")
        use_batch = self.training or not self.track_running_stats
        momentum = self.momentum
        if self.training and self.track_running_stats:
            n = self.num_batches_tracked
            n.data = n.data + 1
            if momentum is None:                 # cumulative moving average
                momentum = 1.0 / int(n.data)
        running = (self.running_mean, self.running_var) if self.track_running_stats else (None, None)
        return batch_norm(x, *running, self.weight, self.bias, training=use_batch,
                          momentum=momentum if self.training else None, eps=self.eps)

    def extra_repr(self):
        """The arguments shown by repr()."""
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, track_running_stats={self.track_running_stats}")


class BatchNorm2d(_BatchNorm):
    """Batch normalization over (N, H, W) for each channel of (N, C, H, W):
    ``y = gamma * (x - mean) / sqrt(var + eps) + beta``.

    Training: mean and var are the batch's (biased variance), and the
    running estimates move towards them:
    ``running = (1 - momentum) * running + momentum * batch_statistic`` with
    the unbiased batch variance for ``running_var`` (PyTorch's definition).
    Eval (``model.eval()``): the running estimates are used instead.

    Args:
        num_features (int): C.
        eps (float): default 1e-5. momentum (float | None): default 0.1;
            None: the cumulative average over the batches seen.
        affine (bool): learn gamma (``weight``, init 1) and beta (``bias``,
            init 0). Default True.
        track_running_stats (bool): keep the running estimates (buffers
            ``running_mean`` (C,), ``running_var`` (C,), ``num_batches_tracked``;
            saved in ``state_dict``). False: batch statistics in eval too.

    Shapes: (N, C, H, W) -> (N, C, H, W), float32 by default.

    Raises ValueError: another shape or channel count; N*H*W = 1 while
    training. Gradient: :class:`minialex.functions.batch_norm.BatchNorm`.
    """

    _ndims = (4,)


class BatchNorm1d(_BatchNorm):
    """Batch normalization of (N, C) (after a Linear layer) or (N, C, L),
    over N (and L) for each of the C features; otherwise exactly
    :class:`BatchNorm2d` (same arguments, buffers and modes)."""

    _ndims = (2, 3)
