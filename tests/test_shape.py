"""transpose's axes and indexing's backward for every kind of key (issue 20:
the mutants of functions/shape.py that tests/test_ops.py lets live). The
gradient checks over random shapes are in tests/test_ops.py."""

import numpy as np
import pytest

from minialex import Tensor, gradcheck
from minialex import functional as F

X = np.arange(6.0).reshape(2, 3)          # [[0, 1, 2], [3, 4, 5]]


@pytest.mark.parametrize("shape, axes", [((2, 3), (-1, -2)), ((2, 3), (-2, -1)), ((2, 3), (-2, 1)),
                                         ((2, 3, 4), (-1, -3, -2)), ((2, 3, 4), (-3, 2, -2))])
def test_transpose_takes_negative_axes(shape, axes):
    # axis -k is axis ndim - k, down to -ndim (the first axis), as in NumPy
    x = Tensor(np.arange(float(np.prod(shape))).reshape(shape), requires_grad=True)
    y = x.permute(*axes)
    want = x.data.transpose(axes)
    np.testing.assert_array_equal(y.data, want)
    gy = np.arange(1.0, want.size + 1).reshape(want.shape)
    y.backward(gy)
    gx = np.zeros(shape)
    gx.transpose(axes)[...] = gy              # each gradient back where its value came from
    np.testing.assert_array_equal(x.grad, gx)
    assert gradcheck(lambda t: F.transpose(t, axes), [Tensor(np.random.default_rng(0).standard_normal(shape),
                                                             requires_grad=True)])


@pytest.mark.parametrize("axes", [(2, 1), (0, 2), (-3, 0), (1, -3), (1, 1), (0, 0), (-1, 1),
                                  (0,), (1,), (0, 1, 2), (1, 0, 1)])
def test_transpose_refuses_what_is_not_a_permutation(axes):
    # a 2-D tensor's axes are -2..1, each named exactly once
    with pytest.raises(ValueError, match=r"are not a permutation of the 2 axes"):
        Tensor(X).transpose(axes)


@pytest.mark.parametrize("axes", [("0",), ("1", "0"), (0.0, 1.0), (None,), (1, 0.5)])
def test_transpose_refuses_axes_that_are_not_ints(axes):
    # checked before the count and the range, so a wrong type is always a TypeError
    with pytest.raises(TypeError, match=r"transpose axes must be ints, got .*; e\.g\. \(1, 0\)"):
        Tensor(X).transpose(axes)


def test_transpose_takes_numpy_integer_axes():
    np.testing.assert_array_equal(F.transpose(Tensor(X), np.array([1, 0])).data, X.T)
    np.testing.assert_array_equal(Tensor(X).permute(np.int64(1), np.int32(0)).data, X.T)


# key -> dL/dx for y = x[key] and dL/dy = 1, 2, 3, ... in y's C order, by hand
GETITEM_CASES = [
    (0, [[1, 2, 3], [0, 0, 0]]),
    (-1, [[0, 0, 0], [1, 2, 3]]),
    ((slice(None), slice(None, None, -2)), [[2, 0, 1], [4, 0, 3]]),
    ((Ellipsis, 0), [[1, 0, 0], [2, 0, 0]]),
    ((None, 1), [[0, 0, 0], [1, 2, 3]]),
    ((0, np.array([2, 0])), [[2, 0, 1], [0, 0, 0]]),           # an int, then an index array
    ((slice(1, None), np.array([1, 1])), [[0, 0, 0], [0, 3, 0]]),  # a slice, then a repeat
    ((1, [2, 2]), [[0, 0, 0], [0, 0, 3]]),                      # a list that repeats
    (np.array(1), [[0, 0, 0], [1, 2, 3]]),                      # a 0-d index array
    ((np.array([1, 1, 0]), slice(1, None)), [[0, 5, 6], [0, 4, 6]]),
    (X % 2 == 0, [[1, 0, 2], [0, 3, 0]]),                       # a boolean mask
    (Tensor(np.array([1, 0])), [[4, 5, 6], [1, 2, 3]]),         # a Tensor as the index
]


@pytest.mark.parametrize("key, gx", GETITEM_CASES)
def test_getitem_gradient_by_hand_for_every_kind_of_key(key, gx):
    # gx is zeros with dL/dy put where each y element came from; an x element
    # picked twice gets the sum of its two gradients
    x = Tensor(X.copy(), requires_grad=True)
    y = x[key]
    np.testing.assert_array_equal(y.data, X[key.data if isinstance(key, Tensor) else key])
    y.backward(np.arange(1.0, y.numel() + 1).reshape(y.shape))
    np.testing.assert_array_equal(x.grad, gx)
