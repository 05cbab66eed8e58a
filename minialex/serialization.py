"""Saving and loading without pickle: ``.npz`` archives of plain arrays
plus one JSON document, written atomically and checked when read.

Loading uses ``numpy.load(..., allow_pickle=False)``, so a file can never
run code; anything that is not an array of numbers or the JSON text is
refused. Writes go to a temporary file in the same folder, are flushed to
disk, then renamed over the target (``os.replace`` is atomic), so an
interrupted or failed save (disk full, no permission, a crash before the
rename) leaves the previous file intact.

Integrity: the JSON document stores ``arrays_sha256``, the SHA-256 of every
array's name, dtype, shape and bytes (in name order; see
:func:`arrays_sha256`). Loading recomputes it, so a flipped byte or a cut
file is reported instead of loaded. Files written before the checksum
existed (no ``arrays_sha256``) still load; the zip format's own CRC-32 still
guards them.
"""

import hashlib
import json
import os
import tempfile

import numpy

__all__ = ["save_npz", "load_npz", "CheckpointError", "save_weights", "load_weights",
           "arrays_sha256"]

_META_KEY = "__meta_json__"
_SHA_KEY = "arrays_sha256"


class CheckpointError(RuntimeError):
    """A checkpoint or weights file is missing, corrupt or does not fit, or
    could not be written."""


def arrays_sha256(arrays):
    """Hex SHA-256 over ``arrays`` (dict name -> ndarray) in name order: for
    each, its name, dtype (``dtype.str``, with byte order), shape, then its
    bytes in C order. Any change of a value, a name, a dtype or a shape
    changes it."""
    h = hashlib.sha256()
    for name in sorted(arrays):
        a = numpy.ascontiguousarray(arrays[name])
        h.update(json.dumps([name, a.dtype.str, list(a.shape)]).encode("utf-8"))
        h.update(a.tobytes())
    return h.hexdigest()


