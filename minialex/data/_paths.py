"""Default folders and atomic file writes shared by the data loaders.

Environment variables:

- ``MINIALEX_DATA``: where data sets live (default ``~/.cache/minialex``).
- ``MINIALEX_CACHE``: where decoded-array caches are written (default
  ``~/.cache/minialex``). Data folders may be read-only, so caches never go
  inside them.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np

DATA_ENV = "MINIALEX_DATA"
CACHE_ENV = "MINIALEX_CACHE"


def _user_cache() -> Path:
    return Path.home() / ".cache" / "minialex"


def default_data_root() -> Path:
    """Folder searched for data sets: ``$MINIALEX_DATA``, else ``~/.cache/minialex``."""
    env = os.environ.get(DATA_ENV)
    return Path(env).expanduser() if env else _user_cache()


def default_cache_dir() -> Path:
    """Folder for decoded-array caches: ``$MINIALEX_CACHE``, else ``~/.cache/minialex``."""
    env = os.environ.get(CACHE_ENV)
    return Path(env).expanduser() if env else _user_cache()


def atomic_save_npz(path: Path, **arrays: np.ndarray) -> None:
    """Write ``arrays`` to ``path`` (uncompressed .npz) so that readers only
    ever see the old file or the complete new one.

    The data goes to a temporary file in the same folder, is flushed to disk,
    then renamed over ``path`` with ``os.replace`` (atomic on POSIX and
    Windows). On any error the temporary file is removed.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes it private; a cache is ordinary data
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
