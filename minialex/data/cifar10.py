"""``load_cifar10``: CIFAR-10 from whichever layout is on disk, else downloaded."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ._paths import DATA_ENV, default_data_root
from .cifar10_formats import (BINARY_FOLDER, PYTHON_FOLDER, has_binary_release,
                              has_python_release, read_binary_release, read_python_release)
from .download import CIFAR10_URL, download_cifar10
from .image_folder import load_image_folder


def _bases(root: Path) -> list[Path]:
    """Folders that may hold the data: root itself, or a cifar10/ inside it."""
    return [b for b in (root, root / "cifar10", root / "cifar-10") if b.is_dir()]


def find_cifar10(root: str | os.PathLike | None = None) -> tuple[str, Path] | None:
    """Locate CIFAR-10 under ``root`` (default ``$MINIALEX_DATA``, else
    ``~/.cache/minialex``).

    Looks, in this order, for the official binary release
    (``cifar-10-batches-bin/``), the official python release
    (``cifar-10-batches-py/``) and the image-folder layout (``train/<class>/``
    and ``test/<class>/``), each directly in ``root``, in ``root/cifar10`` or
    in ``root/cifar-10``; ``root`` may also be the batches folder itself.

    Returns ``(kind, folder)`` with kind "binary", "python" or "folder", or
    None if nothing is there.
    """
    root = Path(root).expanduser() if root is not None else default_data_root()
    bases = _bases(root)
    for kind, sub, test in (("binary", BINARY_FOLDER, has_binary_release),
                            ("python", PYTHON_FOLDER, has_python_release)):
        for base in bases:
            for folder in (base / sub, base):
                if folder.is_dir() and test(folder):
                    return kind, folder
    for base in bases:
        if (base / "train").is_dir() and (base / "test").is_dir():
            return "folder", base
    return None


def _check(result, where: Path):
    x_train, y_train, x_test, y_test, classes = result
    for name, x, y in (("train", x_train, y_train), ("test", x_test, y_test)):
        if x.dtype != np.uint8 or x.ndim != 4 or x.shape[1:] != (32, 32, 3) or len(y) != len(x):
            raise ValueError(
                f"CIFAR-10 {name} split in {str(where)!r} has images of shape {x.shape[1:]} "
                f"({x.dtype}), expected (32, 32, 3) uint8: this is not CIFAR-10."
            )
    if len(classes) != 10:
        raise ValueError(f"CIFAR-10 in {str(where)!r} has {len(classes)} classes, expected 10: "
                         f"{classes}")
    return x_train, y_train.astype(np.int64, copy=False), x_test, \
        y_test.astype(np.int64, copy=False), list(classes)


def load_cifar10(root: str | os.PathLike | None = None, download: bool = True, *,
                 cache: bool = True, cache_dir: str | os.PathLike | None = None,
                 workers: int | None = None, progress: bool = True):
    """Load CIFAR-10 (Krizhevsky, 2009), the data set of the paper's section 3.3.

    Args:
        root: folder to search (default ``$MINIALEX_DATA``, else
            ``~/.cache/minialex``); see ``find_cifar10`` for the layouts
            recognised and their order: official binary release, official
            python release (read without running pickled code), image
            folders ``train/<class>/*`` and ``test/<class>/*``.
        download: if nothing is found, download the official binary archive
            (``CIFAR10_URL``, MD5-checked) into ``root``.
        cache, cache_dir, workers, progress: passed to ``load_image_folder``
            for the image-folder layout (decoded arrays are cached outside
            the data folder; the second load takes about a second).

    Returns:
        ``(x_train, y_train, x_test, y_test, classes)``: uint8
        (50000, 32, 32, 3), int64 (50000,), uint8 (10000, 32, 32, 3), int64
        (10000,), and the ten class names in label order (airplane,
        automobile, ..., truck).

    Raises:
        FileNotFoundError: nothing found and ``download`` is False.
        DownloadError: nothing found and the download failed; the message
            names the URL, the folder searched and how to point at data.
        ValueError: the data found is malformed (message names the file).
    """
    root = Path(root).expanduser() if root is not None else default_data_root()
    found = find_cifar10(root)
    if found is None:
        if not download:
            raise FileNotFoundError(
                f"CIFAR-10 not found in {str(root)!r} (looked for {BINARY_FOLDER}/, "
                f"{PYTHON_FOLDER}/ and train/ + test/ image folders, also under cifar10/). "
                f"Fix: pass root=<folder holding one of them>, set ${DATA_ENV}, or use "
                f"download=True to fetch {CIFAR10_URL}."
            )
        found = ("binary", download_cifar10(root, progress=progress))
    kind, folder = found
    if kind == "binary":
        return _check(read_binary_release(folder), folder)
    if kind == "python":
        return _check(read_python_release(folder), folder)
    opts = dict(cache=cache, cache_dir=cache_dir, workers=workers, progress=progress)
    x_train, y_train, classes = load_image_folder(folder, "train", **opts)
    x_test, y_test, test_classes = load_image_folder(folder, "test", **opts)
    if test_classes != classes:
        raise ValueError(f"train/ and test/ in {str(folder)!r} have different class folders: "
                         f"{classes} vs {test_classes}")
    return _check((x_train, y_train, x_test, y_test, classes), folder)
