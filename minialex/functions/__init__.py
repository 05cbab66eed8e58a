"""One differentiable operation per file: each defines a Function subclass
(forward and hand-derived backward side by side) and a plain function that
applies it. The public entry point is :mod:`minialex.functional`.

:func:`register_operators` (run once, below) attaches the ops to
:class:`minialex.tensor.Tensor` as its operators and methods, so neither
the engine nor the Tensor imports an op (DeZero's ``setup_variable``)."""

from ..tensor import Tensor
from . import basic_math, matmul, reduction, shape, relu, transfer


def _reshape(x, *dims):
    """``x.reshape(2, 3)`` or ``x.reshape((2, 3))``."""
    if len(dims) == 1 and isinstance(dims[0], (tuple, list)):
        dims = tuple(dims[0])
    return shape.reshape(x, dims)


def _transpose(x, *axes):
    """``x.transpose()`` (reverse the axes), ``x.transpose(1, 0)`` or ``((1, 0))``."""
    if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
        axes = tuple(axes[0])
    return shape.transpose(x, axes or None)


def register_operators():
    """Attach the arithmetic operators and method forms to Tensor. Each is
    the plain function of its op (``a + b`` is ``basic_math.add(a, b)``,
    ``b + a`` for a number ``b`` is ``add(b, a)``...)."""
    ops = {
        "__add__": basic_math.add, "__radd__": lambda a, b: basic_math.add(b, a),
        "__sub__": basic_math.sub, "__rsub__": lambda a, b: basic_math.sub(b, a),
        "__mul__": basic_math.mul, "__rmul__": lambda a, b: basic_math.mul(b, a),
        "__truediv__": basic_math.div, "__rtruediv__": lambda a, b: basic_math.div(b, a),
        "__neg__": basic_math.neg,
        "__matmul__": matmul.matmul, "__rmatmul__": lambda a, b: matmul.matmul(b, a),
        "__getitem__": shape.getitem,
        "sum": reduction.sum, "mean": reduction.mean,
        "reshape": _reshape, "transpose": _transpose,
        "exp": basic_math.exp, "log": basic_math.log, "relu": relu.relu,
        "astype": basic_math.astype,
        "to": transfer.to_device,
    }
    for name, fn in ops.items():
        setattr(Tensor, name, fn)
    Tensor.T = property(lambda x: _transpose(x), doc="The axes reversed (``x.transpose()``).")


register_operators()
