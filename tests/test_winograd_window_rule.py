"""Which windows the Winograd paths compute (applies): exactly 3x3 at
stride 1 (5x5 for F(2x2, 5x5)). Forced on any other window (a 5x5 or 11x11 kernel, a
stride of 2, a 3x5 kernel) they hand the convolution to the im2col path,
whose values are the reference op's."""

import numpy as np
import pytest

from minialex import Tensor
from minialex.functions._kernels import paths, winograd, winograd_f2x2_5x5, winograd_f3x3
from minialex.functions.conv2d import conv2d
from minialex.reference import conv2d as ref_conv2d, conv2d_backward as ref_conv2d_backward

OFF = [((5, 5), (1, 1)), ((11, 11), (1, 1)), ((3, 5), (1, 1)), ((5, 3), (1, 1)),
       ((3, 3), (2, 2)), ((3, 3), (1, 2)), ((1, 1), (1, 1)), ((2, 2), (1, 1))]


@pytest.mark.parametrize("module", [winograd, winograd_f3x3])
def test_applies_to_3x3_stride_1_only(module):
    assert module.applies((3, 3), (1, 1)) is True
    assert module.applies([3, 3], [1, 1]) is True          # lists compare as tuples
    for kernel, stride in OFF:
        assert module.applies(kernel, stride) is False, (kernel, stride)


OFF_BY_PATH = {"winograd_f2x2_3x3": [((5, 5), 1), ((3, 5), 1), ((3, 3), 2)],
               "winograd_f3x3_3x3": [((5, 5), 1), ((3, 5), 1), ((3, 3), 2)],
               "winograd_f2x2_5x5": [((3, 3), 1), ((5, 5), 2), ((4, 4), 1)]}


@pytest.mark.parametrize("path, kernel, stride",
                         [(p, k, s) for p, cases in OFF_BY_PATH.items() for k, s in cases])
def test_forced_off_its_window_runs_im2col_to_the_reference(path, kernel, stride):
    """Each Winograd module re-exports the im2col interface: forced on a
    window it does not compute, conv2d runs im2col (not delegated), to the
    float64 reference's values and gradients."""
    rng = np.random.default_rng(kernel[0] * 100 + kernel[1] * 10 + stride)
    x, w = rng.standard_normal((2, 4, 9, 8)), rng.standard_normal((6, 2, *kernel))
    X, Wt = Tensor(x, requires_grad=True), Tensor(w, requires_grad=True)
    with paths.use("conv2d", path):
        y = conv2d(X, Wt, stride=stride, padding=1, groups=2)
        assert not y.creator.winograd and not y.creator.delegated
        gy = rng.standard_normal(y.shape)
        y.backward(gy)
    np.testing.assert_allclose(y.data, ref_conv2d(x, w, None, stride, 1, 2), rtol=1e-10,
                               atol=1e-10)
    for t, ref in zip((X, Wt), ref_conv2d_backward(gy, x, w, stride, 1, 2)):
        np.testing.assert_allclose(t.grad, ref, rtol=1e-10, atol=1e-10)


def test_f2x2_5x5_applies_to_5x5_stride_1_only():
    assert winograd_f2x2_5x5.applies((5, 5), (1, 1)) is True
    for kernel, stride in [((11, 11), (1, 1)), ((7, 7), (1, 1)), ((5, 7), (1, 1)),
                           ((7, 5), (1, 1)), ((3, 3), (1, 1)), ((5, 3), (1, 1)),
                           ((5, 5), (2, 2)), ((5, 5), (1, 2)), ((5, 5), (2, 1))]:
        assert winograd_f2x2_5x5.applies(kernel, stride) is False, (kernel, stride)
