"""minialex.reference, the loop versions of every layer op, and every fast
path checked against them.

(a) The reference itself: hand-computed small cases (the same ones the
    fast ops' tests and docs/backprop/ use), numerical gradients in float64,
    the im2col/col2im adjoint identity, and non-finite inputs (an inf or NaN
    in LRN changes only the channels whose window holds it).
(b) One parametrised test of every fast op against the reference on
    hypothesis shapes, forward and every gradient: conv2d (stride, padding,
    groups), im2col and col2im, max_pool2d on both CPU paths (phase split,
    planes last), LRN, softmax cross-entropy, dropout (its mask recovered
    from its output), linear and ReLU, each with 1 and 2 of minialex's
    threads (with 2, every pass is split however small), and on CuPy where
    a GPU is present.
"""

import contextlib
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pytest
from hypothesis import assume, given, settings, strategies as st

import minialex
from minialex.functions._kernels import pool_planes_last
from minialex import Tensor, functional as F
from minialex import reference as R
from minialex.backend import cupy_available
from minialex.functions import _threads
from minialex.functions._kernels import paths
from minialex.gradcheck import numerical_grad
from test_max_pool2d import forced_path     # how a max_pool2d CPU path is forced


# ======================================================= (a) the reference itself
def check_gradients(forward, backward, arrays, seed=0, eps=1e-6, rtol=1e-6, atol=1e-9):
    """The reference backward against central differences: with fixed
    random weights w, F = sum(w * forward(*arrays)) and backward(w, *arrays)
    must be dF/d(each array)."""
    w = np.random.default_rng(seed).standard_normal(np.shape(forward(*arrays)))
    analytic = backward(w, *arrays)
    assert len(analytic) == len(arrays)
    for a, g in zip(arrays, analytic):
        numeric = numerical_grad(lambda: float(np.sum(w * forward(*arrays))), a, eps)
        np.testing.assert_allclose(g, numeric, rtol=rtol, atol=atol)


# ---------------------------------------------------------------- conv2d, im2col, col2im
X44 = np.arange(16, dtype=np.float64).reshape(1, 1, 4, 4)      # 0..15, row-major


def test_conv2d_by_hand():
    # y[0,0] = 0*1 + 1*2 + 4*3 + 5*4 = 34; one step right adds 1+2+3+4 = 10,
    # one step down adds 4*10 = 40 (tests/test_conv2d.py's case)
    w = np.array([[[[1, 2], [3, 4]]]], dtype=np.float64)
    expected = np.array([[34, 44, 54], [74, 84, 94], [114, 124, 134]])
    np.testing.assert_array_equal(R.conv2d(X44, w)[0, 0], expected)
    np.testing.assert_array_equal(R.conv2d(X44, w, np.array([0.5]), stride=2)[0, 0],
                                  expected[::2, ::2] + 0.5)
    # padding 1, 3x3 ones on a 2x2 image: every output sums all four pixels
    x = np.array([[[[1.0, 2.0], [3.0, 4.0]]]])
    np.testing.assert_array_equal(R.conv2d(x, np.ones((1, 1, 3, 3)), padding=1),
                                  np.full((1, 1, 2, 2), 10))
    # groups=2, 1x1 kernels 2 and 3: output channel g sees input channel g only
    x = np.stack([np.ones((2, 2)), 10 * np.ones((2, 2))])[None]
    y = R.conv2d(x, np.array([2.0, 3.0]).reshape(2, 1, 1, 1), groups=2)
    np.testing.assert_array_equal(y[0], [np.full((2, 2), 2), np.full((2, 2), 30)])


def test_conv2d_backward_by_hand():
    # one 2x2 window over a 2x2 image: y = sum(w * x) + b, so dW = dy * x,
    # dx = dy * w, db = dy
    x = np.array([[[[1.0, 2.0], [3.0, 4.0]]]])
    w = np.array([[[[5.0, 6.0], [7.0, 8.0]]]])
    dx, dW, db = R.conv2d_backward(np.array([[[[2.0]]]]), x, w)
    np.testing.assert_array_equal(dW, 2 * x)
    np.testing.assert_array_equal(dx, 2 * w)
    np.testing.assert_array_equal(db, [2.0])
    # 1x2 kernel (1, 1), stride 1 on a 1x3 row: the middle pixel is in both
    # windows, so it gets both output gradients: dx = (g0, g0 + g1, g1)
    dx, dW, _ = R.conv2d_backward(np.array([[[[10.0, 1.0]]]]), np.array([[[[1.0, 2.0, 3.0]]]]),
                                  np.ones((1, 1, 1, 2)))
    np.testing.assert_array_equal(dx[0, 0, 0], [10, 11, 1])
    np.testing.assert_array_equal(dW[0, 0, 0], [10 * 1 + 1 * 2, 10 * 2 + 1 * 3])


