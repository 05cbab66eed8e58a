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
from .functions.conv2d import conv2d, im2col, col2im
from .functions.max_pool2d import max_pool2d
from .functions.local_response_norm import local_response_norm
from .functions.tanh import tanh
from .functions.sigmoid import sigmoid
from .functions.leaky_relu import leaky_relu
from .functions.pow import pow, sqrt  # noqa: A004 (mirrors torch)
from .functions.abs import abs  # noqa: A004
from .functions.max import max, min, argmax, argmin  # noqa: A004
from .functions.where import where
from .functions.pad import pad
from .functions.clone import clone
from .functions.avg_pool2d import avg_pool2d
from .functions.adaptive_avg_pool2d import adaptive_avg_pool2d
from .functions.batch_norm import batch_norm
from .functions.mse_loss import mse_loss

__all__ = [
    "add", "sub", "mul", "div", "neg", "exp", "log", "astype", "matmul", "sum", "mean",
    "reshape", "transpose", "flatten", "getitem", "concatenate", "split", "relu",
    "dropout", "linear", "log_softmax", "cross_entropy", "to_device", "softmax",
    "conv2d", "im2col", "col2im", "max_pool2d", "local_response_norm",
    "tanh", "sigmoid", "leaky_relu", "pow", "sqrt", "abs", "max", "min", "argmax", "argmin",
    "where", "pad", "clone", "avg_pool2d", "adaptive_avg_pool2d", "batch_norm", "mse_loss",
]


def softmax(x, axis=-1):
    """``exp(log_softmax(x))``: class probabilities along the last axis."""
    return exp(log_softmax(x, axis))
