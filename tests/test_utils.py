"""The Functions' shared helpers (minialex/functions/_utils.py): sum_to, the
adjoint of broadcasting, by hand (leading axes, kept length-1 axes, empty
axes), through the autograd of add; and check_float, the dtype rule, for
every kind of dtype and every position of the bad input."""

import numpy as np
import pytest

from minialex import Tensor
from minialex.functions._utils import check_float, sum_to


@pytest.mark.parametrize("g_shape,shape", [
    ((2, 3, 4), (3, 1)),        # one leading axis added, then a kept axis at i = 1
    ((2, 3, 4), (1, 4)),
    ((2, 2, 3, 4), (3, 1)),     # two leading axes (lead = 2, i = 1: 2 | 1 = 3)
    ((2, 1, 4), (1, 1)),        # lead = 1, i = 1: axis 2 (length 4) must be summed, while
                                # axis 1 | 1 = 1 has length 1 (a bitwise index would skip it)
    ((5, 2, 3), (2, 1)),
    ((3, 4), (4,)),
    ((3, 4), (3, 1)),
    ((3, 4), (1, 1)),
    ((2, 3, 4), ()),
])
def test_sum_to_equals_the_sum_over_the_broadcast_copies(g_shape, shape):
    """sum_to(g, shape)[j] = sum of g over every place x[j] was copied to:
    the reference sums the leading axes away, then each length-1 axis."""
    g = np.random.default_rng(0).standard_normal(g_shape)
    want = g.sum(axis=tuple(range(len(g_shape) - len(shape))))
    for i, n in enumerate(shape):
        if n == 1:
            want = want.sum(axis=i, keepdims=True)
    got = sum_to(g, shape)
    assert got.shape == tuple(shape)
    np.testing.assert_allclose(got, want, rtol=1e-12)


def test_sum_to_where_the_leading_axis_has_length_one():
    """g (1, 3, 4) to (3, 1): the kept axis is g's axis 2, not g's axis 0
    (which has length 1 too)."""
    g = np.arange(12.0).reshape(1, 3, 4)
    np.testing.assert_array_equal(sum_to(g, (3, 1)), [[6.0], [22.0], [38.0]])


def test_sum_to_with_empty_axes():
    """A length-1 axis broadcast to length 0 gets gradient 0 (a sum of
    nothing, keeping length 1); an axis of length 0 stays 0."""
    np.testing.assert_array_equal(sum_to(np.zeros((3, 0)), (3, 1)), np.zeros((3, 1)))
    assert sum_to(np.zeros((2, 0)), (0,)).shape == (0,)
    assert sum_to(np.zeros((2, 3, 0)), (3, 0)).shape == (3, 0)


def test_sum_to_returns_g_itself_when_nothing_was_broadcast():
    """The common case costs nothing: the same array, not a copy."""
    g = np.ones((2, 3))
    assert sum_to(g, (2, 3)) is g and sum_to(g, [2, 3]) is g


def test_add_gradient_for_a_broadcast_operand():
    """Through the autograd: a (3, 1) + b (2, 3, 4); dL/da[j] = 2 * 4 * gy sum."""
    a = Tensor(np.zeros((3, 1)), requires_grad=True)
    b = Tensor(np.zeros((2, 3, 4)), requires_grad=True)
    gy = np.arange(24.0).reshape(2, 3, 4)
    (a + b).backward(gy)
    np.testing.assert_array_equal(a.grad, gy.sum(axis=(0, 2))[:, None])
    np.testing.assert_array_equal(b.grad, gy)


@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.uint8, np.bool_, np.complex128,
                                   np.dtype("U1"), object, np.dtype("M8[s]"),
                                   np.dtype("m8[s]"), np.dtype("S1")])
@pytest.mark.parametrize("where", [0, 1, 2])
def test_check_float_refuses_every_kind_that_is_not_floating_point(dtype, where):
    """The bad input is found wherever it stands: after a number, after a
    float array, or first (the check goes on past the inputs it accepts)."""
    bad = np.zeros(2, dtype=dtype)
    inputs = [("scale", 2.0), ("x", np.zeros(2, dtype=np.float32)), ("w", None)]
    inputs.insert(where, ("bad", bad))
    with pytest.raises(TypeError) as info:
        check_float("myop", **dict(inputs))
    assert str(info.value) == (f"myop needs floating-point input, got bad of dtype {bad.dtype}; "
                               "minialex does not convert silently: convert first, e.g. "
                               "bad.astype('float32')")


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_check_float_accepts_floats_numbers_none_and_numpy_scalars(dtype):
    check_float("myop", x=np.zeros(2, dtype=dtype), t=Tensor(np.zeros(2, dtype=dtype)), n=None,
                i=3, s=np.int64(2), b=True)
    with pytest.raises(TypeError, match="got t of dtype int64"):
        check_float("myop", x=np.zeros(2, dtype=dtype), t=Tensor(np.zeros(2, dtype=np.int64)))
