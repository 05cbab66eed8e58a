"""The PyTorch tutorials' one-tower AlexNet: shapes, parameter count, init,
dropout, parity with the same net in PyTorch, and the state_dict converter."""

import numpy as np
import pytest

import minialex
from minialex import functional as F
from minialex.models import (AlexNetOneTower, alexnet_onetower, onetower_state_dict_from_torch,
                             alexnet_onetower_from_torch, convert_torch_onetower, load_weights,
                             save_weights)
from minialex.serialization import CheckpointError

NAMES = ["conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7", "fc8"]


def _images(n, seed=0):
    return np.random.default_rng(seed).standard_normal((n, 3, 224, 224)).astype(np.float32)


def test_output_shape_and_layer_shapes():
    model = alexnet_onetower(num_classes=5).eval()
    assert model(minialex.Tensor(_images(2))).shape == (2, 5)
    shapes = {k: v.shape for k, v in model.state_dict().items()}
    assert shapes["conv1.weight"] == (48, 3, 11, 11)
    assert shapes["conv2.weight"] == (128, 48, 5, 5)
    assert shapes["conv3.weight"] == (192, 128, 3, 3)
    assert shapes["conv4.weight"] == (192, 192, 3, 3)
    assert shapes["conv5.weight"] == (128, 192, 3, 3)
    assert shapes["fc6.weight"] == (2048, 128 * 6 * 6)
    assert shapes["fc7.weight"] == (2048, 2048) and shapes["fc8.weight"] == (5, 2048)


def test_parameter_count_by_hand():
    convs = (48 * 3 * 121 + 48) + (128 * 48 * 25 + 128) + (192 * 128 * 9 + 192) \
        + (192 * 192 * 9 + 192) + (128 * 192 * 9 + 128)
    fcs = (128 * 36 * 2048 + 2048) + (2048 * 2048 + 2048)
    assert convs + fcs == 14_581_440
    assert alexnet_onetower(5).num_parameters() == 14_581_440 + 5 * 2049 == 14_591_685
    assert alexnet_onetower().num_parameters() == 14_581_440 + 1000 * 2049


def test_init_he_fan_out_and_normal_001():
    minialex.manual_seed(0)
    sd = alexnet_onetower(10).state_dict()
    for name in NAMES:
        assert np.all(sd[name + ".bias"] == 0.0), name
    w = sd["conv3.weight"]                       # fan-out 192 * 3 * 3
    assert abs(w.std() / np.sqrt(2.0 / (192 * 9)) - 1) < 0.02 and abs(w.mean()) < 2e-3
    w = sd["conv1.weight"]                       # fan-out 48 * 11 * 11
    assert abs(w.std() / np.sqrt(2.0 / (48 * 121)) - 1) < 0.03
    w = sd["fc6.weight"]
    assert abs(w.std() - 0.01) < 1e-4 and abs(w.mean()) < 1e-4


def test_eval_mode_ignores_dropout_and_train_mode_uses_it():
    minialex.manual_seed(3)
    a = alexnet_onetower(4, dropout=0.5)
    b = alexnet_onetower(4, dropout=0.0)
    b.load_state_dict(a.state_dict())
    x = minialex.Tensor(_images(2, seed=1))
    a.eval(), b.eval()
    np.testing.assert_array_equal(a(x).numpy(), b(x).numpy())
    a.train(), b.train()
    np.testing.assert_array_equal(b(x).numpy(), b(x).numpy())     # p=0: deterministic
    assert not np.allclose(a(x).numpy(), b(x).numpy())             # p=0.5: drops units


def test_bad_arguments_and_input():
    with pytest.raises(ValueError, match="num_classes"):
        alexnet_onetower(0)
    with pytest.raises(ValueError, match="dropout"):
        alexnet_onetower(5, dropout=1.0)
    with pytest.raises(ValueError, match=r"expects input \(N, 3, 224, 224\)"):
        alexnet_onetower(5)(minialex.Tensor(np.zeros((1, 3, 227, 227), np.float32)))


