"""The autograd engine: Tensor, Function and reverse-mode backpropagation.

How it works, in three sentences. Every differentiable operation is a
:class:`Function` with a ``forward`` (arrays in, arrays out) and a
hand-written ``backward`` (gradients of the outputs in, gradients of the
inputs out). Calling a Function on Tensors runs ``forward`` and, unless
inside :func:`no_grad`, links each output Tensor to the Function that made
it (its ``creator``), so the Tensors and Functions form a graph.
``Tensor.backward()`` walks that graph from the output back to the leaves in
reverse topological order and applies the chain rule: each Function turns
``dL/d(output)`` into ``dL/d(input)``, and where a Tensor feeds several
Functions the gradients arriving from each are added (the multivariate chain
rule sums over all paths).

Only leaf tensors created with ``requires_grad=True`` (e.g. parameters) keep
their ``.grad``; intermediate gradients are freed as soon as they are used.
"""

import contextlib

import numpy

from .backend import DeviceMismatchError, get_device, get_array_module, device_of_array

__all__ = ["Tensor", "Function", "no_grad", "enable_grad", "is_grad_enabled", "as_tensor",
           "queue_callback"]

_grad_enabled = True
_hooked_leaves = 0     # leaves with a post-accumulate-grad hook (0: the sweep skips hooks)
_callbacks = []        # run once at the end of the backward sweep in progress


def is_grad_enabled():
    """True unless inside :func:`no_grad`."""
    return _grad_enabled


@contextlib.contextmanager
def _set_grad_enabled(mode):
    global _grad_enabled
    previous, _grad_enabled = _grad_enabled, mode
    try:
        yield
    finally:
        _grad_enabled = previous


def no_grad():
    """Context manager: ops inside record no graph (for evaluation and for
    the optimizer's in-place updates). Usage: ``with minialex.no_grad(): ...``"""
    return _set_grad_enabled(False)


def enable_grad():
    """Context manager that turns graph recording back on inside no_grad."""
    return _set_grad_enabled(True)


def _to_array(data, device):
    """Turn ``data`` into an ndarray of ``device``'s array module.

    Python scalars and lists of floats become float32 (the framework's
    default dtype); ndarrays keep their dtype (float64 is used for gradient
    checks)."""
    xp = device.xp
    if isinstance(data, (numpy.ndarray, numpy.generic)) or get_array_module(data) is not numpy:
        arr = device.put(data)
        return arr
    arr = numpy.asarray(data)
    if arr.dtype == numpy.float64:
        arr = arr.astype(numpy.float32)
    if xp is not numpy:
        arr = device.put(arr)
    return arr


