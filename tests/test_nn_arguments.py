"""The layers' defaults and argument checks, at their edges: BatchNorm,
CrossEntropyLoss, Linear's initialisation, Dropout, LocalResponseNorm,
the pooling layers and LeakyReLU (issue 20: each test kills surviving
mutants of minialex/nn/batchnorm.py, loss.py, layers.py, normalization.py,
pooling.py or activation.py)."""

import numpy as np
import pytest

import minialex
from minialex import Tensor, nn
from minialex.reference.normalization import local_response_norm as reference_lrn


# ------------------------------------------------------------ BatchNorm
@pytest.mark.parametrize("momentum,mean,var", [
    (0.0, [0.0, 0.0], [1.0, 1.0]),          # the running estimates do not move
    (1.0, [2.0, 15.0], [2.0, 50.0]),        # they become the batch's (unbiased variance)
    (0.25, [0.5, 3.75], [1.25, 13.25]),
])
def test_batchnorm_accepts_momentum_0_and_1_and_uses_them(momentum, mean, var):
    bn = nn.BatchNorm1d(2, momentum=momentum).double()
    bn(Tensor(np.array([[1.0, 10.0], [3.0, 20.0]])))   # batch mean (2, 15), unbiased var (2, 50)
    np.testing.assert_allclose(bn.running_mean.data, mean)
    np.testing.assert_allclose(bn.running_var.data, var)
    assert int(bn.num_batches_tracked.data) == 1


@pytest.mark.parametrize("momentum", [-0.5, -1.0, -1e-9, 1.5, 2.0, 1.0 + 1e-9])
def test_batchnorm_refuses_momentum_outside_0_1(momentum):
    with pytest.raises(ValueError, match=r"momentum must be in \[0, 1\] or None"):
        nn.BatchNorm2d(3, momentum=momentum)


@pytest.mark.parametrize("num_features", [0, -1])
def test_batchnorm_refuses_no_features(num_features):
    with pytest.raises(ValueError, match="num_features must be >= 1"):
        nn.BatchNorm1d(num_features)
    assert nn.BatchNorm1d(1).running_mean.shape == (1,)


@pytest.mark.parametrize("channels", [2, 4])
def test_batchnorm_refuses_fewer_or_more_channels(channels):
    with pytest.raises(ValueError, match=r"BatchNorm2d\(3\) expects input of 4-D with 3 channels"):
        nn.BatchNorm2d(3)(Tensor(np.ones((2, channels, 3, 3), np.float32)))
    with pytest.raises(ValueError, match=r"BatchNorm1d\(3\) expects input of 2-D or 3-D"):
        nn.BatchNorm1d(3)(Tensor(np.ones((2, channels), np.float32)))


def test_batchnorm_with_many_features():
    # 300 > 256: the shape's int and num_features are equal but not the same object
    bn = nn.BatchNorm1d(300).double()
    x = np.arange(2 * 300, dtype=np.float64).reshape(2, 300)
    y = bn(Tensor(x)).data
    # feature j sees j and 300 + j: mean 150 + j, biased variance 150^2
    r = 1 / np.sqrt(1 + 1e-5 / 150.0 ** 2)
    np.testing.assert_allclose(y, [[-r] * 300, [r] * 300], rtol=1e-12)


# ------------------------------------------------------------ CrossEntropyLoss
def test_cross_entropy_loss_default_is_plain_cross_entropy():
    z = np.array([[2.0, 0.0, -1.0], [0.5, 1.5, 0.0]])
    t = np.array([0, 2])
    loss = nn.CrossEntropyLoss()
    assert loss.label_smoothing == 0.0 and loss.reduction == "mean"
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    np.testing.assert_allclose(loss(Tensor(z), t).item(), -(logp[0, 0] + logp[1, 2]) / 2)
    assert repr(loss) == "CrossEntropyLoss()"
    assert repr(nn.CrossEntropyLoss(label_smoothing=0.1)) == "CrossEntropyLoss(label_smoothing=0.1)"


@pytest.mark.parametrize("eps", [0.0, 1.0, 0.5])
def test_cross_entropy_loss_label_smoothing_edges(eps):
    z = np.array([[2.0, 0.0, -1.0]])
    logp = z[0] - np.log(np.exp(z[0]).sum())
    q = (1 - eps) * np.array([1.0, 0.0, 0.0]) + eps / 3      # 1.0: the uniform distribution
    loss = nn.CrossEntropyLoss(label_smoothing=eps)
    np.testing.assert_allclose(loss(Tensor(z), np.array([0])).item(), -(q * logp).sum())


