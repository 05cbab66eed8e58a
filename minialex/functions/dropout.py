"""Dropout (paper section 4.2), in its "inverted" form."""

from ..autograd import Function
from .. import random as _random
from ._utils import check_float


class Dropout(Function):
    """y = x * m / (1 - p) with m_i ~ Bernoulli(1 - p) drawn once per call.

    The paper zeroes each hidden unit with probability 0.5 while training
    and multiplies outputs by 0.5 at test time. Scaling the kept units by
    1/(1-p) during training instead keeps the expected activation the same
    (E[y] = x), so testing is the identity: the same net, the usual modern
    convention. dy/dx = m / (1 - p), so gx = gy * m / (1 - p) with the same
    mask as the forward pass.
    """

    def __init__(self, p, generator):
        self.p, self.generator = p, generator

    def forward(self, x):
        """x (any shape, float) -> x * m / (1 - p) in x's dtype; draws the
        mask from ``generator`` (uniform float32 >= p) and saves it."""
        rng = self.generator or _random.default_generator()
        keep = rng.random(x.shape, dtype="float32") >= self.p
        scale = x.dtype.type(1.0 / (1.0 - self.p))
        self.mask = self.device.put(keep) * scale      # 0 or 1/(1-p), x's dtype
        self.mask = self.mask.astype(x.dtype, copy=False)
        return x * self.mask

    def backward(self, gy):
        """dL/dy -> dL/dx = dL/dy * m / (1 - p), the forward's mask."""
        return gy * self.mask


def dropout(x, p=0.5, training=True, generator=None):
    """Inverted dropout: while ``training``, zero each element with
    probability ``p`` and scale the rest by ``1/(1-p)``; identity otherwise.

    Args:
        x: Tensor of any shape, float.
        p (float): drop probability in [0, 1). Default 0.5 (the paper's).
        training (bool): apply dropout (True) or return ``x`` (False).
        generator: a ``numpy.random.Generator``; default minialex's
            (see :func:`minialex.manual_seed`).

    Raises:
        ValueError: p outside [0, 1). TypeError: x not floating point.
    """
    check_float("dropout", x=x)
    if not 0.0 <= p < 1.0:
        raise ValueError(f"dropout probability must be in [0, 1), got p={p}")
    if not training or p == 0.0:
        return x
    return Dropout(p, generator)(x)
