"""The autograd engine: Tensor basics, the backward sweep (topological
order, accumulation, freeing), no_grad, and its errors."""

import gc
import weakref

import numpy as np
import pytest

import minialex
from minialex import Function, Tensor
from minialex import functional as F
from minialex.functions.linear import Linear


# ------------------------------------------------------------------ Tensor basics
def test_tensor_attributes():
    x = Tensor(np.arange(6.0).reshape(2, 3))
    assert x.shape == (2, 3) and x.ndim == 2 and x.numel() == 6 and len(x) == 2
    assert x.size() == (2, 3) and x.size(1) == 3 and x.size(-2) == 2
    assert x.dtype == np.float64            # ndarrays keep their dtype
    assert str(x.device) == "cpu:0" and x.device == "cpu"
    assert x.grad is None and x.requires_grad is False and x.is_leaf
    assert isinstance(x.numpy(), np.ndarray)
    np.testing.assert_array_equal(x.numpy(), np.arange(6.0).reshape(2, 3))
    assert "device='cpu:0'" in repr(x)


def test_python_data_becomes_float32():
    assert Tensor(1.5).dtype == np.float32
    assert Tensor([1.0, 2.0]).dtype == np.float32
    assert Tensor([1, 2]).dtype == np.int64     # integers stay integers (labels)
    assert Tensor(np.float32(2.0)).dtype == np.float32


def test_item():
    assert Tensor(np.array([[2.5]])).item() == 2.5
    assert isinstance(Tensor(np.float32(1.0)).item(), float)
    with pytest.raises(ValueError, match=r"one element, got shape \(2,\)"):
        Tensor([1.0, 2.0]).item()


def test_integer_tensor_cannot_require_grad():
    with pytest.raises(TypeError, match="only floating-point tensors can require grad.*int64"):
        Tensor(np.array([1, 2]), requires_grad=True)


def test_tensor_of_tensor_keeps_device():
    x = Tensor([1.0], device="cpu:1")
    assert Tensor(x).device == "cpu:1"
    assert Tensor(x, device="cpu:0").device == "cpu:0"


def test_detach_cuts_the_graph():
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True, device="cpu:1")
    y = x * 3.0
    d = y.detach()
    assert d.creator is None and not d.requires_grad and d.device == "cpu:1"
    assert np.shares_memory(d.data, y.data)
    z = (d * x).sum()
    z.backward()
    np.testing.assert_array_equal(x.grad, [3.0, 6.0])   # no path through d


def test_operators_and_indexing():
    a = Tensor(np.array([[1.0, 2.0], [3.0, 4.0]]))
    np.testing.assert_array_equal((a + 1).data, [[2, 3], [4, 5]])
    np.testing.assert_array_equal((np.ones(2) + a).data, [[2, 3], [4, 5]])
    np.testing.assert_array_equal((np.ones(2) * a).data, a.data)
    assert isinstance(np.ones(2) - a, Tensor)          # ndarray defers to Tensor
    np.testing.assert_array_equal((np.eye(2) @ a).data, a.data)
    np.testing.assert_array_equal(a[0, 1:].data, [2.0])
    np.testing.assert_array_equal((-a)[1].data, [-3, -4])
    np.testing.assert_array_equal(a.relu().data, a.data)


# ------------------------------------------------------------------ backward
def test_tensor_used_twice_accumulates():
    # y = x*x + x: dy/dx = 2x + 1 (two paths into x, summed)
    x = Tensor(np.array([1.0, -2.0, 3.0]), requires_grad=True)
    y = x * x + x
    y.backward(np.ones(3))
    np.testing.assert_array_equal(x.grad, [3.0, -3.0, 7.0])


def test_diamond_graph():
    # a -> b = 2a, c = a^2 -> d = b * c = 2a^3; dd/da = 6a^2
    a = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    b = a * 2.0
    c = a * a
    d = (b * c).sum()
    d.backward()
    np.testing.assert_array_equal(a.grad, [6.0, 24.0])


