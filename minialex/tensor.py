"""Tensor: an n-dimensional array that remembers how it was computed.

This file holds the data side (device, dtype, shape, ``.grad``) and
``backward()``, which hands the work to the engine
(:func:`minialex.engine.backward`). The arithmetic operators and the
method forms of the ops (``a + b``, ``x.sum()``, ``x.reshape(...)``) are
attached to the class in one place, by
:func:`minialex.functions.register_operators`, once the ops are defined:
the Tensor imports no op, and no op needs a function-local import.
"""

import numpy

from . import engine
from .backend import DeviceMismatchError, get_device, get_array_module, device_of_array

__all__ = ["Tensor", "as_tensor"]


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
        shape, dtype, ndim, device; ``size()`` the shape (PyTorch's: also
        ``size(dim)``), ``numel()`` the number of elements.
        creator: the Function that made this tensor (None for a leaf) and
        output_index: which of its outputs this is (0 for a leaf).
        generation: 0 for a leaf, else 1 + the newest generation among its
        creator's inputs (the longest path from a leaf; the backward sweep
        runs the newest Functions first).
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
        self.output_index = 0
        self.generation = 0
        self.name = name

    # ------------------------------------------------------------ basics
    @property
    def shape(self):
        """The shape, a tuple of ints (NumPy's ``shape``)."""
        return self.data.shape

    @property
    def dtype(self):
        """The NumPy dtype of the data."""
        return self.data.dtype

    @property
    def ndim(self):
        """The number of dimensions."""
        return self.data.ndim

    def size(self, dim=None):
        """PyTorch's ``size()``: the shape (a tuple) or, given ``dim``, the
        length of that axis (negative ``dim`` counts from the end). For the
        number of elements use :meth:`numel`.

        Raises IndexError: ``dim`` out of range."""
        if dim is None:
            return self.data.shape
        if not -self.ndim <= dim < self.ndim:
            raise IndexError(f"size(dim={dim}) is out of range for a tensor of {self.ndim} "
                             "dimensions")
        return self.data.shape[dim]

    def numel(self):
        """The number of elements (NumPy's ``size``)."""
        return self.data.size

    def dim(self):
        """The number of dimensions (PyTorch's name for ``ndim``)."""
        return self.data.ndim

    @property
    def xp(self):
        """The array module (numpy or cupy) of this tensor's device."""
        return self.device.xp

    @property
    def is_leaf(self):
        """True for a tensor no recorded Function made (inputs, parameters)."""
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
        """Set ``.grad`` to None."""
        self.grad = None

    def register_post_accumulate_grad_hook(self, hook):
        """Call ``hook(self)`` once per ``backward()`` when this leaf's
        ``.grad`` is final: every Function of the graph that uses it has
        added its part (PyTorch's name). Data parallelism uses it to start
        reducing a gradient while the sweep goes on
        (:class:`minialex.distributed.DistributedDataParallel`).

        Raises RuntimeError for a non-leaf or a tensor without requires_grad.
        Returns a handle whose ``remove()`` unregisters the hook."""
        return engine.add_post_accumulate_grad_hook(self, hook)

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
        engine.backward(self, grad, retain_graph)

    # The operators (+ - * / ** @ neg, indexing) and the method forms (sum,
    # mean, max, min, argmax, argmin, reshape, view, transpose, permute,
    # unsqueeze, squeeze, T, exp, log, sqrt, abs, relu, tanh, sigmoid,
    # clone, astype, to) are attached by minialex.functions.register_operators().


engine.set_tensor_class(Tensor)


def as_tensor(x, device):
    """Wrap a scalar or array as a constant Tensor on ``device``."""
    if isinstance(x, Tensor):
        return x
    return Tensor(x, device=device)
