"""Devices: logical CPU devices, placement errors, explicit differentiable
transfers, and the CUDA error without CuPy or a GPU."""

import numpy as np
import pytest

import minialex
from minialex import Device, DeviceMismatchError, CudaUnavailableError, Tensor
from minialex import functional as F
from minialex.backend import cupy_available, get_device

HAVE_GPU = cupy_available()


def test_cpu_devices():
    d0, d1 = Device("cpu"), Device("cpu:1")
    assert d0.type == "cpu" and d0.index == 0 and d0.xp is np
    assert d1.index == 1 and d1.xp is np
    assert d0 == Device("cpu:0") and d0 == "cpu" and d0 == "cpu:0"
    assert d0 != d1 and d1 != "cpu" and d0 != "cuda:0"
    assert hash(Device("cpu")) == hash(Device("cpu:0"))
    assert len({Device("cpu"), Device("cpu:0"), Device("cpu:1")}) == 2
    assert str(d1) == "cpu:1" and repr(d1) == "Device('cpu:1')"
    assert get_device(None) == "cpu" and get_device(d1) is d1 and get_device("cpu:1") == d1
    with d1:                       # a no-op context on the CPU
        pass


@pytest.mark.parametrize("bad", ["gpu", "cpu:", "cuda:-1", "cpu:x", "CPU", "tpu:0", 0, 1.5])
def test_bad_device_strings(bad):
    with pytest.raises(ValueError, match="unknown device.*'cpu', 'cpu:<i>'"):
        Device(bad)


@pytest.mark.skipif(HAVE_GPU, reason="CuPy and a GPU are present here")
@pytest.mark.parametrize("spec", ["cuda", "cuda:0", "cuda:1"])
def test_cuda_without_cupy_or_gpu_says_what_to_do(spec):
    with pytest.raises(CudaUnavailableError) as info:
        Device(spec)
    msg = str(info.value)
    assert "cpu" in msg                       # what to pass instead
    try:
        import cupy  # noqa: F401
    except ImportError:
        assert "pip install" in msg and "cupy-cuda12x" in msg   # what to install
    with pytest.raises(CudaUnavailableError):
        Tensor(np.ones(2), device=spec)
    assert issubclass(CudaUnavailableError, RuntimeError)


@pytest.mark.skipif(not HAVE_GPU, reason="needs CuPy and a GPU")
def test_cuda_roundtrip_when_present():
    x = Tensor(np.arange(4.0, dtype=np.float32), requires_grad=True)
    y = x.to("cuda:0")
    assert y.device == "cuda:0" and y.dtype == np.float32
    (y * y).sum().backward()
    assert x.device == "cpu" and isinstance(x.grad, np.ndarray)
    np.testing.assert_array_equal(x.grad, [0, 2, 4, 6])


def test_tensors_remember_logical_device():
    x = Tensor(np.ones(3), device="cpu:1", requires_grad=True)
    assert x.device == "cpu:1"
    y = (x * 2.0 + 1.0).sum()          # constants join x on its device
    assert y.device == "cpu:1"
    y.backward()
    np.testing.assert_array_equal(x.grad, [2.0, 2.0, 2.0])


@pytest.mark.parametrize("op", [
    lambda a, b: a + b, lambda a, b: a - b, lambda a, b: a * b, lambda a, b: a / b,
    lambda a, b: a @ b, lambda a, b: F.concatenate([a, b]),
    lambda a, b: F.linear(a.reshape(1, 2), b.reshape(1, 2)),
])
def test_mixing_devices_names_both(op):
    a = Tensor(np.ones(2), device="cpu:0")
    b = Tensor(np.ones(2), device="cpu:1")
    with pytest.raises(DeviceMismatchError, match=r"cpu:0 and cpu:1.*\.to\("):
        op(a, b)
    with pytest.raises(DeviceMismatchError, match="cpu:1 and cpu:0"):
        op(b, a)