def _torch_net(torch, num_classes, p=0.5):
    """The tutorials' AlexNet, as written there (WZMIAOMIAO's flower classifier)."""
    nn = torch.nn

    class AlexNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.features = nn.Sequential(
                nn.Conv2d(3, 48, kernel_size=11, stride=4, padding=2), nn.ReLU(inplace=True),
                nn.MaxPool2d(kernel_size=3, stride=2),
                nn.Conv2d(48, 128, kernel_size=5, padding=2), nn.ReLU(inplace=True),
                nn.MaxPool2d(kernel_size=3, stride=2),
                nn.Conv2d(128, 192, kernel_size=3, padding=1), nn.ReLU(inplace=True),
                nn.Conv2d(192, 192, kernel_size=3, padding=1), nn.ReLU(inplace=True),
                nn.Conv2d(192, 128, kernel_size=3, padding=1), nn.ReLU(inplace=True),
                nn.MaxPool2d(kernel_size=3, stride=2))
            self.classifier = nn.Sequential(
                nn.Dropout(p=p), nn.Linear(128 * 6 * 6, 2048), nn.ReLU(inplace=True),
                nn.Dropout(p=p), nn.Linear(2048, 2048), nn.ReLU(inplace=True),
                nn.Linear(2048, num_classes))

        def forward(self, x):
            return self.classifier(torch.flatten(self.features(x), start_dim=1))

    return AlexNet()


def test_forward_and_gradients_match_torch():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    ref = _torch_net(torch, 7).eval()
    for m in ref.modules():            # non-zero biases, so their gradients are tested too
        if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)):
            torch.nn.init.normal_(m.bias, 0.0, 0.1)
    model = alexnet_onetower_from_torch(ref.state_dict()).eval()
    x, y = _images(3, seed=2), np.array([0, 3, 6])
    logits = model(minialex.Tensor(x))
    loss = F.cross_entropy(logits, y)
    loss.backward()
    t_logits = ref(torch.from_numpy(x))
    t_loss = torch.nn.functional.cross_entropy(t_logits, torch.from_numpy(y))
    t_loss.backward()
    assert loss.item() == pytest.approx(t_loss.item(), rel=1e-5)
    t = t_logits.detach().numpy()
    np.testing.assert_allclose(logits.numpy(), t, rtol=1e-4, atol=1e-5 * np.abs(t).max())
    params = dict(model.named_parameters())
    tparams = dict(ref.named_parameters())
    torch_name = {v: k for k, v in {
        "features.0": "conv1", "features.3": "conv2", "features.6": "conv3",
        "features.8": "conv4", "features.10": "conv5", "classifier.1": "fc6",
        "classifier.4": "fc7", "classifier.6": "fc8"}.items()}
    for name in NAMES:
        for kind in ("weight", "bias"):
            g = params[f"{name}.{kind}"].grad
            tg = tparams[f"{torch_name[name]}.{kind}"].grad.numpy()
            np.testing.assert_allclose(g, tg, rtol=1e-3, atol=1e-4 * np.abs(tg).max(),
                                       err_msg=f"{name}.{kind}")


