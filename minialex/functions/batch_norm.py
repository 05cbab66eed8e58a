"""Batch normalization (Ioffe & Szegedy 2015; PyTorch's ``F.batch_norm``)."""

from ..engine import Function
from ..tensor import Tensor
from ._utils import check_float


class BatchNorm(Function):
    """Per channel c, over the M = N * (spatial size) values x_i of c:

        mu = (1/M) sum_i x_i,   var = (1/M) sum_i (x_i - mu)^2   (biased)
        xhat_i = (x_i - mu) * r,   r = 1 / sqrt(var + eps)
        y_i = gamma * xhat_i + beta

    In eval mode mu and var are the running statistics, constants.

    Backward, training (the classic exercise). Write g_i = dL/dxhat_i =
    gy_i * gamma. Then dL/dbeta = sum_i gy_i, dL/dgamma = sum_i gy_i xhat_i,
    and x_i reaches L through xhat_i directly, through mu and through var:

        dL/dvar = sum_i g_i (x_i - mu) * dr/dvar = -(r^3 / 2) sum_i g_i (x_i - mu)
        dL/dmu  = -r sum_i g_i + dL/dvar * dvar/dmu,  and dvar/dmu
                = -(2/M) sum_i (x_i - mu) = 0,  so dL/dmu = -r sum_i g_i
        dL/dx_i = g_i r + dL/dvar * 2 (x_i - mu) / M + dL/dmu / M

    Substituting x_i - mu = xhat_i / r (so dL/dvar = -(r^2/2) sum_j g_j xhat_j):

        dL/dx_i = (r / M) * (M g_i - sum_j g_j - xhat_i * sum_j g_j xhat_j)

    the compact form computed below (two channel sums, one element-wise
    pass). In eval mode only the direct path is left: dL/dx_i = g_i r.
    """

    def __init__(self, axes, eps, mean=None, var=None):
        self.axes, self.eps = axes, eps
        self.fixed = mean is not None              # eval: running statistics
        self.mean, self.var = mean, var

    def _channel(self, a, ndim):
        """(C,) -> the shape broadcasting along the channel axis 1."""
        return a.reshape((1, -1) + (1,) * (ndim - 2))

    def forward(self, x, gamma, beta):
        """y = gamma * xhat + beta; keeps xhat and r = 1/sqrt(var + eps)."""
        xp = self.device.xp
        if not self.fixed:
            self.mean = x.mean(axis=self.axes)
            self.var = x.var(axis=self.axes)       # biased, for normalising
        mean = self._channel(self.mean.astype(x.dtype, copy=False), x.ndim)
        var = self._channel(self.var.astype(x.dtype, copy=False), x.ndim)
        self.r = 1 / xp.sqrt(var + x.dtype.type(self.eps))
        self.xhat = (x - mean) * self.r
        self.gamma = self._channel(gamma, x.ndim)
        return self.xhat * self.gamma + self._channel(beta, x.ndim)

    def backward(self, gy):
        """The compact form above (training) or g * r (eval); gamma, beta: channel sums."""
        gbeta = gy.sum(axis=self.axes) if self.needs_input_grad[2] else None
        ggamma = (gy * self.xhat).sum(axis=self.axes) if self.needs_input_grad[1] else None
        gx = None
        if self.needs_input_grad[0]:
            g = gy * self.gamma                     # dL/dxhat
            if self.fixed:
                gx = g * self.r
            else:
                m = gy.size // gy.shape[1]
                s1 = g.sum(axis=self.axes, keepdims=True)
                s2 = (g * self.xhat).sum(axis=self.axes, keepdims=True)
                gx = (self.r / m) * (m * g - s1 - self.xhat * s2)
        return gx, ggamma, gbeta


def batch_norm(x, running_mean, running_var, weight=None, bias=None, training=False,
               momentum=0.1, eps=1e-5):
    """Batch normalization over axis 1 of (N, C), (N, C, L) or (N, C, H, W)
    (PyTorch's ``F.batch_norm``, same arguments).

    Args:
        x: float Tensor, channels on axis 1.
        running_mean, running_var: (C,) Tensors (or None with
            ``training=True``). While training they are updated in place:
            ``running = (1 - momentum) * running + momentum * batch``, the
            variance entering unbiased (times M / (M - 1)), as PyTorch.
            ``momentum=None`` makes it the cumulative average (``num_batches``
            needed: pass it through :class:`minialex.nn.BatchNorm2d`).
        weight, bias: (C,) Tensors gamma and beta, or None for 1 and 0.
        training: batch statistics (True) or the running ones (False).
        eps: added to the variance (default 1e-5).

    Raises:
        ValueError: fewer than 2 dimensions, or a single value per channel
            while training (its variance is undefined).
    """
    if x.ndim < 2:
        raise ValueError(f"batch_norm expects (N, C, ...) input, got shape {tuple(x.shape)}")
    check_float("batch_norm", x=x, weight=weight, bias=bias)
    axes = (0,) + tuple(range(2, x.ndim))
    c = x.shape[1]
    m = x.numel() // c
    if training and m < 2:
        raise ValueError(f"batch_norm needs more than 1 value per channel when training, got "
                         f"input of shape {tuple(x.shape)}")
    xp = x.device.xp
    with x.device:
        w = weight if weight is not None else Tensor(xp.ones(c, dtype=x.dtype), device=x.device)
        b = bias if bias is not None else Tensor(xp.zeros(c, dtype=x.dtype), device=x.device)
    if not training:
        fn = BatchNorm(axes, eps, running_mean.data, running_var.data)
        return fn(x, w, b)
    fn = BatchNorm(axes, eps)
    y = fn(x, w, b)
    if running_mean is not None and momentum is not None:
        with x.device:
            rm, rv = running_mean.data, running_var.data
            mom = rm.dtype.type(momentum)
            running_mean.data = (1 - mom) * rm + mom * fn.mean.astype(rm.dtype)
            running_var.data = (1 - mom) * rv + mom * (fn.var * (m / (m - 1))).astype(rv.dtype)
    return y
