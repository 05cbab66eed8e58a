"""Module and Parameter: the containers layers and models are built from."""

from collections import OrderedDict

import numpy

from ..autograd import Tensor
from ..backend import get_device

__all__ = ["Parameter", "Module", "Sequential"]


class Parameter(Tensor):
    """A Tensor that is a model weight: ``requires_grad=True`` by default,
    and registered by the :class:`Module` it is assigned to."""

    def __init__(self, data, requires_grad=True, device=None):
        super().__init__(data, requires_grad=requires_grad, device=device)

    def __repr__(self):
        return "Parameter" + super().__repr__()[len("Tensor"):]


class Module:
    """Base class of layers and models, as in PyTorch.

    Assigning a :class:`Parameter` or a Module to an attribute registers it,
    so ``parameters()``, ``train()``, ``to()`` and ``state_dict()`` see it.
    Subclasses define ``forward(*inputs)``; call the module itself.
    """

    def __init__(self):
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "training", True)

    def __setattr__(self, name, value):
        if "_parameters" not in self.__dict__:
            raise AttributeError("call super().__init__() before assigning to a Module")
        self._parameters.pop(name, None)
        self._modules.pop(name, None)
        if name in self.__dict__.get("_buffers", {}):
            if not isinstance(value, Tensor):
                raise TypeError(f"buffer {name!r} must be a Tensor, got {type(value).__name__}")
            self._buffers[name] = value
        elif isinstance(value, Parameter):
            self._parameters[name] = value
        elif isinstance(value, Module):
            self._modules[name] = value
        object.__setattr__(self, name, value)

    def register_buffer(self, name, tensor):
        """Register ``tensor`` (a Tensor without gradient, e.g. BatchNorm's
        running mean) as state that is not a parameter: ``state_dict()``
        saves it, ``load_state_dict()`` restores it, ``to()`` moves it, the
        optimizer never sees it (PyTorch's ``register_buffer``)."""
        if "_buffers" not in self.__dict__:
            raise AttributeError("call super().__init__() before register_buffer")
        if not isinstance(tensor, Tensor):
            tensor = Tensor(tensor)
        self._buffers[name] = tensor
        object.__setattr__(self, name, tensor)

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    def forward(self, *args):
        """The module's computation; subclasses override it (NotImplementedError
        here). Call the module, ``m(x)``, rather than ``m.forward(x)``."""
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    # ------------------------------------------------------------ traversal
    def named_modules(self, prefix=""):
        """Yield ``(name, module)`` for this module and all below it."""
        yield prefix, self
        for name, m in self._modules.items():
            yield from m.named_modules(f"{prefix}.{name}" if prefix else name)

    def modules(self):
        """Yield this module and every module below it (depth first)."""
        for _, m in self.named_modules():
            yield m

    def children(self):
        """An iterator over the direct submodules, in registration order."""
        return iter(self._modules.values())

    def named_parameters(self, prefix=""):
        """Yield ``(dotted_name, Parameter)`` pairs, e.g. ``("fc6.weight", W)``."""
        for mod_name, m in self.named_modules(prefix):
            for name, p in m._parameters.items():
                yield (f"{mod_name}.{name}" if mod_name else name), p

    def parameters(self):
        """All Parameters of this module and its submodules, in order."""
        return [p for _, p in self.named_parameters()]

    def named_buffers(self, prefix=""):
        """Yield ``(dotted_name, Tensor)`` for every buffer, e.g.
        ``("bn1.running_mean", t)``."""
        for mod_name, m in self.named_modules(prefix):
            for name, b in m.__dict__.get("_buffers", {}).items():
                yield (f"{mod_name}.{name}" if mod_name else name), b

    def buffers(self):
        """All buffers of this module and its submodules, in order."""
        return [b for _, b in self.named_buffers()]

    def _named_state(self):
        """Parameters then buffers of each module, module by module (the
        order of PyTorch's state_dict)."""
        for mod_name, m in self.named_modules():
            for name, t in list(m._parameters.items()) + list(m.__dict__.get("_buffers", {}).items()):
                yield (f"{mod_name}.{name}" if mod_name else name), t

    def apply(self, fn):
        """Call ``fn(module)`` on every submodule, then on this one (e.g. a
        custom initialisation). Returns self."""
        for m in self.children():
            m.apply(fn)
        fn(self)
        return self

    def num_parameters(self):
        """Total number of scalar weights."""
        return sum(p.numel() for p in self.parameters())

    # ------------------------------------------------------------ modes
    def train(self, mode=True):
        """Training mode (dropout active). Returns self."""
        for m in self.modules():
            object.__setattr__(m, "training", mode)
        return self

    def eval(self):
        """Evaluation mode (dropout is the identity). Returns self."""
        return self.train(False)

    def zero_grad(self):
        """Set every parameter's ``.grad`` to None."""
        for p in self.parameters():
            p.grad = None

    def to(self, device=None, dtype=None):
        """Move every parameter and buffer to ``device`` and/or cast the
        floating-point ones to ``dtype``, in place (the Parameters stay the
        same objects, so an optimizer made before still holds them).
        ``to("cuda:0")``, ``to(numpy.float64)``, ``to("float64")`` and
        ``to(device, dtype)`` all work, as in PyTorch. Returns self.

        Raises TypeError: a non-floating ``dtype``."""
        if dtype is None and _is_dtype(device):
            device, dtype = None, device
        dev = get_device(device) if device is not None else None
        if dtype is not None:
            dtype = numpy.dtype(dtype)
            if dtype.kind != "f":
                raise TypeError(f"Module.to: dtype {dtype} is not floating point")
        for t in list(self.parameters()) + self.buffers():
            if dev is not None:
                t.data = dev.put(t.data)
                t.device = dev
                if t.grad is not None:
                    t.grad = dev.put(t.grad)
            if dtype is not None and t.data.dtype.kind == "f":
                with t.device:
                    t.data = t.data.astype(dtype)
                    if t.grad is not None:
                        t.grad = t.grad.astype(dtype)
        return self

    def double(self):
        """Cast floating parameters and buffers to float64 (gradient checks)."""
        return self.to(dtype=numpy.float64)

    def float(self):
        """Cast floating parameters and buffers to float32 (the default)."""
        return self.to(dtype=numpy.float32)

    # ------------------------------------------------------------ state
    def state_dict(self):
        """An ordered dict ``name -> NumPy array`` (copies, on the host) of
        every parameter and buffer."""
        out = OrderedDict()
        for name, p in self._named_state():
            out[name] = numpy.array(p.numpy(), copy=True)
        return out

    def load_state_dict(self, state_dict):
        """Copy arrays from ``state_dict`` into the parameters and buffers
        (each keeps its device and dtype).

        Raises:
            KeyError: entries missing from ``state_dict`` or unexpected ones
                (the message names each).
            ValueError: an entry whose shape differs (names it and both shapes).
        """
        own = dict(self._named_state())
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        problems = []
        if missing:
            problems.append(f"missing entries: {', '.join(missing)}")
        if unexpected:
            problems.append(f"unexpected entries: {', '.join(unexpected)}")
        if problems:
            raise KeyError(f"load_state_dict into {type(self).__name__}: " + "; ".join(problems))
        bad = [f"{k}: checkpoint {tuple(numpy.shape(state_dict[k]))} vs model {p.shape}"
               for k, p in own.items() if tuple(numpy.shape(state_dict[k])) != p.shape]
        if bad:
            raise ValueError(f"load_state_dict into {type(self).__name__}: shape mismatch in "
                             + "; ".join(bad))
        for k, p in own.items():
            arr = state_dict[k]
            arr = arr.numpy() if isinstance(arr, Tensor) else numpy.asarray(arr)
            p.data = p.device.put(arr.astype(p.dtype, copy=True))

    def extra_repr(self):
        """The text inside ``Name(...)`` in ``repr``; subclasses show their
        arguments (PyTorch's ``extra_repr``). Empty here."""
        return ""

    def __repr__(self):
        lines = [f"{type(self).__name__}({self.extra_repr()}"]
        for name, m in self._modules.items():
            sub = repr(m).replace("\n", "\n  ")
            lines.append(f"  ({name}): {sub}")
        return lines[0] + (")" if len(lines) == 1 else "\n" + "\n".join(lines[1:]) + "\n)")


def _is_dtype(x):
    """True for a NumPy dtype, a type such as ``numpy.float64``, or a dtype
    name such as "float32" (device names such as "cpu" are not)."""
    if x is None or hasattr(x, "xp"):
        return False
    if isinstance(x, (type, numpy.dtype)):
        return True
    if isinstance(x, str):
        try:
            numpy.dtype(x)
            return True
        except TypeError:
            return False
    return False


class Sequential(Module):
    """Modules applied one after another: ``Sequential(a, b, c)(x) == c(b(a(x)))``.
    Submodules are named "0", "1", ...; indexing gives them back."""

    def __init__(self, *modules):
        super().__init__()
        for i, m in enumerate(modules):
            if not isinstance(m, Module):
                raise TypeError(f"Sequential item {i} is {type(m).__name__}, not a Module")
            setattr(self, str(i), m)

    def __getitem__(self, i):
        return list(self._modules.values())[i]

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def forward(self, x):
        """Apply the modules in order: x -> m_k(...m_1(m_0(x)))."""
        for m in self._modules.values():
            x = m(x)
        return x
