"""The dtype rule: every computing op refuses non-float input with a message
saying how to convert (minialex never changes a dtype silently); layout ops
accept any dtype. One shared check: functions._utils.check_float."""

import numpy as np
import pytest

import minialex
from minialex import functional as F

T = minialex.Tensor


def _f(*shape, dtype=np.float32):
    return T(np.arange(int(np.prod(shape)), dtype=dtype).reshape(shape) / 7 - 1)


def _i(*shape, dtype=np.int64):
    return T(np.arange(int(np.prod(shape))).reshape(shape).astype(dtype))


W32 = _f(3, 4)
# op name -> (call on a float32 input, call on a non-float input, the argument's name)
COMPUTING = {
    "add": (lambda: F.add(_f(2, 3), _f(2, 3)), lambda: F.add(_f(2, 3), _i(2, 3)), "b"),
    "sub": (lambda: F.sub(_f(2, 3), _f(2, 3)), lambda: F.sub(_i(2, 3), _f(2, 3)), "a"),
    "mul": (lambda: F.mul(_f(2, 3), _f(2, 3)), lambda: F.mul(_f(2, 3), np.ones(3, bool)), "b"),
    "div": (lambda: F.div(_f(2, 3), _f(2, 3) + 2), lambda: F.div(_i(2, 3), 2), "a"),
    "neg": (lambda: F.neg(_f(2, 3)), lambda: F.neg(_i(2, 3, dtype=np.int8)), "x"),
    "exp": (lambda: F.exp(_f(2, 3)), lambda: F.exp(_i(2, 3)), "x"),
    "log": (lambda: F.log(_f(2, 3) + 2), lambda: F.log(_i(2, 3)), "x"),
    "matmul": (lambda: F.matmul(_f(2, 3), _f(3, 2)), lambda: F.matmul(_f(2, 3), _i(3, 2)), "b"),
    "sum": (lambda: F.sum(_f(2, 3)), lambda: F.sum(_i(2, 3)), "x"),
    "mean": (lambda: F.mean(_f(2, 3)), lambda: F.mean(_i(2, 3)), "x"),
    "relu": (lambda: F.relu(_f(2, 3)), lambda: F.relu(_i(2, 3, dtype=np.uint8)), "x"),
    "dropout": (lambda: F.dropout(_f(2, 3)), lambda: F.dropout(_i(2, 3)), "x"),
    "linear": (lambda: F.linear(_f(2, 4), W32), lambda: F.linear(_i(2, 4), W32), "x"),
    "log_softmax": (lambda: F.log_softmax(_f(2, 3)), lambda: F.log_softmax(_i(2, 3)), "x"),
    "softmax": (lambda: F.softmax(_f(2, 3)), lambda: F.softmax(_i(2, 3)), "x"),
    "cross_entropy": (lambda: F.cross_entropy(_f(2, 3), np.array([0, 2])),
                      lambda: F.cross_entropy(_i(2, 3), np.array([0, 2])), "logits"),
    "conv2d": (lambda: F.conv2d(_f(1, 2, 4, 4), _f(3, 2, 3, 3)),
               lambda: F.conv2d(_i(1, 2, 4, 4, dtype=np.uint8), _f(3, 2, 3, 3)), "x"),
    "max_pool2d": (lambda: F.max_pool2d(_f(1, 2, 4, 4), 2),
                   lambda: F.max_pool2d(_i(1, 2, 4, 4), 2), "x"),
    "local_response_norm": (lambda: F.local_response_norm(_f(1, 6, 2, 2)),
                            lambda: F.local_response_norm(_i(1, 6, 2, 2, dtype=np.int32)), "x"),
    "tanh": (lambda: F.tanh(_f(2, 3)), lambda: F.tanh(_i(2, 3)), "x"),
    "sigmoid": (lambda: F.sigmoid(_f(2, 3)), lambda: F.sigmoid(_i(2, 3)), "x"),
    "leaky_relu": (lambda: F.leaky_relu(_f(2, 3)), lambda: F.leaky_relu(_i(2, 3)), "x"),
    "pow": (lambda: F.pow(_f(2, 3), 2), lambda: F.pow(_i(2, 3), 2), "x"),
    "sqrt": (lambda: F.sqrt(_f(2, 3) + 2), lambda: F.sqrt(_i(2, 3)), "x"),
    "abs": (lambda: F.abs(_f(2, 3)), lambda: F.abs(_i(2, 3)), "x"),
    "max": (lambda: F.max(_f(2, 3), 1), lambda: F.max(_i(2, 3), 1), "x"),
    "min": (lambda: F.min(_f(2, 3)), lambda: F.min(_i(2, 3)), "x"),
    "where": (lambda: F.where(np.ones((2, 3), bool), _f(2, 3), 0.0),
              lambda: F.where(np.ones((2, 3), bool), _f(2, 3), _i(2, 3)), "b"),
    "avg_pool2d": (lambda: F.avg_pool2d(_f(1, 2, 4, 4), 2),
                   lambda: F.avg_pool2d(_i(1, 2, 4, 4, dtype=np.uint8), 2), "x"),
    "adaptive_avg_pool2d": (lambda: F.adaptive_avg_pool2d(_f(1, 2, 4, 4), 2),
                            lambda: F.adaptive_avg_pool2d(_i(1, 2, 4, 4), 2), "x"),
    "batch_norm": (lambda: F.batch_norm(_f(4, 3), None, None, training=True),
                   lambda: F.batch_norm(_i(4, 3), None, None, training=True), "x"),
    "mse_loss": (lambda: F.mse_loss(_f(2, 3), _f(2, 3)), lambda: F.mse_loss(_f(2, 3), _i(2, 3)),
                 "target"),
}
# ops that only move values (any dtype in, the same dtype out), and array helpers
LAYOUT = {
    "reshape": lambda x: F.reshape(x, (6,)), "transpose": F.transpose, "flatten": F.flatten,
    "getitem": lambda x: F.getitem(x, (0,)), "concatenate": lambda x: F.concatenate([x, x]),
    "split": lambda x: F.split(x, 2)[0], "to_device": lambda x: F.to_device(x, "cpu:1"),
    "astype": lambda x: F.astype(x, np.int16),
    "pad": lambda x: F.pad(x, (1, 1)), "clone": F.clone,
}
# im2col/col2im work on arrays; argmax/argmin return int64 indices of any input
ARRAY_HELPERS = {"im2col", "col2im", "argmax", "argmin"}


