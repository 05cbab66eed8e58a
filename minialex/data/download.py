"""Download and unpack the official CIFAR-10 binary release, safely.

The archive is downloaded with `pooch <https://www.fatiando.org/pooch/>`_
(``pooch.retrieve``, imported only when downloading), which streams it to a
temporary file beside its destination, checks its MD5 and only then moves it
into place; we also check its byte count (against ``Content-Length`` and the
expected size) before pooch moves it. A ``file://`` URL is copied by a small
downloader of our own that pooch calls the same way. Only the expected
regular files are then extracted, by our own code (not ``pooch.Untar``),
into a temporary folder that is renamed into place when complete. An
interrupted or corrupt download therefore leaves nothing half-written, and an
archive with absolute paths, ``..`` components or links is refused. Every
failure is a ``DownloadError`` naming the URL.
"""

from __future__ import annotations

import contextlib
import ftplib
import logging
import os
import posixpath
import re
import shutil
import tarfile
import tempfile
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

from tqdm.auto import tqdm

from ._paths import DATA_ENV, default_data_root
from .cifar10_formats import BINARY_FOLDER, BINARY_TEST_FILE, BINARY_TRAIN_FILES

CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"
CIFAR10_MD5 = "c32a1d4ab5d03f1284b67883e8d87530"
CIFAR10_SIZE = 170_052_171
CIFAR10_REQUIRED = (*BINARY_TRAIN_FILES, BINARY_TEST_FILE)
CIFAR10_OPTIONAL = ("batches.meta.txt", "readme.html")

_CHUNK = 1 << 20
# Errors a downloader can raise for a network or file problem (requests'
# exceptions are OSErrors, its URL errors also ValueErrors).
_TRANSFER_ERRORS = (ValueError, *ftplib.all_errors)


class DownloadError(RuntimeError):
    """The download failed, was the wrong size or MD5, or the archive is unsafe."""


class _Progress:
    """pooch's custom progress-bar interface (``total``, ``update``,
    ``reset``, ``close``) over a tqdm bar named after the file; it also keeps
    the length the server announced (``announced``, None if unknown)."""

    def __init__(self, desc: str, enabled: bool, size: int | None):
        self.announced: int | None = None
        self._size = size
        self._bar = tqdm(total=size, unit="B", unit_scale=True, desc=desc, disable=not enabled)

    @property
    def total(self):
        """The bar's total in bytes (the announced size, else the expected one)."""
        return self._bar.total

    @total.setter
    def total(self, value):
        """pooch announces the server's length (0 when unknown)."""
        self.announced = int(value) if value else None      # pooch sets 0 when unknown
        self._bar.total = self.announced if self.announced is not None else self._size

    def update(self, n):
        """Advance the bar by ``n`` bytes."""
        self._bar.update(n)

    def reset(self):
        """Set the bar back to 0 (pooch does so at the end, then ``update(total)``)."""
        self._bar.reset(total=self._bar.total)

    def close(self):
        """Close the tqdm bar."""
        self._bar.close()


class _Downloader:
    """The ``downloader`` we hand to ``pooch.retrieve``: pooch's own
    ``HTTPDownloader`` (http, https) or ``FTPDownloader`` (ftp), or a plain
    copy for ``file://`` URLs, writing to pooch's temporary file. After the
    transfer it checks the byte count there, so a short or wrong-size file
    is refused (and deleted by pooch) before pooch moves it into place."""

    def __init__(self, name: str, size: int | None, progress: bool, timeout: float):
        self.name, self.size, self.progress, self.timeout = name, size, progress, timeout
        self.called = False

    def __call__(self, url: str, output_file: str, pooch_instance=None) -> None:
        import pooch

        self.called = True
        bar = _Progress(self.name, self.progress, self.size)
        try:
            scheme = urllib.parse.urlsplit(url).scheme.lower()
            try:
                if scheme == "file":
                    self._copy_local(url, output_file, bar)
                elif scheme in ("http", "https"):
                    # identity: count and hash the bytes as served, like urllib did
                    pooch.HTTPDownloader(progressbar=bar, chunk_size=_CHUNK, timeout=self.timeout,
                                         headers={"Accept-Encoding": "identity"},
                                         )(url, output_file, pooch_instance)
                elif scheme == "ftp":
                    pooch.FTPDownloader(progressbar=self.progress, chunk_size=_CHUNK,
                                        timeout=self.timeout)(url, output_file, pooch_instance)
                else:
                    raise DownloadError(f"cannot download {url}: unsupported URL scheme "
                                        f"{scheme!r} (use http, https, ftp or file)")
            except _TRANSFER_ERRORS as exc:
                got = max(_size_of(output_file), _bytes_read(exc))
                if got and bar.announced:
                    raise DownloadError(
                        f"download of {url} stopped after {got} of {bar.announced} bytes "
                        f"(connection closed: {exc}): interrupted; nothing was kept") from exc
                raise DownloadError(f"could not download {url}: {exc}") from exc
        finally:
            bar.close()
        got = _size_of(output_file)
        if bar.announced is not None and got != bar.announced:
            raise DownloadError(f"download of {url} stopped after {got} of {bar.announced} bytes "
                                "(connection closed): interrupted; nothing was kept")
        if self.size is not None and got != self.size:
            raise DownloadError(f"download of {url} is {got} bytes, expected {self.size}: "
                                "interrupted or a different file; nothing was kept")

    @staticmethod
    def _copy_local(url: str, output_file: str, bar: _Progress) -> None:
        with urllib.request.urlopen(url) as src, open(output_file, "wb") as out:
            length = src.headers.get("Content-Length")
            bar.total = int(length) if length and length.isdigit() else 0
            while chunk := src.read(_CHUNK):
                out.write(chunk)
                bar.update(len(chunk))


