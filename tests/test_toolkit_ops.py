"""The researcher's toolkit ops (issue 15): hand-computed values, float64
gradient checks over hypothesis shapes, and PyTorch parity (values and
gradients) where torch is installed."""

import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from hypothesis.extra import numpy as hnp

from conftest import assert_matches_torch
from minialex import Tensor, gradcheck
from minialex import functional as F

SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
seeds = st.integers(0, 2**32 - 1)
shapes = hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4)


def rand(shape, seed, low=-2.0, high=2.0):
    return Tensor(np.random.default_rng(seed).uniform(low, high, shape), requires_grad=True)


def away_from_zero(shape, seed):
    """Values with |x| in [0.3, 2): no kink of abs / leaky_relu inside eps."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.3, 2.0, shape) * rng.choice([-1.0, 1.0], shape)
    return Tensor(x, requires_grad=True)


def distinct(shape, seed):
    """A random permutation of well separated values: no ties for max/min."""
    n = int(np.prod(shape))
    x = np.random.default_rng(seed).permutation(n).reshape(shape) * 0.5
    return Tensor(x.astype(np.float64), requires_grad=True)


# ------------------------------------------------------------ hand-computed values
def test_activation_values():
    x = Tensor(np.array([-2.0, 0.0, 1.0]))
    np.testing.assert_allclose(F.tanh(x).data, [np.tanh(-2.0), 0.0, np.tanh(1.0)])
    np.testing.assert_allclose(F.sigmoid(x).data, [1 / (1 + np.e ** 2), 0.5, 1 / (1 + np.e ** -1)])
    np.testing.assert_allclose(F.leaky_relu(x, 0.1).data, [-0.2, 0.0, 1.0])
    x = Tensor(np.array([-2.0, 0.0, 1.0]), requires_grad=True)
    F.leaky_relu(x, 0.1).sum().backward()
    np.testing.assert_array_equal(x.grad, [0.1, 0.1, 1.0])       # slope at 0, as PyTorch


def test_leaky_relu_default_slope_is_pytorchs():
    """Without a slope, negative inputs are scaled by 0.01 (F.leaky_relu's default)."""
    x = Tensor(np.array([-2.0, -0.5, 0.0, 3.0]), requires_grad=True)
    y = F.leaky_relu(x)
    np.testing.assert_allclose(y.data, [-0.02, -0.005, 0.0, 3.0], rtol=1e-12)
    y.sum().backward()
    np.testing.assert_allclose(x.grad, [0.01, 0.01, 0.01, 1.0], rtol=1e-12)
    torch = pytest.importorskip("torch")
    np.testing.assert_allclose(
        y.data, torch.nn.functional.leaky_relu(torch.tensor(x.data)).numpy(), rtol=1e-12)


def test_tanh_sigmoid_safe_at_large_inputs():
    x = Tensor(np.array([100.0, -100.0, 1e4, -1e4]), requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")                 # no overflow warning
        y = F.tanh(x)
        y.sum().backward()
        np.testing.assert_array_equal(y.data, [1, -1, 1, -1])
        np.testing.assert_array_equal(x.grad, [0, 0, 0, 0])
        for dt in (np.float32, np.float64):
            s = F.sigmoid(Tensor(np.array([-1e4, -100.0, 0.0, 100.0, 1e4], dtype=dt)))
            assert s.dtype == dt and np.all(np.isfinite(s.data))
            np.testing.assert_allclose(s.data, [0, 1 / (1 + np.exp(100)), 0.5,
                                                1 / (1 + np.exp(-100)), 1], rtol=1e-6, atol=1e-30)


def test_pow_sqrt_abs_values_and_grads():
    x = Tensor(np.array([-1.5, 2.0, 3.0]), requires_grad=True)
    y = x ** 2
    np.testing.assert_array_equal(y.data, [2.25, 4.0, 9.0])
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, [-3.0, 4.0, 6.0])
    x = Tensor(np.array([4.0, 9.0]), requires_grad=True)
    F.sqrt(x).sum().backward()
    np.testing.assert_allclose(x.grad, [0.25, 1 / 6])
    x = Tensor(np.array([-2.0, 0.0, 3.0]), requires_grad=True)
    F.abs(x).sum().backward()
    np.testing.assert_array_equal(x.grad, [-1.0, 0.0, 1.0])
    x = Tensor(np.array([0.0, 1.0]), requires_grad=True)
    (x ** 0).sum().backward()
    np.testing.assert_array_equal(x.grad, [0.0, 0.0])
    with pytest.raises(TypeError, match="exponent"):
        F.pow(x, np.array([1.0, 2.0]))


@pytest.mark.parametrize("p, want, grad", [
    (-1, [0.5, -0.25], [-0.25, -1 / 16]),              # -x^-2
    (-2.0, [0.25, 1 / 16], [-0.25, 2 / 64]),           # -2 x^-3
    (-0.5, [2 ** -0.5, np.nan], [-0.5 * 2 ** -1.5, np.nan]),  # x < 0: nan, as NumPy
])
def test_pow_negative_exponents_by_hand(p, want, grad):
    x = Tensor(np.array([2.0, -4.0]), requires_grad=True)
    with np.errstate(invalid="ignore"):
        y = x ** p
        y.sum().backward()
    np.testing.assert_allclose(y.data, want, rtol=1e-12)
    np.testing.assert_allclose(x.grad, grad, rtol=1e-12)


@pytest.mark.parametrize("p", [2, 0.5, np.float64(0.5), np.int64(3), np.float16(2.0), True])
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_pow_keeps_the_dtype_of_x_for_any_number_exponent(dtype, p):
    """A NumPy exponent (float64, int64) must not upcast x: y has x's dtype,
    with the exponent rounded to it (as a Python number is)."""
    x = Tensor(np.array([0.5, 2.0, 3.0], dtype=dtype), requires_grad=True)
    y = F.pow(x, p)
    assert y.dtype == dtype
    np.testing.assert_array_equal(y.data, x.data ** dtype(p))
    y.sum().backward()
    assert x.grad.dtype == dtype
    np.testing.assert_allclose(x.grad, float(p) * x.data.astype(np.float64) ** (float(p) - 1),
                               rtol={np.float16: 2e-3, np.float32: 1e-6, np.float64: 1e-12}[dtype])


@pytest.mark.parametrize("x", [2, True, np.int64(2), np.uint8(3), np.bool_(True), [1, 2], 2j],
                         ids=["int", "bool", "int64", "uint8", "numpy_bool", "int_list", "complex"])
def test_pow_refuses_a_base_that_is_not_floating_point_also_as_a_number(x):
    """The dtype rule for a number or list base, which has no Tensor to take a
    float dtype from: pow(2, 3) must not give int64 8, nor pow(2, 0.5) a float64."""
    with pytest.raises(TypeError, match=r"pow needs floating-point input, got x = .* of dtype "
                                        r"\w+; .*write x as a float"):
        F.pow(x, 3)


@pytest.mark.parametrize("x, dtype", [(2.0, np.float32), ([2.0, -1.0], np.float32),
                                      (np.float64(2.0), np.float64), (np.float16(2.0), np.float16)])
def test_pow_of_a_float_number_or_list(x, dtype):
    y = F.pow(x, 3)
    assert y.dtype == dtype and not y.requires_grad
    np.testing.assert_array_equal(y.data, np.asarray(x, dtype) ** 3)


def test_max_min_ties_follow_pytorch():
    x = Tensor(np.array([[1.0, 3.0, 3.0], [5.0, 0.0, 5.0]]), requires_grad=True)
    y = x.max(1)
    np.testing.assert_array_equal(y.data, [3.0, 5.0])
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, [[0, 1, 0], [1, 0, 0]])      # the first maximum
    x.grad = None
    x.max().backward()                                               # all elements: split
    np.testing.assert_array_equal(x.grad, [[0, 0, 0], [0.5, 0, 0.5]])
    np.testing.assert_array_equal(x.argmax(1).data, [1, 0])
    np.testing.assert_array_equal(x.argmin(0).data, [0, 1, 0])
    assert x.argmax().item() == 3 and not x.argmax(1).requires_grad
    np.testing.assert_array_equal(x.min(0, keepdims=True).data, [[1.0, 0.0, 3.0]])
    with pytest.raises(ValueError, match="out of range"):
        x.max(2)


