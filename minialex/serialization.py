"""Saving and loading without pickle: ``.npz`` archives of plain arrays
plus one JSON document, written atomically.

Loading uses ``numpy.load(..., allow_pickle=False)``, so a file can never
run code; anything that is not an array of numbers or the JSON text is
refused. Writes go to a temporary file in the same folder, are flushed to
disk, then renamed over the target (``os.replace`` is atomic), so an
interrupted save leaves the previous file intact.
"""

import json
import os
import tempfile
import zipfile

import numpy

__all__ = ["save_npz", "load_npz", "CheckpointError", "save_weights", "load_weights"]

_META_KEY = "__meta_json__"


class CheckpointError(RuntimeError):
    """A checkpoint or weights file is missing, corrupt or does not fit."""


def save_npz(path, arrays, meta=None):
    """Write ``arrays`` (dict name -> ndarray) and ``meta`` (a JSON-able
    dict) to ``path`` atomically."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    payload = {k: numpy.asarray(v) for k, v in arrays.items()}
    if _META_KEY in payload:
        raise ValueError(f"array name {_META_KEY!r} is reserved")
    payload[_META_KEY] = numpy.frombuffer(json.dumps(meta or {}).encode("utf-8"), dtype=numpy.uint8)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".npz", dir=folder)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)       # mkstemp makes it private (0600)
    try:
        with os.fdopen(fd, "wb") as f:
            numpy.savez(f, **payload)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def load_npz(path):
    """Read what :func:`save_npz` wrote: returns ``(arrays, meta)``.

    Raises:
        CheckpointError: the file is missing, not an npz archive, truncated,
            or holds object (pickled) arrays.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise CheckpointError(f"no checkpoint at {path}: check the path (a run folder holds "
                              "checkpoint.npz) or start without --resume")
    try:
        with numpy.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as exc:
        raise CheckpointError(f"{path} is corrupt or not a minialex .npz file ({exc}); "
                              "delete it or point at another checkpoint") from exc
    meta_raw = arrays.pop(_META_KEY, None)
    meta = json.loads(bytes(meta_raw).decode("utf-8")) if meta_raw is not None else {}
    return arrays, meta


def save_weights(model, path):
    """Save a model's parameters (and its ``config``, if it has one) to an
    ``.npz`` file atomically."""
    save_npz(path, model.state_dict(), {"config": getattr(model, "config", None)})


def load_weights(model, path):
    """Load parameters saved by :func:`save_weights` into ``model``.

    Raises:
        CheckpointError: the file is missing or corrupt, or it was saved from
            a model of another configuration (preset, towers, classes...):
            the message lists each setting that differs.
    """
    arrays, meta = load_npz(path)
    check_config(getattr(model, "config", None), meta.get("config"), path)
    try:
        model.load_state_dict(arrays)
    except (KeyError, ValueError) as exc:
        raise CheckpointError(f"{path} does not fit this model: {exc}") from exc
    return model


def check_config(own, saved, path):
    """Raise CheckpointError naming every setting where ``saved`` differs
    from ``own`` (both dicts; skipped when either is missing)."""
    if not own or not saved:
        return
    own = json.loads(json.dumps(own))  # tuples -> lists, as stored
    keys = sorted(set(own) | set(saved))
    diffs = [f"{k}: file has {saved.get(k)!r}, model has {own.get(k)!r}"
             for k in keys if k != "init" and own.get(k) != saved.get(k)]
    if diffs:
        raise CheckpointError(f"{path} was saved from a different model: " + "; ".join(diffs)
                              + ". Build the model with the file's settings "
                              "(or convert tower layouts with minialex.models.towers_to_one)")