def _bytes_read(exc: BaseException) -> int:
    """Bytes received before the connection closed, from urllib3's
    ``IncompleteRead(partial, expected)`` somewhere in ``exc``'s arguments or
    chain (the last chunk never reaches the file); 0 if not found."""
    seen, todo = set(), [exc]
    while todo:
        err = todo.pop()
        if not isinstance(err, BaseException) or id(err) in seen:
            continue
        seen.add(id(err))
        partial = getattr(err, "partial", None)
        if isinstance(partial, (int, bytes)) and not isinstance(partial, bool):
            return partial if isinstance(partial, int) else len(partial)
        todo.extend([*err.args, err.__cause__, err.__context__])
    return 0


def _size_of(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


@contextlib.contextmanager
def _pooch_logging(quiet: bool):
    """Filter pooch's log lines for the duration of the block: all of them
    when ``quiet``, else only its SHA256 hint (which points to
    ``pooch.retrieve``'s ``known_hash``; our argument is ``md5``). A filter,
    not ``setLevel``: pooch's logger is outside logging's manager, so a new
    level would not reach its cached ``isEnabledFor``."""
    def keep(record: logging.LogRecord) -> bool:
        """False for the records to drop (see above)."""
        return not quiet and not str(record.msg).startswith("SHA256 hash of downloaded file")

    import pooch

    logger = pooch.get_logger()
    logger.addFilter(keep)
    try:
        yield
    finally:
        logger.removeFilter(keep)


def download_file(url: str, dest: str | os.PathLike, md5: str | None = None,
                  size: int | None = None, progress: bool = True, timeout: float = 60.0) -> Path:
    """Download ``url`` to ``dest`` with ``pooch.retrieve``, checking its
    byte count and MD5.

    pooch writes the bytes to a temporary file beside ``dest`` and moves it
    to ``dest`` only once complete and verified; on any failure it is
    deleted and an existing ``dest`` is left as it was. With ``md5`` given,
    an existing ``dest`` with that MD5 (and size) is kept and not downloaded
    again (pooch's cache); without it, a fresh copy always replaces ``dest``.

    Args:
        url: http(s), ftp or file URL.
        dest: the file to create (its folder is created).
        md5: expected hex MD5, or None to skip the check.
        size: expected size in bytes, or None to skip the check.
        progress: show a tqdm progress bar (and pooch's log lines).
        timeout: socket timeout in seconds.

    Returns: ``dest`` as a Path.
    Raises: DownloadError naming the URL (network error, interrupted
    download, wrong size or MD5).
    """
    try:
        import pooch    # here, not at the top: data already on disk loads without it
    except ImportError as exc:
        raise DownloadError(f"cannot download {url}: downloading needs pooch "
                            "(pip install 'pooch>=1.6')") from exc
    dest = Path(dest)
    md5 = md5.lower() if md5 is not None else None
    fname = dest.name
    if md5 is None and dest.exists():
        # pooch keeps an existing file it cannot verify: fetch a fresh copy
        # beside it under a temporary name, then swap it in.
        fname = f".{dest.name}.{uuid.uuid4().hex[:8]}.part"
    fresh = dest.parent / fname
    fetcher = _Downloader(dest.name, size, progress, timeout)
    try:
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
            with _pooch_logging(quiet=not progress):
                pooch.retrieve(url, known_hash=None if md5 is None else f"md5:{md5}",
                               fname=fname, path=dest.parent, downloader=fetcher,
                               progressbar=False)
            if fresh != dest:
                os.replace(fresh, dest)
        except DownloadError:
            raise
        except ValueError as exc:   # pooch's hash check (requests' errors are caught inside)
            if md5 is None or "hash" not in str(exc):
                raise DownloadError(f"could not download {url}: {exc}") from exc
            actual = re.search(r"but got (\w+)", str(exc))
            raise DownloadError(
                f"download of {url} has MD5 {actual.group(1) if actual else '(unknown)'}, "
                f"expected {md5}: corrupt or a different file; nothing was kept") from exc
        except OSError as exc:      # creating the folder, moving the file into place
            raise DownloadError(f"could not download {url} to {str(dest)!r}: {exc}") from exc
    except BaseException:
        if fresh != dest:
            fresh.unlink(missing_ok=True)
        raise
    if not fetcher.called and size is not None and dest.stat().st_size != size:
        raise DownloadError(f"{str(dest)!r} (already there, MD5 {md5}) is "
                            f"{dest.stat().st_size} bytes, expected {size}: the expected MD5 and "
                            f"size disagree; fix the arguments or delete the file")
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