def test_where_pad_shape_methods():
    a = Tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    y = F.where(a.data > 1.5, a, 10.0)
    np.testing.assert_array_equal(y.data, [10.0, 2.0, 3.0])
    y.sum().backward()
    np.testing.assert_array_equal(a.grad, [0.0, 1.0, 1.0])
    with pytest.raises(TypeError, match="boolean"):
        F.where(a.data, a, a)
    x = Tensor(np.arange(6.0).reshape(1, 2, 3), requires_grad=True)
    p = F.pad(x, (1, 0, 0, 2), value=-1.0)
    assert p.shape == (1, 4, 4)
    np.testing.assert_array_equal(p.data[0, :, 0], [-1, -1, -1, -1])
    np.testing.assert_array_equal(p.data[0, 1], [-1, 3, 4, 5])
    with pytest.raises(ValueError, match=">= 0"):
        F.pad(x, (-1, 0))
    assert x.view(3, 2).shape == (3, 2) and x.unsqueeze(-1).shape == (1, 2, 3, 1)
    assert x.squeeze().shape == (2, 3) and x.squeeze(1).shape == (1, 2, 3)
    assert x.permute(2, 0, 1).shape == (3, 1, 2) and x.T.shape == (3, 2, 1)
    c = x.clone()
    assert c.data is not x.data and not np.shares_memory(c.data, x.data)
    assert x.size() == (1, 2, 3) and x.size(-1) == 3 and x.numel() == 6 and x.dim() == 3
    with pytest.raises(IndexError):
        x.size(3)


