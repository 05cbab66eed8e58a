"""ONNX export: onnx.checker accepts every graph and onnxruntime runs it to
minialex's logits (1e-4 of the largest logit) for every AlexNet layout."""

import json
import sys

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

import minialex  # noqa: E402
from minialex import nn  # noqa: E402
from minialex.autograd import no_grad  # noqa: E402
from minialex.models import AlexNet, alexnet_cifar, alexnet_onetower  # noqa: E402
from minialex.onnx import export, UnsupportedModuleError  # noqa: E402


def _logits(model, x):
    model.eval()
    with no_grad():
        return model(minialex.Tensor(x)).numpy()


def _run(path, x):
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return sess.run(None, {"input": x})[0]


def _compare(model, path, x, export_shape=None):
    """Export, check, run: returns (max |onnx - minialex|, max |logit|)."""
    proto = export(model, path, export_shape or x.shape)
    onnx.checker.check_model(onnx.load(str(path)), full_check=True)
    ref, got = _logits(model, x), _run(path, x)
    assert got.shape == ref.shape
    scale = np.abs(ref).max()
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-4 * scale)
    return proto, float(np.abs(got - ref).max()), float(scale)


def _images(shape, seed=0, scale=30.0):
    # pixel-like scale: LRN's denominator then really differs from k ** beta
    return (np.random.default_rng(seed).standard_normal(shape) * scale).astype(np.float32)


def _ops(proto):
    return [n.op_type for n in proto.graph.node]


@pytest.mark.parametrize("preset", ["small", "half", "paper"])
@pytest.mark.parametrize("towers", [1, 2])
def test_cifar_presets_match_onnxruntime(preset, towers, tmp_path):
    minialex.manual_seed(towers)
    model = alexnet_cifar(preset, towers=towers)
    proto, diff, scale = _compare(model, tmp_path / "m.onnx", _images((3, 3, 28, 28)),
                                  export_shape=(1, 3, 28, 28))      # batch 3 through "N"
    assert scale > 1.0                         # real logits, not a vanishing signal
    ops = _ops(proto)
    assert ops.count("LRN") == 2 * towers and ops.count("MaxPool") == 3 * towers
    assert "Dropout" not in ops
    if towers == 1:
        groups = [a.i for n in proto.graph.node if n.op_type == "Conv"
                  for a in n.attribute if a.name == "group"]
        assert groups == [1, 2, 1, 2, 2] and "Concat" not in ops
    else:   # conv3, fc6, fc7 (of each tower) and fc8 read both towers
        assert ops.count("Concat") == 4 and ops.count("Conv") == 10
        assert all(a.i == 1 for n in proto.graph.node if n.op_type == "Conv"
                   for a in n.attribute if a.name == "group")
    print(f"ONNX vs minialex, cifar {preset} towers={towers}: max |diff| {diff:.3g} "
          f"(max |logit| {scale:.3g})")


def test_lrn_alpha_is_converted_to_onnx_convention(tmp_path):
    proto = export(alexnet_cifar("small", towers=1), tmp_path / "m.onnx")
    lrn = [n for n in proto.graph.node if n.op_type == "LRN"][0]
    attrs = {a.name: (a.i if a.type == onnx.AttributeProto.INT else a.f) for a in lrn.attribute}
    assert attrs["size"] == 5 and attrs["beta"] == pytest.approx(0.75)
    assert attrs["bias"] == pytest.approx(2.0)
    assert attrs["alpha"] == pytest.approx(1e-4 * 5)          # ONNX divides it by size
    names = {i.name for i in proto.graph.initializer}
    assert {"trunk.conv1.weight", "trunk.fc6.bias", "fc8.weight"} <= names


@pytest.mark.parametrize("towers", [1, 2])
def test_imagenet_alexnet_matches_onnxruntime(towers, tmp_path):
    minialex.manual_seed(7)
    model = AlexNet(towers=towers, init="kaiming")
    proto, diff, scale = _compare(model, tmp_path / "m.onnx", _images((2, 3, 227, 227)))
    assert scale > 1.0
    assert sum(int(np.prod(i.dims)) for i in proto.graph.initializer) == 60_965_224
    print(f"ONNX vs minialex, ImageNet AlexNet towers={towers}: max |diff| {diff:.3g} "
          f"(max |logit| {scale:.3g})")


