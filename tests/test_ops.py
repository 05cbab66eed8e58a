"""Every core op: forward values on small hand-computed cases, and backward
against central differences (minialex.gradcheck, float64) over random shapes
drawn by hypothesis. Inputs are kept away from kinks and poles (relu at 0,
log at 0, division by 0)."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from hypothesis.extra import numpy as hnp

import minialex
from minialex import Tensor, gradcheck
from minialex import functional as F

SETTINGS = settings(max_examples=40, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])
seeds = st.integers(0, 2**32 - 1)
shapes = hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4)
pairs = hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, max_side=3)


def rand(shape, seed, low=-2.0, high=2.0, requires_grad=True):
    """A float64 Tensor with uniform values in [low, high)."""
    data = np.random.default_rng(seed).uniform(low, high, shape)
    return Tensor(data, requires_grad=requires_grad)


def away_from_zero(shape, seed, low=0.5, high=2.0):
    """Float64 values with |x| in [low, high), random signs."""
    rng = np.random.default_rng(seed)
    mag = rng.uniform(low, high, shape)
    return Tensor(np.where(rng.random(shape) < 0.5, -mag, mag), requires_grad=True)


def t(values, dtype=np.float64, requires_grad=False):
    return Tensor(np.array(values, dtype=dtype), requires_grad=requires_grad)


# ------------------------------------------------------------------ add, sub, mul, div, neg
def test_arithmetic_forward_by_hand():
    a, b = t([[1.0, 2.0], [3.0, 4.0]]), t([10.0, 20.0])
    np.testing.assert_array_equal((a + b).data, [[11, 22], [13, 24]])
    np.testing.assert_array_equal((a - b).data, [[-9, -18], [-7, -16]])
    np.testing.assert_array_equal((a * b).data, [[10, 40], [30, 80]])
    np.testing.assert_array_equal((b / a).data, [[10, 10], [10 / 3, 5]])
    np.testing.assert_array_equal((-a).data, [[-1, -2], [-3, -4]])
    # Python numbers on either side
    np.testing.assert_array_equal((1 - a).data, [[0, -1], [-2, -3]])
    np.testing.assert_array_equal((2 / b).data, [0.2, 0.1])
    np.testing.assert_array_equal((a * 3).data, [[3, 6], [9, 12]])
    np.testing.assert_array_equal((3 + a).data, [[4, 5], [6, 7]])


def test_broadcast_gradients_by_hand():
    # a (2, 3) + b (3,): every b_j feeds 2 outputs, so db_j = 2 (sum over rows)
    a = Tensor(np.ones((2, 3)), requires_grad=True)
    b = Tensor(np.ones(3), requires_grad=True)
    (a * b).sum().backward()
    assert b.grad.shape == (3,)
    np.testing.assert_array_equal(b.grad, [2.0, 2.0, 2.0])
    # a (2, 1) * c (1, 3): dL/da_i = sum_j c_j, dL/dc_j = sum_i a_i
    a = t([[1.0], [2.0]], requires_grad=True)
    c = t([[1.0, 2.0, 3.0]], requires_grad=True)
    (a * c).sum().backward()
    np.testing.assert_array_equal(a.grad, [[6.0], [6.0]])
    np.testing.assert_array_equal(c.grad, [[3.0, 3.0, 3.0]])


@SETTINGS
@given(pairs, seeds)
def test_add_sub_mul_backward(shapes_, seed):
    (sa, sb), _ = shapes_
    a, b = rand(sa, seed), rand(sb, seed + 1)
    assert gradcheck(lambda a, b: a + b, [a, b])
    assert gradcheck(lambda a, b: a - b, [a, b])
    assert gradcheck(lambda a, b: a * b, [a, b])


@SETTINGS
@given(pairs, seeds)
def test_div_backward(shapes_, seed):
    (sa, sb), _ = shapes_
    a, b = rand(sa, seed), away_from_zero(sb, seed + 1)
    assert gradcheck(lambda a, b: a / b, [a, b])
    assert gradcheck(lambda b: 2.0 / b, [b])


@SETTINGS
@given(shapes, seeds)
def test_neg_and_constant_backward(shape, seed):
    x = rand(shape, seed)
    assert gradcheck(lambda x: -x, [x])
    assert gradcheck(lambda x: 3.0 - x * 2.0 + 1.0, [x])


def test_only_one_operand_needs_grad():
    a = t([1.0, 2.0], requires_grad=True)
    b = t([3.0, 4.0])
    (a / b).sum().backward()
    np.testing.assert_allclose(a.grad, [1 / 3, 1 / 4])
    assert b.grad is None


@pytest.mark.parametrize("op, want", [
    (lambda a, b: a + b, [[2.0, 2.0]]),                      # dL/db = sum over a's 2 rows
    (lambda a, b: a - b, [[-2.0, -2.0]]),
    (lambda a, b: a * b, [[1.0 + 3.0, 2.0 + 4.0]]),          # sum_i a_ij
    (lambda a, b: a / b, [[-(1 + 3) / 0.25, -(2 + 4) / 1.0]]),  # -sum_i a_ij / b_j^2
], ids=["add", "sub", "mul", "div"])
def test_only_the_second_operand_needs_grad(op, want):
    """A constant a (2, 2) and a trainable b (1, 2) broadcast over a's rows:
    b gets its gradient although a needs none (mul's dL/db = sum_to(gy * a))."""
    a = t([[1.0, 2.0], [3.0, 4.0]])
    b = t([[0.5, 1.0]], requires_grad=True)
    op(a, b).sum().backward()
    assert a.grad is None
    np.testing.assert_allclose(b.grad, want)


# ------------------------------------------------------------------ matmul
def test_matmul_forward_by_hand():
    a = t([[1.0, 2.0], [3.0, 4.0]])
    b = t([[5.0, 6.0], [7.0, 8.0]])
    np.testing.assert_array_equal((a @ b).data, [[19, 22], [43, 50]])
    v = t([1.0, -1.0])
    np.testing.assert_array_equal((a @ v).data, [-1, -1])
    np.testing.assert_array_equal((v @ a).data, [-2, -2])
    assert (v @ v).shape == () and (v @ v).item() == 2.0


def test_matmul_backward_by_hand():
    # y = a @ b: ga = gy @ b^T, gb = a^T @ gy
    a = t([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    b = t([[5.0, 6.0], [7.0, 8.0]], requires_grad=True)
    (a @ b).backward(np.ones((2, 2)))
    np.testing.assert_array_equal(a.grad, [[11, 15], [11, 15]])
    np.testing.assert_array_equal(b.grad, [[4, 4], [6, 6]])


MATMUL_CASES = [  # (a shape, b shape) with n, k, m, B filled in
    lambda n, k, m, B: ((n, k), (k, m)),
    lambda n, k, m, B: ((B, n, k), (k, m)),
    lambda n, k, m, B: ((n, k), (B, k, m)),
    lambda n, k, m, B: ((B, n, k), (B, k, m)),
    lambda n, k, m, B: ((B, 1, n, k), (2, k, m)),
    lambda n, k, m, B: ((k,), (k,)),
    lambda n, k, m, B: ((k,), (k, m)),
    lambda n, k, m, B: ((n, k), (k,)),
    lambda n, k, m, B: ((k,), (B, k, m)),
    lambda n, k, m, B: ((B, n, k), (k,)),
]


@SETTINGS
@given(st.sampled_from(MATMUL_CASES), st.integers(1, 3), st.integers(1, 3),
       st.integers(1, 3), st.integers(1, 3), seeds)
def test_matmul_backward(case, n, k, m, B, seed):
    sa, sb = case(n, k, m, B)
    a, b = rand(sa, seed), rand(sb, seed + 1)
    y = a @ b
    np.testing.assert_allclose(y.data, a.data @ b.data)
    assert gradcheck(lambda a, b: a @ b, [a, b])


def test_matmul_many_features():
    # an inner size above CPython's small-int cache (sizes compared by value)
    np.testing.assert_array_equal((t(np.ones((1, 300))) @ t(np.ones((300, 2)))).data, [[300.0, 300.0]])


def test_matmul_with_one_operand_frozen():
    # each operand gets its own gradient whether or not the other needs one
    rng = np.random.default_rng(2)
    a, b, gy = rng.standard_normal((2, 3)), rng.standard_normal((3, 4)), rng.standard_normal((2, 4))
    at, bt = t(a, requires_grad=True), t(b)
    (at @ bt).backward(gy)
    np.testing.assert_allclose(at.grad, gy @ b.T)
    assert bt.grad is None
    at, bt = t(a), t(b, requires_grad=True)
    (at @ bt).backward(gy)
    np.testing.assert_allclose(bt.grad, a.T @ gy)
    assert at.grad is None


def test_matmul_errors():
    with pytest.raises(ValueError, match="do not align"):
        t(np.ones((2, 3))) @ t(np.ones((2, 3)))
    with pytest.raises(ValueError, match="at least 1 dimension"):
        F.matmul(t(2.0), t(np.ones(2)))
    with pytest.raises(ValueError, match="at least 1 dimension"):
        F.matmul(t(np.ones(2)), t(2.0))
    # the message names the two sizes that differ: a's last axis, b's rows
    with pytest.raises(ValueError, match=r"\(2, 4, 5\) do not align: 3 != 4$"):
        t(np.ones((2, 3))) @ t(np.ones((2, 4, 5)))
    with pytest.raises(ValueError, match=r"\(4, 5\) do not align: 3 != 4$"):
        t(np.ones((2, 3))) @ t(np.ones((4, 5)))
    with pytest.raises(ValueError, match=r"\(4,\) do not align: 3 != 4$"):
        t(np.ones((2, 3))) @ t(np.ones(4))


# ------------------------------------------------------------------ sum, mean
def test_sum_mean_forward_by_hand():
    x = t([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    assert x.sum().item() == 21.0 and x.sum().shape == ()
    np.testing.assert_array_equal(x.sum(axis=0).data, [5, 7, 9])
    np.testing.assert_array_equal(x.sum(axis=-1, keepdims=True).data, [[6], [15]])
    assert x.mean().item() == 3.5
    np.testing.assert_array_equal(x.mean(axis=1).data, [2, 5])
    np.testing.assert_array_equal(x.mean(axis=(0, 1), keepdims=True).data, [[3.5]])


def test_mean_backward_by_hand():
    x = t([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], requires_grad=True)
    x.mean(axis=1).backward(np.array([3.0, 6.0]))   # gx = gy / 3 broadcast over the row
    np.testing.assert_array_equal(x.grad, [[1, 1, 1], [2, 2, 2]])


@st.composite
def shape_and_axes(draw):
    shape = draw(shapes)
    axes = draw(st.lists(st.integers(0, len(shape) - 1), unique=True, max_size=len(shape)))
    axis = None if not axes else (axes[0] - len(shape) if len(axes) == 1 else tuple(axes))
    return shape, axis, draw(st.booleans())


@SETTINGS
@given(shape_and_axes(), seeds)
def test_sum_mean_backward(case, seed):
    shape, axis, keepdims = case
    x = rand(shape, seed)
    np.testing.assert_allclose(x.sum(axis, keepdims).data, x.data.sum(axis=axis, keepdims=keepdims))
    np.testing.assert_allclose(x.mean(axis, keepdims).data, x.data.mean(axis=axis, keepdims=keepdims))
    assert gradcheck(lambda x: x.sum(axis, keepdims), [x])
    assert gradcheck(lambda x: F.mean(x, axis, keepdims), [x])


def test_reduction_bad_axis():
    with pytest.raises(ValueError, match="axis 2 is out of range"):
        t(np.ones((2, 3))).sum(axis=2)


# ------------------------------------------------------------------ reshape, transpose, flatten
def test_shape_ops_forward_by_hand():
    x = t(np.arange(6.0).reshape(2, 3))
    np.testing.assert_array_equal(x.reshape(3, 2).data, [[0, 1], [2, 3], [4, 5]])
    np.testing.assert_array_equal(x.reshape(-1).data, [0, 1, 2, 3, 4, 5])
    np.testing.assert_array_equal(x.T.data, [[0, 3], [1, 4], [2, 5]])
    assert F.flatten(t(np.ones((2, 3, 4, 5)))).shape == (2, 60)
    with pytest.raises(ValueError, match=r"cannot reshape .*\(2, 3\).* to \(4,\)"):
        x.reshape(4)
    with pytest.raises(ValueError, match="not a permutation"):
        x.transpose(0, 0)
    with pytest.raises(ValueError, match="not a permutation"):
        x.transpose(5, 0)


@SETTINGS
@given(shapes, seeds, st.data())
def test_reshape_transpose_flatten_backward(shape, seed, data):
    x = rand(shape, seed)
    new_shape = data.draw(st.sampled_from([(-1,), shape[::-1], (1,) + shape, (x.numel(), 1)]))
    perm = tuple(data.draw(st.permutations(range(len(shape)))))
    assert gradcheck(lambda x: x.reshape(new_shape), [x])
    assert gradcheck(lambda x: x.transpose(perm), [x])
    np.testing.assert_array_equal(x.transpose(perm).data, x.data.transpose(perm))
    assert gradcheck(lambda x: F.flatten(x, 0), [x])


# ------------------------------------------------------------------ concatenate, split, slicing
def test_concatenate_split_forward_by_hand():
    a, b = t([[1.0, 2.0]]), t([[3.0, 4.0], [5.0, 6.0]])
    np.testing.assert_array_equal(F.concatenate([a, b]).data, [[1, 2], [3, 4], [5, 6]])
    p, q = F.split(t(np.arange(5.0)), [2])
    np.testing.assert_array_equal(p.data, [0, 1])
    np.testing.assert_array_equal(q.data, [2, 3, 4])
    parts = F.split(t(np.arange(6.0).reshape(2, 3)), 3, axis=1)
    assert [y.data.ravel().tolist() for y in parts] == [[0, 3], [1, 4], [2, 5]]
    (only,) = F.split(t(np.arange(3.0)), 1)
    np.testing.assert_array_equal(only.data, [0, 1, 2])
    with pytest.raises(ValueError, match="cannot split axis 0 of length 5"):
        F.split(t(np.arange(5.0)), 2)
    with pytest.raises(ValueError, match="at least one tensor"):
        F.concatenate([])


@SETTINGS
@given(shapes, st.integers(1, 3), seeds, st.data())
def test_concatenate_backward(shape, pieces, seed, data):
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    xs = []
    for i in range(pieces):
        s = list(shape)
        s[axis] = data.draw(st.integers(1, 3))
        xs.append(rand(tuple(s), seed + i))
    y = F.concatenate(xs, axis=axis)
    np.testing.assert_array_equal(y.data, np.concatenate([x.data for x in xs], axis=axis))
    assert gradcheck(lambda *xs: F.concatenate(xs, axis=axis), xs)


@SETTINGS
@given(shapes, seeds, st.data())
def test_split_backward(shape, seed, data):
    axis = data.draw(st.integers(0, len(shape) - 1))
    n = shape[axis]
    cuts = sorted(data.draw(st.lists(st.integers(0, n), max_size=3)))
    x = rand(shape, seed)
    ys = F.split(x, cuts, axis=axis)
    assert len(ys) == len(cuts) + 1
    for y, ref in zip(ys, np.split(x.data, cuts, axis=axis)):
        np.testing.assert_array_equal(y.data, ref)
    # all pieces used, with different weights; and only the last piece used
    assert gradcheck(lambda x: F.concatenate(
        [y * float(i + 1) for i, y in enumerate(F.split(x, cuts, axis=axis))], axis=axis), [x])
    assert gradcheck(lambda x: F.split(x, cuts, axis=axis)[-1], [x])


def test_split_unused_piece_gets_zero_gradient():
    x = t([1.0, 2.0, 3.0, 4.0], requires_grad=True)
    a, b = F.split(x, 2)
    (b * b).sum().backward()
    np.testing.assert_array_equal(x.grad, [0, 0, 6, 8])


def test_indexing_forward_and_backward_by_hand():
    x = t(np.arange(6.0).reshape(2, 3), requires_grad=True)
    np.testing.assert_array_equal(x[1].data, [3, 4, 5])
    np.testing.assert_array_equal(x[:, ::-2].data, [[2, 0], [5, 3]])
    # an index array that repeats a row: that row's gradient is counted twice
    x[np.array([0, 0, 1])].sum().backward()
    np.testing.assert_array_equal(x.grad, [[2, 2, 2], [1, 1, 1]])
    x.grad = None
    x[Tensor(np.array([1, 1]))].sum().backward()   # a Tensor used as the index
    np.testing.assert_array_equal(x.grad, [[0, 0, 0], [2, 2, 2]])
    x.grad = None
    x[x.data > 2.5].sum().backward()               # boolean mask
    np.testing.assert_array_equal(x.grad, [[0, 0, 0], [1, 1, 1]])


INDEX_KEYS = [
    lambda n: 0,
    lambda n: -1,
    lambda n: slice(None, None, -1),
    lambda n: slice(1, None, 2),
    lambda n: (Ellipsis, 0),
    lambda n: (None, slice(0, n)),
    lambda n: np.array([0, n - 1, 0]),
    lambda n: [n - 1, n - 1],
]


@SETTINGS
@given(shapes, seeds, st.sampled_from(INDEX_KEYS))
def test_getitem_backward(shape, seed, make_key):
    x = rand(shape, seed)
    key = make_key(shape[0])
    np.testing.assert_array_equal(x[key].data, x.data[key])
    assert gradcheck(lambda x: x[key], [x])


# ------------------------------------------------------------------ exp, log
def test_exp_log_forward_by_hand():
    x = t([0.0, 1.0, np.log(2.0)])
    np.testing.assert_allclose(x.exp().data, [1.0, np.e, 2.0])
    np.testing.assert_allclose(F.log(t([1.0, np.e, 4.0])).data, [0.0, 1.0, 2 * np.log(2)])


@SETTINGS
@given(shapes, seeds)
def test_exp_log_backward(shape, seed):
    assert gradcheck(lambda x: x.exp(), [rand(shape, seed)])
    assert gradcheck(lambda x: x.log(), [rand(shape, seed, low=0.3, high=3.0)])


# ------------------------------------------------------------------ relu
def test_relu_forward_backward_by_hand():
    x = t([-2.0, -0.5, 0.0, 0.5, 3.0], requires_grad=True)
    y = F.relu(x)
    np.testing.assert_array_equal(y.data, [0, 0, 0, 0.5, 3])
    y.backward(np.array([1.0, 2.0, 3.0, 4.0, 5.0]))
    np.testing.assert_array_equal(x.grad, [0, 0, 0, 4, 5])  # subgradient 0 at 0


def test_relu_passes_the_gradient_at_nan_like_torch_and_the_reference():
    from minialex import reference as R
    x = np.array([np.nan, -1.0, 0.0, 2.0], dtype=np.float32)
    gy = np.array([1.0, 2.0, 3.0, 4.0], dtype=np.float32)
    xt = t(x, requires_grad=True)
    y = F.relu(xt)
    np.testing.assert_array_equal(y.data, [np.nan, 0, 0, 2])
    y.backward(gy)
    np.testing.assert_array_equal(xt.grad, [1, 0, 0, 4])
    np.testing.assert_array_equal(R.relu_backward(gy, x), [1, 0, 0, 4])
    torch = pytest.importorskip("torch")
    xr = torch.tensor(x, requires_grad=True)
    torch.relu(xr).backward(torch.tensor(gy))
    np.testing.assert_array_equal(xr.grad.numpy(), xt.grad)


@SETTINGS
@given(shapes, seeds)
def test_relu_backward(shape, seed):
    assert gradcheck(F.relu, [away_from_zero(shape, seed, low=0.1)])


# ------------------------------------------------------------------ dropout
def test_dropout_gradcheck_with_fixed_generator():
    x = rand((4, 5), 0)
    for p in (0.2, 0.5, 0.9):
        # a fresh generator with the same seed on every call: the mask repeats
        fn = lambda x: F.dropout(x, p, generator=np.random.default_rng(7))  # noqa: E731
        assert gradcheck(fn, [x])


def test_dropout_values_by_hand():
    x = t(np.full((3, 4), 2.0), requires_grad=True)
    y = F.dropout(x, 0.75, generator=np.random.default_rng(1))
    kept = y.data != 0
    assert 0 < kept.sum() < 12
    np.testing.assert_array_equal(y.data[kept], 8.0)         # 2 / (1 - 0.75)
    y.backward(np.ones((3, 4)))
    np.testing.assert_array_equal(x.grad, np.where(kept, 4.0, 0.0))  # same mask / (1-p)


def test_dropout_same_seed_same_mask():
    x = t(np.ones((8, 16)))
    a = F.dropout(x, 0.5, generator=np.random.default_rng(3)).data
    b = F.dropout(x, 0.5, generator=np.random.default_rng(3)).data
    c = F.dropout(x, 0.5, generator=np.random.default_rng(4)).data
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    minialex.manual_seed(11)
    d = F.dropout(x, 0.5).data
    minialex.manual_seed(11)
    np.testing.assert_array_equal(F.dropout(x, 0.5).data, d)


def test_dropout_keeps_a_draw_equal_to_p_and_defaults_to_half():
    # keep = u >= p with u uniform on the float32 grid k/2^24 of [0, 1): then
    # P(keep) = 1 - p exactly (for p on that grid); "u > p" would drop u == p
    class Draws:                     # a generator whose draws we choose
        def random(self, shape, dtype):
            return np.array([0.25, 0.5, 0.5 - 2.0 ** -24, 0.75], dtype=dtype).reshape(shape)
    x = t(np.ones(4), requires_grad=True)
    y = F.dropout(x, 0.5, generator=Draws())
    np.testing.assert_array_equal(y.data, [0.0, 2.0, 0.0, 2.0])
    y.backward(np.full(4, 3.0))
    np.testing.assert_array_equal(x.grad, [0.0, 6.0, 0.0, 6.0])
    # the default p is the paper's 0.5: kept units are doubled
    z = F.dropout(t(np.ones(4)), generator=Draws())
    np.testing.assert_array_equal(z.data, [0.0, 2.0, 0.0, 2.0])


def test_dropout_eval_and_p0_are_identity():
    x = t(np.arange(6.0), requires_grad=True)
    assert F.dropout(x, 0.5, training=False) is x
    assert F.dropout(x, 0.0) is x


@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_dropout_statistics(p):
    n = 200_000
    x = Tensor(np.full(n, 3.0, dtype=np.float32))
    y = F.dropout(x, p, generator=np.random.default_rng(0)).data
    dropped = np.mean(y == 0)
    # binomial standard error sqrt(p(1-p)/n) < 0.0012; allow 5 of them
    assert abs(dropped - p) < 0.006
    assert abs(y.mean() - 3.0) < 0.05           # E[y] = x
    assert y.dtype == np.float32
    np.testing.assert_allclose(np.unique(y), sorted({0.0, 3.0 / (1 - p)}), rtol=1e-6)


@pytest.mark.parametrize("p", [-0.1, 1.0, 1.5])
def test_dropout_bad_p(p):
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        F.dropout(t([1.0]), p)


# ------------------------------------------------------------------ linear
def test_linear_forward_backward_by_hand():
    x = t([[1.0, 2.0]], requires_grad=True)
    W = t([[1.0, 0.0], [1.0, 1.0], [0.0, -1.0]], requires_grad=True)
    b = t([0.5, 0.0, 1.0], requires_grad=True)
    y = F.linear(x, W, b)
    np.testing.assert_array_equal(y.data, [[1.5, 3.0, -1.0]])
    y.backward(np.array([[1.0, 2.0, 3.0]]))
    np.testing.assert_array_equal(x.grad, [[3.0, -1.0]])        # gy @ W
    np.testing.assert_array_equal(W.grad, [[1, 2], [2, 4], [3, 6]])  # gy^T @ x
    np.testing.assert_array_equal(b.grad, [1, 2, 3])            # sum over the batch


@SETTINGS
@given(st.integers(1, 4), st.integers(1, 4), st.integers(1, 4), st.booleans(), seeds)
def test_linear_backward(n, fin, fout, bias, seed):
    x, W = rand((n, fin), seed), rand((fout, fin), seed + 1)
    inputs = [x, W] + ([rand((fout,), seed + 2)] if bias else [])
    y = F.linear(*inputs)
    ref = x.data @ W.data.T + (inputs[2].data if bias else 0)
    np.testing.assert_allclose(y.data, ref)
    assert gradcheck(F.linear, inputs)


def test_linear_errors():
    W = t(np.ones((3, 2)))
    with pytest.raises(ValueError, match="flatten"):
        F.linear(t(np.ones((2, 2, 2))), W)
    with pytest.raises(ValueError, match=r"x has 4 features but weight \(3, 2\) expects 2$"):
        F.linear(t(np.ones((2, 4))), W)
    with pytest.raises(ValueError, match=r"bias shape \(2,\) != \(3,\)$"):
        F.linear(t(np.ones((2, 2))), W, t(np.ones(2)))
    with pytest.raises(ValueError, match=r"bias shape \(4,\) != \(3,\)$"):
        F.linear(t(np.ones((2, 2))), W, t(np.ones(4)))
    with pytest.raises(ValueError, match=r"x has 1 features but weight \(3, 2\) expects 2$"):
        F.linear(t(np.ones((2, 1))), W)
    with pytest.raises(ValueError, match=r"shape \(N, in_features\), got \(2,\)"):
        F.linear(t(np.ones(2)), W)


def test_linear_many_features_and_frozen_inputs():
    # in_features above CPython's small-int cache (shapes compared by value)
    rng = np.random.default_rng(0)
    x, W = rng.standard_normal((2, 300)), rng.standard_normal((3, 300))
    np.testing.assert_allclose(F.linear(t(x), t(W)).data, x @ W.T)
    # the first layer: x needs no gradient, W does (gW = gy^T x, gx not made)
    xt, Wt = t(x), t(W, requires_grad=True)
    gy = rng.standard_normal((2, 3))
    F.linear(xt, Wt).backward(gy)
    np.testing.assert_allclose(Wt.grad, gy.T @ x)
    assert xt.grad is None
    # a frozen weight: only x gets its gradient gx = gy W
    xt, Wt = t(x, requires_grad=True), t(W)
    F.linear(xt, Wt).backward(gy)
    np.testing.assert_allclose(xt.grad, gy @ W)
    assert Wt.grad is None


# ------------------------------------------------------------------ log_softmax, softmax
def test_log_softmax_by_hand():
    z = t([[0.0, np.log(3.0)], [1.0, 1.0]])
    np.testing.assert_allclose(F.log_softmax(z).data, np.log([[0.25, 0.75], [0.5, 0.5]]))
    np.testing.assert_allclose(F.softmax(z).data, [[0.25, 0.75], [0.5, 0.5]])
    with pytest.raises(ValueError, match="only the last axis"):
        F.log_softmax(z, axis=0)


@SETTINGS
@given(shapes, seeds)
def test_log_softmax_backward(shape, seed):
    z = rand(shape, seed, low=-5.0, high=5.0)
    assert gradcheck(F.log_softmax, [z])
    np.testing.assert_allclose(np.exp(F.log_softmax(z).data).sum(-1), 1.0)


def test_log_softmax_stable_for_huge_logits():
    z = Tensor(np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, -1e4]], dtype=np.float32),
               requires_grad=True)
    y = F.log_softmax(z)
    assert np.isfinite(y.data).all()
    np.testing.assert_allclose(y.data[0], [0.0, -2e4, -1e4])
    np.testing.assert_allclose(y.data[1], -np.log(3.0), rtol=1e-6)
    y.backward(np.ones((2, 3), dtype=np.float32))
    assert np.isfinite(z.grad).all()


# ------------------------------------------------------------------ cross_entropy
def test_cross_entropy_by_hand():
    z = t([[1.0, 2.0, 3.0], [1.0, 1.0, 1.0]], requires_grad=True)
    y = np.array([2, 0])
    loss = F.cross_entropy(z, y)
    lse0 = np.log(np.exp(1.0) + np.exp(2.0) + np.exp(3.0))
    expected = ((lse0 - 3.0) + np.log(3.0)) / 2
    assert loss.shape == ()
    np.testing.assert_allclose(loss.item(), expected, rtol=1e-12)
    loss.backward()
    p0 = np.exp([1.0, 2.0, 3.0] - lse0)
    np.testing.assert_allclose(z.grad, np.array([p0 - [0, 0, 1], [1 / 3 - 1, 1 / 3, 1 / 3]]) / 2)


def test_cross_entropy_takes_plain_array_logits():
    # NumPy 2 arrays have a .device attribute too (the string "cpu"); an
    # array must be taken as constant logits, not mistaken for a Tensor
    z = np.array([[1.0, 2.0, 3.0], [1.0, 1.0, 1.0]])
    loss = F.cross_entropy(z, np.array([2, 0]))
    lse0 = np.log(np.exp(1.0) + np.exp(2.0) + np.exp(3.0))
    np.testing.assert_allclose(loss.item(), ((lse0 - 3.0) + np.log(3.0)) / 2, rtol=1e-12)
    with pytest.raises(ValueError, match="label 3 is out of range"):
        F.cross_entropy(z, np.array([3, 0]))


@SETTINGS
@given(st.integers(1, 5), st.integers(1, 5), seeds)
def test_cross_entropy_backward(n, k, seed):
    z = rand((n, k), seed, low=-4.0, high=4.0)
    labels = np.random.default_rng(seed).integers(0, k, n)
    assert gradcheck(lambda z: F.cross_entropy(z, labels), [z])
    # equals -mean(log_softmax picked at the labels)
    ref = -F.log_softmax(z).data[np.arange(n), labels].mean()
    np.testing.assert_allclose(F.cross_entropy(z, Tensor(labels)).item(), ref, rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cross_entropy_huge_logits_finite(dtype):
    z = Tensor(np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 1e4]], dtype=dtype), requires_grad=True)
    loss = F.cross_entropy(z, np.array([1, 0]))
    assert loss.dtype == dtype and z.dtype == dtype
    # row 0: lse = 1e4, loss 2e4; row 1: lse = 1e4 + log 2, loss 2e4 + log 2
    np.testing.assert_allclose(loss.item(), (2e4 + 2e4 + np.log(2)) / 2, rtol=1e-6)
    loss.backward()
    assert np.isfinite(z.grad).all() and z.grad.dtype == dtype
    np.testing.assert_allclose(z.grad, [[0.5, -0.5, 0.0], [-0.5, 0.25, 0.25]], atol=1e-6)
    # correct and confident: loss ~ 0, finite
    ok = F.cross_entropy(Tensor(np.array([[1e4, -1e4]], dtype=dtype)), np.array([0]))
    assert ok.item() == 0.0


