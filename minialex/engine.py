"""The autograd engine: Function, the backward sweep, no_grad.

How it works, in three sentences. Every differentiable operation is a
:class:`Function` with a ``forward`` (arrays in, arrays out) and a
hand-written ``backward`` (gradients of the outputs in, gradients of the
inputs out). Calling a Function on Tensors runs ``forward`` and, unless
inside :func:`no_grad`, links each output Tensor to the Function that made
it (its ``creator``, and which of its outputs it is: ``output_index``), so
the Tensors and Functions form a graph. :func:`backward` walks that graph
from the output back to the leaves in reverse topological order and applies
the chain rule: each Function turns ``dL/d(output)`` into ``dL/d(input)``,
and where a Tensor feeds several Functions the gradients arriving from each
are added (the multivariate chain rule sums over all paths).

Only leaf tensors created with ``requires_grad=True`` (e.g. parameters) keep
their ``.grad``; intermediate gradients are freed as soon as they are used.

The engine knows no operation: the Tensor class (:mod:`minialex.tensor`)
registers itself here with :func:`set_tensor_class`, and the ops attach
Tensor's operators in :func:`minialex.functions.register_operators`.
"""

import contextlib
import heapq
import itertools

import numpy

from .backend import DeviceMismatchError, get_device, device_of_array

__all__ = ["Function", "no_grad", "enable_grad", "is_grad_enabled", "queue_callback",
           "backward"]

_grad_enabled = True
_Tensor = None         # the Tensor class, set by minialex.tensor (see set_tensor_class)
_hooked_leaves = 0     # leaves with a post-accumulate-grad hook (0: the sweep skips hooks)
_callbacks = []        # run once at the end of the backward sweep in progress


def set_tensor_class(cls):
    """Tell the engine which class Functions wrap their outputs in
    (:class:`minialex.tensor.Tensor` calls this once, when it is defined)."""
    global _Tensor
    _Tensor = cls


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


class Function:
    """One differentiable operation: subclass it and write ``forward`` and
    ``backward``.

    The maths every subclass implements is one step of the chain rule.
    For y = f(x) inside a loss L, the engine hands ``backward`` the upstream
    gradient dL/dy and wants dL/dx back:
        dL/dx_i = sum_j dL/dy_j * dy_j/dx_i
    (a vector-Jacobian product: never form the Jacobian dy/dx, compute its
    product with dL/dy directly). E.g. for y = a * b, dL/da = dL/dy * b.

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

    ``returns_new_arrays`` (class attribute, default False) is an optional
    optimisation; nothing is wrong if you leave it False. Set it to True
    only when every array ``backward`` returns is new memory that nothing
    else keeps (no gy passed through, no view, nothing saved on ``self``).
    A leaf receiving its first gradient from such a Function then takes the
    array itself as ``.grad`` instead of a copy (for AlexNet's weights this
    saves copying 240 MB a step).
    """

    inputs = ()
    returns_new_arrays = False

    def __call__(self, *inputs):
        Tensor = _Tensor
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
        if record:
            self.generation = max(x.generation for x in inputs)
            for i, y in enumerate(outputs):
                y.requires_grad = True
                y.creator, y.output_index = self, i
                y.generation = self.generation + 1
            self.inputs = inputs
            # the outputs are kept only as shapes, so intermediate tensors
            # can be freed while the graph lives
            self.output_meta = [(y.shape, y.dtype) for y in outputs]
        return outputs[0] if len(outputs) == 1 else tuple(outputs)

    def forward(self, *xs):
        """Input arrays (NumPy or CuPy) -> one output array or a tuple of
        them. Subclasses must override it; raises NotImplementedError."""
        raise NotImplementedError(f"{type(self).__name__} must define forward")

    def backward(self, *gys):
        """dL/dy, one array per output (each of its output's shape and
        dtype) -> dL/dx, one array (or None) per input, each of its input's
        shape. Subclasses must override it; raises NotImplementedError."""
        raise NotImplementedError(f"{type(self).__name__} must define backward")


def _constant(x, device, dtype):
    """A non-differentiable input (a Python number or an array). Scalars,
    Python's or NumPy's (``np.int64(2)``, ``np.float64(0.5)``), take the float
    dtype of the op's tensors, so they never upcast float32 to float64."""
    if isinstance(x, (int, float, numpy.integer, numpy.floating)) and dtype is not None:
        x = numpy.asarray(x, dtype=dtype)
    return _Tensor(x, device=device)


