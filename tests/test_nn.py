"""minialex.nn: Parameter, Module, Sequential, Linear, ReLU, Dropout, Flatten."""

import numpy as np
import pytest

import minialex
from minialex import Tensor, nn
from minialex import functional as F


class TwoLayer(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(4, 3)
        self.act = nn.ReLU()
        self.drop = nn.Dropout(0.5)
        self.fc2 = nn.Linear(3, 2, bias=False)
        self.scale = nn.Parameter(np.ones(2, dtype=np.float32))

    def forward(self, x):
        return self.fc2(self.drop(self.act(self.fc1(x)))) * self.scale


def test_parameter_is_a_tensor_that_requires_grad():
    p = nn.Parameter(np.zeros(3, dtype=np.float32))
    assert isinstance(p, Tensor) and p.requires_grad and p.dtype == np.float32
    assert repr(p).startswith("Parameter(")


def test_parameters_are_registered_in_order():
    m = TwoLayer()
    names = [n for n, _ in m.named_parameters()]
    assert names == ["scale", "fc1.weight", "fc1.bias", "fc2.weight"]
    assert [id(p) for p in m.parameters()] == [id(p) for _, p in m.named_parameters()]
    assert m.num_parameters() == 2 + 12 + 3 + 6
    assert [n for n, _ in m.named_modules()] == ["", "fc1", "act", "drop", "fc2"]
    assert list(m.children())[0] is m.fc1
    # reassigning replaces the registration; None removes it
    m.fc1.bias = None
    assert "fc1.bias" not in dict(m.named_parameters())


def test_module_needs_super_init():
    class Bad(nn.Module):
        def __init__(self):
            self.w = nn.Parameter(np.ones(1))

    with pytest.raises(AttributeError, match=r"call super\(\)\.__init__\(\)"):
        Bad()


def test_linear_layer():
    minialex.manual_seed(0)
    lin = nn.Linear(5, 3)
    assert lin.weight.shape == (3, 5) and lin.bias.shape == (3,)
    assert lin.weight.dtype == np.float32
    bound = 1 / np.sqrt(5)
    assert np.abs(lin.weight.data).max() <= bound and np.abs(lin.bias.data).max() <= bound
    x = Tensor(np.random.default_rng(1).standard_normal((2, 5)).astype(np.float32))
    y = lin(x)
    np.testing.assert_allclose(y.data, x.data @ lin.weight.data.T + lin.bias.data, rtol=1e-6)
    assert y.dtype == np.float32
    assert "in_features=5, out_features=3, bias=True" in repr(lin)
    minialex.manual_seed(0)
    np.testing.assert_array_equal(nn.Linear(5, 3).weight.data, lin.weight.data)  # seeded init


def test_linear_module_gradcheck():
    lin = nn.Linear(3, 2, dtype=np.float64)
    x = Tensor(np.random.default_rng(0).standard_normal((4, 3)), requires_grad=True)
    assert minialex.gradcheck(lambda x, w, b: lin(x), [x, lin.weight, lin.bias])


def test_relu_flatten_sequential():
    net = nn.Sequential(nn.Flatten(), nn.ReLU(), nn.Linear(6, 2))
    assert len(net) == 3 and isinstance(net[2], nn.Linear) and list(net)[0] is net[0]
    x = Tensor(np.arange(-6.0, 6.0).reshape(2, 3, 2).astype(np.float32))
    h = net[1](net[0](x))
    np.testing.assert_array_equal(h.data, np.maximum(x.data.reshape(2, 6), 0))
    assert net(x).shape == (2, 2)
    assert [n for n, _ in net.named_parameters()] == ["2.weight", "2.bias"]
    assert nn.Flatten(0)(x).shape == (12,)
    assert "(2): Linear(in_features=6" in repr(net)
    with pytest.raises(TypeError, match="Sequential item 1 is int"):
        nn.Sequential(nn.ReLU(), 3)


def test_train_eval_propagate_and_control_dropout():
    m = TwoLayer()
    assert all(mod.training for mod in m.modules())
    assert m.eval() is m
    assert not any(mod.training for mod in m.modules())
    x = Tensor(np.ones((8, 4), dtype=np.float32))
    np.testing.assert_array_equal(m(x).data, m(x).data)         # eval: deterministic
    h = m.act(m.fc1(x))
    np.testing.assert_array_equal(m.drop(h).data, h.data)       # eval: identity
    m.train()
    assert all(mod.training for mod in m.modules())
    y = m.drop(Tensor(np.ones((50, 40), dtype=np.float32))).data
    assert set(np.unique(y)) == {0.0, 2.0}                      # train: inverted dropout
    with pytest.raises(ValueError, match=r"\[0, 1\), got p=1"):
        nn.Dropout(1)
    assert "p=0.5" in repr(nn.Dropout())


def test_dropout_layer_follows_manual_seed():
    x = Tensor(np.ones((4, 8), dtype=np.float32))
    minialex.manual_seed(5)
    a = nn.Dropout()(x).data
    minialex.manual_seed(5)
    np.testing.assert_array_equal(nn.Dropout()(x).data, a)


def test_zero_grad():
    m = TwoLayer().eval()
    m(Tensor(np.ones((2, 4), dtype=np.float32))).sum().backward()
    assert all(p.grad is not None for p in m.parameters())
    m.zero_grad()
    assert all(p.grad is None for p in m.parameters())


def test_state_dict_round_trip():
    minialex.manual_seed(1)
    a = TwoLayer()
    sd = a.state_dict()
    assert list(sd) == ["scale", "fc1.weight", "fc1.bias", "fc2.weight"]
    assert all(isinstance(v, np.ndarray) for v in sd.values())
    assert not np.shares_memory(sd["fc1.weight"], a.fc1.weight.data)   # a copy
    b = TwoLayer()
    assert not np.array_equal(b.fc1.weight.data, a.fc1.weight.data)
    b.load_state_dict(sd)
    for (n, p), (_, q) in zip(a.named_parameters(), b.named_parameters()):
        np.testing.assert_array_equal(p.data, q.data)
        assert q.dtype == np.float32
    x = Tensor(np.ones((3, 4), dtype=np.float32))
    np.testing.assert_array_equal(a.eval()(x).data, b.eval()(x).data)
    # float64 entries are cast to the parameter's dtype
    b.load_state_dict({k: v.astype(np.float64) for k, v in sd.items()})
    assert b.fc1.weight.dtype == np.float32


def test_load_state_dict_refuses_missing_and_unexpected():
    m = TwoLayer()
    sd = m.state_dict()
    del sd["fc1.bias"]
    sd["fc3.weight"] = np.zeros((1, 1))
    sd["extra"] = np.zeros(1)
    with pytest.raises(KeyError) as info:
        m.load_state_dict(sd)
    msg = str(info.value)
    assert "missing entries: fc1.bias" in msg
    assert "unexpected entries: fc3.weight, extra" in msg


def test_load_state_dict_refuses_mis_shaped():
    m = TwoLayer()
    before = m.fc2.weight.data.copy()
    sd = m.state_dict()
    sd["fc1.weight"] = np.zeros((4, 3), dtype=np.float32)
    sd["scale"] = np.zeros(3, dtype=np.float32)
    sd["fc2.weight"] = np.zeros((2, 3), dtype=np.float32)   # right shape
    with pytest.raises(ValueError) as info:
        m.load_state_dict(sd)
    msg = str(info.value)
    assert "fc1.weight: checkpoint (4, 3) vs model (3, 4)" in msg
    assert "scale: checkpoint (3,) vs model (2,)" in msg
    np.testing.assert_array_equal(m.fc2.weight.data, before)   # nothing loaded


def test_module_to_moves_parameters():
    m = TwoLayer()
    x = Tensor(np.ones((2, 4), dtype=np.float32))
    m.eval()(x).sum().backward()
    assert m.to("cpu:1") is m
    assert all(p.device == "cpu:1" for p in m.parameters())
    with pytest.raises(minialex.DeviceMismatchError, match="cpu:0 and cpu:1|cpu:1 and cpu:0"):
        m(x)
    y = m(x.to("cpu:1"))
    assert y.device == "cpu:1"
    y.sum().backward()
    # state_dict still comes back as host arrays; loading keeps the device
    m.load_state_dict(m.state_dict())
    assert all(p.device == "cpu:1" for p in m.parameters())


def test_training_step_reduces_the_loss():
    minialex.manual_seed(0)
    net = nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 2))
    x = Tensor(np.array([[1.0, 0.0], [0.0, 1.0]], dtype=np.float32))
    labels = np.array([0, 1])
    losses = []
    for _ in range(20):
        net.zero_grad()
        loss = F.cross_entropy(net(x), labels)
        loss.backward()
        losses.append(loss.item())
        with minialex.no_grad():
            for p in net.parameters():
                p.data -= np.float32(0.5) * p.grad
    assert losses[-1] < 0.5 * losses[0]
