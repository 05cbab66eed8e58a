"""Shared test fixtures."""

import os
import pathlib

import pytest

REPO = pathlib.Path(__file__).resolve().parent.parent


def find_cifar10():
    """The real CIFAR-10: $MINIALEX_DATA, else ../shared/data/cifar10 beside
    the repository, else ~/.cache/minialex (where ``python
    examples/train_cifar.py`` downloads it). None when none holds it."""
    candidates = [os.environ.get("MINIALEX_DATA"), REPO.parent / "shared" / "data" / "cifar10",
                  pathlib.Path.home() / ".cache" / "minialex"]
    for c in candidates:
        if c and (pathlib.Path(c) / "train").is_dir() or c and any(
                (pathlib.Path(c) / d).is_dir() for d in ("cifar-10-batches-bin", "cifar-10-batches-py")):
            return pathlib.Path(c)
    return None


@pytest.fixture(scope="session")
def cifar10_dir():
    root = find_cifar10()
    if root is None:
        pytest.skip("real CIFAR-10 not found: set MINIALEX_DATA=<folder holding CIFAR-10> "
                    "(README, Tests)")
    return root


# Skipped tests, grouped by what they lack: (group, words in the skip reason,
# how to run them). Printed at the end of every run (pytest_terminal_summary).
SKIP_GROUPS = [
    ("real CIFAR-10", ("CIFAR-10 not found", "not image folders", "releases are not cached"),
     "set MINIALEX_DATA=<folder holding CIFAR-10> (image folders train/ and test/, or the "
     "official release; `python examples/train_cifar.py` downloads it to ~/.cache/minialex, "
     "which the tests also search)"),
    ("GPU", ("CuPy", "GPU"), "need CuPy and a CUDA GPU: pip install -e '.[gpu]' (README, GPU)"),
    ("MPI", ("mpi4py", "mpiexec", "[dist]"), "pip install -e '.[dist]'"),
    ("ONNX", ("onnx",), "pip install -e '.[test]' (onnx, onnxruntime)"),
    ("PyTorch parity", ("torch",), "pip install torch (CPU build; only the tests import it)"),
]


def skip_group(reason):
    """The SKIP_GROUPS entry whose words occur in ``reason``, else None."""
    for group in SKIP_GROUPS:
        if any(word in reason for word in group[1]):
            return group
    return None


def pytest_terminal_summary(terminalreporter):
    """One line per group of skipped tests, with how to run them."""
    skipped = terminalreporter.stats.get("skipped", [])
    if not skipped:
        return
    counts, other = {}, {}
    for report in skipped:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        reason = reason.removeprefix("Skipped: ")
        group = skip_group(reason)
        if group:
            counts[group] = counts.get(group, 0) + 1
        else:
            other[reason] = other.get(reason, 0) + 1
    tr = terminalreporter
    tr.write_sep("-", f"{len(skipped)} skipped, by what they need (README, Tests)")
    for (name, _, how), n in counts.items():
        tr.write_line(f"{n:4d} {name}: {how}")
    for reason, n in other.items():
        tr.write_line(f"{n:4d} other: {reason}")


def assert_cross_tower_transfers(log, dev0, dev1, batch=2):
    """Check a ``record_transfers`` log of one training step of the small
    two-tower CIFAR net with towers on ``dev0``/``dev1`` and the batch on
    ``dev0``: the image goes to tower 1, each tower fetches the other's
    activations for conv3, fc6 and fc7, fc8 (on tower 0) fetches tower 1's,
    gradients come back along every cross-tower copy, and nothing else."""
    fwd = [(t["tag"], t["src"], t["dst"]) for t in log if t["direction"] == "forward"]
    bwd = [(t["tag"], t["src"], t["dst"]) for t in log if t["direction"] == "backward"]
    assert sorted(fwd) == sorted([
        ("input", dev0, dev1),
        ("conv3", dev1, dev0), ("conv3", dev0, dev1),
        ("fc6", dev1, dev0), ("fc6", dev0, dev1),
        ("fc7", dev1, dev0), ("fc7", dev0, dev1),
        ("fc8", dev1, dev0)])
    # the image needs no gradient, so only the cross-tower copies go back
    assert sorted(bwd) == sorted((tag, dst, src) for tag, src, dst in fwd if tag != "input")
    shapes = {t["tag"]: t["shape"] for t in log if t["direction"] == "forward"}
    assert shapes["conv3"] == (batch, 32, 6, 6) and shapes["fc6"] == (batch, 128)
    assert shapes["fc7"] == (batch, 256) and shapes["fc8"] == (batch, 256)


def assert_matches_torch(ours, theirs, xs, grad_seed=1):
    """``ours(Tensor)`` and ``theirs(torch tensor)`` give equal values and
    input gradients (float64, 1e-12) on input ``xs`` for a random upstream
    gradient seeded ``grad_seed``. Needs torch (the caller importorskips)."""
    import numpy as np
    import torch
    from minialex import Tensor
    x, tx = Tensor(xs, requires_grad=True), torch.tensor(xs, requires_grad=True)
    y, ty = ours(x), theirs(tx)
    assert y.shape == tuple(ty.shape)
    g = np.random.default_rng(grad_seed).standard_normal(y.shape)
    y.backward(g)
    ty.backward(torch.tensor(g))
    np.testing.assert_allclose(y.data, ty.detach().numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(x.grad, tx.grad.numpy(), rtol=1e-12, atol=1e-12)
