"""AlexNet: shapes, parameter count, the two-tower split and its transfers,
layout conversion, weights and checkpoint files."""

import numpy as np
import pytest

import minialex
from conftest import assert_cross_tower_transfers
from minialex import functional as F
from minialex.backend import DeviceMismatchError, record_transfers
from minialex.checkpoint import save_checkpoint, load_checkpoint
from minialex.models import (AlexNet, alexnet_cifar, towers_to_one, one_to_towers,
                             save_weights, load_weights)
from minialex.optim import SGD, MultiStepLR
from minialex.serialization import CheckpointError


def _batch(n, size=28, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 3, size, size)).astype(np.float32), rng.integers(0, 10, n)


@pytest.mark.parametrize("preset", ["small", "half", "paper"])
@pytest.mark.parametrize("towers", [1, 2])
def test_cifar_output_shapes(preset, towers):
    model = alexnet_cifar(preset, towers=towers)
    x, _ = _batch(2)
    assert model(minialex.Tensor(x)).shape == (2, 10)


def test_imagenet_parameter_count_and_shape():
    model = AlexNet()
    assert model.num_parameters() == 60_965_224        # the paper's "60 million"
    assert AlexNet(towers=1).num_parameters() == 60_965_224
    model.eval()
    x = np.random.default_rng(0).standard_normal((1, 3, 227, 227)).astype(np.float32)
    assert model(minialex.Tensor(x)).shape == (1, 1000)


