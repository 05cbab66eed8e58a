"""minialex.serialization on real files: the saved file's mode, the zip
end-of-directory check of files without metadata, the metadata array's
dtype and shape, the checksum comparison, the folder fsync, and
check_config's "saved from a different model" message."""

import errno
import json
import os
import stat
import struct
import zipfile

import numpy as np
import pytest

from minialex import nn
from minialex.models import alexnet_cifar, convnet4
from minialex.serialization import (CheckpointError, arrays_sha256, check_config, load_npz,
                                    load_weights, save_npz, save_weights)

ARRAYS = {"a": np.arange(6, dtype=np.float32).reshape(2, 3), "b": np.ones(4)}
FIX = "delete it or point at another checkpoint"


def _same_arrays(arrays):
    return set(arrays) == set(ARRAYS) and all(
        arrays[k].dtype == v.dtype and np.array_equal(arrays[k], v) for k, v in ARRAYS.items())


# ---------------------------------------------------------------- file mode ---

@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664),
                                         (0o027, 0o640), (0o000, 0o666)])
def test_saved_file_mode_is_0666_less_the_umask(tmp_path, umask, mode):
    """Like open(path, "w"): mkstemp's private 0600 is widened to 0666 & ~umask,
    for a new file and for one written over an existing file of another mode."""
    new, old = tmp_path / "new.npz", tmp_path / "old.npz"
    old.write_bytes(b"previous")
    old.chmod(0o700)
    before = os.umask(umask)
    try:
        save_npz(new, ARRAYS, {"epoch": 1})
        save_npz(old, ARRAYS, {"epoch": 1})
    finally:
        os.umask(before)
    for path in (new, old):
        assert stat.S_IMODE(path.stat().st_mode) == mode, (path.name, oct(path.stat().st_mode))
        assert _same_arrays(load_npz(path)[0])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new.npz", "old.npz"]


# ------------------------------------------------------ folder fsync (POSIX) ---

def test_a_folder_that_cannot_be_opened_or_fsynced_does_not_fail_the_save(tmp_path,
                                                                          monkeypatch):
    """The folder fsync is best effort (the file itself is already whole and
    renamed): a folder that cannot be opened (Windows, no read permission) or
    whose fsync is refused (EINVAL on some file systems) still gives a
    loadable file, and the folder's descriptor is closed."""
    folder = str(tmp_path)
    real_open, real_fsync, real_close = os.open, os.fsync, os.close
    opened, closed = [], []

    def refuse_folder(path, *args, **kwargs):
        if os.fspath(path) == folder:
            raise PermissionError(errno.EACCES, "Permission denied", folder)
        return real_open(path, *args, **kwargs)
    monkeypatch.setattr(os, "open", refuse_folder)
    save_npz(tmp_path / "a.npz", ARRAYS)
    monkeypatch.undo()
    assert _same_arrays(load_npz(tmp_path / "a.npz")[0])

    def track_open(path, *args, **kwargs):
        fd = real_open(path, *args, **kwargs)
        if os.fspath(path) == folder:
            opened.append(fd)
        return fd

    def refuse_dir_fsync(fd):
        if stat.S_ISDIR(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "Invalid argument")
        return real_fsync(fd)

    def track_close(fd):
        closed.append(fd)
        return real_close(fd)
    monkeypatch.setattr(os, "open", track_open)
    monkeypatch.setattr(os, "fsync", refuse_dir_fsync)
    monkeypatch.setattr(os, "close", track_close)
    save_npz(tmp_path / "b.npz", ARRAYS)
    monkeypatch.undo()
    assert len(opened) == 1 and opened[0] in closed
    assert _same_arrays(load_npz(tmp_path / "b.npz")[0])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.npz", "b.npz"]


# ------------------------------------------- zip end record (no metadata) ---
# A file without __meta_json__ (a plain np.savez archive) has no checksum;
# the entry count in its end-of-central-directory record (22 bytes: the
# signature PK\5\6, two disk numbers, entries on this disk, entries in all
# at bytes 10-11, directory size, directory offset, comment length) is
# compared with what the reader found.

def _plain(path, arrays=ARRAYS):
    np.savez(path, **arrays)
    return path


