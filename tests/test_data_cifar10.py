"""The real CIFAR-10 image folders (../shared/data/cifar10 beside the repo, or
$MINIALEX_DATA). The decoded arrays are cached in the default cache dir
($MINIALEX_CACHE, else ~/.cache/minialex), so only the first run on a
machine decodes the 60,000 JPEGs (about 10-20 s on 2 cores)."""

import os
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import minialex.data.image_folder as image_folder
from minialex.data import CIFAR10_CLASSES, find_cifar10, load_cifar10

REPO = Path(__file__).resolve().parents[1]


def cifar_root():
    candidates = [os.environ.get("MINIALEX_DATA"), REPO.parent / "shared" / "data" / "cifar10"]
    for c in candidates:
        if c and find_cifar10(c) is not None:
            return Path(c)
    return None


ROOT = cifar_root()
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(ROOT is None, reason="real CIFAR-10 not found: set MINIALEX_DATA or put "
                       "it at <repo>/../shared/data/cifar10"),
]


@pytest.fixture(scope="module")
def cifar():
    t = time.perf_counter()
    data = load_cifar10(ROOT, download=False)
    return data, time.perf_counter() - t


def test_shapes_dtypes_counts_and_class_order(cifar):
    (x_train, y_train, x_test, y_test, classes), _ = cifar
    assert x_train.shape == (50000, 32, 32, 3) and x_train.dtype == np.uint8
    assert y_train.shape == (50000,) and y_train.dtype == np.int64
    assert x_test.shape == (10000, 32, 32, 3) and x_test.dtype == np.uint8
    assert y_test.shape == (10000,) and y_test.dtype == np.int64
    assert classes == list(CIFAR10_CLASSES)
    assert classes[0] == "airplane" and classes[-1] == "truck"
    assert np.bincount(y_train).tolist() == [5000] * 10
    assert np.bincount(y_test).tolist() == [1000] * 10


def test_pixels_are_the_files(cifar):
    (x_train, y_train, x_test, y_test, classes), _ = cifar
    kind, folder = find_cifar10(ROOT)
    if kind != "folder":
        pytest.skip(f"data at {ROOT} is the {kind} release, not image folders")
    # image i of class c in sorted file order sits at c * 5000 + i
    for label, i in ((0, 0), (3, 1234), (9, 4999)):
        name = sorted(os.listdir(folder / "train" / classes[label]))[i]
        with Image.open(folder / "train" / classes[label] / name) as im:
            np.testing.assert_array_equal(x_train[label * 5000 + i], np.asarray(im.convert("RGB")))
        assert y_train[label * 5000 + i] == label
    # CIFAR-10's training means are about (125.3, 123.0, 113.9)
    np.testing.assert_allclose(x_train[::7].reshape(-1, 3).mean(0), [125.3, 123.0, 113.9], atol=3)


def test_second_load_uses_the_cache(cifar, monkeypatch):
    (x_train, y_train, x_test, y_test, _), first_seconds = cifar
    if find_cifar10(ROOT)[0] != "folder":
        pytest.skip("the binary/python releases are not cached")

    def no_decode(*args, **kwargs):
        raise AssertionError("decoded the images again instead of using the cache")

    monkeypatch.setattr(image_folder, "decode_images", no_decode)
    t = time.perf_counter()
    again = load_cifar10(ROOT, download=False)
    seconds = time.perf_counter() - t
    print(f"\nCIFAR-10 load: first {first_seconds:.2f} s, second (cached) {seconds:.2f} s")
    assert np.array_equal(again[0], x_train) and np.array_equal(again[2], x_test)
    assert np.array_equal(again[1], y_train) and np.array_equal(again[3], y_test)
