"""The path table (minialex/functions/_kernels/paths.py) compares op and
path names by value: a name built at run time (a distinct str object, not
the interned literal a caller's source holds) picks the same path."""

import numpy as np

from minialex.functions._kernels import paths


def built(name):
    """``name`` as a new str object (equal, but not the interned one)."""
    out = "".join(list(name))
    assert out == name and (out is not name or len(name) < 2)
    return out


def test_choose_compares_op_names_by_value():
    window = ((5, 5), (1, 1))
    assert paths.choose(built("conv2d"), np, window=window) is paths.choose("conv2d", np,
                                                                            window=window)
    assert (paths.choose(built("local_response_norm"), np)
            is paths.choose("local_response_norm", np))
    assert paths.choose(built("max_pool2d"), np) is paths.choose("max_pool2d", np)


def test_use_compares_path_names_by_value():
    with paths.use("conv2d", built("chwn_slices")):
        assert paths.choose("conv2d", np, window=((3, 3), (1, 1))).__name__.endswith("im2col_cpu")
    with paths.use("max_pool2d", built("phases")):
        assert paths.choose("max_pool2d", np).__name__.endswith("pool_phases")


def test_the_table_entries_are_read_only():
    """A Path of the table cannot be changed in place (a frozen dataclass):
    retargeting a path is done with ``paths.use``, never by editing the table."""
    import dataclasses
    import pytest
    entry = paths.TABLE["conv2d"][0]
    with pytest.raises(dataclasses.FrozenInstanceError):
        entry.module = "winograd"
    assert hash(entry) == hash(paths.Path(entry.name, entry.module, entry.cupy_only))
