"""AlexNet's layer layout and the layout converters, checked exactly: the
repr of both layouts (every conv's kernel, padding and groups, LRN's
constants, the pool), the exact messages of the checks, hand-made state
dicts through towers_to_one / one_to_towers, and the activation switch."""

import numpy as np
import pytest

import minialex
from minialex.models import alexnet_cifar, towers_to_one, one_to_towers, CIFAR_PRESETS

ONE_TOWER_REPR = """AlexNet(towers=1, devices=('cpu:0', 'cpu:0'), num_classes=10
  (trunk): _Trunk(
    (conv1): Conv2d(3, 32, kernel_size=(5, 5), stride=(1, 1), padding=(2, 2))
    (conv2): Conv2d(32, 64, kernel_size=(5, 5), stride=(1, 1), padding=(2, 2), groups=2)
    (conv3): Conv2d(64, 96, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))
    (conv4): Conv2d(96, 96, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1), groups=2)
    (conv5): Conv2d(96, 64, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1), groups=2)
    (fc6): Linear(in_features=256, out_features=512, bias=True)
    (fc7): Linear(in_features=512, out_features=512, bias=True)
    (lrn): LocalResponseNorm(size=5, alpha=0.0001, beta=0.75, k=2.0)
    (pool): MaxPool2d(kernel_size=(3, 3), stride=(2, 2), padding=(0, 0), ceil_mode=False)
  )
  (fc8): Linear(in_features=512, out_features=10, bias=True)
)"""

TOWER_REPR = """  (tower{i}): _Trunk(
    (conv1): Conv2d(3, 16, kernel_size=(5, 5), stride=(1, 1), padding=(2, 2))
    (conv2): Conv2d(16, 32, kernel_size=(5, 5), stride=(1, 1), padding=(2, 2))
    (conv3): Conv2d(64, 48, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))
    (conv4): Conv2d(48, 48, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))
    (conv5): Conv2d(48, 32, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))
    (fc6): Linear(in_features=256, out_features=256, bias=True)
    (fc7): Linear(in_features=512, out_features=256, bias=True)
    (lrn): Identity()
    (pool): MaxPool2d(kernel_size=(3, 3), stride=(2, 2), padding=(0, 0), ceil_mode=False)
  )"""


def test_one_tower_layout_exactly():
    """The small preset, one tower: conv1 5x5 pad 2, conv2 5x5 pad 2 in two
    groups, conv3 3x3 pad 1 over all 64 channels, conv4/conv5 3x3 pad 1 in
    two groups, fc6 64*2*2 -> 512, LRN(5, 1e-4, 0.75, 2), pool 3/2."""
    assert repr(alexnet_cifar("small", towers=1)) == ONE_TOWER_REPR


def test_two_tower_layout_exactly():
    """Two towers on cpu:0 / cpu:1, lrn=False: each tower has half the
    kernels, ungrouped; conv3, fc6 and fc7 read both towers (64, 256, 512
    inputs); LRN's place holds Identity; fc8 reads both towers' 256."""
    got = repr(alexnet_cifar("small", devices=("cpu:0", "cpu:1"), lrn=False))
    want = "\n".join(["AlexNet(towers=2, devices=('cpu:0', 'cpu:1'), num_classes=10",
                      TOWER_REPR.format(i=0), TOWER_REPR.format(i=1),
                      "  (fc8): Linear(in_features=512, out_features=10, bias=True)", ")"])
    assert got == want


def test_presets_and_messages_exactly():
    """The preset widths of docs/paper.md, and the exact messages for an
    unknown preset, init, activation and a wrongly shaped input."""
    assert CIFAR_PRESETS == {"small": (32, 64, 96, 64, 512), "half": (48, 128, 192, 128, 2048),
                             "paper": (96, 256, 384, 256, 4096)}
    cases = [(dict(preset="huge"), "unknown preset 'huge': choose one of ['half', 'paper', 'small']"),
             (dict(init="xavier"), "unknown init 'xavier': use one of paper, kaiming, kaiming_in"),
             (dict(activation="sigmoid"), "unknown activation 'sigmoid': use one of relu, tanh"),
             (dict(towers=3), "towers must be 1 or 2, got 3")]
    for kwargs, message in cases:
        with pytest.raises(ValueError) as info:
            alexnet_cifar(**kwargs)
        assert str(info.value) == message
    model = alexnet_cifar("small")
    for shape in [(3, 28, 28), (1, 1, 28, 28), (1, 3, 28, 27), (1, 3, 27, 28)]:
        with pytest.raises(ValueError) as info:
            model(minialex.Tensor(np.zeros(shape, np.float32)))
        assert str(info.value) == f"AlexNet expects input (N, 3, 28, 28), got {shape}"


def test_towers_to_one_and_back_by_hand():
    """tower0's rows come first, tower1's after; other keys are kept as they
    are; one_to_towers splits each trunk entry in its first half and the rest."""
    two = {"tower0.conv.weight": np.array([[1.0], [2.0]]), "tower1.conv.weight": np.array([[3.0], [4.0]]),
           "tower0.conv.bias": np.array([5.0]), "tower1.conv.bias": np.array([6.0]),
           "fc8.bias": np.array([7.0, 8.0])}
    one = towers_to_one(two)
    assert sorted(one) == ["fc8.bias", "trunk.conv.bias", "trunk.conv.weight"]
    np.testing.assert_array_equal(one["trunk.conv.weight"], [[1.0], [2.0], [3.0], [4.0]])
    np.testing.assert_array_equal(one["trunk.conv.bias"], [5.0, 6.0])
    np.testing.assert_array_equal(one["fc8.bias"], [7.0, 8.0])
    back = one_to_towers({**one, "trunk.x": np.arange(6.0)})
    assert sorted(back) == ["fc8.bias", "tower0.conv.bias", "tower0.conv.weight", "tower0.x",
                            "tower1.conv.bias", "tower1.conv.weight", "tower1.x"]
    np.testing.assert_array_equal(back["tower0.conv.weight"], [[1.0], [2.0]])
    np.testing.assert_array_equal(back["tower1.conv.weight"], [[3.0], [4.0]])
    np.testing.assert_array_equal(back["tower0.x"], [0.0, 1.0, 2.0])
    np.testing.assert_array_equal(back["tower1.x"], [3.0, 4.0, 5.0])
    np.testing.assert_array_equal(back["fc8.bias"], [7.0, 8.0])


def test_activation_switch_is_the_function_named():
    """activation="tanh" applies tanh (negative values stay negative, all in
    (-1, 1)); "relu" applies max(x, 0); both are recorded in config."""
    x = np.array([[-2.0, -0.5, 0.0, 0.5, 3.0]], np.float32)
    tanh = alexnet_cifar("small", towers=1, activation="tanh")
    relu = alexnet_cifar("small", towers=1)
    assert tanh.config["activation"] == "tanh" and relu.config["activation"] == "relu"
    np.testing.assert_allclose(tanh.trunk.act(minialex.Tensor(x)).numpy(), np.tanh(x), rtol=1e-6)
    np.testing.assert_array_equal(relu.trunk.act(minialex.Tensor(x)).numpy(), np.maximum(x, 0))