def test_reverse_topological_order_on_a_long_chain():
    # an intermediate used early and late: h feeds both the next step and the end
    x = Tensor(np.array([2.0]), requires_grad=True)
    h = x * 1.0
    y = h
    for _ in range(10):
        y = y * 1.0 + 0.0
    z = (y * h).sum()          # z = x^2, dz/dx = 2x
    z.backward()
    np.testing.assert_array_equal(x.grad, [4.0])


def test_accumulates_across_two_backward_calls():
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    (x * x).sum().backward()
    (x * 3.0).sum().backward()          # a second graph: grads add up
    np.testing.assert_array_equal(x.grad, [2 + 3, 4 + 3])
    y = (x * x).sum()
    x.grad = None
    y.backward(retain_graph=True)
    y.backward()                        # the same graph twice, kept alive
    np.testing.assert_array_equal(x.grad, [4.0, 8.0])


def test_backward_twice_without_retain_graph_says_so():
    x = Tensor(np.array([1.0]), requires_grad=True)
    y = (x * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="freed by an earlier backward.*retain_graph=True"):
        y.backward()


def test_non_scalar_backward_needs_grad():
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    y = x * 2.0
    with pytest.raises(RuntimeError, match=r"one-element tensor, got shape \(2,\).*grad="):
        y.backward()
    with pytest.raises(ValueError, match=r"grad has shape \(3,\), expected \(2,\)"):
        y.backward(np.ones(3))
    y.backward(Tensor(np.array([1.0, 10.0])))
    np.testing.assert_array_equal(x.grad, [2.0, 20.0])


def test_one_element_non_scalar_backward():
    x = Tensor(np.array([[3.0]]), requires_grad=True)
    (x * x).backward()             # shape (1, 1): one element, seed 1
    np.testing.assert_array_equal(x.grad, [[6.0]])


def test_backward_on_a_leaf():
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    g = np.array([5.0, 6.0])
    x.backward(g)
    np.testing.assert_array_equal(x.grad, g)
    assert not np.shares_memory(x.grad, g)   # .grad never aliases the caller's array


def test_backward_without_graph_raises():
    x = Tensor(np.array([1.0]))
    with pytest.raises(RuntimeError, match="does not require grad"):
        (x * 2.0).backward()


def test_leaf_grads_never_alias():
    # add passes gy straight through to both inputs; each .grad must be its own array
    a = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    b = Tensor(np.array([3.0, 4.0]), requires_grad=True)
    (a + b).backward(np.array([1.0, 1.0]))
    assert not np.shares_memory(a.grad, b.grad)
    a.grad += 1.0
    np.testing.assert_array_equal(b.grad, [1.0, 1.0])


def test_requires_grad_false_input_gets_no_grad():
    w = Tensor(np.array([2.0]), requires_grad=True)
    c = Tensor(np.array([5.0]))
    (w * c).sum().backward()
    assert c.grad is None
    np.testing.assert_array_equal(w.grad, [5.0])


# ------------------------------------------------------------------ no_grad
def test_no_grad_records_no_graph():
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    with minialex.no_grad():
        assert not minialex.is_grad_enabled()
        y = (x * 2.0).sum()
        with minialex.enable_grad():
            z = x * 2.0
    assert minialex.is_grad_enabled()
    assert y.creator is None and y.requires_grad is False
    assert z.creator is not None and z.requires_grad
    with pytest.raises(RuntimeError, match="no_grad"):
        y.backward()


def test_no_grad_is_restored_after_an_exception():
    with pytest.raises(ZeroDivisionError):
        with minialex.no_grad():
            1 / 0
    assert minialex.is_grad_enabled()


def test_needs_input_grad_is_set_before_forward():
    seen = []

    class Probe(Function):
        def forward(self, a, b):
            seen.append(self.needs_input_grad)
            return a + b

        def backward(self, gy):
            return gy, gy

    a = Tensor(np.ones(2), requires_grad=True)
    b = Tensor(np.ones(2))
    Probe()(a, b)
    with minialex.no_grad():
        Probe()(a, b)
    assert seen == [(True, False), (False, False)]