class Tensor:
    """An n-dimensional array that remembers how it was computed.

    Args:
        data: array-like (NumPy or CuPy ndarray, list, scalar). Python lists
            and scalars of floats become float32; ndarrays keep their dtype.
        requires_grad (bool): accumulate ``dL/d(this)`` into ``.grad`` on
            ``backward()``. Default False.
        device (str | Device | None): where the data lives: ``"cpu"``,
            ``"cpu:1"``, ``"cuda:0"``... Default: ``"cpu"`` for NumPy data,
            the array's GPU for CuPy data. NumPy data given a CUDA device is
            copied there.

    Attributes:
        data: the ndarray. ``grad``: ndarray of the same shape, or None.
        shape, dtype, ndim, size, device.
    """

    __array_priority__ = 1000  # make ndarray (op) Tensor defer to Tensor

    def __init__(self, data, requires_grad=False, device=None, name=None):
        if isinstance(data, Tensor):
            device = data.device if device is None else device
            data = data.data
        if device is None:
            device = device_of_array(data)
        self.device = get_device(device)
        self.data = _to_array(data, self.device)
        if requires_grad and self.data.dtype.kind not in "fc":
            raise TypeError(f"only floating-point tensors can require grad, got dtype "
                            f"{self.data.dtype}; convert first, e.g. data.astype('float32')")
        self.grad = None
        self.requires_grad = bool(requires_grad)
        self.creator = None
        self.generation = 0
        self.name = name

    # ------------------------------------------------------------ basics
    @property
    def shape(self):
        return self.data.shape

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def ndim(self):
        return self.data.ndim

    @property
    def size(self):
        return self.data.size

    @property
    def xp(self):
        """The array module (numpy or cupy) of this tensor's device."""
        return self.device.xp

    @property
    def is_leaf(self):
        return self.creator is None

    def __len__(self):
        return len(self.data)

    def __repr__(self):
        extra = ", requires_grad=True" if self.requires_grad else ""
        body = repr(self.numpy()).replace("\n", "\n       ")
        return f"Tensor({body}, device='{self.device}'{extra})"

    def numpy(self):
        """The data as a NumPy array (copied from the GPU if needed)."""
        if self.device.type == "cuda":
            with self.device:
                return self.device.xp.asnumpy(self.data)
        return self.data

    def item(self):
        """The value of a one-element tensor as a Python number."""
        if self.data.size != 1:
            raise ValueError(f"item() needs a tensor with one element, got shape {self.shape}")
        return self.data.reshape(()).item()

    def detach(self):
        """A new leaf tensor sharing this data, cut from the graph."""
        return Tensor(self.data, device=self.device)

    def zero_grad(self):
        self.grad = None

    def register_post_accumulate_grad_hook(self, hook):
        """Call ``hook(self)`` once per ``backward()`` when this leaf's
        ``.grad`` is final: every Function of the graph that uses it has
        added its part (PyTorch's name). Data parallelism uses it to start
        reducing a gradient while the sweep goes on
        (:class:`minialex.distributed.DistributedDataParallel`).

        Raises RuntimeError for a non-leaf or a tensor without requires_grad.
        Returns a handle whose ``remove()`` unregisters the hook."""
        global _hooked_leaves
        if self.creator is not None or not self.requires_grad:
            raise RuntimeError("post-accumulate-grad hooks go on leaf tensors with "
                               "requires_grad=True (parameters)")
        hooks = self.__dict__.setdefault("_grad_hooks", [])
        if not hooks:
            _hooked_leaves += 1
        hooks.append(hook)
        return _HookHandle(self, hook)

    def to(self, device, tag=None):
        """Copy to ``device`` (differentiable: the gradient flows back to this
        tensor's device). Returns ``self`` if it already lives there.
        ``tag`` labels the copy in :func:`minialex.backend.record_transfers`."""
        from .functions.transfer import to_device
        return to_device(self, device, tag=tag)

    def astype(self, dtype):
        """Differentiable dtype cast (e.g. float32 -> float64)."""
        from .functions.basic_math import astype
        return astype(self, dtype)

    # ------------------------------------------------------------ backward
    def backward(self, grad=None, retain_graph=False):
        """Backpropagate from this tensor: fill ``.grad`` of every leaf with
        ``requires_grad=True`` that this tensor depends on.

        Args:
            grad: ``dL/d(self)``, an array or Tensor of ``self.shape``.
                May be omitted only for a tensor with one element (then 1).
            retain_graph: keep the graph so ``backward`` can run again.

        Gradients accumulate (``+=``) into existing ``.grad``; call the
        optimizer's ``zero_grad()`` between steps.

        Raises:
            RuntimeError: a tensor with more than one element and no ``grad``,
                a tensor that does not require grad, or a graph already freed
                by an earlier ``backward()`` (pass ``retain_graph=True``).
            ValueError: ``grad`` of the wrong shape.
            DeviceMismatchError: ``grad`` a Tensor on another device.
        """
        if not (self.requires_grad or self.creator is not None):
            raise RuntimeError("backward() on a tensor that does not require grad "
                               "and has no graph (was it made under no_grad()?)")
        with self.device:
            if grad is None:
                if self.data.size != 1:
                    raise RuntimeError(
                        f"backward() without grad needs a one-element tensor, got shape "
                        f"{self.shape}; pass grad= of that shape (e.g. ones)")
                grad = self.xp.ones_like(self.data)
            else:
                if isinstance(grad, Tensor) and grad.device != self.device:
                    raise DeviceMismatchError(
                        f"backward() got grad on {grad.device} for a tensor on {self.device}; "
                        f"move it with .to('{self.device}')")
                grad = grad.data if isinstance(grad, Tensor) else self.device.put(grad)
                if grad.shape != self.shape:
                    raise ValueError(f"grad has shape {grad.shape}, expected {self.shape}")
                grad = grad.astype(self.dtype, copy=False)  # dL/dy has y's dtype
        _run_backward(self, grad, retain_graph)

    # ------------------------------------------------------------ operators
    def __add__(self, other):
        from .functions.basic_math import add
        return add(self, other)

    def __radd__(self, other):
        from .functions.basic_math import add
        return add(other, self)

    def __sub__(self, other):
        from .functions.basic_math import sub
        return sub(self, other)

    def __rsub__(self, other):
        from .functions.basic_math import sub
        return sub(other, self)

    def __mul__(self, other):
        from .functions.basic_math import mul
        return mul(self, other)

    def __rmul__(self, other):
        from .functions.basic_math import mul
        return mul(other, self)

    def __truediv__(self, other):
        from .functions.basic_math import div
        return div(self, other)

    def __rtruediv__(self, other):
        from .functions.basic_math import div
        return div(other, self)

    def __neg__(self):
        from .functions.basic_math import neg
        return neg(self)

    def __matmul__(self, other):
        from .functions.matmul import matmul
        return matmul(self, other)

    def __rmatmul__(self, other):
        from .functions.matmul import matmul
        return matmul(other, self)

    def __getitem__(self, key):
        from .functions.shape import getitem
        return getitem(self, key)

    # method forms, PyTorch-style
    def sum(self, axis=None, keepdims=False):
        from .functions.reduction import sum as _sum
        return _sum(self, axis, keepdims)

    def mean(self, axis=None, keepdims=False):
        from .functions.reduction import mean
        return mean(self, axis, keepdims)

    def reshape(self, *shape):
        from .functions.shape import reshape
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        return reshape(self, shape)

    def transpose(self, *axes):
        from .functions.shape import transpose
        if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
            axes = tuple(axes[0])
        return transpose(self, axes or None)

    @property
    def T(self):
        return self.transpose()

    def exp(self):
        from .functions.basic_math import exp
        return exp(self)

    def log(self):
        from .functions.basic_math import log
        return log(self)

    def relu(self):
        from .functions.relu import relu
        return relu(self)


