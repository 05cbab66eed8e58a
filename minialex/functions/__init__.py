"""One differentiable operation per file: each defines a Function subclass
(forward and hand-derived backward side by side) and a plain function that
applies it. The public entry point is :mod:`minialex.functional`.

:func:`register_operators` (run once, below) attaches the ops to
:class:`minialex.tensor.Tensor` as its operators and methods, so neither
the engine nor the Tensor imports an op (DeZero's ``setup_variable``)."""

from ..tensor import Tensor
from . import basic_math, matmul, reduction, shape, relu, transfer
from . import abs as abs_op, clone, max as max_op, pow as pow_op, sigmoid, tanh


def _dims(dims):
    """``f(2, 3)`` or ``f((2, 3))`` -> (2, 3)."""
    if len(dims) == 1 and isinstance(dims[0], (tuple, list)):
        return tuple(dims[0])
    return dims


def _reshape(x, *dims):
    """``x.reshape(2, 3)`` or ``x.reshape((2, 3))`` (``x.view`` too: minialex
    has no strides to keep, so a view is a reshape)."""
    return shape.reshape(x, _dims(dims))


def _transpose(x, *axes):
    """``x.transpose()`` (reverse the axes), ``x.transpose(1, 0)`` or ``((1, 0))``."""
    return shape.transpose(x, _dims(axes) or None)


def _permute(x, *dims):
    """``x.permute(0, 2, 3, 1)``: axis i of the result is axis dims[i] of x."""
    return shape.transpose(x, _dims(dims))


def _unsqueeze(x, dim):
    """A length-1 axis inserted at ``dim`` (negative: counted from the end of
    the result), as ``torch.unsqueeze``."""
    if not -x.ndim - 1 <= dim <= x.ndim:
        raise IndexError(f"unsqueeze(dim={dim}) is out of range for {x.ndim} dimensions")
    dim %= x.ndim + 1
    return shape.reshape(x, x.shape[:dim] + (1,) + x.shape[dim:])


def _squeeze(x, dim=None):
    """Drop length-1 axes: all of them, or only ``dim`` (left as it is when
    its length is not 1, as ``torch.squeeze``)."""
    if dim is None:
        return shape.reshape(x, tuple(n for n in x.shape if n != 1))
    if not -x.ndim <= dim < x.ndim:
        raise IndexError(f"squeeze(dim={dim}) is out of range for {x.ndim} dimensions")
    dim %= x.ndim
    if x.shape[dim] != 1:
        return x
    return shape.reshape(x, x.shape[:dim] + x.shape[dim + 1:])


def _pow(x, exponent):
    if isinstance(exponent, Tensor):
        return basic_math.exp(exponent * basic_math.log(x))
    return pow_op.pow(x, exponent)


def register_operators():
    """Attach the arithmetic operators and method forms to Tensor. Each is
    the plain function of its op (``a + b`` is ``basic_math.add(a, b)``,
    ``b + a`` for a number ``b`` is ``add(b, a)``...)."""
    ops = {
        "__add__": basic_math.add, "__radd__": lambda a, b: basic_math.add(b, a),
        "__sub__": basic_math.sub, "__rsub__": lambda a, b: basic_math.sub(b, a),
        "__mul__": basic_math.mul, "__rmul__": lambda a, b: basic_math.mul(b, a),
        "__truediv__": basic_math.div, "__rtruediv__": lambda a, b: basic_math.div(b, a),
        "__neg__": basic_math.neg, "__pow__": _pow,
        "__rpow__": lambda a, b: basic_math.exp(a * basic_math.log(
            Tensor(b, device=a.device).astype(a.dtype))),
        "__matmul__": matmul.matmul, "__rmatmul__": lambda a, b: matmul.matmul(b, a),
        "__getitem__": shape.getitem,
        "sum": reduction.sum, "mean": reduction.mean,
        "max": max_op.max, "min": max_op.min, "argmax": max_op.argmax, "argmin": max_op.argmin,
        "reshape": _reshape, "view": _reshape, "transpose": _transpose, "permute": _permute,
        "unsqueeze": _unsqueeze, "squeeze": _squeeze,
        "exp": basic_math.exp, "log": basic_math.log, "sqrt": pow_op.sqrt, "abs": abs_op.abs,
        "__abs__": abs_op.abs, "relu": relu.relu, "tanh": tanh.tanh, "sigmoid": sigmoid.sigmoid,
        "clone": clone.clone, "astype": basic_math.astype,
        "to": transfer.to_device,
    }
    for name, fn in ops.items():
        setattr(Tensor, name, fn)
    Tensor.T = property(lambda x: _transpose(x), doc="The axes reversed (``x.transpose()``).")


register_operators()