# ------------------------------------------------------------------ custom Functions
class Square(Function):
    def forward(self, x):
        self.x = x
        return x * x

    def backward(self, gy):
        return 2 * self.x * gy


class SplitTwo(Function):
    """Two outputs: (x, 3x)."""
    def forward(self, x):
        return x.copy(), 3 * x

    def backward(self, g1, g2):
        return g1 + 3 * g2


def test_custom_function():
    x = Tensor(np.array([3.0]), requires_grad=True)
    Square()(x).backward()
    np.testing.assert_array_equal(x.grad, [6.0])


def test_multi_output_function_gets_zeros_for_unused_outputs():
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    y1, y2 = SplitTwo()(x)
    y2.sum().backward()          # y1 unused: its gradient arrives as zeros
    np.testing.assert_array_equal(x.grad, [3.0, 3.0])
    x.grad = None
    y1, y2 = SplitTwo()(x)
    (y1 * 2.0 + y2).sum().backward()
    np.testing.assert_array_equal(x.grad, [5.0, 5.0])


def test_backward_returning_wrong_shape_or_count_is_reported():
    class BadShape(Function):
        def forward(self, x):
            return x.sum()

        def backward(self, gy):
            return gy          # shape () instead of x's shape

    class BadCount(Function):
        def forward(self, a, b):
            return a + b

        def backward(self, gy):
            return gy

    x = Tensor(np.ones(3), requires_grad=True)
    with pytest.raises(RuntimeError, match=r"BadShape.backward returned a gradient of shape \(\)"):
        BadShape()(x).backward()
    with pytest.raises(RuntimeError, match="BadCount.backward returned 1 gradients for 2 inputs"):
        BadCount()(x, x).sum().backward()


# ------------------------------------------------------------------ memory
def test_intermediate_tensors_and_grads_are_freed():
    """After backward (no retain_graph) the graph no longer holds the
    intermediate tensors: only the user's references keep them."""
    x = Tensor(np.ones(1000), requires_grad=True)
    h = x * 2.0
    ref = weakref.ref(h)
    loss = (h * h).sum()
    del h
    assert ref() is not None            # the graph keeps h alive until backward
    loss.backward()
    gc.collect()
    assert ref() is None
    np.testing.assert_array_equal(x.grad, np.full(1000, 8.0))


def test_engine_releases_tensors_and_grads_during_the_sweep():
    """While backward runs, an intermediate output and its gradient are
    released as soon as the Function that made it has run (peak memory of
    the sweep), not at the end."""
    refs, alive = {}, []

    class Early(Function):          # runs last in the sweep
        def forward(self, x):
            return x * 2

        def backward(self, gy):
            alive.append((refs["y"]() is not None, refs["gy"]() is not None))
            return gy * 2

    class Late(Function):           # runs first in the sweep
        def forward(self, h):
            return h * 3

        def backward(self, gy):
            refs["gy"] = weakref.ref(gy)
            return gy * 3

    x = Tensor(np.ones(4), requires_grad=True)
    y = Late()(Early()(x))
    refs["y"] = weakref.ref(y)
    loss = y.sum()
    del y
    loss.backward()
    assert alive == [(False, False)]
    np.testing.assert_array_equal(x.grad, np.full(4, 6.0))


def test_backward_is_iterative_on_deep_graphs():
    # a recursive sweep would overflow Python's stack at this depth
    x = Tensor(np.array([1.0]), requires_grad=True)
    y = x
    for _ in range(3000):
        y = y + 0.0
    y.backward()
    np.testing.assert_array_equal(x.grad, [1.0])


# ------------------------------------------------------------------ dtype
def test_float32_graph_keeps_float32():
    x = Tensor(np.ones((2, 2), dtype=np.float32), requires_grad=True)
    y = ((x * 2.0 + 1) / 3 - 0.5) @ x
    loss = F.cross_entropy(y, np.array([0, 1])) + y.mean() * 0.1
    assert y.dtype == np.float32 and loss.dtype == np.float32
    loss.backward()
    assert x.grad.dtype == np.float32


