"""log-softmax and the fused softmax cross-entropy loss (paper section 3.5:
"the output of the last fully-connected layer is fed to a 1000-way
softmax"; training maximises the multinomial logistic regression
objective, i.e. minimises this loss)."""

from ..autograd import Function, Tensor
from ..backend import DeviceMismatchError
from ._utils import check_float


def _log_softmax(xp, z):
    """z - log(sum_j exp(z_j)) over the last axis, computed stably.

    With m = max_j z_j: log sum_j exp(z_j) = m + log sum_j exp(z_j - m), so
    log_softmax(z) = (z - m) - log sum_j exp(z_j - m). No exp overflows (all
    exponents are <= 0), the largest term is exp(0) = 1 so the log never
    sees 0, and subtracting m first keeps float32 precise for logits of
    size 1e4 (z - (m + log s) would round m + log s to the spacing of m)."""
    shifted = z - z.max(axis=-1, keepdims=True)
    return shifted - xp.log(xp.exp(shifted).sum(axis=-1, keepdims=True))


class LogSoftmax(Function):
    """y_i = z_i - log sum_j exp(z_j) over the last axis.

    dy_i/dz_k = [i = k] - softmax(z)_k, so
    gz_k = gy_k - softmax(z)_k * sum_i gy_i, with softmax(z) = exp(y).
    """

    def forward(self, z):
        """z (..., C) float -> log_softmax(z), same shape and dtype; saves it."""
        xp = self.device.xp
        self.y = _log_softmax(xp, z)
        return self.y

    def backward(self, gy):
        """dL/dy (..., C) -> dL/dz = dL/dy - exp(y) * sum_i dL/dy_i."""
        xp = self.device.xp
        return gy - xp.exp(self.y) * gy.sum(axis=-1, keepdims=True)


class SoftmaxCrossEntropy(Function):
    """L = (1/N) sum_n [ log sum_j exp(z_nj) - z_n,t_n ]  (mean over the batch).

    With p = softmax(z) (rows sum to 1): dL/dz_nk = (p_nk - [k = t_n]) / N.
    The gradient is bounded (|g| <= 1/N) and the loss is finite for any
    finite logits, even +-1e4, because both use the stable log-sum-exp.

    With label smoothing eps (PyTorch's definition, Szegedy et al. 2016) the
    target distribution is q_nk = (1 - eps) [k = t_n] + eps / C, and
    L = -(1/N) sum_n sum_k q_nk log p_nk
      = (1/N) sum_n [ (1 - eps) (-log p_n,t_n) + (eps / C) sum_k (-log p_nk) ].
    Since d(-log p_nj)/dz_nk = p_nk - [j = k] and the q_n sum to 1:
    dL/dz_nk = (1/N) sum_j q_nj (p_nk - [j = k]) = (p_nk - q_nk) / N
    (eps = 0 gives the line above).
    """

    def __init__(self, target, label_smoothing=0.0):
        self.t, self.eps = target, label_smoothing

    def forward(self, z):
        """z (N, C) logits -> the 0-d mean loss in z's dtype; saves log p."""
        xp = self.device.xp
        n = z.shape[0]
        self.log_p = _log_softmax(xp, z)
        picked = self.log_p[xp.arange(n), self.t]
        if not self.eps:
            return -picked.mean(keepdims=False).astype(z.dtype)
        smooth = self.log_p.mean(axis=1)             # (1/C) sum_k log p_nk
        return -((1 - self.eps) * picked + self.eps * smooth).mean(keepdims=False).astype(z.dtype)

    def backward(self, gy):
        """gy: 0-d gradient of the loss -> dL/dz = gy * (p - q) / N, (N, C)."""
        xp = self.device.xp
        n, c = self.log_p.shape
        g = xp.exp(self.log_p)                        # p
        if self.eps:
            g -= g.dtype.type(self.eps / c)           # p - eps/C ...
        g[xp.arange(n), self.t] -= g.dtype.type(1 - self.eps)   # ... - (1 - eps) [k = t]
        return g * (gy / n).astype(g.dtype)


def log_softmax(x, axis=-1):
    """``log(softmax(x))`` along the last axis, computed stably.
    Only ``axis=-1`` (classes last, as in (N, num_classes)) is supported."""
    if axis not in (-1, x.ndim - 1):
        raise ValueError(f"log_softmax supports only the last axis, got axis={axis}")
    check_float("log_softmax", x=x)
    return LogSoftmax()(x)


def _check_target(logits, target):
    if isinstance(target, Tensor) and target.device != logits.device:
        raise DeviceMismatchError(
            f"cross_entropy got logits on {logits.device} and labels on {target.device}; "
            f"move the labels with .to('{logits.device}')")
    t = target.data if isinstance(target, Tensor) else target
    with logits.device:  # the label checks below run on the logits' GPU
        return _check_labels(logits, logits.device.put(t))


def _check_labels(logits, t):
    if logits.ndim != 2:
        raise ValueError(f"cross_entropy expects logits of shape (N, num_classes), got {logits.shape}")
    if t.dtype.kind not in "iu":
        raise TypeError(f"cross_entropy labels must be integers (int64 class indices), got dtype "
                        f"{t.dtype}; convert with .astype('int64')")
    if t.shape != (logits.shape[0],):
        raise ValueError(f"cross_entropy labels must have shape ({logits.shape[0]},) to match "
                         f"logits {logits.shape}, got {t.shape}")
    if logits.shape[0] == 0:
        raise ValueError(f"cross_entropy got an empty batch: logits {logits.shape} hold no "
                         "samples, and the mean loss over zero samples is undefined; skip "
                         "empty batches (e.g. drop a last batch of 0 samples)")
    k = logits.shape[1]
    lo, hi = (int(t.min()), int(t.max())) if t.size else (0, 0)
    if lo < 0 or hi >= k:
        bad = lo if lo < 0 else hi
        raise ValueError(f"cross_entropy label {bad} is out of range for {k} classes "
                         f"(labels must satisfy 0 <= y < {k})")
    return t


def cross_entropy(logits, target, label_smoothing=0.0):
    """Softmax cross-entropy, averaged over the batch (fused and stable).

    Args:
        logits: (N, C) float Tensor of unnormalised scores (a plain NumPy
            or CuPy array is taken as constant logits, on its own device).
        target: (N,) integer class indices in [0, C) (array or Tensor),
            on the logits' device.
        label_smoothing (float): eps in [0, 1]: the target becomes
            (1 - eps) * one_hot + eps / C (PyTorch's definition). Default 0.

    Returns:
        A scalar Tensor (shape ``()``), the mean negative log-likelihood.

    Raises:
        ValueError: logits not 2-D, an empty batch (N = 0: the mean over
            no samples is undefined, so it is refused rather than NaN),
            target of the wrong shape, a label outside [0, C), or
            label_smoothing outside [0, 1].
        TypeError: non-integer labels, or logits not floating point.
        DeviceMismatchError: a target Tensor on another device.
    """
    if not isinstance(logits, Tensor):   # a plain array: a constant, as in every functional
        logits = Tensor(logits)
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"cross_entropy: label_smoothing={label_smoothing} must be in [0, 1]")
    check_float("cross_entropy", logits=logits)
    t = _check_target(logits, target)
    return SoftmaxCrossEntropy(t, float(label_smoothing))(logits)