def test_cifar_parameter_count_by_hand():
    # small preset: widths 32, 64, 96, 64, fc 512; groups=2 on conv2/4/5
    c1, c2, c3, c5, fc = 32, 64, 96, 64, 512
    expected = (c1 * 3 * 25 + c1) + (c2 * c1 // 2 * 25 + c2) + (c3 * c2 * 9 + c3) \
        + (c3 * c3 // 2 * 9 + c3) + (c5 * c3 // 2 * 9 + c5) \
        + (fc * c5 * 4 + fc) + (fc * fc + fc) + (10 * fc + 10)
    assert alexnet_cifar("small").num_parameters() == expected


def test_paper_init_biases_and_std():
    minialex.manual_seed(0)
    model = alexnet_cifar("small", towers=1, init="paper")
    params = dict(model.named_parameters())
    for layer in ("conv2", "conv4", "conv5", "fc6", "fc7"):
        assert np.all(params[f"trunk.{layer}.bias"].data == 1.0)
    assert np.all(params["trunk.conv1.bias"].data == 0.0)
    assert np.all(params["trunk.conv3.bias"].data == 0.0)
    assert np.all(params["fc8.bias"].data == 0.0)
    w = params["trunk.fc6.weight"].data
    assert abs(w.std() - 0.01) < 0.0005 and abs(w.mean()) < 0.0005


def test_kaiming_init_std():
    model = alexnet_cifar("half", towers=1, init="kaiming")
    w = dict(model.named_parameters())["trunk.conv3.weight"].data   # (192, 128, 3, 3)
    assert abs(w.std() - np.sqrt(2.0 / (192 * 9))) / np.sqrt(2.0 / (192 * 9)) < 0.02


def _pair():
    minialex.manual_seed(1)
    two = alexnet_cifar("small", towers=2, devices=("cpu:0", "cpu:1"), dropout=0.0)
    one = alexnet_cifar("small", towers=1, devices="cpu", dropout=0.0)
    one.load_state_dict(towers_to_one(two.state_dict()))
    return two, one


def test_two_towers_equal_one_tower_logits_and_grads():
    two, one = _pair()
    x, y = _batch(4)
    for m in (two, one):
        m.zero_grad()
        F.cross_entropy(m(minialex.Tensor(x)), y).backward()
    l2 = two(minialex.Tensor(x)).numpy()
    l1 = one(minialex.Tensor(x)).numpy()
    np.testing.assert_allclose(l2, l1, rtol=1e-4, atol=1e-5)
    g_two = towers_to_one({k: p.grad for k, p in two.named_parameters()})
    for k, p in one.named_parameters():
        scale = np.abs(p.grad).max() + 1e-12
        np.testing.assert_allclose(g_two[k] / scale, p.grad / scale, atol=1e-4, err_msg=k)


def test_layout_conversion_round_trip():
    two, _ = _pair()
    sd = two.state_dict()
    back = one_to_towers(towers_to_one(sd))
    assert set(back) == set(sd)
    for k in sd:
        np.testing.assert_array_equal(back[k], sd[k])


def test_tower_parameters_live_on_their_device():
    two, _ = _pair()
    for name, p in two.named_parameters():
        expected = "cpu:1" if name.startswith("tower1.") else "cpu:0"
        assert str(p.device) == expected, name


def test_transfers_only_at_cross_tower_layers():
    two, _ = _pair()
    x, y = _batch(2)
    opt = SGD(two.parameters(), lr=0.01)
    with record_transfers() as log:
        loss = F.cross_entropy(two(minialex.Tensor(x)), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert_cross_tower_transfers(log, "cpu:0", "cpu:1")


def test_one_device_makes_no_transfers():
    model = alexnet_cifar("small", towers=2, devices="cpu")
    x, y = _batch(2)
    with record_transfers() as log:
        F.cross_entropy(model(minialex.Tensor(x)), y).backward()
    assert log == []


def test_mixing_towers_without_transfer_fails():
    two, _ = _pair()
    h = minialex.Tensor(np.zeros((1, 64, 6, 6), np.float32), device="cpu:1")
    with pytest.raises(DeviceMismatchError, match="cpu:0.*cpu:1"):
        two.tower0.conv3(h)


def test_bad_input_shape_and_settings():
    model = alexnet_cifar("small")
    with pytest.raises(ValueError, match=r"\(N, 3, 28, 28\)"):
        model(minialex.Tensor(np.zeros((1, 3, 32, 32), np.float32)))
    with pytest.raises(ValueError, match="preset"):
        alexnet_cifar("huge")
    with pytest.raises(ValueError, match="towers"):
        alexnet_cifar("small", towers=3)
    with pytest.raises(ValueError, match="init"):
        alexnet_cifar("small", init="xavier")
    with pytest.raises(ValueError, match="one device"):
        alexnet_cifar("small", towers=1, devices=("cpu:0", "cpu:1"))


def test_weights_round_trip_and_mismatch(tmp_path):
    a = alexnet_cifar("small", towers=1)
    path = tmp_path / "w.npz"
    save_weights(a, path)
    b = alexnet_cifar("small", towers=1, init="paper")
    load_weights(b, path)
    for (k, p), (_, q) in zip(a.named_parameters(), b.named_parameters()):
        np.testing.assert_array_equal(p.data, q.data, err_msg=k)
    with pytest.raises(CheckpointError, match="preset"):
        load_weights(alexnet_cifar("half", towers=1), path)
    with pytest.raises(CheckpointError, match="towers"):
        load_weights(alexnet_cifar("small", towers=2), path)


def test_weights_file_is_not_a_pickle(tmp_path):
    path = tmp_path / "w.npz"
    np.savez(path, **{"trunk.conv1.weight": np.array([object()], dtype=object)})
    with pytest.raises(CheckpointError, match="corrupt"):
        load_weights(alexnet_cifar("small", towers=1), path)
    path.write_bytes(b"not a zip file")
    with pytest.raises(CheckpointError, match="corrupt"):
        load_weights(alexnet_cifar("small", towers=1), path)
    with pytest.raises(CheckpointError, match="no checkpoint"):
        load_weights(alexnet_cifar("small", towers=1), tmp_path / "missing.npz")


def test_checkpoint_round_trip_restores_training_exactly(tmp_path):
    x, y = _batch(8)

    def step(model, opt):
        loss = F.cross_entropy(model(minialex.Tensor(x)), y)   # dropout draws from the RNG
        opt.zero_grad()
        loss.backward()
        opt.step()

    minialex.manual_seed(3)
    a = alexnet_cifar("small", towers=1)
    opt_a = SGD(a.parameters(), lr=0.01)
    sched_a = MultiStepLR(opt_a, [1], gamma=0.1)
    step(a, opt_a)
    sched_a.step()
    save_checkpoint(tmp_path / "c.npz", a, opt_a, sched_a, epoch=1)
    step(a, opt_a)

    b = alexnet_cifar("small", towers=1, init="paper")
    opt_b = SGD(b.parameters(), lr=0.5)
    sched_b = MultiStepLR(opt_b, [7])
    info = load_checkpoint(tmp_path / "c.npz", b, opt_b, sched_b)
    assert info["epoch"] == 1 and opt_b.param_groups[0]["lr"] == pytest.approx(0.001)
    step(b, opt_b)
    for (k, p), (_, q) in zip(a.named_parameters(), b.named_parameters()):
        np.testing.assert_array_equal(p.data, q.data, err_msg=k)


def test_whole_net_matches_torch():
    """The one-tower CIFAR net equals the same layers in PyTorch (LRN alpha
    times size there), logits and every weight gradient."""
    torch = pytest.importorskip("torch")
    nn = torch.nn
    model = alexnet_cifar("small", towers=1, dropout=0.0)
    c1, c2, c3, c5, fc = 32, 64, 96, 64, 512

    def lrn():
        return nn.LocalResponseNorm(5, alpha=1e-4 * 5, beta=0.75, k=2.0)
    ref = nn.Sequential(
        nn.Conv2d(3, c1, 5, 1, 2), nn.ReLU(), lrn(), nn.MaxPool2d(3, 2),
        nn.Conv2d(c1, c2, 5, 1, 2, groups=2), nn.ReLU(), lrn(), nn.MaxPool2d(3, 2),
        nn.Conv2d(c2, c3, 3, 1, 1), nn.ReLU(), nn.Conv2d(c3, c3, 3, 1, 1, groups=2), nn.ReLU(),
        nn.Conv2d(c3, c5, 3, 1, 1, groups=2), nn.ReLU(), nn.MaxPool2d(3, 2), nn.Flatten(),
        nn.Linear(c5 * 4, fc), nn.ReLU(), nn.Linear(fc, fc), nn.ReLU(), nn.Linear(fc, 10))
    names = ["trunk.conv1", "trunk.conv2", "trunk.conv3", "trunk.conv4", "trunk.conv5",
             "trunk.fc6", "trunk.fc7", "fc8"]
    layers = [m for m in ref if isinstance(m, (nn.Conv2d, nn.Linear))]
    sd = model.state_dict()
    with torch.no_grad():
        for name, layer in zip(names, layers):
            layer.weight.copy_(torch.from_numpy(sd[name + ".weight"]))
            layer.bias.copy_(torch.from_numpy(sd[name + ".bias"]))
    x, y = _batch(16, seed=5)
    x *= 20.0                                  # a scale where LRN really divides
    logits = model(minialex.Tensor(x))
    loss = F.cross_entropy(logits, y)
    loss.backward()
    t_logits = ref(torch.from_numpy(x))
    t_loss = nn.functional.cross_entropy(t_logits, torch.from_numpy(y))
    t_loss.backward()
    assert loss.item() == pytest.approx(t_loss.item(), rel=1e-5)
    np.testing.assert_allclose(logits.numpy(), t_logits.detach().numpy(), rtol=1e-4,
                               atol=1e-4 * np.abs(logits.numpy()).max())
    params = dict(model.named_parameters())
    for name, layer in zip(names, layers):
        g, tg = params[name + ".weight"].grad, layer.weight.grad.numpy()
        np.testing.assert_allclose(g, tg, rtol=1e-3, atol=1e-4 * np.abs(tg).max(), err_msg=name)


@pytest.mark.parametrize("preset", ["small", "half", "paper"])
@pytest.mark.parametrize("towers", [1, 2])
def test_eval_mode_turns_dropout_off(preset, towers):
    # the same weights with dropout 0.5 and 0.0 give the same logits in eval
    # mode, and different ones in training mode (dropout really is on there)
    from minialex.models import alexnet_cifar
    on = alexnet_cifar(preset, towers=towers, dropout=0.5)
    off = alexnet_cifar(preset, towers=towers, dropout=0.0)
    off.load_state_dict(on.state_dict())
    x = minialex.Tensor(np.random.default_rng(0).standard_normal((2, 3, 28, 28)).astype("float32"))
    on.eval(), off.eval()
    with minialex.no_grad():
        np.testing.assert_array_equal(on(x).numpy(), off(x).numpy())
        on.train()
        assert not np.array_equal(on(x).numpy(), off(x).numpy())


def test_imagenet_alexnet_eval_mode_turns_dropout_off():
    from minialex.models import AlexNet
    on, off = AlexNet(num_classes=5, dropout=0.5), AlexNet(num_classes=5, dropout=0.0)
    off.load_state_dict(on.state_dict())
    x = minialex.Tensor(np.random.default_rng(1).standard_normal((1, 3, 227, 227)).astype("float32"))
    on.eval(), off.eval()
    with minialex.no_grad():
        np.testing.assert_array_equal(on(x).numpy(), off(x).numpy())
