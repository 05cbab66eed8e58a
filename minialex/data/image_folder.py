"""ImageFolder-style data sets: ``root/[split/]<class>/<image file>``.

The class of an image is the name of its sub-folder; classes are sorted by
name and numbered from 0. Decoded arrays are cached (see ``load_image_folder``)
so that a second load of CIFAR-10's 60,000 JPEGs takes well under 2 s.
"""

from __future__ import annotations

import hashlib
import os
import warnings
import zipfile
from pathlib import Path

import numpy as np

from ._decode import decode_images
from ._paths import atomic_save_npz, default_cache_dir

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".gif", ".webp", ".tif", ".tiff"})
_CACHE_VERSION = 1


def list_image_folder(folder: str | os.PathLike) -> tuple[list[str], list[tuple[str, int, int, int]]]:
    """List the classes and image files of an image folder.

    Args:
        folder: a folder whose sub-folders are the classes.

    Returns:
        ``(classes, files)``: class names sorted; ``files`` a list of
        ``(relative path, label, size in bytes, mtime in ns)`` sorted by class
        then file name. Hidden files and non-image extensions are skipped.

    Raises:
        FileNotFoundError: ``folder`` does not exist.
        ValueError: it has no class sub-folders, or no image files.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(
            f"image folder {str(folder)!r} does not exist. Fix: pass the folder that holds "
            "one sub-folder per class (or its parent together with split=...)."
        )
    classes = sorted(e.name for e in os.scandir(folder) if e.is_dir() and not e.name.startswith("."))
    if not classes:
        raise ValueError(
            f"{str(folder)!r} has no class sub-folders. Expected the layout "
            "<folder>/<class name>/<image files>."
        )
    files = []
    for label, name in enumerate(classes):
        entries = sorted(
            (e for e in os.scandir(folder / name)
             if e.is_file() and not e.name.startswith(".")
             and os.path.splitext(e.name)[1].lower() in IMAGE_EXTENSIONS),
            key=lambda e: e.name,
        )
        for e in entries:
            st = e.stat()
            files.append((f"{name}/{e.name}", label, st.st_size, st.st_mtime_ns))
    if not files:
        raise ValueError(
            f"{str(folder)!r} has class sub-folders but no image files "
            f"(extensions {sorted(IMAGE_EXTENSIONS)})."
        )
    return classes, files


def _fingerprint(classes: list[str], files: list[tuple[str, int, int, int]], size: int | None) -> str:
    """SHA-256 over the classes, every file's (name, size, mtime) and the
    decode settings: any added, removed or rewritten file changes it."""
    h = hashlib.sha256(f"v{_CACHE_VERSION}|size={size}|{'/'.join(classes)}\n".encode())
    h.update("\n".join(f"{p}\t{s}\t{m}" for p, _, s, m in files).encode())
    return h.hexdigest()


def cache_path(folder: str | os.PathLike, split: str | None, size: int | None,
               cache_dir: str | os.PathLike | None = None) -> Path:
    """Where ``load_image_folder`` caches a data set: a file in ``cache_dir``
    (default ``$MINIALEX_CACHE``, else ``~/.cache/minialex``) named by a hash
    of the absolute root path, the split and the size."""
    key = f"{Path(folder).resolve()}|{split}|{size}"
    digest = hashlib.sha256(key.encode()).hexdigest()[:20]
    base = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    return base / f"image_folder-{digest}.npz"


def _read_cache(path: Path, fingerprint: str):
    """The cached (x, y, classes) if ``path`` holds arrays for ``fingerprint``, else None."""
    try:
        with np.load(path, allow_pickle=False) as z:
            if str(z["fingerprint"]) != fingerprint:
                return None
            return z["x"], z["y"].astype(np.int64, copy=False), [str(c) for c in z["classes"]]
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        warnings.warn(f"ignoring unreadable cache {str(path)!r} ({exc}); rebuilding it", stacklevel=3)
        return None


def load_image_folder(
    root: str | os.PathLike,
    split: str | None = None,
    size: int | None = None,
    *,
    cache: bool = True,
    cache_dir: str | os.PathLike | None = None,
    workers: int | None = None,
    progress: bool = True,
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Load an ImageFolder-style data set into memory.

    Layout: ``root/<class>/<file>``, or ``root/<split>/<class>/<file>`` when
    ``split`` (e.g. "train") is given. Files are JPEG, PNG or anything else
    Pillow reads (by extension), converted to RGB.

    Args:
        root: the data set folder.
        split: optional sub-folder of ``root`` to read.
        size: None keeps the images' own size (all must be equal). An int S
            resizes every image that is not SxS so its shorter side is S and
            centre-crops it to SxS, as the paper did with S=256 for ImageNet
            (section 2).
        cache: reuse / write a cache of the decoded arrays. The cache is a
            .npz in ``cache_dir`` (default ``$MINIALEX_CACHE``, else
            ``~/.cache/minialex``; never inside the data folder, which may be
            read-only), named by a hash of the absolute root, split and size,
            holding a fingerprint of every file's name, size and mtime; it is
            rebuilt when any file changes. Written atomically (temp file +
            rename), read with ``allow_pickle=False``.
        workers: decoding processes (None: automatic; 0 or 1: this process).
        progress: show a tqdm progress bar while decoding.

    Returns:
        ``(x, y, classes)``: x uint8 (N, H, W, 3), y int64 (N,) labels in
        0..len(classes)-1, classes the sorted class (sub-folder) names.

    Raises:
        FileNotFoundError: the folder does not exist.
        ValueError: no classes or no images, or mixed image sizes with
            ``size=None``.
        ImageDecodeError (a ValueError): an unreadable or truncated image;
            the message names the file.
    """
    if size is not None and (not isinstance(size, (int, np.integer)) or size <= 0):
        raise ValueError(f"size must be a positive int or None, got {size!r}")
    folder = Path(root) / split if split is not None else Path(root)
    classes, files = list_image_folder(folder)
    fingerprint = _fingerprint(classes, files, size)
    path = cache_path(root, split, size, cache_dir)
    if cache:
        hit = _read_cache(path, fingerprint)
        if hit is not None:
            return hit

    x = decode_images([str(folder / p) for p, *_ in files], size=size, workers=workers,
                      progress=progress, desc=f"decoding {folder.name}")
    y = np.array([label for _, label, _, _ in files], dtype=np.int64)
    if cache:
        try:
            atomic_save_npz(path, x=x, y=y, classes=np.array(classes, dtype=str),
                            fingerprint=np.array(fingerprint))
        except OSError as exc:
            warnings.warn(f"could not write cache {str(path)!r} ({exc}); "
                          "set MINIALEX_CACHE to a writable folder", stacklevel=2)
    return x, y, classes
