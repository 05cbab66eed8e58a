"""The engine's layering (issue 13, part 3): engine.py knows no op, the
Tensor imports no op, the operators are attached once, and minialex.autograd
still offers the old names."""

import ast
import pathlib

import numpy as np

import minialex
from minialex import autograd, engine, tensor

PKG = pathlib.Path(minialex.__file__).parent


def _imports(path):
    tree = ast.parse(path.read_text())
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            out.add("." * node.level + (node.module or ""))
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
    return out


def test_engine_and_tensor_import_no_op():
    assert _imports(PKG / "engine.py") <= {"contextlib", "heapq", "itertools", "numpy", ".backend"}
    assert _imports(PKG / "tensor.py") <= {"numpy", ".", ".backend"}
    for name in ("engine.py", "tensor.py"):
        source = (PKG / name).read_text()
        assert "functions" not in "".join(line for line in source.splitlines()
                                          if line.lstrip().startswith(("import", "from")))


def test_compatibility_names_are_the_same_objects():
    assert autograd.Tensor is tensor.Tensor is minialex.Tensor
    assert autograd.Function is engine.Function is minialex.Function
    assert autograd.no_grad is engine.no_grad and autograd.queue_callback is engine.queue_callback


def test_operators_are_registered_functions():
    from minialex.functions import basic_math, matmul
    assert tensor.Tensor.__add__ is basic_math.add and tensor.Tensor.__matmul__ is matmul.matmul
    a = tensor.Tensor(np.array([1.0, 2.0]), requires_grad=True)
    y = (3.0 - a) * a / 2.0 + (a @ a)           # reflected and forward operators
    y.sum().backward()
    # sum_i [(3 - a_i) a_i / 2 + a.a]: d/da_i = (3 - 2 a_i) / 2 + 2 * 2 a_i
    np.testing.assert_allclose(a.grad, [0.5 + 4.0, -0.5 + 8.0])


def test_multi_output_gradients_meet_in_one_pending_slot():
    # split has two outputs; both feed the loss, one twice: the sweep sums
    # the two paths into output 1 before Split's backward runs
    x = tensor.Tensor(np.arange(4.0), requires_grad=True)
    lo, hi = minialex.functional.split(x, 2)
    ((lo * 1.0).sum() + (hi * 2.0).sum() + (hi * hi).sum()).backward()
    np.testing.assert_allclose(x.grad, [1.0, 1.0, 2.0 + 4.0, 2.0 + 6.0])
