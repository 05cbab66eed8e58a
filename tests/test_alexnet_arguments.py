"""AlexNet's arguments at their edges: defaults, the one-GPU comparison net's
layer shapes, He init with fan-in, device lists, the ablation switches and
the fc6 input size they imply, each with exact shapes, values and messages."""

import numpy as np
import pytest

import minialex
from minialex.backend import Device
from minialex.models import AlexNet, alexnet_cifar, CIFAR_PRESETS

CIFAR_SMALL = {"conv1": (5, 1, 2), "fc_spatial": 2, "widths": CIFAR_PRESETS["small"],
               "input_size": 28}


def _shapes(model):
    return {k: v.shape for k, v in model.state_dict().items() if k.endswith("weight")}


def _forward_shape(model, n=2):
    x = np.random.default_rng(0).standard_normal((n, 3, 28, 28)).astype(np.float32)
    return model.eval()(minialex.Tensor(x)).shape


def test_defaults_are_two_towers_and_overlapping_pooling():
    """AlexNet and alexnet_cifar build the paper's two towers by default, and
    AlexNet pools with the overlapping (3, 2) window (on the CIFAR geometry a
    (2, 2) pool would give fc6 64 * 3 * 3 inputs instead of 64 * 2 * 2)."""
    net = AlexNet(10, _config=dict(CIFAR_SMALL))
    assert net.towers == 2 and net.config["towers"] == 2 and hasattr(net, "tower0")
    assert net.config["pool"] == (3, 2) and net.config["fc_spatial"] == 2
    assert net.tower0.fc6.weight.shape == (256, 64 * 2 * 2)    # fc6 reads both towers
    cifar = alexnet_cifar("small")
    assert cifar.towers == 2 and cifar.config["towers"] == 2 and hasattr(cifar, "tower1")


def test_one_gpu_net_halves_conv1_to_conv4_only():
    """one_gpu=True on the small preset (32, 64, 96, 64, 512): conv1-conv4
    get half the kernels (16, 32, 48, 48), conv5 (64) and the fc layers
    (512) keep their size, and no convolution is grouped (conv2 reads all
    16 channels of conv1). The net runs."""
    net = alexnet_cifar("small", towers=1, one_gpu=True)
    assert _shapes(net) == {
        "trunk.conv1.weight": (16, 3, 5, 5), "trunk.conv2.weight": (32, 16, 5, 5),
        "trunk.conv3.weight": (48, 32, 3, 3), "trunk.conv4.weight": (48, 48, 3, 3),
        "trunk.conv5.weight": (64, 48, 3, 3), "trunk.fc6.weight": (512, 64 * 4),
        "trunk.fc7.weight": (512, 512), "fc8.weight": (10, 512)}
    assert all(type(getattr(net.trunk, f"conv{i}").weight.shape[0]) is int for i in range(1, 6))
    assert _forward_shape(net) == (2, 10)
    with pytest.raises(ValueError) as info:
        alexnet_cifar("small", towers=2, one_gpu=True)
    assert str(info.value) == "one_gpu=True is a one-tower net: use towers=1"


def test_kaiming_in_uses_fan_in_for_convolutions():
    """init="kaiming_in": std sqrt(2 / fan-in) for every conv (C_in/groups *
    k * k: conv1 3 * 25, conv3 64 * 9, conv4 96 / 2 * 9) and fc layer
    (in_features), not the fan-out of "kaiming" (conv1 32 * 25)."""
    minialex.manual_seed(0)
    p = dict(alexnet_cifar("small", towers=1, init="kaiming_in").named_parameters())
    for name, fan, tol in [("trunk.conv1.weight", 3 * 25, 0.05), ("trunk.conv3.weight", 64 * 9, 0.02),
                           ("trunk.conv4.weight", 48 * 9, 0.02), ("trunk.fc7.weight", 512, 0.02)]:
        want = np.sqrt(2.0 / fan)
        assert abs(p[name].data.std() / want - 1) < tol, name


def test_paper_init_compares_the_init_name_by_value():
    """init="paper" given as a string built at run time (not the interned
    literal) still sets the biases of conv2, conv4, conv5, fc6, fc7 to 1."""
    init = "".join(["pa", "per"])
    p = dict(alexnet_cifar("small", towers=1, init=init).named_parameters())
    for layer in ("conv2", "conv4", "conv5", "fc6", "fc7"):
        assert np.all(p[f"trunk.{layer}.bias"].data == 1.0), layer
    assert np.all(p["trunk.conv1.bias"].data == 0.0)


def test_devices_one_pair_or_a_clear_error():
    """A one-element sequence means that device for both towers; a pair is
    kept; none or three devices are refused with the exact message."""
    net = alexnet_cifar("small", devices=("cpu:1",))
    assert net.devices == (Device("cpu:1"), Device("cpu:1"))
    assert all(p.device == Device("cpu:1") for p in net.parameters())
    one = alexnet_cifar("small", towers=1, devices=["cpu:1"])
    assert all(p.device == Device("cpu:1") for p in one.parameters())
    assert alexnet_cifar("small", devices=("cpu:0", "cpu:1")).devices == (Device("cpu:0"),
                                                                          Device("cpu:1"))
    for bad in [(), ("cpu:0", "cpu:1", "cpu:2")]:
        for towers in (1, 2):
            with pytest.raises(ValueError) as info:
                alexnet_cifar("small", towers=towers, devices=bad)
            assert str(info.value) == f"devices must be one device or a pair, got {len(bad)}"


def test_dropout_one_is_refused():
    """dropout must be below 1 (1 would drop everything); 0 is allowed."""
    assert alexnet_cifar("small", dropout=0.0).p == 0.0
    with pytest.raises(ValueError) as info:
        alexnet_cifar("small", dropout=1.0)
    assert str(info.value) == "dropout must be in [0, 1) (0 turns it off), got 1.0"