def test_im2col_and_col2im_by_hand():
    x = np.arange(9, dtype=np.float64).reshape(1, 1, 3, 3)
    cols = R.im2col(x, 2)
    np.testing.assert_array_equal(cols, [[0, 1, 3, 4], [1, 2, 4, 5], [3, 4, 6, 7], [4, 5, 7, 8]])
    # col2im of all ones counts the windows that read each pixel
    np.testing.assert_array_equal(R.col2im(np.ones((4, 4)), x.shape, 2)[0, 0],
                                  [[1, 2, 1], [2, 4, 2], [1, 2, 1]])
    # padding 1, stride 2, kernel 1, two images: columns (oh, ow, n), the image
    # fastest; only the centre of the padded 5x5 grid is a real pixel
    x2 = np.arange(2 * 2 * 3 * 3, dtype=np.float64).reshape(2, 2, 3, 3)
    cols2 = R.im2col(x2, 1, stride=2, padding=1)
    np.testing.assert_array_equal(cols2[0, 0::2].reshape(3, 3), [[0, 0, 0], [0, 4, 0], [0, 0, 0]])
    np.testing.assert_array_equal(cols2[1, 1::2].reshape(3, 3), [[0, 0, 0], [0, 31, 0], [0, 0, 0]])


@pytest.mark.parametrize("k, s, p", [(2, 1, 0), (3, 2, 1), ((2, 3), (2, 1), (1, 0))])
def test_col2im_is_the_adjoint_of_im2col(k, s, p):
    # <im2col(x), c> == <x, col2im(c)> for random x and c
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 3, 5, 6))
    cols = R.im2col(x, k, s, p)
    c = rng.standard_normal(cols.shape)
    np.testing.assert_allclose(np.sum(cols * c), np.sum(x * R.col2im(c, x.shape, k, s, p)),
                               rtol=1e-12)