class _Twice(minialex.Function):
    """y = a + b whose backward hands the SAME new array to both inputs."""
    returns_new_arrays = True

    def forward(self, a, b):
        return a + b

    def backward(self, gy):
        g = gy * 1.0
        return g, g


class _Saved(minialex.Function):
    """y = 2 a whose backward returns an array it keeps (not new)."""

    def forward(self, a):
        self.two = np.full(a.shape, 2.0)
        return 2.0 * a

    def backward(self, gy):
        self.two *= gy
        return self.two


def test_leaf_gradients_never_alias_each_other_or_saved_arrays():
    a = minialex.Tensor(np.ones(3), requires_grad=True)
    b = minialex.Tensor(np.ones(3), requires_grad=True)
    _Twice()(a, b).backward(np.arange(3.0))
    np.testing.assert_array_equal(a.grad, [0.0, 1.0, 2.0])
    np.testing.assert_array_equal(b.grad, [0.0, 1.0, 2.0])
    assert not np.shares_memory(a.grad, b.grad)
    fn = _Saved()
    c = minialex.Tensor(np.ones(3), requires_grad=True)
    fn(c).backward(np.ones(3))
    assert not np.shares_memory(c.grad, fn.two)      # copied: the Function keeps it


def test_linear_weight_takes_its_new_gradient_array_without_a_copy():
    x = minialex.Tensor(np.ones((2, 3)), requires_grad=True)
    w = minialex.Tensor(np.ones((4, 3)), requires_grad=True)
    seen = []
    original = Linear.backward

    def spy(self, gy):
        grads = original(self, gy)
        seen.extend(grads)
        return grads
    Linear.backward = spy
    try:
        F.linear(x, w).sum().backward()
    finally:
        Linear.backward = original
    assert w.grad is seen[1] and x.grad is seen[0]     # moved, not copied
    np.testing.assert_array_equal(w.grad, np.full((4, 3), 2.0))


# ------------------------------------------------------------------ Function.__call__'s rules
def test_inputs_on_two_devices_are_refused_naming_both():
    a = Tensor(np.ones(2), device="cpu:0")
    b = Tensor(np.ones(2), device="cpu:1")
    with pytest.raises(minialex.DeviceMismatchError, match=r"got inputs on different devices: "
                                                           r"cpu:0 and cpu:1.*\.to\('cpu:0'\)"):
        a + b
    with pytest.raises(minialex.DeviceMismatchError, match="cpu:1 and cpu:0"):
        b * a
    with pytest.raises(minialex.DeviceMismatchError, match="cpu:1 and cpu:0"):
        F.concatenate([b, Tensor(np.ones(2), device="cpu:1"), a])   # the third one differs


def test_inputs_on_one_device_given_by_separate_names_are_accepted():
    # each Tensor(..., device="cpu:1") builds its own Device object: the
    # engine compares devices by value, not identity
    a = Tensor(np.array([1.0, 2.0]), device="cpu:1", requires_grad=True)
    b = Tensor(np.array([3.0, 4.0]), device="cpu:1")
    y = a * b + 1.0                       # the constant goes to cpu:1 too
    assert y.device == "cpu:1"
    np.testing.assert_array_equal(y.data, [4.0, 9.0])
    y.backward(Tensor(np.array([1.0, 10.0]), device="cpu:1"))
    np.testing.assert_array_equal(a.grad, [3.0, 40.0])


class _ScaleByConstant(Function):
    """y = x * c for inputs (mask, x, c): records the arrays it received."""

    def forward(self, mask, x, c):
        self.c = c
        return x * c

    def backward(self, gy):
        return None, gy * self.c, None


@pytest.mark.parametrize("mask", [np.array([True, False]), np.array([1, 0])],
                         ids=["bool", "int64"])
def test_a_python_number_takes_the_dtype_of_the_first_float_tensor(mask):
    # the non-float mask comes first: the constant 0.5 must still become
    # float32 (x's dtype), not bool (True) or int64 (0)
    fn = _ScaleByConstant()
    x = Tensor(np.array([2.0, 4.0], np.float32), requires_grad=True)
    y = fn(Tensor(mask), x, 0.5)
    assert fn.c.dtype == np.float32 and fn.c == 0.5
    assert y.dtype == np.float32
    np.testing.assert_array_equal(y.data, [1.0, 2.0])
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, [0.5, 0.5])


