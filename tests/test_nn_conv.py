"""nn.Conv2d, the layer (minialex/nn/conv.py): PyTorch's default
initialisation U(-1/sqrt(fan_in), 1/sqrt(fan_in)), the weight shape of a
grouped layer, the argument checks at construction (and their boundaries),
the defaults, and repr. The convolution itself is tested in test_conv2d.py."""

import math

import numpy as np
import pytest

import minialex
from minialex import Tensor
from minialex.functions.conv2d import conv2d
from minialex.nn.conv import Conv2d


# ---------------------------------------------------------------- initialisation
# (in_channels, out_channels, kernel_size, groups) -> fan_in = in/groups * kh * kw.
# (6, 400, (2, 5), 2): 3 * 2 * 5 = 30, with in/groups, kh and kw all > 1 and
# unequal, so a wrong operator anywhere in the product changes the bound;
# (3, 300, 11, 1): AlexNet's conv1, 3 * 121 = 363;
# (4, 300, (3, 1), 4): depthwise, 1 * 3 * 1 = 3.
INIT_CASES = [((6, 400, (2, 5), 2), (400, 3, 2, 5), 30),
              ((3, 300, 11, 1), (300, 3, 11, 11), 363),
              ((4, 300, (3, 1), 4), (300, 1, 3, 1), 3)]


@pytest.mark.parametrize("args, shape, fan_in", INIT_CASES)
def test_init_is_uniform_within_one_over_sqrt_fan_in(args, shape, fan_in):
    # PyTorch's Conv2d.reset_parameters: kaiming_uniform_(a=sqrt(5)) gives
    # bound = sqrt(6 / ((1 + 5) * fan_in)) = 1/sqrt(fan_in), and the bias
    # draws from U(-1/sqrt(fan_in), 1/sqrt(fan_in)) too.
    in_channels, out_channels, kernel_size, groups = args
    minialex.manual_seed(0)
    m = Conv2d(in_channels, out_channels, kernel_size, groups=groups)
    bound = 1 / math.sqrt(fan_in)
    assert m.weight.shape == shape and m.bias.shape == (out_channels,)
    assert m.weight.dtype == np.float32 and m.bias.dtype == np.float32
    for p in (m.weight, m.bias):
        # both ends of [-bound, bound] are reached (>= 300 draws), none beyond
        w = p.data.astype(np.float64)
        assert -bound * (1 + 1e-6) <= w.min() < -0.97 * bound
        assert 0.97 * bound < w.max() <= bound * (1 + 1e-6)
        # a uniform's mean is 0 and its standard deviation bound/sqrt(3)
        assert abs(w.mean()) < 0.1 * bound
        assert w.std() == pytest.approx(bound / math.sqrt(3), rel=0.1)


@pytest.mark.parametrize("args, shape, fan_in", INIT_CASES)
def test_init_bound_and_shape_match_torch(args, shape, fan_in):
    torch = pytest.importorskip("torch")
    in_channels, out_channels, kernel_size, groups = args
    torch.manual_seed(0)
    theirs = torch.nn.Conv2d(in_channels, out_channels, kernel_size, groups=groups)
    minialex.manual_seed(0)
    ours = Conv2d(in_channels, out_channels, kernel_size, groups=groups)
    assert tuple(theirs.weight.shape) == ours.weight.shape == shape
    for t, o in ((theirs.weight, ours.weight), (theirs.bias, ours.bias)):
        tmax, omax = t.detach().abs().max().item(), float(np.abs(o.data).max())
        # both fill the same interval [-b, b]: their largest |w| agree within 3%
        assert omax == pytest.approx(tmax, rel=0.03)
        assert tmax <= 1 / math.sqrt(fan_in) * (1 + 1e-6)


def test_bias_is_on_by_default_and_off_with_bias_false():
    m = Conv2d(2, 3, 3)
    assert m.bias is not None and m.bias.shape == (3,) and m.bias.requires_grad
    assert [n for n, _ in m.named_parameters()] == ["weight", "bias"]
    assert Conv2d(2, 3, 3, bias=True).bias.shape == (3,)
    off = Conv2d(2, 3, 3, bias=False)
    assert off.bias is None and [n for n, _ in off.named_parameters()] == ["weight"]
    # the forward pass adds the bias, per output channel
    x = Tensor(np.ones((1, 2, 3, 3), np.float32))
    np.testing.assert_allclose(
        m(x).data.ravel(), m.weight.data.sum(axis=(1, 2, 3)) + m.bias.data, rtol=1e-5)
    np.testing.assert_allclose(off(x).data.ravel(), off.weight.data.sum(axis=(1, 2, 3)),
                               rtol=1e-5)


