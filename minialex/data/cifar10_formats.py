"""Readers for the two official CIFAR-10 releases (Krizhevsky, 2009).

- Binary version (``cifar-10-batches-bin/``): ``data_batch_1.bin`` ..
  ``data_batch_5.bin`` and ``test_batch.bin``, each a sequence of 3073-byte
  records: 1 label byte, then 3072 pixel bytes = the R, G and B planes of the
  32x32 image, each row-major. ``batches.meta.txt`` lists the class names.
- Python version (``cifar-10-batches-py/``): ``data_batch_1`` .. ``_5`` and
  ``test_batch``, pickled dicts with ``b"data"`` a uint8 (10000, 3072) array
  in the same plane order and ``b"labels"`` a list of ints; ``batches.meta``
  holds ``b"label_names"``. They are read with ``RestrictedUnpickler``, which
  admits only the few NumPy types those files contain, so a crafted file
  cannot run code.
"""

from __future__ import annotations

import io
import os
import pickle
from pathlib import Path

import numpy as np

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer",
                   "dog", "frog", "horse", "ship", "truck")
BINARY_FOLDER = "cifar-10-batches-bin"
PYTHON_FOLDER = "cifar-10-batches-py"
BINARY_TRAIN_FILES = tuple(f"data_batch_{i}.bin" for i in range(1, 6))
BINARY_TEST_FILE = "test_batch.bin"
PYTHON_TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
PYTHON_TEST_FILE = "test_batch"
_RECORD = 1 + 3 * 32 * 32
_NUMPY2 = int(np.__version__.split(".")[0]) >= 2


def planes_to_nhwc(rows: np.ndarray) -> np.ndarray:
    """(N, 3072) uint8 rows of R, G, B 32x32 planes -> (N, 32, 32, 3) uint8 (a copy)."""
    return np.ascontiguousarray(rows.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))


def _check_labels(labels: np.ndarray, n_classes: int, path: Path) -> np.ndarray:
    if labels.size and (labels.min() < 0 or labels.max() >= n_classes):
        raise ValueError(f"{str(path)!r} has labels outside 0..{n_classes - 1}; the file is corrupt")
    return labels.astype(np.int64)


# ----------------------------------------------------------------- binary ---

