"""F.adaptive_avg_pool2d (minialex/functions/adaptive_avg_pool2d.py): the
bins by hand, PyTorch parity where H and W differ, the spellings of
output_size (int, pair, list, None) and its errors."""

import warnings

import numpy as np
import pytest

from conftest import assert_matches_torch
from minialex import Tensor
from minialex import functional as F
from minialex.functions.adaptive_avg_pool2d import bin_matrix


def test_bin_matrix_by_hand():
    """5 columns into 3 bins: [0, 2), [1, 4), [3, 5) (PyTorch's floor/ceil
    bins); 2 into 4: each column twice."""
    np.testing.assert_allclose(bin_matrix(np, 5, 3, np.float64),
                               [[1 / 2, 1 / 2, 0, 0, 0], [0, 1 / 3, 1 / 3, 1 / 3, 0],
                                [0, 0, 0, 1 / 2, 1 / 2]])
    np.testing.assert_array_equal(bin_matrix(np, 2, 4, np.float64),
                                  [[1, 0], [1, 0], [0, 1], [0, 1]])
    np.testing.assert_array_equal(bin_matrix(np, 4, 2, np.float64),
                                  [[0.5, 0.5, 0, 0], [0, 0, 0.5, 0.5]])
    assert bin_matrix(np, 5, 3, np.float32).dtype == np.float32


@pytest.mark.parametrize("hw,out", [((5, 7), (3, 2)), ((7, 5), (2, 3)), ((4, 9), (4, 6)),
                                    ((3, 8), (5, 3))])
def test_parity_with_torch_where_h_and_w_differ(hw, out):
    torch = pytest.importorskip("torch")
    assert_matches_torch(lambda x: F.adaptive_avg_pool2d(x, out),
                         lambda t: torch.nn.functional.adaptive_avg_pool2d(t, out),
                         np.random.default_rng(0).standard_normal((2, 3) + hw))


def test_by_hand_values_and_gradient():
    """(2, 3) -> (1, 2): bins rows [0, 2), columns [0, 2) and [1, 3)."""
    x = Tensor(np.array([[[[1.0, 2.0, 3.0], [4.0, 5.0, 9.0]]]]), requires_grad=True)
    y = F.adaptive_avg_pool2d(x, (1, 2))
    np.testing.assert_allclose(y.data, [[[[3.0, 4.75]]]])
    y.backward(np.array([[[[4.0, 8.0]]]]))
    np.testing.assert_allclose(x.grad, [[[[1.0, 3.0, 2.0], [1.0, 3.0, 2.0]]]])


def test_output_size_spellings():
    x = Tensor(np.random.default_rng(2).standard_normal((1, 2, 6, 4)).astype(np.float32))
    assert F.adaptive_avg_pool2d(x, 2).shape == (1, 2, 2, 2)
    assert F.adaptive_avg_pool2d(x, [3, 1]).shape == (1, 2, 3, 1)
    assert F.adaptive_avg_pool2d(x, (None, 2)).shape == (1, 2, 6, 2)
    assert F.adaptive_avg_pool2d(x, (3, None)).shape == (1, 2, 3, 4)
    y = F.adaptive_avg_pool2d(x, (None, None))
    assert y.dtype == np.float32
    np.testing.assert_array_equal(y.data, x.data)
    np.testing.assert_allclose(F.adaptive_avg_pool2d(x, 1).data[..., 0, 0],
                               x.data.mean(axis=(2, 3)), rtol=1e-6)


def test_errors():
    x = Tensor(np.zeros((1, 1, 3, 3)))
    with pytest.raises(ValueError, match=r"adaptive_avg_pool2d expects x of shape \(N, C, H, W\), "
                                         r"got \(3, 3\)"):
        F.adaptive_avg_pool2d(Tensor(np.zeros((3, 3))), 2)
    with pytest.raises(ValueError, match=r"adaptive_avg_pool2d expects x of shape \(N, C, H, W\), "
                                         r"got \(1, 1, 1, 3, 3\)"):      # 5-D is refused too
        F.adaptive_avg_pool2d(Tensor(np.zeros((1, 1, 1, 3, 3))), 2)
    with pytest.raises(ValueError, match=r"output_size=\(1, 2, 3\) must be an int or a pair"):
        F.adaptive_avg_pool2d(x, (1, 2, 3))
    with pytest.raises(ValueError, match=r"output_size=\[2\] must be an int or a pair"):
        F.adaptive_avg_pool2d(x, [2])
    with pytest.raises(ValueError, match=r"output_size=\(0, 2\) must be >= 1"):
        F.adaptive_avg_pool2d(x, (0, 2))
    with pytest.raises(ValueError, match=r"output_size=\(2, 0\) must be >= 1"):
        F.adaptive_avg_pool2d(x, (2, 0))
    with pytest.raises(TypeError, match="adaptive_avg_pool2d needs floating-point input"):
        F.adaptive_avg_pool2d(Tensor(np.zeros((1, 1, 3, 3), dtype=np.int32)), 2)


def test_no_warnings_from_the_bins():
    """Building the bins divides nothing by zero: no RuntimeWarning (a
    warning made an error here fails the pooling)."""
    x = Tensor(np.random.default_rng(3).standard_normal((1, 1, 7, 5)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y = F.adaptive_avg_pool2d(x, (3, 2))
        np.testing.assert_allclose(y.data[0, 0, 0, 0], x.data[0, 0, 0:3, 0:3].mean())