def test_onetower_alexnet_matches_onnxruntime(tmp_path):
    minialex.manual_seed(8)
    model = alexnet_onetower(5)
    x = _images((2, 3, 224, 224), scale=1.0)
    proto, diff, scale = _compare(model, tmp_path / "m.onnx", x)
    ops = _ops(proto)
    assert "LRN" not in ops and "Dropout" not in ops and ops.count("Gemm") == 3
    print(f"ONNX vs minialex, one-tower AlexNet: max |diff| {diff:.3g} (max |logit| {scale:.3g})")
    # a trained-looking net: bigger weights in the head, the comparison still holds
    fc8 = dict(model.named_parameters())["fc8.weight"]
    fc8.data = fc8.data * 100
    _, diff, scale = _compare(model, tmp_path / "m2.onnx", x)
    print(f"ONNX vs minialex, one-tower AlexNet, fc8 x 100: max |diff| {diff:.3g} "
          f"(max |logit| {scale:.3g})")


def test_default_input_shape_and_fixed_batch(tmp_path):
    proto = export(alexnet_onetower(3), tmp_path / "m.onnx", dynamic_batch=False)
    dims = proto.graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_value for d in dims] == [1, 3, 224, 224]
    out = proto.graph.output[0].type.tensor_type.shape.dim
    assert [d.dim_value for d in out] == [1, 3]
    proto = export(alexnet_onetower(3), tmp_path / "m.onnx")
    assert proto.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "N"


def test_sequential_even_lrn_window_ceil_pool_and_reshape(tmp_path):
    """Layers beyond AlexNet's settings: an even LRN size (PyTorch's window,
    one more channel below than above), padded ceil-mode pooling, a
    Flatten that keeps the channel axis, no bias."""
    minialex.manual_seed(2)
    model = nn.Sequential(nn.Conv2d(3, 6, 3, stride=2, padding=1, bias=False), nn.ReLU(),
                          nn.LocalResponseNorm(4, alpha=1e-3, beta=0.75, k=1.0),
                          nn.MaxPool2d(3, stride=2, padding=1, ceil_mode=True),
                          nn.Dropout(0.3), nn.Flatten(start_dim=2))
    x = _images((2, 3, 13, 13), seed=3, scale=20.0)
    proto, _, _ = _compare(model, tmp_path / "s.onnx", x)
    assert _ops(proto) == ["Conv", "Relu", "Mul", "Conv", "Mul", "Add", "Pow", "Div", "MaxPool",
                           "Reshape", "Identity"]
    assert _logits(model, x).shape == (2, 6, 16)     # 13 -> 7 -> ceil: 4x4


def test_ceil_mode_drops_a_window_that_starts_in_the_padding(tmp_path):
    """L = 6, k = 1, s = 2, ceil: windows at 0, 2, 4 (minialex, PyTorch);
    ONNX's own ceil_mode would add one at 6, outside the input."""
    x = np.arange(12, dtype=np.float32).reshape(1, 1, 2, 6)
    pool = nn.MaxPool2d(1, stride=2, ceil_mode=True)
    proto = export(pool, tmp_path / "p.onnx", x.shape)
    np.testing.assert_array_equal(_run(tmp_path / "p.onnx", x), [[[[0, 2, 4]]]])
    dims = proto.graph.output[0].type.tensor_type.shape.dim
    assert [d.dim_value for d in dims][1:] == [1, 1, 3]


def test_even_lrn_window_by_hand(tmp_path):
    """size 2: our (PyTorch's) window is channels [c-1, c]; ONNX's LRN
    would take [c, c+1]. x = (1, 2, 3) at one pixel, alpha = beta = k = 1:
    b = (1 / (1 + 1), 2 / (1 + 1 + 4), 3 / (1 + 4 + 9))."""
    x = np.array([1.0, 2.0, 3.0], np.float32).reshape(1, 3, 1, 1)
    lrn = nn.LocalResponseNorm(2, alpha=1.0, beta=1.0, k=1.0)
    export(lrn, tmp_path / "l.onnx", x.shape)
    np.testing.assert_allclose(_run(tmp_path / "l.onnx", x).ravel(), [0.5, 1 / 3, 3 / 14],
                               rtol=1e-6)