def test_every_functional_is_classified():
    """A new op must say which side of the rule it is on (and be tested here)."""
    assert set(F.__all__) == set(COMPUTING) | set(LAYOUT) | ARRAY_HELPERS


@pytest.mark.parametrize("op", sorted(COMPUTING))
def test_computing_op_refuses_non_float_input(op):
    good, bad, name = COMPUTING[op]
    assert good().dtype == np.float32                     # float32 in, float32 out
    first = "log_softmax" if op == "softmax" else op      # softmax is exp(log_softmax)
    with pytest.raises(TypeError, match=rf"^{first} needs floating-point input, got {name} of "
                                        rf"dtype \w+; .*{name}\.astype\('float32'\)"):
        bad()


@pytest.mark.parametrize("op", sorted(LAYOUT))
def test_layout_op_keeps_any_dtype(op):
    x = _i(2, 3, dtype=np.uint8)
    y = LAYOUT[op](x)
    assert y.dtype == (np.int16 if op == "astype" else np.uint8)


def test_the_reported_silent_changes():
    """The issue's cases: int64 into linear gave float64, relu kept uint8."""
    with pytest.raises(TypeError, match="linear needs floating-point input, got x of dtype int64"):
        F.linear(_i(2, 4), W32)
    with pytest.raises(TypeError, match="relu needs floating-point input, got x of dtype uint8"):
        _i(2, 3, dtype=np.uint8).relu()
    y = F.linear(_i(2, 4).astype(np.float32), W32)         # the fix the message gives
    assert y.dtype == np.float32


def test_operators_follow_the_rule_and_scalars_keep_float32():
    x = _f(2, 3)
    for y in (x * 2, 2 * x, x + np.float64(0.5), x / np.int64(3), -x, x - 1):
        assert y.dtype == np.float32
    with pytest.raises(TypeError, match="add needs floating-point input"):
        _i(2, 3) + x
    with pytest.raises(TypeError, match="mul needs floating-point input, got b of dtype int64"):
        x * np.arange(3)
    with pytest.raises(TypeError, match="matmul needs floating-point input, got a"):
        _i(2, 3) @ _f(3, 2)
    with pytest.raises(TypeError, match="mean needs floating-point input"):
        _i(2, 3).mean()