# ---------------------------------------------------------------- argument checks
@pytest.mark.parametrize("kwargs, words", [
    ({"in_channels": 0}, ["in_channels must be a positive int", "0"]),
    ({"out_channels": 0}, ["out_channels must be a positive int", "0"]),
    ({"groups": 0}, ["groups must be a positive int", "0"]),
    ({"in_channels": -2}, ["in_channels must be a positive int", "-2"]),
    ({"in_channels": True}, ["in_channels must be a positive int", "True"]),
    ({"out_channels": True}, ["out_channels must be a positive int", "True"]),
    ({"groups": True}, ["groups must be a positive int", "True"]),
    ({"in_channels": 4.0}, ["in_channels must be a positive int", "4.0"]),
    ({"groups": 2.0}, ["groups must be a positive int", "2.0"]),
    ({"in_channels": 5, "groups": 2}, ["in_channels=5 is not divisible by groups=2"]),
    ({"out_channels": 5, "groups": 2}, ["out_channels=5 is not divisible by groups=2"]),
    ({"kernel_size": 0}, ["kernel_size=(0, 0)"]),
    ({"kernel_size": (1, 0)}, ["kernel_size=(1, 0)"]),
    ({"stride": 0}, ["stride=(0, 0)"]),
    ({"stride": (2, 0)}, ["stride=(2, 0)"]),
    ({"padding": -1}, ["padding=(-1, -1)"]),
    ({"padding": (1, -1)}, ["padding=(1, -1)"]),
])
def test_bad_arguments_raise_value_error_naming_them(kwargs, words):
    args = {"in_channels": 4, "out_channels": 6, "kernel_size": 3, **kwargs}
    with pytest.raises(ValueError) as info:
        Conv2d(**args)
    for word in words:
        assert word in str(info.value)


@pytest.mark.parametrize("kwargs, out_hw", [
    # the smallest legal values of each check: kernel 1, stride 1, padding 0
    ({"kernel_size": 1}, (5, 6)),
    ({"kernel_size": (1, 2), "stride": 1, "padding": 0}, (5, 5)),
    # and values above them: OH = (H + 2*ph - kh) // sh + 1
    ({"kernel_size": 3, "stride": 2, "padding": 1}, (3, 3)),
    ({"kernel_size": (2, 3), "stride": (1, 3), "padding": (0, 2)}, (4, 3)),
    ({"kernel_size": 1, "in_channels": 1, "out_channels": 1}, (5, 6)),
    ({"kernel_size": 3, "groups": 2, "padding": (2, 0)}, (7, 4)),
])
def test_good_arguments_at_the_boundaries_build_a_working_layer(kwargs, out_hw):
    args = {"in_channels": 2, "out_channels": 4, **kwargs}
    m = Conv2d(**args)
    x = Tensor(np.random.default_rng(0).standard_normal((2, args["in_channels"], 5, 6))
               .astype(np.float32))
    y = m(x)
    assert y.shape == (2, args["out_channels"]) + out_hw
    np.testing.assert_allclose(
        y.data, conv2d(x, m.weight, m.bias, m.stride, m.padding, m.groups).data)


# ---------------------------------------------------------------- repr
@pytest.mark.parametrize("args, kwargs, text", [
    ((3, 8, 5), {}, "Conv2d(3, 8, kernel_size=(5, 5), stride=(1, 1))"),
    ((3, 8, 5), {"bias": False}, "Conv2d(3, 8, kernel_size=(5, 5), stride=(1, 1), bias=False)"),
    ((2, 4, 3), {"padding": (0, 1)}, "Conv2d(2, 4, kernel_size=(3, 3), stride=(1, 1), "
                                     "padding=(0, 1))"),
    ((2, 4, 3), {"padding": (1, 0)}, "Conv2d(2, 4, kernel_size=(3, 3), stride=(1, 1), "
                                     "padding=(1, 0))"),
    ((2, 4, 3), {"groups": 2}, "Conv2d(2, 4, kernel_size=(3, 3), stride=(1, 1), groups=2)"),
    ((4, 6, (3, 5)), {"stride": 2, "padding": (1, 2), "groups": 2, "bias": False},
     "Conv2d(4, 6, kernel_size=(3, 5), stride=(2, 2), padding=(1, 2), groups=2, bias=False)"),
])
def test_repr_shows_only_what_differs_from_the_defaults(args, kwargs, text):
    assert repr(Conv2d(*args, **kwargs)) == text


@pytest.mark.parametrize("args, kwargs", [((3, 8, 5), {}), ((2, 4, 3), {"padding": (1, 0)}),
                                          ((4, 6, (3, 5)), {"stride": 2, "groups": 2,
                                                            "bias": False})])
def test_repr_matches_torch(args, kwargs):
    torch = pytest.importorskip("torch")
    assert repr(Conv2d(*args, **kwargs)) == repr(torch.nn.Conv2d(*args, **kwargs))


def test_numpy_integer_channels_and_groups_are_accepted_as_ints():
    # torch.nn.Conv2d accepts NumPy ints (e.g. a channel count read from an
    # array's shape); they are stored as Python ints, as kernel_size is
    layer = Conv2d(np.int64(4), np.int32(6), 3, groups=np.int64(2))
    assert (layer.in_channels, layer.out_channels, layer.groups) == (4, 6, 2)
    assert all(type(v) is int for v in (layer.in_channels, layer.out_channels, layer.groups))
    assert layer.weight.shape == (6, 2, 3, 3)
    with pytest.raises(ValueError, match="in_channels must be a positive int"):
        Conv2d(np.bool_(True), 6, 3)