@pytest.mark.parametrize("a", [10.0, Tensor(np.full((2, 1), 10.0))], ids=["number", "tensor"])
def test_where_gradient_for_b_alone_of_another_shape(a):
    """A constant a and a trainable b (3,) broadcast over the condition's 2
    rows: dL/db_j = number of rows where the condition is false."""
    cond = np.array([[True, False, False], [True, True, False]])
    b = Tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    y = F.where(cond, a, b)
    np.testing.assert_array_equal(y.data, [[10.0, 2.0, 3.0], [10.0, 10.0, 3.0]])
    y.sum().backward()
    np.testing.assert_array_equal(b.grad, [0.0, 1.0, 2.0])


def test_where_of_two_numbers_and_conditions_that_are_not_boolean():
    y = F.where(np.array([True, False, True]), 1.0, -1.0)
    np.testing.assert_array_equal(y.data, [1.0, -1.0, 1.0])
    assert y.dtype == np.float32 and not y.requires_grad
    a = Tensor(np.array([1.0, 2.0]))
    for cond in (np.array(["yes", ""]), np.array([1, 0]), np.array([1.0, 0.0]), [True, False]):
        with pytest.raises(TypeError, match="where: condition must be a boolean array or Tensor"):
            F.where(cond, a, 0.0)


# ------------------------------------------------------------ gradient checks
@SETTINGS
@given(shapes, seeds)
def test_elementwise_grads(shape, seed):
    x = away_from_zero(shape, seed)
    for f in (F.tanh, F.sigmoid, lambda t: F.leaky_relu(t, 0.2), F.abs,
              lambda t: F.sqrt(F.abs(t)), lambda t: t ** 3, lambda t: F.abs(t) ** 1.5,
              lambda t: t.clone() * 2.0):
        assert gradcheck(f, [x])