def test_converter_round_trip_through_weights_file(tmp_path):
    torch = pytest.importorskip("torch")
    torch.manual_seed(1)
    ref = _torch_net(torch, 5).eval()
    sd = torch.nn.DataParallel(ref).state_dict()        # keys "module.features.0.weight", ...
    assert next(iter(sd)).startswith("module.")
    model = convert_torch_onetower(sd, tmp_path / "w.npz")
    back = load_weights(alexnet_onetower(5), tmp_path / "w.npz").eval()
    for k, v in ref.state_dict().items():
        layer = {"features.0": "conv1", "features.3": "conv2", "features.6": "conv3",
                 "features.8": "conv4", "features.10": "conv5", "classifier.1": "fc6",
                 "classifier.4": "fc7", "classifier.6": "fc8"}[k.rsplit(".", 1)[0]]
        np.testing.assert_array_equal(back.state_dict()[f"{layer}.{k.rsplit('.', 1)[1]}"],
                                      v.numpy())
    x = _images(2, seed=4)
    with torch.no_grad():
        t = ref(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(back(minialex.Tensor(x)).numpy(), t, rtol=1e-4,
                               atol=1e-5 * np.abs(t).max())
    assert model.config == back.config
    with pytest.raises(CheckpointError, match="num_classes"):   # wrong head: named
        load_weights(alexnet_onetower(10), tmp_path / "w.npz")


def test_converter_takes_plain_arrays_and_names_bad_entries():
    model = alexnet_onetower(3)
    torch_names = {"conv1": "features.0", "conv2": "features.3", "conv3": "features.6",
                   "conv4": "features.8", "conv5": "features.10", "fc6": "classifier.1",
                   "fc7": "classifier.4", "fc8": "classifier.6"}
    sd = {f"{torch_names[k.split('.')[0]]}.{k.split('.')[1]}": v
          for k, v in model.state_dict().items()}
    out = onetower_state_dict_from_torch(sd)
    assert set(out) == set(model.state_dict())
    np.testing.assert_array_equal(out["fc7.weight"], model.state_dict()["fc7.weight"])
    del sd["classifier.6.bias"]
    sd["features.1.weight"] = np.zeros(3)
    with pytest.raises(KeyError, match=r"missing classifier\.6\.bias.*unexpected features\.1"):
        onetower_state_dict_from_torch(sd)
    sd = {k: v for k, v in sd.items() if k != "features.1.weight"}
    sd["classifier.6.bias"] = np.zeros(3, np.float32)
    sd["features.0.weight"] = np.zeros((64, 3, 11, 11), np.float32)   # torchvision's width
    with pytest.raises(ValueError, match=r"conv1\.weight.*\(64, 3, 11, 11\)"):
        alexnet_onetower_from_torch(sd)
    sd["features.0.weight"] = "not an array"
    with pytest.raises(TypeError, match="features.0.weight"):
        onetower_state_dict_from_torch(sd)


def test_weights_file_round_trip_and_class_mismatch(tmp_path):
    a = alexnet_onetower(5)
    save_weights(a, tmp_path / "a.npz")
    b = load_weights(AlexNetOneTower(5), tmp_path / "a.npz")
    for k, v in a.state_dict().items():
        np.testing.assert_array_equal(b.state_dict()[k], v)


def test_arguments_at_their_edges_with_the_exact_messages():
    """num_classes: a positive int (1 is fine; 0, 2.5, True and "3" are not);
    dropout in [0, 1) (0 is fine; -0.5, 1.0 and 1.5 are not); the default
    is ImageNet's 1000 classes; an input of another size is refused whether
    it is larger or smaller than 224x224."""
    assert alexnet_onetower(1).fc8.weight.shape == (1, 2048)
    assert AlexNetOneTower().fc8.weight.shape == (1000, 2048)
    assert AlexNetOneTower().config["num_classes"] == 1000
    for bad in (0, 2.5, True, "3"):
        with pytest.raises(ValueError) as info:
            alexnet_onetower(bad)
        assert str(info.value) == f"num_classes must be a positive int, got {bad!r}"
    assert alexnet_onetower(3, dropout=0.0).p == 0.0
    for bad in (-0.5, 1.0, 1.5):
        with pytest.raises(ValueError) as info:
            alexnet_onetower(3, dropout=bad)
        assert str(info.value) == f"dropout must be in [0, 1), got {bad}"
    m = alexnet_onetower(3)
    for shape in [(1, 3, 200, 200), (1, 3, 227, 227), (1, 3, 224, 200)]:
        with pytest.raises(ValueError, match=r"expects input \(N, 3, 224, 224\)"):
            m(minialex.Tensor(np.zeros(shape, np.float32)))


def test_a_device_given_puts_every_parameter_there():
    """device='cpu:1' (a second CPU device, as the two-tower tests use)
    moves the net at construction; no device leaves it on the default."""
    from minialex.backend import Device
    m = alexnet_onetower(3, device="cpu:1")
    assert all(p.device == Device("cpu:1") for p in m.parameters())
    assert all(p.device == Device("cpu:0") for p in alexnet_onetower(3).parameters())


def test_converter_names_a_missing_or_an_extra_entry_alone():
    """One entry missing, or one extra entry, each alone is refused with
    the one KeyError naming it (not only the two together)."""
    model = alexnet_onetower(3)
    names = {"conv1": "features.0", "conv2": "features.3", "conv3": "features.6",
             "conv4": "features.8", "conv5": "features.10", "fc6": "classifier.1",
             "fc7": "classifier.4", "fc8": "classifier.6"}
    sd = {f"{names[k.split('.')[0]]}.{k.split('.')[1]}": v for k, v in model.state_dict().items()}
    short = {k: v for k, v in sd.items() if k != "classifier.6.bias"}
    with pytest.raises(KeyError, match=r"missing classifier\.6\.bias\"?'?$"):
        onetower_state_dict_from_torch(short)
    with pytest.raises(KeyError, match=r"linear layers\): unexpected features\.1\.weight"):
        onetower_state_dict_from_torch(dict(sd, **{"features.1.weight": np.zeros(3)}))