class _HookHandle:
    """Returned by :meth:`Tensor.register_post_accumulate_grad_hook`."""

    def __init__(self, tensor, hook):
        self.tensor, self.hook = tensor, hook

    def remove(self):
        global _hooked_leaves
        hooks = self.tensor.__dict__.get("_grad_hooks", [])
        if self.hook in hooks:
            hooks.remove(self.hook)
            if not hooks:
                _hooked_leaves -= 1


def queue_callback(fn):
    """Run ``fn()`` once, when the backward sweep now in progress has
    finished (from a hook; PyTorch's ``queue_callback``). Outside a sweep it
    runs at the end of the next one."""
    _callbacks.append(fn)


def as_tensor(x, device):
    """Wrap a scalar or array as a constant Tensor on ``device``."""
    if isinstance(x, Tensor):
        return x
    return Tensor(x, device=device)


class Function:
    """One differentiable operation: subclass it and write ``forward`` and
    ``backward``.

    ``forward(self, *xs)`` receives the input *arrays* (``xs[i]`` is
    ``inputs[i].data``) and returns one array or a tuple of arrays. Save
    whatever ``backward`` needs on ``self``.

    ``backward(self, *gys)`` receives ``dL/dy`` for each output (arrays of
    the outputs' shapes; zeros for an output that received no gradient) and
    returns ``dL/dx`` for each input, as one array or a tuple; ``None`` for
    an input that needs no gradient. ``self.needs_input_grad[i]`` says which
    inputs do, so backward can skip work; it is already set when ``forward``
    runs (all False under :func:`no_grad`), so forward can skip saving what
    only backward needs. ``backward`` must not modify the ``gys`` in place:
    one gradient array may be handed to several Functions.

    Non-tensor arguments (strides, labels...) go to ``__init__``. Calling the
    Function checks that all Tensor inputs live on one device and runs both
    passes inside that device's context (CuPy's current device).

    ``returns_new_arrays`` (class attribute, default False): set it to True
    when every array ``backward`` returns is new memory that nothing else
    keeps (no gy passed through, no view, nothing saved on ``self``). A leaf
    receiving its first gradient from such a Function then takes the array
    itself as ``.grad`` instead of a copy (for AlexNet's weights this saves
    copying 240 MB a step).
    """

    inputs = ()
    outputs = ()
    returns_new_arrays = False

    def __call__(self, *inputs):
        tensors = [x for x in inputs if isinstance(x, Tensor)]
        # the Tensors' device; with none, that of the first array (a CuPy
        # array runs on its GPU), else the CPU
        device = tensors[0].device if tensors else next(
            (device_of_array(x) for x in inputs if hasattr(x, "shape")), get_device(None))
        for t in tensors[1:]:
            if t.device != device:
                raise DeviceMismatchError(
                    f"{type(self).__name__} got inputs on different devices: "
                    f"{device} and {t.device}; move one explicitly with "
                    f".to('{device}') (minialex never copies silently)")
        dtype = next((t.dtype for t in tensors if t.dtype.kind == "f"), None)
        inputs = [x if isinstance(x, Tensor) else _constant(x, device, dtype) for x in inputs]
        self.device = device
        record = _grad_enabled and any(x.requires_grad for x in inputs)
        self.needs_input_grad = tuple(record and x.requires_grad for x in inputs)
        with device:
            ys = self.forward(*[x.data for x in inputs])
        if not isinstance(ys, tuple):
            ys = (ys,)
        out_device = getattr(self, "out_device", device)  # only transfers change it
        outputs = [Tensor(y, device=out_device) for y in ys]
        for i, y in enumerate(outputs):
            y._out_index = i
        if record:
            self.generation = max(x.generation for x in inputs)
            for y in outputs:
                y.requires_grad = True
                y.creator = self
                y.generation = self.generation + 1
            self.inputs = inputs
            # outputs are referenced weakly through their shapes only, so
            # intermediate tensors can be freed while the graph lives
            self.output_meta = [(y.shape, y.dtype) for y in outputs]
        return outputs[0] if len(outputs) == 1 else tuple(outputs)

    def forward(self, *xs):
        raise NotImplementedError(f"{type(self).__name__} must define forward")

    def backward(self, *gys):
        raise NotImplementedError(f"{type(self).__name__} must define backward")


