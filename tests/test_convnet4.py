"""Figure 1's ConvNet4 (minialex/models/convnet4.py): its He-normal
initialisation, defaults, declared input size and input check, with the
values the paper's net and our docs give."""

import math

import numpy as np
import pytest

import minialex
from minialex import Tensor
from minialex.models import convnet4
from minialex.models.convnet4 import ConvNet4


def test_he_normal_weights_and_zero_biases():
    """Every weight ~ N(0, 2 / fan_in) with fan_in = C_in * kh * kw (conv) or
    in_features (fc): sample mean within 4 standard errors of 0 and sample
    std within 6% of sqrt(2 / fan_in) (2,400 to 25,600 draws a layer); every
    bias exactly 0. Seeded, so the check is deterministic."""
    minialex.manual_seed(0)
    m = convnet4()
    fan_ins = {"conv1": 3 * 25, "conv2": 32 * 25, "conv3": 32 * 25, "fc": 64 * 3 * 3}
    for name, p in m.named_parameters():
        layer = name.split(".")[0]
        if name.endswith("bias"):
            np.testing.assert_array_equal(p.data, 0.0)
            continue
        w, want = p.data.astype(np.float64).ravel(), math.sqrt(2.0 / fan_ins[layer])
        assert p.data.dtype == np.float32
        assert abs(w.mean()) < 4 * want / math.sqrt(w.size), name
        assert abs(w.std() / want - 1) < 0.06, (name, w.std(), want)


def test_defaults_and_declared_input_size():
    """Ten classes by default (CIFAR-10), ReLU, and 32x32 inputs (the
    size predict.py and the ONNX export read from the model)."""
    m = convnet4()
    assert m.config == {"model": "convnet4", "activation": "relu", "num_classes": 10}
    assert ConvNet4.input_size == 32 and m.input_size == 32
    assert m(Tensor(np.zeros((2, 3, 32, 32), np.float32))).shape == (2, 10)
    assert ConvNet4().fc.weight.shape == (10, 576)


@pytest.mark.parametrize("shape", [(2, 3, 31, 32), (2, 3, 33, 32), (2, 3, 32, 33),
                                   (2, 4, 32, 32), (3, 32, 32), (1, 2, 3, 32, 32)])
def test_an_input_that_is_not_n_3_32_32_is_refused_by_name(shape):
    """Larger or smaller maps, 4 channels, 3 or 5 axes: the one ValueError
    naming the expected and the given shape."""
    with pytest.raises(ValueError) as info:
        convnet4()(Tensor(np.zeros(shape, np.float32)))
    assert str(info.value) == f"ConvNet4 expects input (N, 3, 32, 32), got {shape}"