def test_cross_entropy_label_errors():
    z = t(np.zeros((2, 3)), requires_grad=True)
    with pytest.raises(TypeError, match="integers"):
        F.cross_entropy(z, np.array([0.0, 1.0]))
    with pytest.raises(TypeError, match="integers"):
        F.cross_entropy(z, Tensor(np.array([0.0, 1.0])))
    with pytest.raises(ValueError, match="label 3 is out of range for 3 classes"):
        F.cross_entropy(z, np.array([0, 3]))
    with pytest.raises(ValueError, match="label -1 is out of range"):
        F.cross_entropy(z, np.array([-1, 2]))
    with pytest.raises(ValueError, match=r"shape \(2,\)"):
        F.cross_entropy(z, np.array([[0, 1]]))
    with pytest.raises(ValueError, match=r"shape \(2,\)"):
        F.cross_entropy(z, np.array([0, 1, 2]))
    with pytest.raises(ValueError, match=r"\(N, num_classes\)"):
        F.cross_entropy(t(np.zeros(3)), np.array([0]))


# ------------------------------------------------------------------ dtypes
FLOAT32_OPS = {
    "add": lambda a, b: a + b * 2.0,
    "sub": lambda a, b: 1.0 - a - b,
    "mul": lambda a, b: a * b * 0.5,
    "div": lambda a, b: a / (b * b + 1.0) / 3,
    "neg": lambda a, b: -a + b,
    "matmul": lambda a, b: a @ b.T,
    "sum_mean": lambda a, b: a.sum(axis=0) + b.mean(axis=0) * 2,
    "shape": lambda a, b: F.concatenate([a.reshape(-1), b.T.reshape(-1)])[1:5],
    "split": lambda a, b: F.split(a, 3, axis=1)[1] * b[:, :1],
    "exp_log": lambda a, b: (a * a + 1.0).log() + (-b * b).exp(),
    "relu": lambda a, b: F.relu(a - b),
    "dropout": lambda a, b: F.dropout(a * b, 0.5, generator=np.random.default_rng(0)),
    "linear": lambda a, b: F.linear(a, b, b[:, 0]),
    "log_softmax": lambda a, b: F.log_softmax(a * b),
    "cross_entropy": lambda a, b: F.cross_entropy(a + b, np.array([0, 2])) * 2.0,
}