def _constant(x, device, dtype):
    """A non-differentiable input (a Python number or an array). Scalars,
    Python's or NumPy's (``np.int64(2)``, ``np.float64(0.5)``), take the float
    dtype of the op's tensors, so they never upcast float32 to float64."""
    if isinstance(x, (int, float, numpy.integer, numpy.floating)) and dtype is not None:
        x = numpy.asarray(x, dtype=dtype)
    return Tensor(x, device=device)


def _run_backward(root, grad, retain_graph):
    """Reverse-mode sweep: process Functions from the newest generation to
    the oldest, so every Function sees the full gradient of its outputs
    (the sum over all paths) before it runs."""
    import heapq

    grads = {id(root): grad}          # id(tensor) -> accumulated dL/dtensor
    keep = {id(root): root}
    if root.creator is None:
        with root.device:
            _accumulate_leaf(root, grad)
        _leaf_done(root, {id(root): 1})
        _run_callbacks()
        return
    uses = _hooked_leaf_uses(root) if _hooked_leaves else None
    heap, seen, counter = [], set(), 0

    def push(fn):
        nonlocal counter
        if id(fn) not in seen:
            seen.add(id(fn))
            heapq.heappush(heap, (-fn.generation, counter, fn))
            counter += 1

    push(root.creator)
    # outputs of a function are found through the tensors that point at it
    out_tensors = {id(root.creator): [root]}
    while heap:
        _, _, fn = heapq.heappop(heap)
        if not fn.inputs:
            raise RuntimeError(
                f"the graph through {type(fn).__name__} was freed by an earlier backward(); "
                "pass retain_graph=True to the first backward() to run it twice")
        outs = out_tensors.pop(id(fn), [])
        out_device = getattr(fn, "out_device", fn.device)
        gys = []
        for i, (shape, dtype) in enumerate(fn.output_meta):
            t = next((o for o in outs if o._out_index == i), None)
            g = grads.pop(id(t), None) if t is not None else None
            if g is None:
                with out_device:
                    g = out_device.xp.zeros(shape, dtype=dtype)
            gys.append(g)
        for t in outs:  # dL/dt is consumed: the tensor may be freed now
            keep.pop(id(t), None)
        with fn.device:
            gxs = fn.backward(*gys)
        del gys
        if not isinstance(gxs, tuple):
            gxs = (gxs,)
        if len(gxs) != len(fn.inputs):
            raise RuntimeError(f"{type(fn).__name__}.backward returned {len(gxs)} "
                               f"gradients for {len(fn.inputs)} inputs")
        for k, (x, gx) in enumerate(zip(fn.inputs, gxs)):
            if gx is None or not x.requires_grad:
                if uses and x.creator is None and x.requires_grad:
                    _leaf_done(x, uses)     # this Function adds nothing to it
                continue
            if gx.shape != x.shape:
                raise RuntimeError(f"{type(fn).__name__}.backward returned a gradient of "
                                   f"shape {gx.shape} for an input of shape {x.shape}")
            with x.device:
                if gx.dtype != x.dtype:  # e.g. float32 x times a float64 constant
                    gx = gx.astype(x.dtype)
                if x.creator is None:
                    owned = fn.returns_new_arrays and all(g is not gx for g in gxs[k + 1:])
                    _accumulate_leaf(x, gx, owned)
                    if uses:
                        _leaf_done(x, uses)
                    continue
                key = id(x)
                if key in grads:
                    grads[key] = grads[key] + gx
                else:
                    grads[key] = gx
                    keep[key] = x
                    out_tensors.setdefault(id(x.creator), []).append(x)
            push(x.creator)
        if not retain_graph:
            fn.inputs = ()
    del keep
    _run_callbacks()


