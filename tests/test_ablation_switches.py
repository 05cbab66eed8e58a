"""The paper's ablation switches of alexnet_cifar / AlexNet (lrn, pool,
activation, dropout, one_gpu), figure 1's ConvNet4, and their ONNX export."""

import numpy as np
import pytest

import minialex
from minialex import nn
from minialex.autograd import Tensor, no_grad
from minialex.models import AlexNet, alexnet_cifar, convnet4, CIFAR_PRESETS
from minialex.optim import SGD
from minialex.serialization import CheckpointError, load_npz
from minialex.checkpoint import save_checkpoint, load_checkpoint

SWITCHES = [dict(lrn=False), dict(pool=(2, 2)), dict(activation="tanh"), dict(dropout=0.0),
            dict(one_gpu=True, towers=1)]


def _x(n=2, size=28, seed=0):
    return Tensor(np.random.default_rng(seed).standard_normal((n, 3, size, size))
                  .astype(np.float32))


def _fc6_in(preset, spatial, one_gpu=False):
    return CIFAR_PRESETS[preset][3] * spatial ** 2


@pytest.mark.parametrize("preset", ["small", "half"])
@pytest.mark.parametrize("kw", SWITCHES, ids=lambda kw: ",".join(f"{k}={v}" for k, v in kw.items()))
def test_every_switch_keeps_the_output_shape_and_is_recorded(preset, kw):
    kw = {"towers": 1, **kw}
    model = alexnet_cifar(preset, **kw)
    assert model(_x()).shape == (2, 10)
    for k, v in kw.items():
        assert model.config[k] == v, k
    # and it is the only difference from the default net's config
    default = alexnet_cifar(preset, towers=1).config
    diff = {k for k in model.config if model.config[k] != default.get(k)} - {"fc_spatial"}
    assert diff == set(kw) - {"towers"}


@pytest.mark.parametrize("preset", ["small", "half", "paper"])
def test_non_overlapping_pool_grows_fc6_input(preset):
    # CIFAR: 28 -> 13 -> 6 -> 2 with 3x3/2; 28 -> 14 -> 7 -> 3 with 2x2/2
    over, flat = alexnet_cifar(preset, towers=1), alexnet_cifar(preset, towers=1, pool=(2, 2))
    assert over.config["fc_spatial"] == 2 and flat.config["fc_spatial"] == 3
    assert over.trunk.fc6.in_features == _fc6_in(preset, 2)
    assert flat.trunk.fc6.in_features == _fc6_in(preset, 3)
    assert (flat.trunk.pool.kernel_size, flat.trunk.pool.stride) == ((2, 2), (2, 2))


def test_imagenet_pools_both_end_at_6x6():
    # 227 -> 55 -> 27 -> 13 -> 6 with either pooling: the paper's
    # "output of equivalent dimensions" (section 3.4)
    for pool in ((3, 2), (2, 2)):
        assert AlexNet(towers=1, pool=pool).config["fc_spatial"] == 6


def test_no_lrn_is_the_identity_and_changes_the_output():
    minialex.manual_seed(0)
    a = alexnet_cifar("small", towers=1)
    b = alexnet_cifar("small", towers=1, lrn=False)
    assert isinstance(b.trunk.lrn, nn.Identity) and isinstance(a.trunk.lrn, nn.LocalResponseNorm)
    b.load_state_dict(a.state_dict())      # LRN has no parameters: same weights
    a.eval(), b.eval()
    x = _x() * 60.0                         # pixel scale: LRN's denominator matters
    with no_grad():
        ya, yb = a(x).numpy(), b(x).numpy()
    assert not np.allclose(ya, yb, rtol=1e-3)


def test_tanh_net_is_bounded_inside():
    # every hidden activation of the tanh net lies in (-1, 1): fc7's output
    minialex.manual_seed(0)
    m = alexnet_cifar("small", towers=1, activation="tanh", dropout=0.0).eval()
    with no_grad():
        t = m.trunk
        h = t.block345(t.block12(_x() * 10))
        h = t.act(t.fc7(t.act(t.fc6(h)))).numpy()
    assert np.abs(h).max() <= 1.0 and np.abs(h).max() > 0.5