@pytest.mark.parametrize("name", sorted(FLOAT32_OPS))
def test_float32_stays_float32(name):
    """float32 in -> float32 out and float32 gradients; Python numbers never
    upcast to float64."""
    rng = np.random.default_rng(0)
    a = Tensor(rng.standard_normal((2, 3)).astype(np.float32), requires_grad=True)
    b = Tensor(rng.standard_normal((2, 3)).astype(np.float32), requires_grad=True)
    y = FLOAT32_OPS[name](a, b)
    assert y.dtype == np.float32
    y.backward(np.ones(y.shape))        # a float64 grad= is cast to y's dtype
    assert a.grad.dtype == np.float32 and b.grad.dtype == np.float32


@pytest.mark.parametrize("scalar", [2, 2.0, np.int64(2), np.float64(2.0), np.float32(2.0), True])
def test_scalars_do_not_upcast_float32(scalar):
    x = Tensor(np.ones(2, dtype=np.float32), requires_grad=True)
    for y in (x * scalar, scalar * x, x + scalar, scalar - x, x / scalar, scalar / x):
        assert y.dtype == np.float32


def test_float64_constant_does_not_upcast_float32_grad():
    x = Tensor(np.ones(3, dtype=np.float32), requires_grad=True)
    y = x * np.arange(3.0)       # an explicit float64 array does promote the value...
    assert y.dtype == np.float64
    y.sum().backward()
    assert x.grad.dtype == np.float32   # ...but x's gradient keeps x's dtype
    np.testing.assert_array_equal(x.grad, [0, 1, 2])


