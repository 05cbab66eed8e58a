"""minialex.functional (import as ``F``): every differentiable op as a
plain function, PyTorch-style. Each lives with its Function class (forward
and hand-derived backward) in :mod:`minialex.functions`."""

from .functions.basic_math import add, sub, mul, div, neg, exp, log, astype
from .functions.matmul import matmul
from .functions.reduction import sum, mean  # noqa: A004 (mirrors torch)
from .functions.shape import reshape, transpose, flatten, getitem, concatenate, split
from .functions.relu import relu
from .functions.dropout import dropout
from .functions.linear import linear
from .functions.softmax_cross_entropy import log_softmax, cross_entropy
from .functions.transfer import to_device

__all__ = [
    "add", "sub", "mul", "div", "neg", "exp", "log", "astype", "matmul", "sum", "mean",
    "reshape", "transpose", "flatten", "getitem", "concatenate", "split", "relu",
    "dropout", "linear", "log_softmax", "cross_entropy", "to_device", "softmax",
]


def softmax(x, axis=-1):
    """``exp(log_softmax(x))``: class probabilities along the last axis."""
    return exp(log_softmax(x, axis))


try:  # the AlexNet layers (minialex.functions.conv2d, pooling, lrn)
    from .functions.conv2d import conv2d, im2col, col2im  # noqa: F401
    from .functions.max_pool2d import max_pool2d  # noqa: F401
    from .functions.local_response_norm import local_response_norm  # noqa: F401
    __all__ += ["conv2d", "im2col", "col2im", "max_pool2d", "local_response_norm"]
except ImportError:  # pragma: no cover - only while the layers are being written
    pass
