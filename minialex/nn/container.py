"""Containers that register the modules they hold: ModuleList and
ModuleDict (PyTorch's)."""

from collections import OrderedDict

from .module import Module

__all__ = ["ModuleList", "ModuleDict"]


def _check(m, where):
    if not isinstance(m, Module):
        raise TypeError(f"{where} got {type(m).__name__}, not a Module")
    return m


class ModuleList(Module):
    """A list of Modules whose parameters the parent sees (a plain Python
    list would hide them from ``parameters()``, ``to()`` and
    ``state_dict()``). Submodules are named "0", "1", ... It has no
    ``forward``: iterate over it in yours.

    Raises TypeError: an item that is not a Module."""

    def __init__(self, modules=()):
        super().__init__()
        self.extend(modules)

    def _items(self):
        return list(self._modules.values())

    def _reindex(self, items):
        self._modules.clear()
        for i, m in enumerate(items):
            setattr(self, str(i), m)

    def append(self, module):
        """Add ``module`` at the end. Returns self."""
        setattr(self, str(len(self)), _check(module, "ModuleList.append"))
        return self

    def extend(self, modules):
        """Append every module of ``modules``. Returns self."""
        for m in modules:
            self.append(m)
        return self

    def insert(self, index, module):
        """Insert ``module`` before position ``index``."""
        items = self._items()
        items.insert(index, _check(module, "ModuleList.insert"))
        self._reindex(items)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return ModuleList(self._items()[i])
        return self._items()[i]

    def __setitem__(self, i, module):
        items = self._items()
        items[i] = _check(module, "ModuleList[i] =")
        self._reindex(items)

    def __delitem__(self, i):
        items = self._items()
        del items[i]
        self._reindex(items)

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._items())


class ModuleDict(Module):
    """A dict of named Modules whose parameters the parent sees, in
    insertion order (``state_dict`` names: ``"<key>.<param>"``). No
    ``forward``.

    Raises TypeError: a value that is not a Module or a key that is not a
    string."""

    def __init__(self, modules=None):
        super().__init__()
        if modules is not None:
            self.update(modules)

    def __setitem__(self, key, module):
        if not isinstance(key, str):
            raise TypeError(f"ModuleDict keys are strings, got {type(key).__name__}")
        setattr(self, key, _check(module, f"ModuleDict[{key!r}] ="))

    def __getitem__(self, key):
        return self._modules[key]

    def __delitem__(self, key):
        del self._modules[key]
        object.__delattr__(self, key)

    def __contains__(self, key):
        return key in self._modules

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules)

    def keys(self):
        """The keys, in insertion order."""
        return self._modules.keys()

    def values(self):
        """The modules, in insertion order."""
        return self._modules.values()

    def items(self):
        """``(key, module)`` pairs, in insertion order."""
        return self._modules.items()

    def update(self, modules):
        """Add the pairs of a dict (or of an iterable of pairs)."""
        pairs = modules.items() if isinstance(modules, (dict, OrderedDict, ModuleDict)) else modules
        for k, m in pairs:
            self[k] = m