def test_astype_is_differentiable():
    x = Tensor(np.array([1.5, 2.5], dtype=np.float32), requires_grad=True)
    y = x.astype(np.float64)
    assert y.dtype == np.float64
    (y * y).sum().backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_array_equal(x.grad, [3.0, 5.0])
    assert gradcheck(lambda x: x.astype(np.float32).astype(np.float64) * 2.0,
                     [rand((3,), 0)], eps=1e-3, atol=1e-3)  # float32 rounding: a coarse step


# ------------------------------------------------------------------ torch parity
def test_parity_with_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    z = rng.standard_normal((5, 7)) * 3
    W, b = rng.standard_normal((4, 7)), rng.standard_normal(4)
    labels = rng.integers(0, 4, 5)
    # ours
    zt, Wt, bt = (Tensor(a.copy(), requires_grad=True) for a in (z, W, b))
    h = F.relu(F.linear(zt, Wt, bt))
    loss = F.cross_entropy(F.dropout(h, 0.0), labels) + F.log_softmax(zt).mean()
    loss.backward()
    # torch
    tz, tW, tb = (torch.tensor(a, requires_grad=True) for a in (z, W, b))
    th = torch.relu(torch.nn.functional.linear(tz, tW, tb))
    tloss = (torch.nn.functional.cross_entropy(th, torch.tensor(labels))
             + torch.log_softmax(tz, -1).mean())
    tloss.backward()
    np.testing.assert_allclose(loss.item(), tloss.item(), rtol=1e-12)
    for ours, theirs in ((zt, tz), (Wt, tW), (bt, tb)):
        np.testing.assert_allclose(ours.grad, theirs.grad.numpy(), rtol=1e-10, atol=1e-12)
