"""Download and unpack the official CIFAR-10 binary release, safely.

The archive is streamed to a temporary file next to its destination with a
progress bar, its size and MD5 are checked, and only the expected regular
files are extracted into a temporary folder that is renamed into place when
complete. An interrupted or corrupt download therefore leaves nothing
half-written, and an archive with absolute paths, ``..`` components or links
is refused.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import posixpath
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from tqdm.auto import tqdm

from ._paths import DATA_ENV, default_data_root
from .cifar10_formats import BINARY_FOLDER, BINARY_TEST_FILE, BINARY_TRAIN_FILES

CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"
CIFAR10_MD5 = "c32a1d4ab5d03f1284b67883e8d87530"
CIFAR10_SIZE = 170_052_171
CIFAR10_REQUIRED = (*BINARY_TRAIN_FILES, BINARY_TEST_FILE)
CIFAR10_OPTIONAL = ("batches.meta.txt", "readme.html")


class DownloadError(RuntimeError):
    """The download failed, was the wrong size or MD5, or the archive is unsafe."""


def download_file(url: str, dest: str | os.PathLike, md5: str | None = None,
                  size: int | None = None, progress: bool = True, timeout: float = 60.0) -> Path:
    """Stream ``url`` to ``dest``, checking its byte count and MD5.

    The bytes go to a temporary file beside ``dest``, renamed to ``dest``
    only once complete and verified; on any failure it is deleted.

    Args:
        url: http(s) or file URL.
        dest: the file to create (its folder is created).
        md5: expected hex MD5, or None to skip the check.
        size: expected size in bytes, or None to skip the check.
        progress: show a tqdm progress bar.
        timeout: socket timeout in seconds.

    Returns: ``dest`` as a Path.
    Raises: DownloadError naming the URL (network error, wrong size or MD5).
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=dest.name + ".", suffix=".part", dir=dest.parent)
    digest = hashlib.md5()
    got, announced = 0, None
    try:
        with os.fdopen(fd, "wb") as out:
            try:
                with urllib.request.urlopen(url, timeout=timeout) as resp:
                    announced = resp.headers.get("Content-Length")
                    announced = int(announced) if announced and announced.isdigit() else None
                    total = announced if announced is not None else size
                    with tqdm(total=total, unit="B", unit_scale=True, desc=dest.name,
                              disable=not progress) as bar:
                        while chunk := resp.read(1 << 20):
                            out.write(chunk)
                            digest.update(chunk)
                            got += len(chunk)
                            bar.update(len(chunk))
            except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as exc:
                raise DownloadError(f"could not download {url}: {exc}") from exc
        if announced is not None and got != announced:
            raise DownloadError(f"download of {url} stopped after {got} of {announced} bytes "
                                "(connection closed): interrupted; nothing was kept")
        if size is not None and got != size:
            raise DownloadError(f"download of {url} is {got} bytes, expected {size}: "
                                "interrupted or a different file")
        if md5 is not None and digest.hexdigest() != md5.lower():
            raise DownloadError(f"download of {url} has MD5 {digest.hexdigest()}, expected "
                                f"{md5.lower()}: corrupt or a different file; nothing was kept")
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return dest


def _member_name(member: tarfile.TarInfo, folder: str) -> str | None:
    """The file name inside ``folder`` that ``member`` should be extracted
    to, None to skip it; DownloadError for an unsafe member."""
    name = member.name
    parts = name.replace("\\", "/").split("/")
    if name.startswith(("/", "\\")) or ".." in parts or (len(parts[0]) == 2 and parts[0][1] == ":"):
        raise DownloadError(f"refusing archive member {name!r}: absolute path or '..' component")
    if member.issym() or member.islnk() or member.isdev() or member.isfifo():
        raise DownloadError(f"refusing archive member {name!r}: links and devices are not allowed")
    norm = posixpath.normpath(name.replace("\\", "/"))
    head, base = posixpath.split(norm)
    if not member.isfile() or head != folder or base not in (*CIFAR10_REQUIRED, *CIFAR10_OPTIONAL):
        return None
    return base


def extract_cifar10(archive: str | os.PathLike, root: str | os.PathLike) -> Path:
    """Extract the expected files of ``cifar-10-binary.tar.gz`` into
    ``root/cifar-10-batches-bin``.

    Only regular files named ``cifar-10-batches-bin/<expected name>`` are
    written, into a temporary folder in ``root`` renamed into place when all
    required files are in.

    Raises: DownloadError for an unsafe member (absolute path, ``..``, link,
    device) or a missing required file; nothing is left behind.
    """
    root = Path(root)
    final = root / BINARY_FOLDER
    tmp = Path(tempfile.mkdtemp(prefix="." + BINARY_FOLDER + ".", suffix=".tmp", dir=root))
    try:
        try:
            with tarfile.open(archive, "r:*") as tar:
                for member in tar:
                    base = _member_name(member, BINARY_FOLDER)
                    if base is None:
                        continue
                    src = tar.extractfile(member)
                    with src, open(tmp / base, "wb") as dst:
                        shutil.copyfileobj(src, dst, 1 << 20)
        except (tarfile.TarError, EOFError, OSError) as exc:
            raise DownloadError(f"cannot read archive {str(archive)!r}: {exc}") from exc
        missing = [f for f in CIFAR10_REQUIRED if not (tmp / f).is_file()]
        if missing:
            raise DownloadError(f"archive {str(archive)!r} lacks {BINARY_FOLDER}/{missing[0]} "
                                f"({len(missing)} required file(s) missing)")
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def download_cifar10(root: str | os.PathLike | None = None, *, url: str = CIFAR10_URL,
                     md5: str | None = CIFAR10_MD5, size: int | None = CIFAR10_SIZE,
                     progress: bool = True, timeout: float = 60.0) -> Path:
    """Download the official CIFAR-10 binary release into
    ``root/cifar-10-batches-bin``.

    Args:
        root: destination folder (default ``$MINIALEX_DATA``, else
            ``~/.cache/minialex``).
        url: archive URL (default ``CIFAR10_URL``, the University of
            Toronto's CIFAR-10 page); tests point it at a local server.
        md5, size: expected MD5 and byte count (None skips a check);
            default ``CIFAR10_MD5``, ``CIFAR10_SIZE``.
        progress: show a progress bar.

    Returns: the ``cifar-10-batches-bin`` folder.
    Raises: DownloadError; its message names the URL, the folder and how to
    use data that is already on disk. The downloaded archive is deleted
    whether or not extraction succeeds.
    """
    root = Path(root) if root is not None else default_data_root()
    archive = root / posixpath.basename(url.split("?")[0]) if url else root / "cifar10.tar.gz"
    try:
        download_file(url, archive, md5=md5, size=size, progress=progress, timeout=timeout)
        try:
            return extract_cifar10(archive, root)
        finally:
            archive.unlink(missing_ok=True)
    except DownloadError as exc:
        raise DownloadError(
            f"{exc}\nCIFAR-10 was not found in {str(root)!r} and could not be downloaded from "
            f"{url}. Fix: pass root=<folder> (or set ${DATA_ENV}) to a folder holding "
            f"{BINARY_FOLDER}/, cifar-10-batches-py/ or train/<class>/ and test/<class>/ image "
            f"folders, or download {url} yourself and unpack it there."
        ) from exc
