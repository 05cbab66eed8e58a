"""minialex.nn.Module and the containers, beyond tests/test_nn.py: exact
repr, buffers (assignment, registration, names), Module.to's dtype and
device rules, load_state_dict copying and checking shapes, ModuleList's
insert / setitem / delitem (issue 20: each test kills surviving mutants of
minialex/nn/module.py or container.py)."""

import re

import numpy as np
import pytest

from minialex import Tensor, nn
from minialex.backend import Device


class WithBuffers(nn.Module):
    """A parameter, a float buffer, an int64 and a bool buffer, and a child
    with a buffer of its own."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(np.ones(2, np.float32))
        self.register_buffer("avg", Tensor(np.zeros(2, np.float32)))
        self.register_buffer("count", Tensor(np.array(3, np.int64)))
        self.register_buffer("mask", Tensor(np.array([True, False])))
        self.child = nn.BatchNorm1d(2)


# ------------------------------------------------------------ repr
def test_repr_exactly_as_pytorch_prints_it():
    assert repr(nn.ReLU()) == "ReLU()"
    assert repr(nn.Module()) == "Module()"
    assert repr(nn.Sequential(nn.ReLU())) == "Sequential(\n  (0): ReLU()\n)"
    net = nn.Sequential(nn.Linear(2, 3), nn.Sequential(nn.ReLU(), nn.Identity()))
    assert repr(net) == (
        "Sequential(\n"
        "  (0): Linear(in_features=2, out_features=3, bias=True)\n"
        "  (1): Sequential(\n"
        "    (0): ReLU()\n"
        "    (1): Identity()\n"
        "  )\n"
        ")")


# ------------------------------------------------------------ buffers
def test_register_buffer_wraps_arrays_and_keeps_tensors():
    m = nn.Module()
    t = Tensor(np.arange(3.0))
    m.register_buffer("t", t)
    assert m.t is t and m.buffers()[0] is t                    # a Tensor is kept as it is
    m.register_buffer("a", np.array([1.0, 2.0]))
    assert isinstance(m.a, Tensor) and not isinstance(m.a.data, Tensor)
    np.testing.assert_array_equal(m.a.data, [1.0, 2.0])         # an array is wrapped once
    np.testing.assert_array_equal(m.state_dict()["a"], [1.0, 2.0])


def test_assigning_to_a_buffer_takes_a_tensor_and_refuses_anything_else():
    bn = nn.BatchNorm1d(2)
    new = Tensor(np.array([5.0, 6.0], np.float32))
    bn.running_mean = new
    assert bn.running_mean is new and dict(bn.named_buffers())["running_mean"] is new
    np.testing.assert_array_equal(bn.state_dict()["running_mean"], [5.0, 6.0])
    with pytest.raises(TypeError, match="buffer 'running_mean' must be a Tensor, got ndarray"):
        bn.running_mean = np.zeros(2, np.float32)


def test_named_buffers_are_dotted_below_the_top():
    m = WithBuffers()
    assert [n for n, _ in m.named_buffers()] == [
        "avg", "count", "mask", "child.running_mean", "child.running_var",
        "child.num_batches_tracked"]
    net = nn.Sequential(nn.BatchNorm2d(1))
    assert [n for n, _ in net.named_buffers()] == [
        "0.running_mean", "0.running_var", "0.num_batches_tracked"]


# ------------------------------------------------------------ to()
def test_to_casts_floating_tensors_only():
    m = WithBuffers().double()
    assert m.w.dtype == np.float64 and m.avg.dtype == np.float64
    assert m.child.running_var.dtype == np.float64
    assert m.count.dtype == np.int64 and m.mask.dtype == np.bool_          # not floating: kept
    assert m.child.num_batches_tracked.dtype == np.int64
    m.float()
    assert m.w.dtype == np.float32 and m.count.dtype == np.int64 and m.mask.dtype == np.bool_


@pytest.mark.parametrize("dtype", [np.int32, np.bool_, np.complex64, "int64", "bool"])
def test_to_refuses_a_dtype_that_is_not_floating(dtype):
    m = WithBuffers()
    with pytest.raises(TypeError, match="is not floating point"):
        m.to(dtype)
    with pytest.raises(TypeError, match="is not floating point"):
        m.to("cpu", dtype)
    assert m.w.dtype == np.float32


def test_to_a_device_moves_gradients_and_leaves_missing_ones_missing():
    m = WithBuffers()
    m.w.grad = np.array([0.5, -1.0], np.float32)
    assert m.to(Device("cpu:1")) is m                          # a Device object, not a dtype
    assert m.w.device == "cpu:1" and m.avg.device == "cpu:1" and m.w.dtype == np.float32
    assert isinstance(m.w.grad, np.ndarray) and m.w.grad.dtype == np.float32
    np.testing.assert_array_equal(m.w.grad, [0.5, -1.0])
    assert m.child.weight.grad is None and m.child.bias.grad is None   # stay None
    m.to("cpu:0", np.float64)
    assert m.w.device == "cpu:0" and m.child.weight.grad is None
    np.testing.assert_array_equal(m.w.grad, [0.5, -1.0])
    assert m.w.grad.dtype == np.float64


def test_to_without_arguments_changes_nothing_and_a_bad_device_names_itself():
    m = WithBuffers()
    assert m.to() is m and m.w.dtype == np.float32 and m.w.device == "cpu"
    with pytest.raises(ValueError, match="unknown device 3"):
        m.to(3)
    with pytest.raises(ValueError, match="unknown device"):
        m.to("gpu")
    with pytest.raises(ValueError, match="unknown device <class 'minialex.backend.Device'>"):
        m.to(Device)                   # the class, not a Device: a device error, not a dtype one


# ------------------------------------------------------------ load_state_dict
def test_load_state_dict_copies_the_arrays():
    m = WithBuffers()
    sd = m.state_dict()
    sd["w"] = np.array([2.0, 3.0], np.float32)                 # already the parameter's dtype
    m.load_state_dict(sd)
    sd["w"][:] = 7.0
    sd["avg"][:] = 7.0
    np.testing.assert_array_equal(m.w.data, [2.0, 3.0])
    np.testing.assert_array_equal(m.avg.data, [0.0, 0.0])
    assert not np.shares_memory(m.w.data, sd["w"])


@pytest.mark.parametrize("shape", [(1,), (3,), (2, 1), (), (0,)])
def test_load_state_dict_refuses_any_other_shape(shape):
    m = WithBuffers()
    sd = m.state_dict()
    sd["w"] = np.zeros(shape, np.float32)
    with pytest.raises(ValueError, match=re.escape(f"w: checkpoint {shape} vs model (2,)")):
        m.load_state_dict(sd)
    np.testing.assert_array_equal(m.w.data, [1.0, 1.0])


# ------------------------------------------------------------ ModuleList
def test_module_list_insert_setitem_delitem_renumber():
    a, b, c, d = nn.ReLU(), nn.Tanh(), nn.Linear(1, 2), nn.Linear(2, 1)
    layers = nn.ModuleList([a, b])
    layers.insert(1, c)
    assert list(layers) == [a, c, b] and len(layers) == 3
    assert [n for n, _ in layers.named_modules()] == ["", "0", "1", "2"]
    assert [n for n, _ in layers.named_parameters()] == ["1.weight", "1.bias"]
    layers[2] = d
    assert list(layers) == [a, c, d] and layers[2] is d and getattr(layers, "2") is d
    assert [n for n, _ in layers.named_parameters()] == [
        "1.weight", "1.bias", "2.weight", "2.bias"]
    del layers[0]
    assert list(layers) == [c, d] and len(layers) == 2
    assert [n for n, _ in layers.named_parameters()] == [
        "0.weight", "0.bias", "1.weight", "1.bias"]
    assert list(layers.state_dict()) == ["0.weight", "0.bias", "1.weight", "1.bias"]