def test_pool_must_be_two_positive_ints():
    """pool (1, 2) is valid (1 is positive); one value, three values, a zero
    kernel or stride, a string of non-digits, a bare int and a None kernel
    are refused with the exact message."""
    assert alexnet_cifar("small", pool=(1, 2)).config["pool"] == (1, 2)
    for bad in [(3,), (3, 2, 1), (0, 2), (2, 0), "ab", 3, (None, 2)]:
        with pytest.raises(ValueError) as info:       # "ab": int's ValueError; 3, None: TypeError
            alexnet_cifar("small", pool=bad)
        got = () if bad in ("ab", 3, (None, 2)) else tuple(bad)     # what could not be read shows as ()
        assert str(info.value) == ("pool must be (kernel, stride), two positive ints, e.g. (3, 2) "
                                   f"overlapping or (2, 2) not; got {got!r}")


@pytest.mark.parametrize("pool, side", [((1, 2), 4), ((9, 1), 4), ((10, 1), 1)])
def test_fc6_input_follows_the_pools(pool, side):
    """fc6 reads C5 * side * side inputs, by hand: conv1 keeps 28 (5x5,
    padding 2); (1, 2) pools 28 -> 14 -> 7 -> 4; (9, 1) 28 -> 20 -> 12 -> 4
    (stride 1 makes the side depend on conv1's exactly); (10, 1) 28 -> 19 ->
    10 -> 1 (a window equal to the side is fine). The net runs."""
    net = alexnet_cifar("small", towers=1, pool=pool)
    assert net.config["fc_spatial"] == side
    assert net.trunk.fc6.weight.shape == (512, 64 * side * side)
    assert _forward_shape(net) == (2, 10)


def test_a_pool_that_leaves_no_pixel_says_so():
    """(12, 1): 28 -> 17 -> 6, and 6 < 12: refused with the exact message
    (not a negative size further on)."""
    with pytest.raises(ValueError) as info:
        alexnet_cifar("small", pool=(12, 1))
    assert str(info.value) == ("pool (12, 1) leaves no pixel for fc6 at input size 28; "
                               "use a smaller window")


def test_dropout_below_zero_or_above_one_is_refused():
    """-0.5 and 1.5 are outside [0, 1): the exact message for both."""
    for bad in (-0.5, 1.5):
        with pytest.raises(ValueError) as info:
            alexnet_cifar("small", dropout=bad)
        assert str(info.value) == f"dropout must be in [0, 1) (0 turns it off), got {bad}"


def test_kaiming_biases_are_zero_and_names_compare_by_value():
    """"kaiming" and "kaiming_in" set every bias to 0 (only "paper" sets
    1s); init names built at run time (not interned literals) choose the
    same init: "paper" weights have std 0.01, "kaiming_in" convs fan-in."""
    for init in ("kaiming", "kaiming_in"):
        p = dict(alexnet_cifar("small", towers=1, init=init).named_parameters())
        for name, v in p.items():
            if name.endswith("bias"):
                assert np.all(v.data == 0.0), (init, name)
    minialex.manual_seed(0)
    p = dict(alexnet_cifar("small", towers=1, init="".join(["pa", "per"])).named_parameters())
    assert abs(p["trunk.conv1.weight"].data.std() / 0.01 - 1) < 0.05
    assert abs(p["trunk.fc6.weight"].data.std() / 0.01 - 1) < 0.02
    p = dict(alexnet_cifar("small", towers=1, init="".join(["kaiming", "_in"])).named_parameters())
    assert abs(p["trunk.conv1.weight"].data.std() / np.sqrt(2.0 / 75) - 1) < 0.05


def test_one_tower_on_one_device_named_twice_and_two_named_apart():
    """towers=1 with ("cpu:1", "cpu:1") runs there (equal devices, whether or
    not the same object); two different devices give the exact message,
    naming both in order."""
    net = alexnet_cifar("small", towers=1, devices=("cpu:1", "cpu:1"))
    assert all(str(p.device) == "cpu:1" for p in net.parameters())
    with pytest.raises(ValueError) as info:
        alexnet_cifar("small", towers=1, devices=("cpu:0", "cpu:1"))
    assert str(info.value) == ("towers=1 runs on one device, got two: cpu:0, cpu:1; "
                               "use towers=2 to place the towers on two devices")


def test_alexnet_defaults_lrn_on_and_imagenet_conv1_unpadded():
    """AlexNet's default lrn=True puts LocalResponseNorm after conv1/conv2;
    the ImageNet conv1 is 11x11, stride 4, no padding (section 3.5)."""
    net = AlexNet(10, _config=dict(CIFAR_SMALL))
    assert net.config["lrn"] is True and type(net.tower0.lrn).__name__ == "LocalResponseNorm"
    assert AlexNet._config["conv1"] == (11, 4, 0)
    conv1 = AlexNet(10, towers=1).trunk.conv1
    assert (conv1.kernel_size, conv1.stride, conv1.padding) == ((11, 11), (4, 4), (0, 0))


def test_conv1_side_for_another_geometry():
    """With conv1 7x7, stride 1, padding 3 (a _config of another geometry)
    conv1 keeps 28 (28 + 2*3 - 7 + 1), and the (9, 1) pools give 20, 12, 4:
    fc6 reads 64 * 4 * 4 and the net runs."""
    cfg = dict(CIFAR_SMALL, conv1=(7, 1, 3))
    net = AlexNet(10, towers=1, _config=cfg, pool=(9, 1))
    assert net.config["fc_spatial"] == 4 and net.trunk.fc6.weight.shape == (512, 64 * 16)
    assert _forward_shape(net) == (2, 10)
