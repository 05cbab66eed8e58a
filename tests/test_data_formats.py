"""CIFAR-10 official binary and python releases, written here in exactly the
official layouts, against the image-folder path (lossless PNGs); the
restricted unpickler; the search order of load_cifar10."""

import os
import pickle
import struct

import numpy as np
import pytest
from PIL import Image

from minialex.data import CIFAR10_CLASSES, find_cifar10, load_cifar10
from minialex.data.cifar10_formats import read_binary_batch, read_python_batch, restricted_load

PER_BATCH, N_TEST = 4, 6


def fake_cifar(seed=0):
    """Small CIFAR-shaped data: 5 train batches of PER_BATCH images, N_TEST test images."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, size=(5 * PER_BATCH + N_TEST, 32, 32, 3), dtype=np.uint8)
    y = rng.integers(0, 10, size=len(x))
    y[:10] = np.arange(10)  # every class present in train
    y[-N_TEST:][:N_TEST] = np.arange(N_TEST)
    return x[:-N_TEST], y[:-N_TEST], x[-N_TEST:], y[-N_TEST:]


def to_planes(x):
    """(N, 32, 32, 3) -> (N, 3072) rows: R plane, G plane, B plane, row-major."""
    return x.transpose(0, 3, 1, 2).reshape(len(x), 3072)


def write_binary(root, data):
    x_train, y_train, x_test, y_test = data
    d = root / "cifar-10-batches-bin"
    d.mkdir(parents=True)

    def write(path, x, y):
        rec = np.concatenate([y.astype(np.uint8)[:, None], to_planes(x)], axis=1)
        path.write_bytes(rec.tobytes())

    for i in range(5):
        s = slice(i * PER_BATCH, (i + 1) * PER_BATCH)
        write(d / f"data_batch_{i + 1}.bin", x_train[s], y_train[s])
    write(d / "test_batch.bin", x_test, y_test)
    (d / "batches.meta.txt").write_text("\n".join(CIFAR10_CLASSES) + "\n\n")
    return d


class Py2Pickler(pickle._Pickler):
    """Writes pickles the way Python 2's cPickle wrote the official files:
    bytes as (SHORT_)BINSTRING and NumPy's reconstructor as
    numpy.core.multiarray._reconstruct."""

    dispatch = pickle._Pickler.dispatch.copy()

    def save_py2_str(self, obj):
        if len(obj) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(obj)]) + obj)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(obj)) + obj)
        self.memoize(obj)

    dispatch[bytes] = save_py2_str

    def save_global(self, obj, name=None):
        module = obj.__module__.replace("numpy._core", "numpy.core")
        self.write(pickle.GLOBAL + f"{module}\n{name or obj.__name__}\n".encode())
        self.memoize(obj)


def py2_dump(obj, path):
    with open(path, "wb") as f:
        Py2Pickler(f, protocol=2).dump(obj)


def write_python(root, data, dump=py2_dump):
    x_train, y_train, x_test, y_test = data
    d = root / "cifar-10-batches-py"
    d.mkdir(parents=True)
    for i in range(5):
        s = slice(i * PER_BATCH, (i + 1) * PER_BATCH)
        dump({b"batch_label": f"training batch {i + 1} of 5".encode(),
              b"labels": [int(v) for v in y_train[s]],
              b"data": to_planes(x_train[s]),
              b"filenames": [f"img_{j}.png".encode() for j in range(PER_BATCH)]},
             d / f"data_batch_{i + 1}")
    dump({b"batch_label": b"testing batch 1 of 1", b"labels": [int(v) for v in y_test],
          b"data": to_planes(x_test), b"filenames": [b"t.png"] * len(y_test)}, d / "test_batch")
    dump({b"label_names": [c.encode() for c in CIFAR10_CLASSES], b"num_cases_per_batch": 10000,
          b"num_vis": 3072}, d / "batches.meta")
    return d


def write_png_folders(root, data):
    x_train, y_train, x_test, y_test = data
    for split, x, y in (("train", x_train, y_train), ("test", x_test, y_test)):
        for c in CIFAR10_CLASSES:
            (root / split / c).mkdir(parents=True)
        for i, (img, label) in enumerate(zip(x, y)):
            Image.fromarray(img).save(root / split / CIFAR10_CLASSES[label] / f"{i:04d}.png")
    return root


def assert_same(a, b):
    for u, v in zip(a[:4], b[:4]):
        assert u.dtype == v.dtype and u.shape == v.shape
        np.testing.assert_array_equal(u, v)
    assert a[4] == b[4]


def test_binary_python_and_image_folder_agree(tmp_path):
    data = fake_cifar()
    write_binary(tmp_path / "bin", data)
    write_python(tmp_path / "py", data)
    write_png_folders(tmp_path / "png", data)
    bin_ = load_cifar10(tmp_path / "bin", download=False)
    py = load_cifar10(tmp_path / "py", download=False)
    png = load_cifar10(tmp_path / "png", download=False, cache_dir=tmp_path / "cache",
                       progress=False)
    x_train, y_train, x_test, y_test = data
    assert bin_[0].dtype == np.uint8 and bin_[1].dtype == np.int64
    assert bin_[0].shape == (5 * PER_BATCH, 32, 32, 3) and bin_[2].shape == (N_TEST, 32, 32, 3)
    assert bin_[4] == list(CIFAR10_CLASSES)
    assert_same(bin_, (x_train, y_train, x_test, y_test, list(CIFAR10_CLASSES)))
    assert_same(py, bin_)
    # the image-folder path lists class by class; same images, same labels
    order_tr, order_te = np.argsort(y_train, kind="stable"), np.argsort(y_test, kind="stable")
    assert_same(png, (x_train[order_tr], y_train[order_tr], x_test[order_te], y_test[order_te],
                      list(CIFAR10_CLASSES)))


def test_plane_order_hand_case(tmp_path):
    x = np.zeros((1, 32, 32, 3), np.uint8)
    x[0, 0, 1] = (10, 20, 30)   # pixel at row 0, column 1
    x[0, 2, 0, 2] = 99          # blue at row 2, column 0
    d = tmp_path / "b"
    d.mkdir()
    rec = np.zeros(3073, np.uint8)
    rec[0] = 7
    rec[1 + 1], rec[1 + 1024 + 1], rec[1 + 2048 + 1] = 10, 20, 30
    rec[1 + 2048 + 2 * 32] = 99
    (d / "one.bin").write_bytes(rec.tobytes())
    xb, yb = read_binary_batch(d / "one.bin")
    np.testing.assert_array_equal(xb, x)
    assert yb.tolist() == [7] and yb.dtype == np.int64


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_python_batches_written_by_python3(tmp_path, protocol):
    data = fake_cifar(seed=1)

    def dump(obj, path):
        with open(path, "wb") as f:
            pickle.dump(obj, f, protocol=protocol)

    write_python(tmp_path, data, dump=dump)
    got = load_cifar10(tmp_path, download=False)
    assert_same(got, (*data, list(CIFAR10_CLASSES)))


class Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


class EvilEval:
    def __reduce__(self):
        return (eval, ("__import__('os').getcwd()",))


def test_restricted_unpickler_refuses_code(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "data_batch_1"
    with open(path, "wb") as f:
        pickle.dump({b"data": Evil(marker), b"labels": [0]}, f, protocol=2)
    with pytest.raises(pickle.UnpicklingError, match="refusing to load global (posix|nt).system"):
        read_python_batch(path)
    assert not marker.exists()
    with open(path, "wb") as f:
        pickle.dump([EvilEval()], f, protocol=4)
    with pytest.raises(pickle.UnpicklingError, match="builtins.eval"):
        restricted_load(path)
    # the same file is live ammunition for the plain unpickler: the test is meaningful
    with open(path, "wb") as f:
        pickle.dump(Evil(marker), f, protocol=2)
    with open(path, "rb") as f:
        pickle.load(f)
    assert marker.exists()


def test_python_batch_with_wrong_contents(tmp_path):
    path = tmp_path / "b"
    with open(path, "wb") as f:
        pickle.dump({b"data": np.zeros((2, 3072), np.float32), b"labels": [0, 1]}, f, protocol=4)
    with pytest.raises(ValueError, match="not a CIFAR-10 python batch"):
        read_python_batch(path)


def test_truncated_binary_batch_is_named(tmp_path):
    d = write_binary(tmp_path, fake_cifar())
    p = d / "data_batch_3.bin"
    p.write_bytes(p.read_bytes()[:-5])
    with pytest.raises(ValueError, match="data_batch_3.bin.*truncated"):
        load_cifar10(tmp_path, download=False)


def test_bad_labels_are_refused(tmp_path):
    d = write_binary(tmp_path, fake_cifar())
    raw = bytearray((d / "test_batch.bin").read_bytes())
    raw[0] = 12
    (d / "test_batch.bin").write_bytes(bytes(raw))
    with pytest.raises(ValueError, match="labels outside 0..9"):
        load_cifar10(tmp_path, download=False)


def test_search_order_and_root_variants(tmp_path):
    a, b = fake_cifar(seed=2), fake_cifar(seed=3)
    write_binary(tmp_path, a)
    write_python(tmp_path, b)
    write_png_folders(tmp_path, b)
    assert find_cifar10(tmp_path) == ("binary", tmp_path / "cifar-10-batches-bin")
    assert_same(load_cifar10(tmp_path, download=False), (*a, list(CIFAR10_CLASSES)))
    # root may be the batches folder itself, or a parent holding cifar10/
    assert find_cifar10(tmp_path / "cifar-10-batches-py") == ("python",
                                                              tmp_path / "cifar-10-batches-py")
    nested = tmp_path / "nest"
    write_python(nested / "cifar10", b)
    assert find_cifar10(nested) == ("python", nested / "cifar10" / "cifar-10-batches-py")
    only_png = tmp_path / "png"
    write_png_folders(only_png, b)
    assert find_cifar10(only_png) == ("folder", only_png)


def test_missing_data_without_download(tmp_path, monkeypatch):
    monkeypatch.setenv("MINIALEX_DATA", str(tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError, match="nowhere.*MINIALEX_DATA"):
        load_cifar10(download=False)
    assert find_cifar10() is None