def test_cross_entropy_labels_on_other_device():
    z = Tensor(np.zeros((2, 3)), device="cpu:1", requires_grad=True)
    with pytest.raises(DeviceMismatchError, match="logits on cpu:1 and labels on cpu:0"):
        F.cross_entropy(z, Tensor(np.array([0, 1])))
    F.cross_entropy(z, Tensor(np.array([0, 1]), device="cpu:1")).backward()
    F.cross_entropy(z, np.array([0, 1]))   # a plain array joins the logits' device


def test_backward_grad_on_other_device():
    x = Tensor(np.ones(2), device="cpu:1", requires_grad=True)
    y = x * 2.0
    with pytest.raises(DeviceMismatchError, match="cpu:0 for a tensor on cpu:1"):
        y.backward(Tensor(np.ones(2)))


def test_to_is_a_differentiable_copy():
    x = Tensor(np.array([1.0, 2.0, 3.0]), device="cpu:0", requires_grad=True)
    with minialex.record_transfers() as log:
        y = x.to("cpu:1")
        assert y.device == "cpu:1" and y.creator is not None
        assert not np.shares_memory(x.data, y.data)    # a real copy, as between GPUs
        z = (y * y).sum()                               # computed on cpu:1
        z.backward()
    assert x.grad is not None and x.device == "cpu:0"
    np.testing.assert_array_equal(x.grad, [2.0, 4.0, 6.0])
    assert log == [
        {"src": "cpu:0", "dst": "cpu:1", "shape": (3,), "direction": "forward", "tag": None},
        {"src": "cpu:1", "dst": "cpu:0", "shape": (3,), "direction": "backward", "tag": None},
    ]


def test_to_same_device_is_identity_and_not_recorded():
    x = Tensor(np.ones(2), device="cpu:1")
    with minialex.record_transfers() as log:
        assert x.to("cpu:1") is x
        assert Tensor(np.ones(1)).to("cpu:0").device == "cpu"
    assert log == []


def test_two_tower_placement_with_transfers():
    """Two towers on cpu:0 and cpu:1 that exchange activations, like the
    paper's two-GPU net: the gradients match the same net on one device."""
    rng = np.random.default_rng(0)
    xa, w0, w1 = rng.standard_normal((4, 3)), rng.standard_normal((3, 3)), rng.standard_normal((3, 3))

    def run(dev0, dev1):
        x = Tensor(xa.copy(), device=dev0)
        W0 = Tensor(w0.copy(), device=dev0, requires_grad=True)
        W1 = Tensor(w1.copy(), device=dev1, requires_grad=True)
        with minialex.record_transfers() as log:
            h0 = F.relu(x @ W0)                         # tower 0
            h1 = F.relu(x.to(dev1, tag="input") @ W1)   # tower 1
            out = F.concatenate([h0, h1.to(dev0, tag="cross")], axis=1)
            loss = F.cross_entropy(out, np.array([0, 1, 2, 3]))
            loss.backward()
        return loss.item(), W0.grad, W1.grad, log

    l_one, g0_one, g1_one, log_one = run("cpu:0", "cpu:0")
    l_two, g0_two, g1_two, log_two = run("cpu:0", "cpu:1")
    assert log_one == []
    assert [(e["tag"], e["direction"]) for e in log_two] == [
        ("input", "forward"), ("cross", "forward"), ("cross", "backward")]
    # x needs no grad, so its copy sends no gradient back
    assert l_one == l_two
    np.testing.assert_array_equal(g0_one, g0_two)
    np.testing.assert_array_equal(g1_one, g1_two)


def test_nested_record_transfers():
    x = Tensor(np.ones(2), requires_grad=True)
    with minialex.record_transfers() as outer:
        x.to("cpu:1")
        with minialex.record_transfers() as inner:
            x.to("cpu:2", tag="t")
    assert len(outer) == 2 and len(inner) == 1 and inner[0]["dst"] == "cpu:2"
    x.to("cpu:1")
    assert len(outer) == 2     # recording stopped with the block


def test_gradcheck_through_a_transfer():
    x = Tensor(np.random.default_rng(0).standard_normal((2, 3)), requires_grad=True)
    assert minialex.gradcheck(lambda x: (x.to("cpu:1") * 2.0).to("cpu:0") * x, [x])