def read_binary_batch(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Read one binary batch file.

    Returns ``(x, y)``: x uint8 (N, 32, 32, 3), y int64 (N,).
    Raises ValueError if the file size is not a multiple of 3073 bytes
    (a truncated or foreign file) or a label is not in 0..9.
    """
    path = Path(path)
    raw = np.fromfile(path, dtype=np.uint8)
    if raw.size == 0 or raw.size % _RECORD:
        raise ValueError(
            f"{str(path)!r} is {raw.size} bytes, not a positive multiple of the {_RECORD}-byte "
            "CIFAR-10 record (1 label + 3072 pixels): the file is truncated or not a CIFAR-10 "
            "binary batch. Fix: delete the folder and download it again."
        )
    rec = raw.reshape(-1, _RECORD)
    return planes_to_nhwc(rec[:, 1:]), _check_labels(rec[:, 0], 10, path)


def read_binary_release(folder: str | os.PathLike):
    """Read a ``cifar-10-batches-bin`` folder.

    Returns ``(x_train, y_train, x_test, y_test, classes)`` (uint8 NHWC,
    int64, uint8 NHWC, int64, list of 10 names; names from
    ``batches.meta.txt`` when present, else the official ones).
    """
    folder = Path(folder)
    parts = [read_binary_batch(folder / f) for f in BINARY_TRAIN_FILES]
    x_test, y_test = read_binary_batch(folder / BINARY_TEST_FILE)
    meta = folder / "batches.meta.txt"
    classes = list(CIFAR10_CLASSES)
    if meta.is_file():
        names = [line.strip() for line in meta.read_text().splitlines() if line.strip()]
        if len(names) == 10:
            classes = names
    return (np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]),
            x_test, y_test, classes)


# ----------------------------------------------------------------- python ---

class RefusedGlobalError(pickle.UnpicklingError):
    """A pickle names a global that :class:`RestrictedUnpickler` does not admit."""


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that resolves only the globals CIFAR-10's pickles use.

    The official files reference ``numpy.core.multiarray._reconstruct``,
    ``numpy.ndarray`` and ``numpy.dtype``. Re-saved copies may also name
    ``numpy._core`` (NumPy 2), ``_frombuffer`` (protocol 5) or
    ``_codecs.encode`` (how Python 3 writes bytes at protocol 2; it only
    turns a str into bytes). Any other global, e.g. ``os.system`` smuggled in
    through ``__reduce__``, raises ``pickle.UnpicklingError`` before anything
    is called.
    """

    ALLOWED = frozenset({
        ("_codecs", "encode"),
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.numeric", "_frombuffer"),
        ("numpy._core.numeric", "_frombuffer"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
    })

    def find_class(self, module: str, name: str):
        """The global ``module.name`` if it is in ``ALLOWED`` (mapping NumPy 1's
        ``numpy.core`` to NumPy 2's ``numpy._core``).

        Raises:
            RefusedGlobalError: any other global (the file is not a CIFAR-10 batch).
        """
        if (module, name) not in self.ALLOWED:
            raise RefusedGlobalError(
                f"refusing to load global {module}.{name}: a CIFAR-10 batch holds only NumPy "
                "arrays, lists, ints and bytes. The file is not an official CIFAR-10 file "
                "(possibly crafted to run code); do not use it."
            )
        # Files written under NumPy 1 name numpy.core, under NumPy 2 numpy._core.
        if _NUMPY2 and module.startswith("numpy.core."):
            module = "numpy._core." + module[len("numpy.core."):]
        elif not _NUMPY2 and module.startswith("numpy._core."):
            module = "numpy.core." + module[len("numpy._core."):]
        return super().find_class(module, name)


def restricted_load(path: str | os.PathLike):
    """Unpickle ``path`` with RestrictedUnpickler (bytes keys, as Python 2 wrote them).

    Raises:
        pickle.UnpicklingError: the file names a global that is not admitted
            (the message names the file and the global).
        ValueError: the file is truncated or not a pickle at all (the message
            names the file).
    """
    with open(path, "rb") as f:
        data = f.read()
    try:
        return RestrictedUnpickler(io.BytesIO(data), encoding="bytes").load()
    except RefusedGlobalError as exc:
        raise RefusedGlobalError(f"{str(path)!r}: {exc}") from None
    except Exception as exc:    # noqa: BLE001: a cut or foreign file fails in many ways
        raise ValueError(
            f"{str(path)!r} ({len(data)} bytes) is truncated or not a CIFAR-10 python batch "
            f"({type(exc).__name__}: {exc}). Fix: delete the folder and download it again."
        ) from None


def _get(d, key: str):
    for k in (key.encode(), key):
        if k in d:
            return d[k]
    raise KeyError(key)


def read_python_batch(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Read one pickled batch file.

    Returns ``(x, y)``: x uint8 (N, 32, 32, 3), y int64 (N,).
    Raises pickle.UnpicklingError for a file that references anything but
    the allowed NumPy types, ValueError for a truncated file or a wrong
    structure or dtype (each message names the file).
    """
    path = Path(path)
    d = restricted_load(path)
    try:
        if not isinstance(d, dict):
            raise TypeError(f"top level is {type(d).__name__}, not dict")
        data, labels = _get(d, "data"), np.asarray(_get(d, "labels"))
        if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 \
                or data.shape[1] != 3072 or labels.shape != (data.shape[0],) \
                or labels.dtype.kind not in "iu":
            raise TypeError("b'data' must be a uint8 (N, 3072) array and b'labels' N ints")
    except (KeyError, TypeError) as exc:
        raise ValueError(f"{str(path)!r} is not a CIFAR-10 python batch: {exc}") from None
    return planes_to_nhwc(data), _check_labels(labels, 10, path)


def read_python_release(folder: str | os.PathLike):
    """Read a ``cifar-10-batches-py`` folder.

    Returns ``(x_train, y_train, x_test, y_test, classes)`` like
    ``read_binary_release`` (names from ``batches.meta`` when present).
    """
    folder = Path(folder)
    parts = [read_python_batch(folder / f) for f in PYTHON_TRAIN_FILES]
    x_test, y_test = read_python_batch(folder / PYTHON_TEST_FILE)
    classes = list(CIFAR10_CLASSES)
    meta = folder / "batches.meta"
    if meta.is_file():
        try:
            names = list(_get(restricted_load(meta), "label_names"))
        except (KeyError, TypeError) as exc:
            raise ValueError(f"{str(meta)!r} is not a CIFAR-10 batches.meta (no list "
                             f"b'label_names': {exc!r}); delete it or the folder") from None
        if len(names) == 10:
            classes = [n.decode() if isinstance(n, bytes) else str(n) for n in names]
    return (np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]),
            x_test, y_test, classes)


def has_binary_release(folder: Path) -> bool:
    """True if ``folder`` holds all six files of the binary release
    (``data_batch_1.bin`` .. ``data_batch_5.bin``, ``test_batch.bin``)."""
    return all((folder / f).is_file() for f in (*BINARY_TRAIN_FILES, BINARY_TEST_FILE))


def has_python_release(folder: Path) -> bool:
    """True if ``folder`` holds all six pickled batches of the Python release
    (``data_batch_1`` .. ``data_batch_5``, ``test_batch``)."""
    return all((folder / f).is_file() for f in (*PYTHON_TRAIN_FILES, PYTHON_TEST_FILE))
