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
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "training", True)

    def __setattr__(self, name, value):
        if "_parameters" not in self.__dict__:
            raise AttributeError("call super().__init__() before assigning to a Module")
        self._parameters.pop(name, None)
        self._modules.pop(name, None)
        if isinstance(value, Parameter):
            self._parameters[name] = value
        elif isinstance(value, Module):
            self._modules[name] = value
        object.__setattr__(self, name, value)

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    def forward(self, *args):
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    # ------------------------------------------------------------ traversal
    def named_modules(self, prefix=""):
        """Yield ``(name, module)`` for this module and all below it."""
        yield prefix, self
        for name, m in self._modules.items():
            yield from m.named_modules(f"{prefix}.{name}" if prefix else name)

    def modules(self):
        for _, m in self.named_modules():
            yield m

    def children(self):
        return iter(self._modules.values())

    def named_parameters(self, prefix=""):
        """Yield ``(dotted_name, Parameter)`` pairs, e.g. ``("fc6.weight", W)``."""
        for mod_name, m in self.named_modules(prefix):
            for name, p in m._parameters.items():
                yield (f"{mod_name}.{name}" if mod_name else name), p

    def parameters(self):
        """All Parameters of this module and its submodules, in order."""
        return [p for _, p in self.named_parameters()]

    def num_parameters(self):
        """Total number of scalar weights."""
        return sum(p.size for p in self.parameters())

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
        for p in self.parameters():
            p.grad = None

    def to(self, device):
        """Move every parameter to ``device`` (in place). Returns self."""
        dev = get_device(device)
        for p in self.parameters():
            p.data = dev.put(p.data)
            p.device = dev
            if p.grad is not None:
                p.grad = dev.put(p.grad)
        return self

    # ------------------------------------------------------------ state
    def state_dict(self):
        """An ordered dict ``name -> NumPy array`` (copies, on the host)."""
        out = OrderedDict()
        for name, p in self.named_parameters():
            out[name] = numpy.array(p.numpy(), copy=True)
        return out

    def load_state_dict(self, state_dict):
        """Copy arrays from ``state_dict`` into the parameters (each keeps its
        device and dtype).

        Raises:
            KeyError: entries missing from ``state_dict`` or unexpected ones
                (the message names each).
            ValueError: an entry whose shape differs (names it and both shapes).
        """
        own = dict(self.named_parameters())
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
        return ""

    def __repr__(self):
        lines = [f"{type(self).__name__}({self.extra_repr()}"]
        for name, m in self._modules.items():
            sub = repr(m).replace("\n", "\n  ")
            lines.append(f"  ({name}): {sub}")
        return lines[0] + (")" if len(lines) == 1 else "\n" + "\n".join(lines[1:]) + "\n)")


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
        for m in self._modules.values():
            x = m(x)
        return x