def _patch_total_entries(path, count_bytes):
    raw = bytearray(path.read_bytes())
    assert raw[-22:-18] == b"PK\x05\x06"
    raw[-12:-10] = count_bytes
    path.write_bytes(bytes(raw))


def test_end_record_entry_count_that_disagrees_is_corrupt(tmp_path):
    path = _plain(tmp_path / "p.npz")
    _patch_total_entries(path, (3).to_bytes(2, "little"))
    with pytest.raises(CheckpointError) as info:
        load_npz(path)
    assert str(info.value) == (f"{path} is corrupt: its zip directory lists 3 entries but only "
                               f"2 could be read; {FIX}")
    _patch_total_entries(path, (258).to_bytes(2, "little"))     # 2 in its low byte
    with pytest.raises(CheckpointError, match="lists 258 entries but only 2 could be read"):
        load_npz(path)


def test_end_record_count_is_read_as_two_bytes(tmp_path):
    """300 arrays: the count 300 = 0x012C needs both bytes."""
    many = {f"x{i:03d}": np.full(1, i) for i in range(300)}
    arrays, meta = load_npz(_plain(tmp_path / "many.npz", many))
    assert meta == {} and len(arrays) == 300 and arrays["x299"][0] == 299


def test_end_record_count_ffff_means_see_zip64_and_is_not_compared(tmp_path):
    """0xFFFF in the count field says "the count is in the zip64 record":
    it is no count, and the file loads."""
    path = _plain(tmp_path / "p.npz")
    _patch_total_entries(path, b"\xff\xff")
    arrays, meta = load_npz(path)
    assert meta == {} and _same_arrays(arrays)


@pytest.mark.parametrize("comment", [b"z" * 22, b"A" * 22, b"zz"])
def test_a_zip_comment_hides_the_end_record_and_the_file_loads(tmp_path, comment):
    """With a comment (zip -z, an archive tool) the last 22 bytes are not the
    end record; the count is then not read, whatever the comment's bytes
    (letters sorting above or below the signature, or a short comment)."""
    path = _plain(tmp_path / "p.npz")
    with zipfile.ZipFile(path, "a") as z:
        z.comment = comment
    assert not path.read_bytes()[-22:].startswith(b"PK\x05\x06")
    arrays, meta = load_npz(path)
    assert meta == {} and _same_arrays(arrays)


def test_a_bare_end_record_that_claims_entries_is_corrupt(tmp_path):
    """The smallest zip is its 22-byte end record. An empty archive loads as
    nothing; one whose record claims 3 entries in an empty directory (all
    the entries lost) is corrupt."""
    empty = _plain(tmp_path / "empty.npz", {})
    assert empty.stat().st_size == 22
    assert load_npz(empty) == ({}, {})
    lost = tmp_path / "lost.npz"
    lost.write_bytes(b"PK\x05\x06" + struct.pack("<HHHHIIH", 0, 0, 3, 3, 0, 0, 0))
    with pytest.raises(CheckpointError) as info:
        load_npz(lost)
    assert str(info.value) == (f"{lost} is corrupt: its zip directory lists 3 entries but only "
                               f"0 could be read; {FIX}")


# ------------------------------------------------- the metadata array itself ---

def _with_meta_array(path, meta_array):
    np.savez(path, **ARRAYS, __meta_json__=meta_array)
    return path


@pytest.mark.parametrize("shape_of", ["int8", "2-D", "0-d", "float64"])
def test_metadata_that_is_not_a_1d_uint8_array_is_refused(tmp_path, shape_of):
    """The JSON must be a 1-D uint8 array, as save_npz writes it; the same
    bytes as int8, or reshaped, are refused (not decoded anyway)."""
    text = json.dumps({"epoch": 2, "arrays_sha256": arrays_sha256(ARRAYS)}).encode()
    raw = np.frombuffer(text, dtype=np.uint8)
    meta_array = {"int8": raw.view(np.int8), "2-D": raw.reshape(1, -1),
                  "0-d": np.array(ord("7"), dtype=np.uint8),
                  "float64": raw.astype(np.float64)}[shape_of]
    path = _with_meta_array(tmp_path / "m.npz", meta_array)
    with pytest.raises(CheckpointError) as info:
        load_npz(path)
    assert str(info.value) == (f"{path}: its metadata (__meta_json__) is a {meta_array.dtype} "
                               f"array of shape {meta_array.shape}, not UTF-8 bytes; {FIX}")
    assert load_npz(_with_meta_array(tmp_path / "ok.npz", raw))[1] == {"epoch": 2}