def save_npz(path, arrays, meta=None):
    """Write ``arrays`` (dict name -> ndarray) and ``meta`` (a JSON-able
    dict) to ``path`` atomically, with the arrays' checksum in the JSON.

    Raises:
        ValueError: an array named ``__meta_json__`` or a meta key
            ``arrays_sha256`` (both reserved).
        CheckpointError: the file could not be written (no permission, disk
            full, ...): the message names the path; a previous file at
            ``path`` is left as it was.
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    payload = {k: numpy.asarray(v) for k, v in arrays.items()}
    if _META_KEY in payload:
        raise ValueError(f"array name {_META_KEY!r} is reserved")
    meta = dict(meta or {})
    if _SHA_KEY in meta:
        raise ValueError(f"meta key {_SHA_KEY!r} is reserved (save_npz writes it)")
    meta[_SHA_KEY] = arrays_sha256(payload)
    payload[_META_KEY] = numpy.frombuffer(json.dumps(meta).encode("utf-8"), dtype=numpy.uint8)
    try:
        os.makedirs(folder, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".npz", dir=folder)
    except OSError as exc:
        raise CheckpointError(f"could not write {path}: {exc.strerror or exc} (folder {folder}); "
                              "check that it exists and is writable") from exc
    try:
        with os.fdopen(fd, "wb") as f:
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)   # mkstemp makes it private (0600)
            numpy.savez(f, **payload)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        if os.path.exists(tmp):
            os.remove(tmp)
        if isinstance(exc, OSError):
            raise CheckpointError(f"could not write {path}: {exc.strerror or exc}; the previous "
                                  "file there (if any) is left as it was") from exc
        raise
    _fsync_folder(folder)


def _fsync_folder(folder):
    """Make the rename itself durable (POSIX); best effort, the file is already whole."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def load_npz(path):
    """Read what :func:`save_npz` wrote: returns ``(arrays, meta)``.

    Raises:
        CheckpointError: the file is missing, not an npz archive, truncated,
            damaged (its arrays do not match the stored SHA-256), holds
            object (pickled) arrays, or its JSON document is not UTF-8, not
            JSON, or not a JSON object. The message names the file.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise CheckpointError(f"no checkpoint at {path}: check the path (a run folder holds "
                              "checkpoint.npz) or start without --resume")
    fix = "delete it or point at another checkpoint"
    try:
        with numpy.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except Exception as exc:    # noqa: BLE001: any failure to parse it means a bad file
        # NumPy's own messages about pickles advise loading "unsafely": never pass them on
        if "Object arrays" in str(exc):
            raise CheckpointError(f"{path} is corrupt or not a minialex .npz file: it holds "
                                  "object arrays, which only unpickling could read, and "
                                  f"minialex never unpickles (it can run code); {fix}") from None
        if "pickle" in str(exc):
            raise CheckpointError(f"{path} is corrupt or not a minialex .npz file: it is neither "
                                  "a zip archive of arrays nor an .npy array (a pickle, perhaps, "
                                  f"which minialex never loads: it can run code); {fix}") from None
        if isinstance(exc, OSError) and exc.errno is not None:
            raise CheckpointError(f"could not read {path}: {exc.strerror}") from exc
        raise CheckpointError(f"{path} is corrupt, truncated or not a minialex .npz file "
                              f"({type(exc).__name__}: {exc}); {fix}") from exc
    meta_raw = arrays.pop(_META_KEY, None)
    if meta_raw is None and _listed_entries(path) not in (None, len(arrays)):
        raise CheckpointError(f"{path} is corrupt: its zip directory lists "
                              f"{_listed_entries(path)} entries but only {len(arrays)} could be "
                              f"read; {fix}")
    meta = _decode_meta(meta_raw, path, fix) if meta_raw is not None else {}
    stored = meta.pop(_SHA_KEY, None)
    if stored is not None and stored != arrays_sha256(arrays):
        raise CheckpointError(f"{path} is damaged: its arrays do not match the SHA-256 stored "
                              f"when it was written (a changed, lost or renamed byte); {fix}")
    return arrays, meta


def _listed_entries(path):
    """The entry count in the zip's end-of-directory record (the last 22
    bytes of a file without a zip comment, as NumPy writes it), or None
    where it cannot be read that way. A damaged directory can hide entries
    (the metadata among them) from the reader; this count still sees them."""
    with open(path, "rb") as f:
        f.seek(0, os.SEEK_END)
        if f.tell() < 22:
            return None
        f.seek(-22, os.SEEK_END)
        end = f.read(22)
    if end[:4] != b"PK\x05\x06" or end[10:12] == b"\xff\xff":
        return None
    return int.from_bytes(end[10:12], "little")


def _decode_meta(raw, path, fix):
    """The JSON document of a file, a dict; CheckpointError saying what is wrong otherwise."""
    if raw.dtype != numpy.uint8 or raw.ndim != 1:
        raise CheckpointError(f"{path}: its metadata ({_META_KEY}) is a {raw.dtype} array of "
                              f"shape {raw.shape}, not UTF-8 bytes; {fix}")
    try:
        meta = json.loads(raw.tobytes().decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise CheckpointError(f"{path}: its metadata is not UTF-8 text ({exc}); {fix}") from None
    except ValueError as exc:
        raise CheckpointError(f"{path}: its metadata is not valid JSON ({exc}); {fix}") from None
    if not isinstance(meta, dict):
        raise CheckpointError(f"{path}: its metadata is a JSON {type(meta).__name__}, not an "
                              f"object (a dict of settings); {fix}")
    return meta


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
    if not isinstance(saved, dict):
        raise CheckpointError(f"{path}: its metadata 'config' is {saved!r}, not an object of "
                              "model settings; the file is damaged or hand-made")
    own = json.loads(json.dumps(own))  # tuples -> lists, as stored
    keys = sorted(set(own) | set(saved))
    # a setting the file does not mention predates it: the file was saved
    # with that setting's default (e.g. lrn=True before the ablation switches)
    keys = [k for k in keys if k in saved]
    diffs = [f"{k}: file has {saved.get(k)!r}, model has {own.get(k)!r}"
             for k in keys if k != "init" and own.get(k) != saved.get(k)]
    if diffs:
        raise CheckpointError(f"{path} was saved from a different model: " + "; ".join(diffs)
                              + ". Build the model with the file's settings "
                              "(or convert tower layouts with minialex.models.towers_to_one)")