def test_two_towers_with_switches_equal_one_tower():
    minialex.manual_seed(3)
    kw = dict(lrn=False, pool=(2, 2), activation="tanh", dropout=0.0)
    two = alexnet_cifar("small", towers=2, **kw).eval()
    one = alexnet_cifar("small", towers=1, **kw).eval()
    one.load_state_dict(minialex.models.towers_to_one(two.state_dict()))
    x = _x(seed=1)
    with no_grad():
        np.testing.assert_allclose(one(x).numpy(), two(x).numpy(), rtol=1e-4, atol=1e-5)


def test_one_gpu_net_halves_conv1_to_conv4_only():
    # paper section 3.2 footnote: conv5 and the fc layers keep their size
    m = alexnet_cifar("half", towers=1, one_gpu=True)
    t, (c1, c2, c3, c5, fc) = m.trunk, CIFAR_PRESETS["half"]
    assert [t.conv1.out_channels, t.conv2.out_channels, t.conv3.out_channels,
            t.conv4.out_channels, t.conv5.out_channels] == [c1 // 2, c2 // 2, c3 // 2, c3 // 2, c5]
    assert all(c.groups == 1 for c in (t.conv2, t.conv4, t.conv5))     # no cross connections
    assert (t.fc6.in_features, t.fc6.out_features, t.fc7.out_features) == (c5 * 4, fc, fc)
    # by hand: conv weights + biases of the one-GPU small net
    s = alexnet_cifar("small", towers=1, one_gpu=True)
    convs = (3 * 16 * 25 + 16) + (16 * 32 * 25 + 32) + (32 * 48 * 9 + 48) \
        + (48 * 48 * 9 + 48) + (48 * 64 * 9 + 64)
    fcs = (256 * 512 + 512) + (512 * 512 + 512) + (512 * 10 + 10)
    assert s.num_parameters() == convs + fcs


def test_bad_switches_are_clear_errors():
    with pytest.raises(ValueError, match="activation"):
        alexnet_cifar(activation="sigmoid")
    with pytest.raises(ValueError, match=r"pool must be \(kernel, stride\)"):
        alexnet_cifar(pool=(3,))
    with pytest.raises(ValueError, match="no pixel"):
        alexnet_cifar(pool=(9, 9))
    with pytest.raises(ValueError, match=r"dropout must be in \[0, 1\)"):
        alexnet_cifar(dropout=1.0)
    with pytest.raises(ValueError, match="towers=1"):
        alexnet_cifar(one_gpu=True, towers=2)


def test_checkpoint_records_and_checks_the_switches(tmp_path):
    m = alexnet_cifar("small", towers=1, lrn=False, pool=(2, 2), activation="tanh",
                      one_gpu=True)
    path = tmp_path / "c.npz"
    save_checkpoint(path, m, SGD(m.parameters(), lr=0.1))
    cfg = load_npz(path)[1]["config"]
    assert (cfg["lrn"], cfg["pool"], cfg["activation"], cfg["one_gpu"]) == \
        (False, [2, 2], "tanh", True)
    load_checkpoint(path, alexnet_cifar("small", towers=1, lrn=False, pool=(2, 2),
                                        activation="tanh", one_gpu=True))
    with pytest.raises(CheckpointError, match="lrn: file has False, model has True"):
        load_checkpoint(path, alexnet_cifar("small", towers=1, pool=(2, 2), activation="tanh",
                                            one_gpu=True))


# ------------------------------------------------------------------ ConvNet4
@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_convnet4_shapes_and_layers(activation):
    m = convnet4(activation)
    assert m(_x(size=32)).shape == (2, 10)
    assert m.fc.in_features == 64 * 3 * 3
    assert m.num_parameters() == (3 * 32 * 25 + 32) + (32 * 32 * 25 + 32) \
        + (32 * 64 * 25 + 64) + (576 * 10 + 10)
    with pytest.raises(ValueError, match=r"\(N, 3, 32, 32\)"):
        m(_x(size=28))


def test_convnet4_nets_differ_only_in_the_activation():
    minialex.manual_seed(0)
    r = convnet4("relu")
    minialex.manual_seed(0)
    t = convnet4("tanh")
    for (n, a), (_, b) in zip(r.state_dict().items(), t.state_dict().items()):
        np.testing.assert_array_equal(a, b, err_msg=n)
    with pytest.raises(ValueError, match="activation"):
        convnet4("elu")


def test_convnet4_matches_torch():
    torch = pytest.importorskip("torch")
    minialex.manual_seed(0)
    m = convnet4("tanh")
    tn = torch.nn.Sequential(
        torch.nn.Conv2d(3, 32, 5, padding=2), torch.nn.Tanh(), torch.nn.MaxPool2d(3, 2),
        torch.nn.Conv2d(32, 32, 5, padding=2), torch.nn.Tanh(), torch.nn.AvgPool2d(3, 2),
        torch.nn.Conv2d(32, 64, 5, padding=2), torch.nn.Tanh(), torch.nn.AvgPool2d(3, 2),
        torch.nn.Flatten(), torch.nn.Linear(576, 10))
    sd = m.state_dict()
    with torch.no_grad():
        for i, name in ((0, "conv1"), (3, "conv2"), (6, "conv3"), (10, "fc")):
            tn[i].weight.copy_(torch.from_numpy(sd[name + ".weight"]))
            tn[i].bias.copy_(torch.from_numpy(sd[name + ".bias"]))
    x = _x(size=32, seed=2)
    with no_grad():
        ours = m(x).numpy()
    np.testing.assert_allclose(ours, tn(torch.from_numpy(x.numpy())).detach().numpy(),
                               rtol=1e-4, atol=1e-5)


# ------------------------------------------------------------------ ONNX
@pytest.mark.parametrize("kw", [dict(towers=1, lrn=False, activation="tanh"),
                                dict(towers=2, lrn=False, pool=(2, 2), activation="tanh"),
                                dict(towers=1, one_gpu=True, pool=(2, 2))],
                         ids=["tanh-nolrn", "towers2-tanh-nolrn-pool22", "one_gpu-pool22"])
def test_onnx_exports_the_switches(kw, tmp_path):
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    from minialex.onnx import export
    minialex.manual_seed(1)
    model = alexnet_cifar("small", **kw).eval()
    proto = export(model, tmp_path / "m.onnx")
    ops = [n.op_type for n in proto.graph.node]
    towers = kw["towers"]
    assert ops.count("LRN") == (0 if not kw.get("lrn", True) else 2 * towers)
    act = kw.get("activation", "relu").capitalize()
    assert ops.count(act) == 7 * towers and ops.count("Relu" if act == "Tanh" else "Tanh") == 0
    pool = kw.get("pool", (3, 2))
    assert all([a.ints for a in n.attribute if a.name == "kernel_shape"][0] == list(pool[:1] * 2)
               for n in proto.graph.node if n.op_type == "MaxPool")
    x = (np.random.default_rng(0).standard_normal((3, 3, 28, 28)) * 30).astype(np.float32)
    with no_grad():
        ref = model(Tensor(x)).numpy()
    got = ort.InferenceSession(str(tmp_path / "m.onnx"),
                               providers=["CPUExecutionProvider"]).run(None, {"input": x})[0]
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-4 * np.abs(ref).max())


def test_onnx_sequential_with_tanh_and_identity(tmp_path):
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    from minialex.onnx import export
    minialex.manual_seed(0)
    m = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Tanh(), nn.Identity(), nn.Flatten(),
                      nn.Linear(4 * 6 * 6, 5))
    proto = export(m, tmp_path / "s.onnx", (1, 3, 8, 8))
    assert [n.op_type for n in proto.graph.node] == ["Conv", "Tanh", "Flatten", "Gemm",
                                                     "Identity"]
    x = np.random.default_rng(1).standard_normal((2, 3, 8, 8)).astype(np.float32)
    with no_grad():
        ref = m(Tensor(x)).numpy()
    got = ort.InferenceSession(str(tmp_path / "s.onnx"),
                               providers=["CPUExecutionProvider"]).run(None, {"input": x})[0]
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-6)