# ---------------------------------------------------------------- hooks (optional)
# Only data parallelism needs these; with no hook registered the sweep skips them.
def _hooked_leaf_uses(root):
    """How many (Function, input) edges of the graph below ``root`` lead to
    each hooked leaf: its gradient is final after that many contributions."""
    uses, seen, stack = {}, set(), [root.creator]
    while stack:
        fn = stack.pop()
        if id(fn) in seen:
            continue
        seen.add(id(fn))
        for x in fn.inputs:
            if x.creator is not None:
                stack.append(x.creator)
            elif x.requires_grad and x.__dict__.get("_grad_hooks"):
                uses[id(x)] = uses.get(id(x), 0) + 1
    return uses


def _leaf_done(x, uses):
    """Count one contribution to leaf ``x``; on the last, call its hooks."""
    key = id(x)
    if key not in uses:
        return
    uses[key] -= 1
    if uses[key] == 0:
        for hook in list(x.__dict__.get("_grad_hooks", ())):
            hook(x)


def _run_callbacks():
    while _callbacks:
        _callbacks.pop(0)()


def _accumulate_leaf(x, g, owned=False):
    """Add ``g`` into a leaf's ``.grad``. The first gradient is copied: a
    backward pass may hand the same array to several inputs (add passes
    ``gy`` straight through), and ``.grad`` must never alias another array.
    ``owned``: nothing else refers to ``g`` (see
    ``Function.returns_new_arrays``), so it becomes ``.grad`` as it is."""
    if x.grad is None:
        x.grad = g if owned else g.copy()
    else:
        x.grad += g