def test_a_function_returns_one_tensor_a_tuple_or_nothing():
    class Nothing(Function):
        def forward(self, x):
            return ()

    class Two(Function):
        def forward(self, x):
            return x * 2, x * 3

    x = Tensor(np.array([1.0]), requires_grad=True)
    assert Nothing()(x) == ()
    y = Square()(x)
    assert isinstance(y, Tensor) and y.output_index == 0
    a, b = Two()(x)
    assert (x.output_index, a.output_index, b.output_index) == (0, 0, 1)
    np.testing.assert_array_equal(b.data, [3.0])


def test_is_leaf_and_the_graph_attributes():
    x = Tensor(np.array([1.0]), requires_grad=True)
    y = x * 2.0
    assert x.is_leaf is True and y.is_leaf is False
    assert x.creator is None and y.creator is not None


def test_generation_is_the_longest_path_from_a_leaf():
    # the sweep's order: a Function runs after every newer one. In the
    # diamond a -> b = 2a -> c = a*b -> d = b + c, by hand: 0, 1, 2, 3
    a = Tensor(np.array([1.0]), requires_grad=True)
    b = a * 2.0
    c = a * b
    d = b + c
    assert (a.generation, b.generation, c.generation, d.generation) == (0, 1, 2, 3)
    assert Tensor(np.array([1.0])).generation == 0 and d.detach().generation == 0
    assert d.creator.generation == 2              # its newest input's


# ------------------------------------------------------------------ _check_grads
def test_backward_returning_too_many_or_too_large_gradients_is_reported():
    class TooMany(Function):
        def forward(self, a, b):
            return a + b

        def backward(self, gy):
            return gy, gy, gy

    class TooLarge(Function):
        def forward(self, x):
            return x * 2

        def backward(self, gy):
            return np.ones(gy.shape + (2,))       # (3, 2) for an input of shape (3,)

    x = Tensor(np.ones(3), requires_grad=True)
    with pytest.raises(RuntimeError, match="TooMany.backward returned 3 gradients for 2 inputs"):
        TooMany()(x, x).sum().backward()
    with pytest.raises(RuntimeError, match=r"TooLarge.backward returned a gradient of shape "
                                           r"\(3, 2\) for an input of shape \(3,\)"):
        TooLarge()(x).sum().backward()


def test_a_function_of_many_inputs():
    # 300 inputs: past CPython's cache of small ints (-5..256), so counts
    # must be compared with ==, never with `is`
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    y = F.concatenate([x] * 300)
    assert y.shape == (600,)
    (y * y).sum().backward()                      # 300 paths of d(x^2)/dx = 2x
    np.testing.assert_array_equal(x.grad, [600.0, 1200.0])


def test_an_input_whose_gradient_is_none_gets_nothing_from_that_function(monkeypatch):
    # with no hook registered anywhere the sweep keeps no use counts; a
    # backward returning None for a trainable leaf just skips it
    from minialex import engine
    monkeypatch.setattr(engine, "_hooked_leaves", 0)

    class Stop(Function):
        def forward(self, x):
            return x.copy()

        def backward(self, gy):
            return None

    w = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    (Stop()(w) * 5.0 + w * 2.0).sum().backward()
    np.testing.assert_array_equal(w.grad, [2.0, 2.0])
    v = Tensor(np.array([1.0]), requires_grad=True)
    Stop()(v).sum().backward()
    assert v.grad is None


# ------------------------------------------------------------------ the dtype of a gradient
class _Float32Gradient(Function):
    """y = 2x whose backward answers in float32 whatever x's dtype."""

    def forward(self, x):
        return 2 * x

    def backward(self, gy):
        return (2 * gy).astype(np.float32)