# --------------------------------------------------------------- checksum ---

@pytest.mark.parametrize("stored", ["0" * 64, "f" * 64, "digest"])
def test_any_stored_checksum_but_the_right_one_is_damage(tmp_path, stored):
    """Not equal is damaged, whichever way the stored digest sorts."""
    path = _with_meta_array(tmp_path / "m.npz", np.frombuffer(
        json.dumps({"epoch": 2, "arrays_sha256": stored}).encode(), dtype=np.uint8))
    with pytest.raises(CheckpointError) as info:
        load_npz(path)
    assert str(info.value) == (f"{path} is damaged: its arrays do not match the SHA-256 stored "
                               f"when it was written (a changed, lost or renamed byte); {FIX}")


# ------------------------------------------------------- load_weights fit ---

def test_weights_that_do_not_fit_the_model_name_the_problem(tmp_path):
    """Models without a config: the file's arrays are checked against the
    model's (a missing entry is load_state_dict's KeyError, a shape its
    ValueError); both are CheckpointErrors naming the file."""
    path = tmp_path / "w.npz"
    save_weights(nn.Sequential(nn.Linear(3, 2)), path)
    with pytest.raises(CheckpointError) as info:
        load_weights(nn.Sequential(nn.Linear(3, 2), nn.Linear(2, 2)), path)
    assert str(info.value) == (f"{path} does not fit this model: 'load_state_dict into "
                               "Sequential: missing entries: 1.weight, 1.bias'")
    with pytest.raises(CheckpointError) as info:
        load_weights(nn.Sequential(nn.Linear(4, 2)), path)
    assert str(info.value) == (f"{path} does not fit this model: load_state_dict into "
                               "Sequential: shape mismatch in 0.weight: checkpoint (2, 3) vs "
                               "model (2, 4)")


# ------------------------------------------------- "saved from a different model" ---

def test_different_model_lists_every_setting_that_differs(tmp_path):
    """Settings before "init" in the alphabet count like the others; init
    itself does not (the weights come from the file)."""
    path = tmp_path / "w.npz"
    save_weights(alexnet_cifar("small", towers=1, activation="tanh", dropout=0.25), path)
    load_weights(alexnet_cifar("small", towers=1, activation="tanh", dropout=0.25,
                               init="paper"), path)
    with pytest.raises(CheckpointError) as info:
        load_weights(alexnet_cifar("small", towers=1, init="paper"), path)
    assert str(info.value) == (
        f"{path} was saved from a different model: activation: file has 'tanh', model has "
        "'relu'; dropout: file has 0.25, model has 0.5. Build the model with the file's "
        "settings (or convert tower layouts with minialex.models.towers_to_one)")


def test_a_setting_the_model_does_not_have_is_a_difference(tmp_path):
    """An AlexNet file loaded into ConvNet4: the settings only the file has
    are named (with "model has None"); "model", which only ConvNet4 has, is
    not (a file without a setting predates it)."""
    path = tmp_path / "w.npz"
    save_weights(alexnet_cifar("small", towers=1), path)
    with pytest.raises(CheckpointError) as info:
        load_weights(convnet4(), path)
    msg = str(info.value)
    assert msg.startswith(f"{path} was saved from a different model: conv1: file has [5, 1, 2], "
                          "model has None; dropout: file has 0.5, model has None; ")
    assert "'model'" not in msg and "activation" not in msg and "num_classes" not in msg
    with pytest.raises(CheckpointError, match=r"^x.npz was saved from a different model: "
                                              r"width: file has 4, model has None\. "):
        check_config({"preset": "tiny"}, {"preset": "tiny", "width": 4}, "x.npz")
    check_config({"preset": "tiny", "width": 4}, {"preset": "tiny"}, "x.npz")   # older file