def test_unknown_module_is_a_clear_error(tmp_path):
    class Swish(nn.Module):
        def forward(self, x):
            return x

    model = nn.Sequential(nn.Conv2d(3, 4, 3), Swish())
    with pytest.raises(UnsupportedModuleError, match=r"'1' \(Swish\).*knows.*Conv2d"):
        export(model, tmp_path / "x.onnx", (1, 3, 8, 8))
    assert not (tmp_path / "x.onnx").exists()

    class MyAlexNet(AlexNet):       # a subclass may have another forward: not guessed
        pass
    with pytest.raises(UnsupportedModuleError, match="MyAlexNet"):
        export(MyAlexNet(), tmp_path / "x.onnx")


def test_bad_input_shapes_are_clear_errors(tmp_path):
    with pytest.raises(ValueError, match=r"takes input \(N, 3, 227, 227\)"):
        export(AlexNet(), tmp_path / "x.onnx", (1, 3, 224, 224))
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        export(alexnet_cifar(), tmp_path / "x.onnx", (3, 28, 28))
    with pytest.raises(ValueError, match="needs input_shape"):
        export(nn.Sequential(nn.Linear(4, 2)), tmp_path / "x.onnx")
    with pytest.raises(ValueError, match=r"'0' \(Conv2d\) expects \(C=3"):
        export(nn.Sequential(nn.Conv2d(3, 4, 3)), tmp_path / "x.onnx", (1, 1, 8, 8))
    with pytest.raises(ValueError, match=r"Flatten in front"):
        export(nn.Sequential(nn.Conv2d(3, 4, 3), nn.Linear(4, 2)), tmp_path / "x.onnx",
               (1, 3, 8, 8))


def test_missing_onnx_package_names_the_install_command(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)
    with pytest.raises(ImportError, match=r'pip install "minialex\[onnx\]"'):
        export(alexnet_cifar(), tmp_path / "x.onnx")


def test_exported_file_metadata(tmp_path):
    export(alexnet_cifar("small", towers=2), tmp_path / "m.onnx")
    proto = onnx.load(str(tmp_path / "m.onnx"))
    assert proto.producer_name == "minialex"
    assert [o.version for o in proto.opset_import] == [17]
    assert json.dumps([i.name for i in proto.graph.input]) == '["input"]'
    assert [o.name for o in proto.graph.output] == ["logits"]


@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_random_layer_settings_match_onnxruntime(data, tmp_path_factory):
    """Random kernel, stride, padding, groups, LRN size (odd and even) and
    ceil-mode pooling (including a last window that would start in the
    padding, which minialex and PyTorch drop) on small maps."""
    groups = data.draw(st.sampled_from([1, 2, 3]), label="groups")
    c_in, c_out = groups * data.draw(st.integers(1, 2)), groups * data.draw(st.integers(1, 3))
    k = data.draw(st.integers(1, 4), label="k")
    conv = nn.Conv2d(c_in, c_out, k, stride=data.draw(st.integers(1, 3)),
                     padding=data.draw(st.integers(0, 2)), groups=groups,
                     bias=data.draw(st.booleans()))
    pk = data.draw(st.integers(1, 3), label="pool k")
    pool = nn.MaxPool2d(pk, stride=data.draw(st.integers(1, 3)),
                        padding=data.draw(st.integers(0, pk // 2)),
                        ceil_mode=data.draw(st.booleans()))
    lrn = nn.LocalResponseNorm(data.draw(st.integers(1, 6)), alpha=1e-2, beta=0.75, k=1.5)
    size = data.draw(st.integers(max(k, pk) + 4, 12), label="H")
    model = nn.Sequential(conv, nn.ReLU(), lrn, pool, nn.Flatten())
    x = _images((2, c_in, size, size + 1), seed=data.draw(st.integers(0, 99)), scale=5.0)
    path = tmp_path_factory.mktemp("h") / "m.onnx"
    try:
        ref = _logits(model, x)
    except ValueError:           # a window larger than the map: minialex refuses, so skip
        return
    export(model, path, x.shape)
    got = _run(path, x)
    assert got.shape == ref.shape
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5 * max(np.abs(ref).max(), 1e-3))