@pytest.mark.parametrize("eps", [-0.5, -1.0, -1e-9, 1.5, 2.0])
def test_cross_entropy_loss_refuses_label_smoothing_outside_0_1(eps):
    with pytest.raises(ValueError, match=r"must be in \[0, 1\]"):
        nn.CrossEntropyLoss(label_smoothing=eps)


@pytest.mark.parametrize("reduction", ["sum", "none", "batchmean", "Mean", "mea"])
def test_cross_entropy_loss_refuses_other_reductions(reduction):
    with pytest.raises(ValueError, match="supports reduction='mean' only"):
        nn.CrossEntropyLoss(reduction=reduction)


def test_cross_entropy_loss_takes_mean_built_at_run_time():
    mean = "".join(["me", "an"])            # equal to "mean", not the interned literal
    assert nn.CrossEntropyLoss(reduction=mean).reduction == "mean"


# ------------------------------------------------------------ Linear, Dropout
def test_linear_initialisation_covers_minus_bound_to_bound():
    minialex.manual_seed(0)
    lin = nn.Linear(16, 200)
    bound = 1 / 4.0
    for p in (lin.weight.data, lin.bias.data):          # U(-1/sqrt(16), 1/sqrt(16))
        assert np.abs(p).max() <= bound
        assert p.min() < -0.8 * bound and p.max() > 0.8 * bound
        assert abs(p.mean()) < 0.1 * bound
    assert len(np.unique(lin.bias.data)) == 200


@pytest.mark.parametrize("p", [0.0, 0.999])
def test_dropout_accepts_p_in_0_1(p):
    x = Tensor(np.ones((4, 5), np.float32))
    minialex.manual_seed(0)
    y = nn.Dropout(p)(x).data
    assert set(np.unique(y)) <= {0.0, np.float32(1 / (1 - p))}
    if p == 0.0:
        np.testing.assert_array_equal(y, 1.0)              # nothing dropped, scale 1


@pytest.mark.parametrize("p", [-0.5, -1.0, -1e-9, 1.0, 1.5])
def test_dropout_refuses_p_outside_0_1(p):
    with pytest.raises(ValueError, match=r"dropout probability must be in \[0, 1\)"):
        nn.Dropout(p)


# ------------------------------------------------------------ LocalResponseNorm
def test_local_response_norm_defaults_are_the_papers():
    lrn = nn.LocalResponseNorm()
    assert (lrn.size, lrn.alpha, lrn.beta, lrn.k) == (5, 1e-4, 0.75, 2.0)   # section 3.3
    x = np.random.default_rng(0).standard_normal((2, 7, 3, 3)) * 20
    np.testing.assert_allclose(lrn(Tensor(x)).data,
                               reference_lrn(x, size=5, alpha=1e-4, beta=0.75, k=2.0), rtol=1e-12)
    assert repr(lrn) == "LocalResponseNorm(size=5, alpha=0.0001, beta=0.75, k=2.0)"


# ------------------------------------------------------------ pooling
def test_pooling_defaults_no_padding_floor_and_pad_counted():
    x = Tensor(np.arange(25.0).reshape(1, 1, 5, 5))
    np.testing.assert_array_equal(nn.MaxPool2d(2)(x).data, [[[[6.0, 8.0], [16.0, 18.0]]]])
    np.testing.assert_array_equal(nn.AvgPool2d(2)(x).data, [[[[3.0, 5.0], [13.0, 15.0]]]])
    assert nn.MaxPool2d(3, 2)(x).shape == (1, 1, 2, 2)
    assert nn.AvgPool2d(3, 2)(x).shape == (1, 1, 2, 2)
    # padding=1 with count_include_pad (the default): a corner averages 4 ones over 9 cells
    y = nn.AvgPool2d(3, 1, 1)(Tensor(np.ones((1, 1, 3, 3)))).data
    np.testing.assert_allclose(y[0, 0], np.array([[4, 6, 4], [6, 9, 6], [4, 6, 4]]) / 9)
    m = nn.MaxPool2d(3)
    assert (m.kernel_size, m.stride, m.padding, m.ceil_mode) == ((3, 3), (3, 3), (0, 0), False)
    a = nn.AvgPool2d(3)
    assert (a.stride, a.padding, a.ceil_mode, a.count_include_pad) == (None, 0, False, True)


# ------------------------------------------------------------ LeakyReLU
def test_leaky_relu_default_slope_is_pytorchs():
    act = nn.LeakyReLU()
    assert act.negative_slope == 0.01 and repr(act) == "LeakyReLU(negative_slope=0.01)"
    np.testing.assert_allclose(act(Tensor(np.array([-2.0, 0.0, 3.0]))).data, [-0.02, 0.0, 3.0])