def test_a_gradient_is_cast_to_its_leafs_dtype_both_ways():
    x64 = Tensor(np.array([1.0, 2.0]), requires_grad=True)       # float64 leaf
    _Float32Gradient()(x64).backward(np.array([1.0, 3.0]))
    assert x64.grad.dtype == np.float64
    np.testing.assert_array_equal(x64.grad, [2.0, 6.0])
    x32 = Tensor(np.array([1.0, 2.0], np.float32), requires_grad=True)
    c64 = Tensor(np.array([0.5, 0.25]))                            # float64 constant
    (x32 * c64).sum().backward()                                   # gradient float64
    assert x32.grad.dtype == np.float32
    np.testing.assert_array_equal(x32.grad, [0.5, 0.25])


# ------------------------------------------------------------------ engine.backward
def test_engine_backward_frees_the_graph_by_default():
    from minialex import engine
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    y = (x * x).sum()
    engine.backward(y, np.ones(()))
    np.testing.assert_array_equal(x.grad, [2.0, 4.0])
    with pytest.raises(RuntimeError, match="freed by an earlier backward"):
        engine.backward(y, np.ones(()))


# ------------------------------------------------------------------ Tensor's own rules
def test_python_complex_data_keeps_its_dtype():
    # only Python floats (float64) become float32; complex stays complex
    z = Tensor([1.0 + 2.0j, -1.0j])
    assert z.dtype == np.complex128
    np.testing.assert_array_equal(z.data, [1.0 + 2.0j, -1.0j])
    assert Tensor(0.5 + 1.0j).item() == 0.5 + 1.0j


def test_size_of_a_dim_out_of_range_names_it():
    x = Tensor(np.zeros((2, 3)))
    assert (x.size(0), x.size(1), x.size(-1), x.size(-2)) == (2, 3, 3, 2)
    for dim in (2, 3, -3, -4):
        with pytest.raises(IndexError, match=rf"size\(dim={dim}\) is out of range for a "
                                             r"tensor of 2 dimensions"):
            x.size(dim)


def test_an_empty_tensor_has_no_item_and_no_implicit_gradient():
    with pytest.raises(ValueError, match=r"item\(\) needs a tensor with one element, got "
                                         r"shape \(0,\)"):
        Tensor(np.zeros(0)).item()
    x = Tensor(np.zeros(0), requires_grad=True)
    with pytest.raises(RuntimeError, match=r"one-element tensor, got shape \(0,\)"):
        (x * 2.0).backward()


def test_backward_checks_the_shape_and_device_of_grad():
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True, device="cpu:1")
    y = x * 2.0
    for shape in [(1,), (3,), (2, 1)]:         # shorter, longer, more dimensions
        with pytest.raises(ValueError, match=rf"grad has shape \({shape[0]},"):
            y.backward(np.ones(shape), retain_graph=True)
    with pytest.raises(minialex.DeviceMismatchError,
                       match=r"backward\(\) got grad on cpu:0 for a tensor on cpu:1.*"
                             r"\.to\('cpu:1'\)"):
        y.backward(Tensor(np.ones(2), device="cpu:0"), retain_graph=True)
    y.backward(np.array([1.0, 10.0]), retain_graph=True)   # a NumPy grad joins y's device
    y.backward([1.0, 10.0])                                 # so does a list
    np.testing.assert_array_equal(x.grad, [4.0, 40.0])


def test_repr_says_requires_grad_only_when_true():
    assert repr(Tensor(np.array([1.0]))) == "Tensor(array([1.]), device='cpu:0')"
    assert repr(Tensor(np.array([1.0]), requires_grad=True)) == (
        "Tensor(array([1.]), device='cpu:0', requires_grad=True)")


def test_as_tensor_wraps_data_and_passes_a_tensor_through():
    from minialex.tensor import as_tensor
    x = Tensor(np.array([1.0]), requires_grad=True)
    y = x * 2.0
    assert as_tensor(y, "cpu:1") is y                      # the same tensor, graph and all
    c = as_tensor(2.5, "cpu:1")
    assert isinstance(c, Tensor) and c.device == "cpu:1" and c.dtype == np.float32
    assert c.item() == 2.5 and not c.requires_grad