@pytest.mark.parametrize("groups", [1, 2])
def test_conv2d_is_weights_times_im2col(groups):
    # the loop convolution equals the matrix form, group by group:
    # Y_g = W_g @ cols_g, laid out (C_out, OH, OW, N)
    rng = np.random.default_rng(2)
    x, w = rng.standard_normal((2, 4, 5, 5)), rng.standard_normal((6, 4 // groups, 3, 2))
    cols = R.im2col(x, (3, 2), 2, 1).reshape(groups, -1, 3 * 3 * 2)     # (G, K, P)
    Y = np.matmul(w.reshape(groups, 6 // groups, -1), cols).reshape(6, 3, 3, 2)
    np.testing.assert_allclose(R.conv2d(x, w, stride=2, padding=1, groups=groups),
                               Y.transpose(3, 0, 1, 2), rtol=1e-12)


@pytest.mark.parametrize("stride, padding, groups", [(1, 0, 1), (2, 1, 1), ((1, 2), (1, 0), 2)])
def test_conv2d_backward_numerically(stride, padding, groups):
    rng = np.random.default_rng(3)
    x, w, b = rng.standard_normal((2, 4, 4, 5)), rng.standard_normal((4, 4 // groups, 2, 3)), \
        rng.standard_normal(4)
    check_gradients(lambda x, w, b: R.conv2d(x, w, b, stride, padding, groups),
                    lambda dy, x, w, b: R.conv2d_backward(dy, x, w, stride, padding, groups),
                    [x, w, b])


# ---------------------------------------------------------------- max_pool2d
X55 = np.arange(25, dtype=np.float64).reshape(1, 1, 5, 5)


def test_max_pool2d_by_hand():
    # 3x3 stride 2 on 0..24: each window's bottom-right element
    for ceil_mode in (False, True):
        np.testing.assert_array_equal(R.max_pool2d(X55, 3, 2, ceil_mode=ceil_mode)[0, 0],
                                      [[12, 14], [22, 24]])
    # ceil mode on 6x6 adds the windows starting at 4 (rows/cols 4..5 only)
    x = np.arange(36, dtype=np.float64).reshape(1, 1, 6, 6)
    np.testing.assert_array_equal(R.max_pool2d(x, 3, 2)[0, 0], [[14, 16], [26, 28]])
    np.testing.assert_array_equal(R.max_pool2d(x, 3, 2, ceil_mode=True)[0, 0],
                                  [[14, 16, 17], [26, 28, 29], [32, 34, 35]])
    # padding is -inf, never 0: on -1..-25 each border window answers its
    # first real (least negative) element
    np.testing.assert_array_equal(R.max_pool2d(-(X55 + 1), 3, 2, padding=1)[0, 0],
                                  [[-1, -2, -4], [-6, -7, -9], [-16, -17, -19]])
    # the drop rule: 5 wide, kernel 2, stride 2, padding 1, ceil: the 4th
    # window would start in the padding only
    assert R.pool_output_size(5, 2, 2, 1, True) == 3 and R.pool_output_size(5, 2, 2, 0, True) == 3
    assert R.pool_output_size(28, 3, 2, 0, False) == 13
    assert R.pool_output_size(28, 3, 2, 0, True) == 14


def test_max_pool2d_backward_by_hand():
    # ties go to the first element in row-major order: on a constant 5x5,
    # each 3x3/2 window's gradient lands on its top-left element
    gx = R.max_pool2d_backward(np.ones((1, 1, 2, 2)), np.ones((1, 1, 5, 5)), 3, 2)
    expected = np.zeros((5, 5))
    expected[0, 0] = expected[0, 2] = expected[2, 0] = expected[2, 2] = 1
    np.testing.assert_array_equal(gx[0, 0], expected)
    # overlapping windows add: the 9 at (1, 2) is the maximum of both windows
    x = np.zeros((1, 1, 3, 5))
    x[0, 0, 1, 2] = 9
    gx = R.max_pool2d_backward(np.array([[[[2.0, 3.0]]]]), x, 3, 2)
    expected = np.zeros((3, 5))
    expected[1, 2] = 5
    np.testing.assert_array_equal(gx[0, 0], expected)


def test_max_pool2d_non_finite():
    # +inf is an ordinary maximum; a NaN is larger than everything (its
    # window's output is NaN and the gradient goes to the first NaN); a
    # window of -inf reals answers -inf and sends its gradient to the first
    # real element, never to the padding. Other windows are untouched.
    x = np.array([[[[1.0, np.inf, 2.0, 3.0],
                    [np.nan, 0.0, 5.0, np.nan],
                    [-np.inf, -np.inf, 4.0, 4.0],
                    [-np.inf, -np.inf, 4.0, 6.0]]]])
    np.testing.assert_array_equal(R.max_pool2d(x, 2, 2)[0, 0], [[np.nan, np.nan], [-np.inf, 6]])
    gx = R.max_pool2d_backward(np.array([[[[1.0, 2.0], [3.0, 4.0]]]]), x, 2, 2)
    expected = np.zeros((4, 4))
    expected[1, 0], expected[1, 3], expected[2, 0], expected[3, 3] = 1, 2, 3, 4
    np.testing.assert_array_equal(gx[0, 0], expected)
    y = R.max_pool2d(x, 3, 1, padding=1)
    assert np.isnan(y[0, 0, :3, :2]).all() and y[0, 0, 3, 0] == -np.inf and y[0, 0, 3, 3] == 6
    np.testing.assert_array_equal(y[0, 0, 0, 2:], [np.nan, np.nan])


@pytest.mark.parametrize("k, s, p, ceil_mode", [(3, 2, 0, False), (3, 2, 1, True),
                                                ((2, 3), (1, 2), (1, 1), True)])
def test_max_pool2d_backward_numerically(k, s, p, ceil_mode):
    # distinct values: a step of 1e-6 never moves a window's maximum
    x = np.random.default_rng(4).permutation(2 * 2 * 7 * 6).reshape(2, 2, 7, 6) * 0.1
    check_gradients(lambda x: R.max_pool2d(x, k, s, p, ceil_mode),
                    lambda dy, x: (R.max_pool2d_backward(dy, x, k, s, p, ceil_mode),), [x])


# ---------------------------------------------------------------- local_response_norm
def pixel(values):
    """Channels ``values`` at one pixel: shape (1, C, 1, 1), float64."""
    return np.asarray(values, dtype=np.float64).reshape(1, -1, 1, 1)


def test_local_response_norm_by_hand():
    # a = (1, 2, 3), k = 1, alpha = 1, beta = 1/2 (tests/test_local_response_norm.py)
    # size 3: window sums 1+4, 1+4+9, 4+9 -> b = 1/sqrt(6), 2/sqrt(15), 3/sqrt(14)
    np.testing.assert_allclose(R.local_response_norm(pixel([1, 2, 3]), 3, 1.0, 0.5, 1.0).ravel(),
                               [1 / 6 ** .5, 2 / 15 ** .5, 3 / 14 ** .5], rtol=1e-15)
    # size 2 (window i-1..i): sums 1, 5, 13
    np.testing.assert_allclose(R.local_response_norm(pixel([1, 2, 3]), 2, 1.0, 0.5, 1.0).ravel(),
                               [1 / 2 ** .5, 2 / 6 ** .5, 3 / 14 ** .5], rtol=1e-15)
    # the paper's defaults, alpha NOT divided by n: five channels of 10
    expected = 10 / (2 + 1e-4 * np.array([300, 400, 500, 400, 300])) ** 0.75
    np.testing.assert_allclose(R.local_response_norm(pixel([10] * 5)).ravel(), expected, rtol=1e-15)


def test_local_response_norm_backward_by_hand():
    # size 1, k = alpha = beta = 1: b = a / (1 + a^2), db/da = (1 - a^2) / (1 + a^2)^2
    g = R.local_response_norm_backward(pixel([1, 1, 1]), pixel([1, 2, 3]), 1, 1.0, 1.0, 1.0)
    np.testing.assert_allclose(g.ravel(), [0, -3 / 25, -8 / 100], atol=1e-15)
    # size 2, a = (1, 2): b_1 = a_1 / (1 + a_0^2 + a_1^2); with dy = (0, 1),
    # da_0 = -2 a_0 a_1 / 36 = -4/36 and da_1 = (6 - 8) / 36 (the transposed
    # window: a_0 reaches b_1); with dy = (1, 0) only b_0 = a_0 / (1 + a_0^2): 0
    g = R.local_response_norm_backward(pixel([0, 1]), pixel([1, 2]), 2, 1.0, 1.0, 1.0)
    np.testing.assert_allclose(g.ravel(), [-4 / 36, -2 / 36], rtol=1e-14)
    g = R.local_response_norm_backward(pixel([1, 0]), pixel([1, 2]), 2, 1.0, 1.0, 1.0)
    np.testing.assert_allclose(g.ravel(), [0, 0], atol=1e-15)


@pytest.mark.parametrize("size", [1, 2, 3, 4, 5, 9])
def test_local_response_norm_backward_numerically(size):
    # alpha up to 1 and inputs ~2: the cross-channel part is as big as the
    # diagonal one, so a wrong window is caught
    a = np.random.default_rng(size).standard_normal((2, 7, 2, 3)) * 2
    check_gradients(lambda a: R.local_response_norm(a, size, 0.7, 0.8, 1.5),
                    lambda dy, a: (R.local_response_norm_backward(dy, a, size, 0.7, 0.8, 1.5),),
                    [a])


@pytest.mark.parametrize("bad", [1e20, np.inf, np.nan])
@pytest.mark.parametrize("size", [5, 4])
def test_local_response_norm_non_finite_stays_in_its_window(bad, size):
    # the REFERENCE only (the fast op spread NaN across a 16-channel block:
    # a known bug, fixed elsewhere). One bad value at channel m = 10 of 24
    # channels changes only b_i with m in W(i), i = m-(size-1)//2 .. m+size//2,
    # and only the gradients within twice that distance; float32, so 1e20
    # squared overflows to inf
    rng = np.random.default_rng(5)
    a = rng.standard_normal((2, 24, 2, 2)).astype(np.float32)
    dy = rng.standard_normal(a.shape).astype(np.float32)
    m, lo, hi = 10, 10 - (size - 1) // 2, 10 + size // 2
    bad_a = a.copy()
    bad_a[1, m, 0, 1] = bad
    with np.errstate(over="ignore", invalid="ignore"):
        b, b_bad = R.local_response_norm(a, size), R.local_response_norm(bad_a, size)
        g = R.local_response_norm_backward(dy, a, size)
        g_bad = R.local_response_norm_backward(dy, bad_a, size)
    touched = np.zeros(a.shape, bool)
    touched[1, lo:hi + 1, 0, 1] = True
    np.testing.assert_array_equal(b_bad[~touched], b[~touched])
    if np.isnan(bad):
        assert np.isnan(b_bad[touched]).all()
    else:          # the bad value itself: 1e20 / inf -> 0, inf / inf -> NaN; its neighbours -> 0
        np.testing.assert_array_equal(np.delete(b_bad[1, lo:hi + 1, 0, 1], m - lo), 0)
    reach = np.zeros(a.shape, bool)
    reach[1, lo - (size // 2):hi + (size - 1) // 2 + 1, 0, 1] = True
    np.testing.assert_array_equal(g_bad[~reach], g[~reach])
    assert np.isfinite(b_bad[~touched]).all() and np.isfinite(g_bad[~reach]).all()


# ---------------------------------------------------------------- softmax cross-entropy
def test_cross_entropy_by_hand():
    z = np.array([[1.0, 2.0, 3.0], [1.0, 1.0, 1.0]])
    t = np.array([2, 0])
    lse0 = np.log(np.exp(1.0) + np.exp(2.0) + np.exp(3.0))
    np.testing.assert_allclose(R.cross_entropy(z, t), ((lse0 - 3.0) + np.log(3.0)) / 2, rtol=1e-14)
    p0 = np.exp(np.array([1.0, 2.0, 3.0]) - lse0)
    expected = np.array([p0 - [0, 0, 1], [1 / 3 - 1, 1 / 3, 1 / 3]]) / 2
    np.testing.assert_allclose(R.cross_entropy_backward(z, t), expected, rtol=1e-14)
    assert R.softmax_cross_entropy is R.cross_entropy
    # huge logits stay finite
    big = np.array([[1e4, -1e4, 0.0]], dtype=np.float32)
    assert R.cross_entropy(big, np.array([1])) == np.float32(2e4)
    np.testing.assert_allclose(R.cross_entropy_backward(big, np.array([1])), [[1, -1, 0]],
                               atol=1e-30)


def test_cross_entropy_backward_numerically():
    z = np.random.default_rng(6).standard_normal((4, 5)) * 3
    t = np.array([0, 4, 2, 2])
    check_gradients(lambda z: R.cross_entropy(z, t),
                    lambda dl, z: (R.cross_entropy_backward(z, t, dl),), [z])


# ---------------------------------------------------------------- dropout, linear, relu
def test_dropout_given_a_mask_by_hand():
    x = np.array([[2.0, -1.0, 4.0]])
    mask = np.array([[1, 0, 1]])
    np.testing.assert_array_equal(R.dropout(x, mask, 0.75), [[8.0, 0.0, 16.0]])    # / (1 - 0.75)
    np.testing.assert_array_equal(R.dropout_backward(np.ones((1, 3)), mask, 0.75), [[4, 0, 4]])
    check_gradients(lambda x: R.dropout(x, mask, 0.3),
                    lambda dy, x: (R.dropout_backward(dy, mask, 0.3),), [x])


def test_linear_by_hand_and_numerically():
    x = np.array([[1.0, 2.0]])
    W = np.array([[1.0, 0.0], [1.0, 1.0], [0.0, -1.0]])
    b = np.array([0.5, 0.0, 1.0])
    np.testing.assert_array_equal(R.linear(x, W, b), [[1.5, 3.0, -1.0]])
    dx, dW, db = R.linear_backward(np.array([[1.0, 2.0, 3.0]]), x, W)
    np.testing.assert_array_equal(dx, [[3.0, -1.0]])
    np.testing.assert_array_equal(dW, [[1, 2], [2, 4], [3, 6]])
    np.testing.assert_array_equal(db, [1, 2, 3])
    rng = np.random.default_rng(7)
    check_gradients(R.linear, lambda dy, x, W, b: R.linear_backward(dy, x, W),
                    [rng.standard_normal((3, 4)), rng.standard_normal((2, 4)),
                     rng.standard_normal(2)])


def test_relu_by_hand():
    x = np.array([-2.0, -0.5, 0.0, 0.5, 3.0, np.nan])
    np.testing.assert_array_equal(R.relu(x), [0, 0, 0, 0.5, 3, np.nan])
    # at NaN the gradient passes on, as in PyTorch's threshold_backward (zero only where x <= 0)
    np.testing.assert_array_equal(R.relu_backward(np.arange(1.0, 7.0), x), [0, 0, 0, 4, 5, 6])


def test_the_reference_imports_numpy_only():
    # never minialex's fast code (or anything else): an oracle must not share the bugs
    import ast
    import pathlib
    folder = pathlib.Path(R.__file__).parent
    for path in folder.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                assert [a.name for a in node.names] == ["numpy"], (path.name, ast.dump(node))
            elif isinstance(node, ast.ImportFrom):
                assert node.level == 1 and node.module in {p.stem for p in folder.glob("*.py")}, \
                    (path.name, ast.dump(node))


# ======================================================= (b) every fast path against it
@dataclass
class Case:
    """One op on one drawn example: the NumPy inputs that get gradients,
    the fast op on Tensors, the reference forward and backward on arrays."""
    inputs: list
    fast: Callable
    reference: Callable
    reference_grads: Callable = None     # (dy, *inputs) -> gradients; None: not differentiable
    exact: bool = False                  # bit-equal (max-pooling on small integers)
    context: Callable = contextlib.nullcontext


def _normal(draw, shape, scale=1.0):
    seed = draw(st.integers(0, 2**31 - 1))
    return np.random.default_rng(seed).standard_normal(shape) * scale


def _ints(draw, lo, hi, count=2):
    """``count`` integers drawn from lo..hi, as a tuple (e.g. an (h, w) pair)."""
    return tuple(draw(st.integers(lo, hi)) for _ in range(count))


def case_conv2d(draw, path=None):
    n, groups = _ints(draw, 1, 2)
    c, c_out = (groups * v for v in _ints(draw, 1, 2))
    (h, w), (kh, kw), stride, padding = _ints(draw, 1, 6), _ints(draw, 1, 3), _ints(draw, 1, 2), \
        _ints(draw, 0, 2)
    if path and path.startswith("winograd"):     # the windows it computes by Winograd
        r = int(path[-1])                        # winograd_f<m>x<m>_<r>x<r>
        (kh, kw), stride = (r, r), (1, 1)
    assume(h + 2 * padding[0] >= kh and w + 2 * padding[1] >= kw)
    inputs = [_normal(draw, (n, c, h, w)), _normal(draw, (c_out, c // groups, kh, kw))]
    if draw(st.booleans()):
        inputs.append(_normal(draw, (c_out,)))

    def reference_grads(dy, x, W, *b):
        return R.conv2d_backward(dy, x, W, stride, padding, groups)[:2 + len(b)]
    return Case(inputs, lambda *t: F.conv2d(*t, stride=stride, padding=padding, groups=groups),
                lambda *a: R.conv2d(*a, stride=stride, padding=padding, groups=groups),
                reference_grads,
                context=(lambda: paths.use("conv2d", path)) if path else contextlib.nullcontext)


def _window_args(draw):
    (h, w), k, s, p = _ints(draw, 1, 6), _ints(draw, 1, 3), _ints(draw, 1, 2), _ints(draw, 0, 2)
    assume(h + 2 * p[0] >= k[0] and w + 2 * p[1] >= k[1])
    return (draw(st.integers(1, 2)), draw(st.integers(1, 3)), h, w), k, s, p


def case_im2col(draw):
    shape, k, s, p = _window_args(draw)
    return Case([_normal(draw, shape)], lambda x: F.im2col(x, k, s, p),
                lambda x: R.im2col(x, k, s, p))


def case_col2im(draw):
    shape, k, s, p = _window_args(draw)
    rows = shape[1] * k[0] * k[1]
    oh, ow = ((shape[2 + a] + 2 * p[a] - k[a]) // s[a] + 1 for a in (0, 1))
    return Case([_normal(draw, (rows, oh * ow * shape[0]))], lambda c: F.col2im(c, shape, k, s, p),
                lambda c: R.col2im(c, shape, k, s, p))


def case_max_pool2d(draw, path=None):
    (n, c), (h, w), k, s, p = _ints(draw, 1, 3), _ints(draw, 1, 8), _ints(draw, 1, 4), \
        _ints(draw, 1, 3), _ints(draw, 0, 2)
    ceil_mode = draw(st.booleans())
    assume(p[0] <= k[0] // 2 and p[1] <= k[1] // 2)
    assume(h + 2 * p[0] >= k[0] and w + 2 * p[1] >= k[1])
    # values in {-1, 0, 1}: ties everywhere (like ReLU's zeros), exact in float32
    x = np.round(_normal(draw, (n, c, h, w))).clip(-1, 1).astype(np.float32)
    args = (k, s, p, ceil_mode)
    return Case([x], lambda t: F.max_pool2d(t, *args), lambda x: R.max_pool2d(x, *args),
                lambda dy, x: (R.max_pool2d_backward(dy, x, *args),), exact=True,
                context=(lambda: forced_path(path)) if path else contextlib.nullcontext)


def case_local_response_norm(draw):
    shape = (draw(st.integers(1, 3)), draw(st.integers(1, 12))) + _ints(draw, 1, 3)
    args = (draw(st.integers(1, 9)), draw(st.floats(0.0, 1.0)), draw(st.floats(0.1, 1.5)),
            draw(st.floats(0.5, 5.0)))
    return Case([_normal(draw, shape, 2.0)], lambda t: F.local_response_norm(t, *args),
                lambda a: R.local_response_norm(a, *args),
                lambda dy, a: (R.local_response_norm_backward(dy, a, *args),))


def case_cross_entropy(draw):
    n, k = draw(st.integers(1, 5)), draw(st.integers(1, 6))
    t = np.random.default_rng(draw(st.integers(0, 99))).integers(0, k, n)
    return Case([_normal(draw, (n, k), 4.0)], lambda z: F.cross_entropy(z, t),
                lambda z: R.cross_entropy(z, t),
                lambda dl, z: (R.cross_entropy_backward(z, t, dl),))


def case_dropout(draw):
    shape, p = _ints(draw, 1, 7), draw(st.floats(0.05, 0.9))
    seed = draw(st.integers(0, 2**31 - 1))
    x = _normal(draw, shape)
    x += np.where(x < 0, -0.5, 0.5)      # |x| >= 0.5: a zero output means a dropped unit
    mask = {}

    def fast(t):
        y = F.dropout(t, p, generator=np.random.default_rng(seed))
        mask["keep"] = _host(y.data) != 0          # the fast op's mask, read off its output
        return y
    return Case([x], fast, lambda x: R.dropout(x, mask["keep"], p),
                lambda dy, x: (R.dropout_backward(dy, mask["keep"], p),))


def case_linear(draw):
    n, fin, fout = _ints(draw, 1, 5, count=3)
    inputs = [_normal(draw, (n, fin)), _normal(draw, (fout, fin))]
    if draw(st.booleans()):
        inputs.append(_normal(draw, (fout,)))
    return Case(inputs, F.linear, R.linear,
                lambda dy, x, W, *b: R.linear_backward(dy, x, W)[:2 + len(b)])


def case_relu(draw):
    shape = tuple(draw(st.lists(st.integers(1, 5), min_size=1, max_size=4)))
    x = np.round(_normal(draw, shape, 2.0), 1)         # exact zeros too (gradient 0 there)
    return Case([x], F.relu, R.relu, lambda dy, x: (R.relu_backward(dy, x),))


CASES = {
    "conv2d": case_conv2d, "im2col": case_im2col, "col2im": case_col2im,
    "max_pool2d": case_max_pool2d,
    "local_response_norm": case_local_response_norm, "cross_entropy": case_cross_entropy,
    "dropout": case_dropout, "linear": case_linear, "relu": case_relu,
}
# the CPU forces each of max_pool2d's two paths on every shape, and each of
# conv2d's (im2col on every window, Winograd on 3x3 stride-1 ones)
CPU_CASES = dict(CASES, **{
    "conv2d[chwn_slices]": lambda draw: case_conv2d(draw, "chwn_slices"),
    "conv2d[winograd_f2x2_3x3]": lambda draw: case_conv2d(draw, "winograd_f2x2_3x3"),
    "conv2d[winograd_f3x3_3x3]": lambda draw: case_conv2d(draw, "winograd_f3x3_3x3"),
    "conv2d[winograd_f2x2_5x5]": lambda draw: case_conv2d(draw, "winograd_f2x2_5x5"),
    "max_pool2d[phases]": lambda draw: case_max_pool2d(draw, "phases"),
    "max_pool2d[planes_last]": lambda draw: case_max_pool2d(draw, "planes_last"),
})
del CPU_CASES["max_pool2d"]


def _host(a):
    """A NumPy array from a NumPy or CuPy array."""
    return a.get() if hasattr(a, "get") and not isinstance(a, np.ndarray) else np.asarray(a)


def check_fast_against_reference(case, device="cpu"):
    """Run the fast op (forward and backward with a random dy) on ``device``
    and compare its output and every input gradient with the reference."""
    tensors = [Tensor(a.copy(), device=device, requires_grad=case.reference_grads is not None)
               for a in case.inputs]
    with case.context():
        y = case.fast(*tensors)
        y_fast = _host(y.data if isinstance(y, Tensor) else y)
        if case.reference_grads is not None:
            rng = np.random.default_rng(0)
            dy = (rng.integers(1, 10, y.shape) if case.exact else rng.standard_normal(y.shape))
            dy = np.asarray(dy, dtype=y.dtype)
            y.backward(Tensor(dy, device=device))
    y_ref = case.reference(*case.inputs)
    compare = np.testing.assert_array_equal if case.exact else \
        (lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-11))
    assert y_fast.shape == np.shape(y_ref) and y_fast.dtype == case.inputs[0].dtype
    compare(y_fast, y_ref)
    if case.reference_grads is None:
        return
    grads = case.reference_grads(dy, *case.inputs)
    assert len(grads) == len(tensors)
    for t, g in zip(tensors, grads):
        assert t.grad is not None and t.grad.shape == t.shape
        compare(_host(t.grad), g)


@contextlib.contextmanager
def cpu_threads(n):
    """minialex's own CPU passes on ``n`` threads; with n > 1 every pass is
    split however small its array (so tiny hypothesis shapes really run on
    two threads, in uneven parts)."""
    before = minialex.get_num_threads()
    min_size, split = _threads._MIN_SIZE, pool_planes_last.SPLIT_OUTPUTS
    minialex.set_num_threads(n)
    if n > 1:
        _threads._MIN_SIZE, pool_planes_last.SPLIT_OUTPUTS = 1, 0
    try:
        yield
    finally:
        _threads._MIN_SIZE, pool_planes_last.SPLIT_OUTPUTS = min_size, split
        minialex.set_num_threads(before)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("op", sorted(CPU_CASES))
@settings(max_examples=20, deadline=None)
@given(data=st.data())
def test_fast_cpu_op_matches_the_reference(op, threads, data):
    case = CPU_CASES[op](data.draw)
    with cpu_threads(threads):
        check_fast_against_reference(case)


def test_two_threads_really_split_the_passes():
    # the test above could pass on one thread whatever its parameter says:
    # record the parts each split hands out while a 2-image LRN and pooling run
    parts, parallel = [], _threads.parallel

    def spy(work, n, a):
        def record(lo, hi):
            parts.append((lo, hi))
            work(lo, hi)
        parallel(record, n, a)
    x = Tensor(np.random.default_rng(8).standard_normal((2, 3, 5, 5)), requires_grad=True)
    with cpu_threads(2), pytest.MonkeyPatch.context() as mp:
        from minialex.functions._kernels import lrn_window
        mp.setattr(lrn_window, "parallel", spy)
        mp.setattr(pool_planes_last, "parallel", spy)
        with paths.use("max_pool2d", "planes_last"):
            F.max_pool2d(F.local_response_norm(x), 3, 2).sum().backward()
    assert sorted(set(parts)) == [(0, 1), (1, 2)]      # each pass: image 0 and image 1 apart


@pytest.mark.gpu
@pytest.mark.skipif(not cupy_available(), reason=(
    "needs CuPy and a CUDA GPU (none usable here): install the gpu extra "
    "(pip install -e \".[gpu]\", or cupy-cuda13x on CUDA 13) on a machine with an NVIDIA GPU"))
@pytest.mark.parametrize("op", sorted(CASES))
@settings(max_examples=15, deadline=None)
@given(data=st.data())
def test_fast_gpu_op_matches_the_reference(op, data):
    check_fast_against_reference(CASES[op](data.draw), device="cuda:0")
