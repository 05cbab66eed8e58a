"""sum / mean at their edges (issue 20: the mutants of functions/reduction.py
that tests/test_ops.py lets live). Values by hand and gradient checks over
random shapes are in tests/test_ops.py."""

import numpy as np
import pytest

from minialex import Tensor
from minialex import functional as F
from minialex.functions.reduction import Mean, Sum

X = [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]


@pytest.mark.parametrize("axis, bad", [(2, 2), (3, 3), (-3, -3), (-4, -4), ((0, 2), 2),
                                      ((-3, 1), -3)])
@pytest.mark.parametrize("op", ["sum", "mean"])
def test_an_axis_out_of_range_raises(op, axis, bad):
    # a 2-D tensor has axes -2..1; 2 and -3 are the first ones outside
    with pytest.raises(ValueError, match=f"axis {bad} is out of range for a tensor of 2 dim"):
        getattr(F, op)(Tensor(np.array(X)), axis=axis)


@pytest.mark.parametrize("axis, total, avg", [(-2, [5, 7, 9], [2.5, 3.5, 4.5]),
                                              (-1, [6, 15], [2, 5]),
                                              ((-2, -1), 21, 3.5)])
def test_negative_axes_count_from_the_end(axis, total, avg):
    x = Tensor(np.array(X))
    np.testing.assert_array_equal(x.sum(axis).data, total)
    np.testing.assert_array_equal(x.mean(axis).data, avg)


def test_the_function_classes_default_to_keepdims_false():
    # Sum()(x) and Mean(axis)(x) mirror F.sum(x) and torch.mean(x, dim)
    x = Tensor(np.array(X))
    assert Sum()(x).shape == () and Sum()(x).item() == 21.0
    assert Mean()(x).shape == () and Mean()(x).item() == 3.5
    np.testing.assert_array_equal(Sum(1)(x).data, [6.0, 15.0])
    np.testing.assert_array_equal(Mean(0)(x).data, [2.5, 3.5, 4.5])


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize("axis, keepdims", [(None, False), (None, True), (1, False), ((0, 1), False)])
def test_mean_keeps_the_float_dtype(dtype, axis, keepdims):
    # the count is cast to x's dtype: a float32 mean is float32, also the
    # 0-d one of axis=None (where NumPy 1.x would promote y / 6 to float64)
    x = Tensor(np.array(X, dtype=dtype), requires_grad=True)
    y = F.mean(x, axis, keepdims)
    assert y.dtype == dtype
    np.testing.assert_array_equal(y.data, np.array(X, dtype=dtype).mean(axis=axis, keepdims=keepdims))
    y.backward(np.ones(y.shape, dtype=dtype))
    assert x.grad.dtype == dtype
