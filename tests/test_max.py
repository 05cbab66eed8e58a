"""max / min / argmax / argmin at their edges (issue 20: the mutants of
functions/max.py that tests/test_ops.py and tests/test_toolkit_ops.py let
live). The ties over an axis and the gradient checks are in
tests/test_toolkit_ops.py."""

import numpy as np
import pytest

from minialex import Tensor
from minialex import functional as F
from minialex.functions.max import Max, Min

X = [[1.0, 0.0, 3.0], [0.0, 5.0, 0.0]]     # max 5 (once), min 0 (three ties)


def test_min_over_all_elements_splits_the_gradient_among_its_ties():
    # y = min of all six; its three zeros tie, so each gets gy / 3 (the
    # rule of torch.min(x) and of max over all elements)
    x = Tensor(np.array(X), requires_grad=True)
    y = x.min()
    assert y.shape == () and y.item() == 0.0
    y.backward(np.array(6.0))
    np.testing.assert_array_equal(x.grad, [[0, 2, 0], [2, 0, 2]])
    x.grad = None
    y = x.max()
    assert y.shape == () and y.item() == 5.0
    y.backward(np.array(6.0))
    np.testing.assert_array_equal(x.grad, [[0, 0, 0], [0, 6, 0]])


def test_min_and_max_over_all_elements_match_torch():
    torch = pytest.importorskip("torch")
    for op in ("min", "max"):
        x = Tensor(np.array(X), requires_grad=True)
        getattr(x, op)().backward(np.array(6.0))
        xt = torch.tensor(X, dtype=torch.float64, requires_grad=True)
        getattr(xt, op)().backward(torch.tensor(6.0, dtype=torch.float64))
        np.testing.assert_allclose(x.grad, xt.grad.numpy(), rtol=1e-15)


@pytest.mark.parametrize("op, want", [("max", 5.0), ("min", 0.0)])
def test_keepdims_over_all_elements_keeps_every_axis_as_length_one(op, want):
    # numpy's x.max(keepdims=True): shape (1, 1) for 2-D x, (1, 1, 1) for 3-D;
    # keepdims=False gives a 0-d result
    for shape in [(2, 3), (1, 2, 3)]:
        x = Tensor(np.array(X).reshape(shape), requires_grad=True)
        y = getattr(F, op)(x, keepdims=True)
        assert y.shape == (1,) * len(shape)
        np.testing.assert_array_equal(y.data, getattr(x.data, op)(keepdims=True))
        assert y.data.ravel()[0] == want
        assert getattr(F, op)(x).shape == ()
        y.backward(np.full(y.shape, 3.0))       # the gradient keeps x's shape
        assert x.grad.shape == shape
        np.testing.assert_allclose(x.grad.sum(), 3.0)


def test_the_function_classes_default_to_keepdims_false():
    # Max()(x) and Min(axis)(x) mirror F.max(x) and torch.max(x, dim)
    x = Tensor(np.array(X))
    assert Max()(x).shape == () and Max()(x).item() == 5.0
    assert Min(1)(x).shape == (2,)
    np.testing.assert_array_equal(Min(1)(x).data, [0.0, 0.0])


@pytest.mark.parametrize("axis", [2, 3, -3, -4])
@pytest.mark.parametrize("op", ["max", "min"])
def test_an_axis_out_of_range_raises(op, axis):
    x = Tensor(np.array(X))
    with pytest.raises(ValueError, match=f"axis {axis} is out of range for a tensor of 2 dim"):
        getattr(x, op)(axis)


@pytest.mark.parametrize("axis, want", [(-2, [1.0, 5.0, 3.0]), (-1, [3.0, 5.0])])
def test_negative_axes_count_from_the_end(axis, want):
    x = Tensor(np.array(X))
    np.testing.assert_array_equal(x.max(axis).data, want)


def test_argmax_and_argmin_take_arrays_and_tensors():
    # a NumPy array is wrapped in a Tensor; a Tensor is used as it is
    a = np.array(X)
    for x in (a, Tensor(a)):
        i = F.argmax(x, axis=1)
        assert isinstance(i, Tensor) and i.dtype == np.int64 and not i.requires_grad
        np.testing.assert_array_equal(i.data, [2, 1])
        np.testing.assert_array_equal(F.argmin(x, axis=0).data, [1, 0, 1])
        assert F.argmax(x).item() == 4 and F.argmin(x, keepdims=True).shape == (1, 1)