@SETTINGS
@given(shapes, seeds, st.data())
def test_max_min_where_pad_grads(shape, seed, data):
    x = distinct(shape, seed)
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    keep = data.draw(st.booleans())
    assert gradcheck(lambda t: t.max(axis, keepdims=keep), [x])
    assert gradcheck(lambda t: t.min(axis), [x])
    assert gradcheck(lambda t: t.max(), [x])
    y = rand(shape, seed + 1)
    cond = np.random.default_rng(seed).random(shape) > 0.5
    assert gradcheck(lambda a, b: F.where(cond, a, b), [x, y])
    widths = tuple(data.draw(st.integers(0, 2)) for _ in range(2 * len(shape)))
    assert gradcheck(lambda t: F.pad(t, widths, value=0.5), [x])


pool_cases = st.tuples(st.integers(1, 3), st.integers(1, 3), st.integers(0, 1), st.booleans(),
                       st.booleans(), st.integers(3, 7), st.integers(3, 7))


@SETTINGS
@given(pool_cases, seeds)
def test_avg_pool_grads(case, seed):
    k, s, p, ceil, include, h, w = case
    p = min(p, k // 2)
    x = rand((2, 2, h, w), seed)
    assert gradcheck(lambda t: F.avg_pool2d(t, k, s, p, ceil, include), [x])


@SETTINGS
@given(st.integers(1, 7), st.integers(1, 7), st.integers(1, 4), st.integers(1, 4), seeds)
def test_adaptive_avg_pool_grads(h, w, oh, ow, seed):
    x = rand((2, 3, h, w), seed)
    assert gradcheck(lambda t: F.adaptive_avg_pool2d(t, (oh, ow)), [x])


@SETTINGS
@given(st.sampled_from([(4, 3), (3, 2, 5), (2, 3, 3, 2)]), st.booleans(), seeds)
def test_batch_norm_grads(shape, training, seed):
    x = rand(shape, seed)
    c = shape[1]
    g, b = rand((c,), seed + 1, 0.5, 1.5), rand((c,), seed + 2)
    rm, rv = Tensor(np.zeros(c)), Tensor(np.ones(c) * 1.5)
    assert gradcheck(lambda x, g, b: F.batch_norm(x, rm, rv, g, b, training, momentum=None),
                     [x, g, b])


@SETTINGS
@given(st.integers(1, 5), st.integers(2, 5), st.floats(0.0, 1.0), seeds)
def test_cross_entropy_label_smoothing_and_mse_grads(n, c, eps, seed):
    z = rand((n, c), seed)
    t = np.random.default_rng(seed).integers(0, c, n)
    assert gradcheck(lambda z: F.cross_entropy(z, t, label_smoothing=eps), [z])
    y = rand((n, c), seed + 1)
    for red in ("mean", "sum", "none"):
        assert gradcheck(lambda a, b: F.mse_loss(a, b, red), [z, y])


def test_hand_computed_pools_and_losses():
    x = Tensor(np.arange(16.0).reshape(1, 1, 4, 4))
    np.testing.assert_array_equal(F.avg_pool2d(x, 2).data[0, 0], [[2.5, 4.5], [10.5, 12.5]])
    # padding 1, kernel 2, stride 2: the corner window holds x[0, 0] and three zeros
    y = F.avg_pool2d(x, 2, 2, 1)
    assert y.data[0, 0, 0, 0] == 0.0 / 4 and y.data[0, 0, 1, 1] == (5 + 6 + 9 + 10) / 4
    y = F.avg_pool2d(x, 2, 2, 1, count_include_pad=False)
    assert y.data[0, 0, 0, 0] == 0.0 and y.data[0, 0, 0, 1] == (1 + 2) / 2
    # ceil mode on 5 columns, kernel 2 stride 2: a last window of one column
    x5 = Tensor(np.arange(5.0).reshape(1, 1, 1, 5))
    np.testing.assert_array_equal(F.avg_pool2d(x5, (1, 2), ceil_mode=True).data[0, 0, 0],
                                  [0.5, 2.5, 4.0])
    # adaptive: 5 -> 3 bins [0, 2), [1, 4), [3, 5)
    np.testing.assert_allclose(F.adaptive_avg_pool2d(x5, (1, 3)).data[0, 0, 0], [0.5, 2.0, 3.5])
    z = Tensor(np.log(np.array([[1.0, 1.0, 2.0]])))                 # p = 1/4, 1/4, 1/2
    loss = F.cross_entropy(z, np.array([2]), label_smoothing=0.3)   # q = 0.1, 0.1, 0.8
    want = -(0.1 * np.log(0.25) * 2 + 0.8 * np.log(0.5))
    np.testing.assert_allclose(loss.item(), want)
    np.testing.assert_allclose(F.mse_loss(Tensor(np.array([1.0, 3.0])), np.array([0.0, 0.0])).item(), 5.0)


def _runtime_str(s):
    """``s`` built at run time, as one read from a config file: equal to the
    literal, but not the same (interned) object, so ``is`` would fail."""
    return "".join(list(s))


@pytest.mark.parametrize("spell", [str, _runtime_str], ids=["literal", "built_at_run_time"])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_mse_loss_reductions_by_hand(reduction, spell):
    """d = x - t = [[1, 2], [0, -2]], d^2 = [[1, 4], [0, 4]]: sum 9, mean 9/4;
    dL/dx = 2d / 4 for the mean, 2d for the sum and for sum(none), dL/dt = -dL/dx."""
    x = Tensor(np.array([[1.0, 3.0], [0.0, -2.0]]), requires_grad=True)
    t = Tensor(np.array([[0.0, 1.0], [0.0, 0.0]]), requires_grad=True)
    loss = F.mse_loss(x, t, spell(reduction))
    want, scale = {"mean": (2.25, 0.5), "sum": (9.0, 2.0),
                   "none": ([[1.0, 4.0], [0.0, 4.0]], 2.0)}[reduction]
    assert loss.shape == np.shape(want) and loss.dtype == np.float64
    np.testing.assert_array_equal(loss.data, want)
    loss.sum().backward()
    d = np.array([[1.0, 2.0], [0.0, -2.0]])
    np.testing.assert_array_equal(x.grad, scale * d)
    np.testing.assert_array_equal(t.grad, -scale * d)


def test_mse_loss_gradient_for_the_target_alone():
    """A constant input and a trainable target: dL/dt = -2 (x - t) / M."""
    x = Tensor(np.array([1.0, 3.0]))
    t = Tensor(np.array([0.0, 4.0]), requires_grad=True)
    F.mse_loss(x, t).backward()
    assert x.grad is None
    np.testing.assert_array_equal(t.grad, [-1.0, 1.0])


@pytest.mark.parametrize("x_shape, t_shape", [((1,), (3,)), ((3,), (1,)), ((2, 3), (2, 1)),
                                              ((2, 1), (1, 3)), ((3,), ())])
def test_mse_loss_refuses_shapes_that_differ_even_if_they_broadcast(x_shape, t_shape):
    """PyTorch only warns and broadcasts; we refuse, naming both shapes."""
    x = Tensor(np.ones(x_shape), requires_grad=True)
    with pytest.raises(ValueError) as e:
        F.mse_loss(x, np.zeros(t_shape))
    assert f"input shape {x_shape} differs from target shape {t_shape}; reshape" in str(e.value)


# ------------------------------------------------------------ PyTorch parity
def _torch_pair(x):
    torch = pytest.importorskip("torch")
    return torch.tensor(x, requires_grad=True)


@pytest.mark.parametrize("name", ["tanh", "sigmoid", "leaky_relu", "sqrt", "abs", "pow",
                                  "max", "min", "where", "pad", "mse"])
def test_elementwise_parity_with_torch(name):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    xs = rng.uniform(0.2, 3.0, (3, 4)) * rng.choice([-1.0, 1.0], (3, 4))
    if name == "sqrt":
        xs = np.abs(xs)
    gy = rng.standard_normal((3, 4))
    ours = {"tanh": F.tanh, "sigmoid": F.sigmoid, "leaky_relu": lambda t: F.leaky_relu(t, 0.05),
            "sqrt": F.sqrt, "abs": F.abs, "pow": lambda t: t ** 3, "max": lambda t: t.max(0),
            "min": lambda t: t.min(1), "where": lambda t: F.where(xs > 0, t, t * 2.0),
            "pad": lambda t: F.pad(t, (1, 2, 0, 1), value=0.5),
            "mse": lambda t: F.mse_loss(t, np.ones((3, 4)))}[name]
    theirs = {"tanh": torch.tanh, "sigmoid": torch.sigmoid,
              "leaky_relu": lambda t: torch.nn.functional.leaky_relu(t, 0.05),
              "sqrt": torch.sqrt, "abs": torch.abs, "pow": lambda t: t ** 3,
              "max": lambda t: t.max(0).values, "min": lambda t: t.min(1).values,
              "where": lambda t: torch.where(torch.tensor(xs > 0), t, t * 2.0),
              "pad": lambda t: torch.nn.functional.pad(t, (1, 2, 0, 1), value=0.5),
              "mse": lambda t: torch.nn.functional.mse_loss(t, torch.ones(3, 4))}[name]
    x, tx = Tensor(xs, requires_grad=True), torch.tensor(xs, requires_grad=True)
    y, ty = ours(x), theirs(tx)
    g = np.random.default_rng(1).standard_normal(y.shape)
    y.backward(g)
    ty.backward(torch.tensor(g))
    np.testing.assert_allclose(y.data, ty.detach().numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(x.grad, tx.grad.numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("k,s,p,ceil,include", [(3, 2, 1, True, True), (3, 2, 1, True, False),
                                                (2, 2, 0, False, True), (3, 3, 1, True, True),
                                                (2, 3, 1, True, False), (3, 1, 0, False, True)])
def test_avg_pool_parity_with_torch(k, s, p, ceil, include):
    torch = pytest.importorskip("torch")
    assert_matches_torch(lambda x: F.avg_pool2d(x, k, s, p, ceil, include),
                         lambda t: torch.nn.functional.avg_pool2d(t, k, s, p, ceil, include),
                         np.random.default_rng(2).standard_normal((2, 3, 8, 7)), grad_seed=3)


@pytest.mark.parametrize("hw,out", [((13, 13), (6, 6)), ((6, 6), (6, 6)), ((2, 2), (6, 6)),
                                    ((7, 5), (3, 2)), ((9, 9), (1, 1))])
def test_adaptive_avg_pool_parity_with_torch(hw, out):
    torch = pytest.importorskip("torch")
    assert_matches_torch(lambda x: F.adaptive_avg_pool2d(x, out),
                         lambda t: torch.nn.functional.adaptive_avg_pool2d(t, out),
                         np.random.default_rng(4).standard_normal((2, 3) + hw), grad_seed=5)


@pytest.mark.parametrize("eps", [0.0, 0.1, 0.7])
def test_cross_entropy_label_smoothing_parity_with_torch(eps):
    torch = pytest.importorskip("torch")
    zs = np.random.default_rng(6).standard_normal((5, 4)) * 3
    t = np.array([0, 3, 1, 1, 2])
    z, tz = Tensor(zs, requires_grad=True), torch.tensor(zs, requires_grad=True)
    loss = F.cross_entropy(z, t, label_smoothing=eps)
    tl = torch.nn.functional.cross_entropy(tz, torch.tensor(t), label_smoothing=eps)
    loss.backward()
    tl.backward()
    np.testing.assert_allclose(loss.item(), tl.item(), rtol=1e-12)
    np.testing.assert_allclose(z.grad, tz.grad.numpy(), rtol=1e-10, atol=1e-14)
