"""F.batch_norm (minialex/functions/batch_norm.py): PyTorch parity of the
output, of all three gradients and of the running statistics, in training and
eval mode, for (N, C), (N, C, L) and (N, C, H, W); hand-computed values; each
gradient asked for alone; and the argument errors."""

import numpy as np
import pytest

from minialex import Tensor
from minialex import functional as F

SHAPES = [(5, 3), (4, 2, 3), (2, 3, 2, 3)]


def _inputs(shape, seed=0):
    rng = np.random.default_rng(seed)
    c = shape[1]
    return (rng.standard_normal(shape) * 2 + 1, rng.uniform(0.5, 1.5, c), rng.standard_normal(c),
            rng.standard_normal(c), rng.uniform(0.5, 2.0, c))


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("momentum,eps", [(0.1, 1e-5), (0.3, 0.5)])
def test_parity_with_torch(shape, training, momentum, eps):
    """y, dL/dx, dL/dgamma, dL/dbeta and the updated running mean and
    (unbiased) variance equal torch.nn.functional.batch_norm's (float64)."""
    torch = pytest.importorskip("torch")
    xs, gs, bs, rms, rvs = _inputs(shape)
    x, g, b = (Tensor(a.copy(), requires_grad=True) for a in (xs, gs, bs))
    rm, rv = Tensor(rms.copy()), Tensor(rvs.copy())
    tx, tg, tb = (torch.tensor(a, requires_grad=True) for a in (xs, gs, bs))
    trm, trv = torch.tensor(rms), torch.tensor(rvs)
    y = F.batch_norm(x, rm, rv, g, b, training, momentum, eps)
    ty = torch.nn.functional.batch_norm(tx, trm, trv, tg, tb, training, momentum, eps)
    gy = np.random.default_rng(9).standard_normal(shape)
    y.backward(gy)
    ty.backward(torch.tensor(gy))
    np.testing.assert_allclose(y.data, ty.detach().numpy(), rtol=1e-10, atol=1e-12)
    for mine, theirs in ((x, tx), (g, tg), (b, tb)):
        np.testing.assert_allclose(mine.grad, theirs.grad.numpy(), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(rm.data, trm.numpy(), rtol=1e-12)
    np.testing.assert_allclose(rv.data, trv.numpy(), rtol=1e-12)


def test_by_hand_training_and_running_statistics():
    """One channel, values 1, 3 (mean 2, biased variance 1, unbiased 2),
    eps 0: xhat = -1, 1; y = 3 * xhat + 1; running stats moved by 0.25."""
    x = Tensor(np.array([[1.0], [3.0]]), requires_grad=True)
    g, b = Tensor(np.array([3.0]), requires_grad=True), Tensor(np.array([1.0]), requires_grad=True)
    rm, rv = Tensor(np.array([0.0])), Tensor(np.array([4.0]))
    y = F.batch_norm(x, rm, rv, g, b, training=True, momentum=0.25, eps=0.0)
    np.testing.assert_allclose(y.data, [[-2.0], [4.0]])
    np.testing.assert_allclose(rm.data, [0.75 * 0 + 0.25 * 2])
    np.testing.assert_allclose(rv.data, [0.75 * 4 + 0.25 * 2])
    y.backward(np.array([[1.0], [0.0]]))
    np.testing.assert_allclose(b.grad, [1.0])
    np.testing.assert_allclose(g.grad, [-1.0])
    # dx = (r/M) (M g_i - sum g - xhat_i sum g xhat), r = 1, M = 2, g = gy * 3 = (3, 0)
    np.testing.assert_allclose(x.grad, [[0.5 * (6 - 3 - (-1) * (-3))], [0.5 * (0 - 3 - 1 * (-3))]])


def test_the_default_momentum_is_one_tenth():
    """Without momentum the running statistics move by 0.1 (PyTorch's default):
    values 1, 3 (mean 2, unbiased variance 2) from running 0 and 4 give
    0.9 * 0 + 0.1 * 2 and 0.9 * 4 + 0.1 * 2."""
    x = Tensor(np.array([[1.0], [3.0]]))
    rm, rv = Tensor(np.array([0.0])), Tensor(np.array([4.0]))
    F.batch_norm(x, rm, rv, training=True)
    np.testing.assert_allclose(rm.data, [0.2], rtol=1e-15)
    np.testing.assert_allclose(rv.data, [3.8], rtol=1e-15)


def test_by_hand_eval_mode_and_the_default_eps():
    """Eval: (x - running_mean) / sqrt(running_var + 1e-5) * gamma + beta,
    and dL/dx = gy * gamma / sqrt(running_var + eps)."""
    x = Tensor(np.array([[2.0, 5.0]]), requires_grad=True)
    rm, rv = Tensor(np.array([1.0, 1.0])), Tensor(np.array([3.0, 15.0]))
    y = F.batch_norm(x, rm, rv)
    want = (np.array([2.0, 5.0]) - 1.0) / np.sqrt(np.array([3.0, 15.0]) + 1e-5)
    np.testing.assert_allclose(y.data, [want], rtol=1e-14)
    y.backward(np.ones((1, 2)))
    np.testing.assert_allclose(x.grad, [1 / np.sqrt(np.array([3.0, 15.0]) + 1e-5)], rtol=1e-14)
    np.testing.assert_array_equal(rm.data, [1.0, 1.0])        # eval never moves them
    np.testing.assert_array_equal(rv.data, [3.0, 15.0])


@pytest.mark.parametrize("which", [0, 1, 2])
@pytest.mark.parametrize("training", [True, False])
def test_each_gradient_alone(which, training):
    """Only one of x, gamma, beta requires a gradient: it is still right
    (equal to the one computed with all three), the others get none."""
    xs, gs, bs, rms, rvs = _inputs((4, 2, 3), 1)
    full = [Tensor(a.copy(), requires_grad=True) for a in (xs, gs, bs)]
    gy = np.random.default_rng(2).standard_normal(xs.shape)
    F.batch_norm(full[0], Tensor(rms.copy()), Tensor(rvs.copy()), full[1], full[2],
                 training).backward(gy)
    one = [Tensor(a.copy(), requires_grad=(i == which)) for i, a in enumerate((xs, gs, bs))]
    F.batch_norm(one[0], Tensor(rms.copy()), Tensor(rvs.copy()), one[1], one[2],
                 training).backward(gy)
    for i, t in enumerate(one):
        if i == which:
            np.testing.assert_allclose(t.grad, full[i].grad, rtol=1e-12, atol=1e-14)
        else:
            assert t.grad is None


def test_no_weight_or_bias_means_gamma_one_beta_zero():
    xs, gs, bs, rms, rvs = _inputs((5, 3), 3)
    ones, zeros = Tensor(np.ones(3)), Tensor(np.zeros(3))
    for training in (True, False):
        y0 = F.batch_norm(Tensor(xs), Tensor(rms.copy()), Tensor(rvs.copy()), training=training)
        y1 = F.batch_norm(Tensor(xs), Tensor(rms.copy()), Tensor(rvs.copy()), ones, zeros,
                          training)
        np.testing.assert_array_equal(y0.data, y1.data)
        assert y0.dtype == np.float64
    x32 = Tensor(xs.astype(np.float32))
    assert F.batch_norm(x32, None, None, training=True).dtype == np.float32


def test_training_without_running_statistics_or_with_momentum_none():
    """running_mean None: batch statistics only; momentum None leaves the
    running statistics to the caller (nn.BatchNorm2d's cumulative average)."""
    xs = np.array([[1.0], [3.0]])
    y = F.batch_norm(Tensor(xs), None, None, training=True, eps=0.0)
    np.testing.assert_allclose(y.data, [[-1.0], [1.0]])
    rm, rv = Tensor(np.array([5.0])), Tensor(np.array([7.0]))
    F.batch_norm(Tensor(xs), rm, rv, training=True, momentum=None)
    np.testing.assert_array_equal(rm.data, [5.0])
    np.testing.assert_array_equal(rv.data, [7.0])


def test_errors():
    with pytest.raises(ValueError, match=r"batch_norm expects \(N, C, \.\.\.\) input, got "
                                         r"shape \(3,\)"):
        F.batch_norm(Tensor(np.zeros(3)), None, None, training=True)
    with pytest.raises(ValueError, match=r"batch_norm needs more than 1 value per channel when "
                                         r"training, got input of shape \(1, 2\)"):
        F.batch_norm(Tensor(np.zeros((1, 2))), None, None, training=True)
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        F.batch_norm(Tensor(np.zeros((1, 2, 1, 1))), None, None, training=True)
    # two values per channel are enough; one is fine in eval mode
    assert F.batch_norm(Tensor(np.array([[0.0], [2.0]])), None, None, training=True).shape == (2, 1)
    y = F.batch_norm(Tensor(np.ones((1, 2))), Tensor(np.zeros(2)), Tensor(np.ones(2)))
    assert y.shape == (1, 2)
    with pytest.raises(TypeError, match="batch_norm needs floating-point input, got x"):
        F.batch_norm(Tensor(np.zeros((2, 2), dtype=np.int64)), None, None, training=True)
    with pytest.raises(TypeError, match="got weight of dtype int64"):
        F.batch_norm(Tensor(np.zeros((2, 2))), None, None, Tensor(np.ones(2, dtype=np.int64)),
                     training=True)
    with pytest.raises(TypeError, match="got bias of dtype int64"):
        F.batch_norm(Tensor(np.zeros((2, 2))), None, None, None, Tensor(np.ones(2, dtype=np.int64)),
                     training=True)