# ---------------------------------------------------------------- the sweep
def backward(root, grad, retain_graph=False):
    """Reverse-mode sweep from ``root`` with ``dL/d(root) = grad`` (an array
    of root's shape and dtype; :meth:`Tensor.backward` checks it).

    ``pending[fn][i]`` holds the gradient summed so far for output ``i`` of
    Function ``fn``. Functions are run from the newest generation to the
    oldest, so every Function's outputs have received the gradient of every
    path (their consumers are all newer) before it runs.
    """
    if root.creator is None:            # backward() on a leaf: dL/dleaf = grad
        with root.device:
            _accumulate_leaf(root, grad)
        _leaf_done(root, {id(root): 1})
        _run_callbacks()
        return
    uses = _hooked_leaf_uses(root) if _hooked_leaves else None
    pending, heap, order = {}, [], itertools.count()

    def add_grad(x, gx):
        """dL/dx += gx for a non-leaf x: add gx into the pending slot of
        x's creator, scheduling the creator on its first gradient."""
        fn = x.creator
        if fn not in pending:           # first gradient for fn: schedule it
            pending[fn] = [None] * len(fn.output_meta)
            heapq.heappush(heap, (-fn.generation, next(order), fn))
        slot = pending[fn]
        i = x.output_index
        slot[i] = gx if slot[i] is None else slot[i] + gx

    add_grad(root, grad)
    while heap:
        fn = heapq.heappop(heap)[2]
        if not fn.inputs:
            raise RuntimeError(
                f"the graph through {type(fn).__name__} was freed by an earlier backward(); "
                "pass retain_graph=True to the first backward() to run it twice")
        gys = _fill_zeros(fn, pending.pop(fn))
        with fn.device:
            gxs = fn.backward(*gys)
        del gys                          # dL/d(outputs) used: free it
        gxs = _check_grads(fn, gxs)
        for k, (x, gx) in enumerate(zip(fn.inputs, gxs)):
            if gx is None or not x.requires_grad:
                if uses and x.creator is None and x.requires_grad:
                    _leaf_done(x, uses)  # this Function adds nothing to it
                continue
            with x.device:
                if gx.dtype != x.dtype:  # e.g. float32 x times a float64 constant
                    gx = gx.astype(x.dtype)
                if x.creator is None:
                    owned = fn.returns_new_arrays and all(g is not gx for g in gxs[k + 1:])
                    _accumulate_leaf(x, gx, owned)
                    if uses:
                        _leaf_done(x, uses)
                else:
                    add_grad(x, gx)
        if not retain_graph:
            # release: without its inputs fn keeps the graph below it alive no
            # longer, and fn itself (with the arrays it saved for backward) is
            # freed once nothing refers to it
            fn.inputs = ()
    _run_callbacks()


def _fill_zeros(fn, gys):
    """Zeros for the outputs of ``fn`` that received no gradient."""
    if all(g is not None for g in gys):
        return gys
    out_device = getattr(fn, "out_device", fn.device)
    with out_device:
        return [out_device.xp.zeros(shape, dtype=dtype) if g is None else g
                for g, (shape, dtype) in zip(gys, fn.output_meta)]


def _check_grads(fn, gxs):
    """``fn.backward``'s result as a tuple, one gradient per input of the
    input's shape (None allowed); RuntimeError naming ``fn`` otherwise."""
    if not isinstance(gxs, tuple):
        gxs = (gxs,)
    if len(gxs) != len(fn.inputs):
        raise RuntimeError(f"{type(fn).__name__}.backward returned {len(gxs)} "
                           f"gradients for {len(fn.inputs)} inputs")
    for x, gx in zip(fn.inputs, gxs):
        if gx is not None and x.requires_grad and gx.shape != x.shape:
            raise RuntimeError(f"{type(fn).__name__}.backward returned a gradient of "
                               f"shape {gx.shape} for an input of shape {x.shape}")
    return gxs


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


# ---------------------------------------------------------------- hooks (optional)
# Only data parallelism needs these; with no hook registered the sweep skips them.
class _HookHandle:
    """Returned by :meth:`Tensor.register_post_accumulate_grad_hook`."""

    def __init__(self, tensor, hook):
        self.tensor, self.hook = tensor, hook

    def remove(self):
        """Unregister the hook (a second call does nothing)."""
        global _hooked_leaves
        hooks = self.tensor.__dict__.get("_grad_hooks", [])
        if self.hook in hooks:
            hooks.remove(self.hook)
            if not hooks:
                _hooked_leaves -= 1


def add_post_accumulate_grad_hook(tensor, hook):
    """Register ``hook(tensor)`` on a leaf (see
    :meth:`Tensor.register_post_accumulate_grad_hook`); returns its handle."""
    global _hooked_leaves
    if tensor.creator is not None or not tensor.requires_grad:
        raise RuntimeError("post-accumulate-grad hooks go on leaf tensors with "
                           "requires_grad=True (parameters)")
    hooks = tensor.__dict__.setdefault("_grad_hooks", [])
    if not hooks:
        _hooked_leaves += 1
    hooks.append(hook)
    return _HookHandle(tensor, hook)


def queue_callback(fn):
    """Run ``fn()`` once, when the backward sweep now in progress has
    finished (from a hook; PyTorch's ``queue_callback``). Outside a sweep it
    runs at the end of the next one."""
    _callbacks.append(fn)


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
