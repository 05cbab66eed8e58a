"""Shared test fixtures."""

import os
import pathlib

import pytest

REPO = pathlib.Path(__file__).resolve().parent.parent


def find_cifar10():
    """The real CIFAR-10: $MINIALEX_DATA, else ../shared/data/cifar10 beside
    the repository. None when neither holds it."""
    candidates = [os.environ.get("MINIALEX_DATA"), REPO.parent / "shared" / "data" / "cifar10"]
    for c in candidates:
        if c and (pathlib.Path(c) / "train").is_dir() or c and any(
                (pathlib.Path(c) / d).is_dir() for d in ("cifar-10-batches-bin", "cifar-10-batches-py")):
            return pathlib.Path(c)
    return None


@pytest.fixture(scope="session")
def cifar10_dir():
    root = find_cifar10()
    if root is None:
        pytest.skip("real CIFAR-10 not found: set MINIALEX_DATA or place it at "
                    "../shared/data/cifar10 beside the repository")
    return root
