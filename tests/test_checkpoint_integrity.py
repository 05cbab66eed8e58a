"""Checkpoint and weights files that are damaged, hand-made or cannot be
written: every case is a CheckpointError naming the file and what is wrong,
and a failed save leaves the previous file loadable."""

import errno
import json
import os
import pickle
import subprocess
import sys

import numpy as np
import pytest

import minialex
from minialex import nn
from minialex.checkpoint import load_checkpoint, save_checkpoint
from minialex.optim import SGD, MultiStepLR, ReduceLROnPlateau, StepLR
from minialex.serialization import (CheckpointError, arrays_sha256, load_npz, load_weights,
                                    save_npz, save_weights)

ARRAYS = {"a": np.arange(6, dtype=np.float32).reshape(2, 3), "b": np.ones(4)}
META = {"epoch": 3}


def _same(arrays, meta):
    return meta == META and set(arrays) == set(ARRAYS) and all(
        arrays[k].dtype == v.dtype and arrays[k].shape == v.shape and np.array_equal(arrays[k], v)
        for k, v in ARRAYS.items())


def _tiny(seed=0):
    minialex.manual_seed(seed)
    model = nn.Sequential(nn.Linear(3, 2))
    opt = SGD(model.parameters(), lr=0.1)
    return model, opt


def _trained_checkpoint(path):
    model, opt = _tiny()
    x = minialex.Tensor(np.ones((2, 3), np.float32))
    loss = minialex.functional.cross_entropy(model(x), np.array([0, 1]))
    loss.backward()
    opt.step()
    save_checkpoint(path, model, opt, MultiStepLR(opt, [2]), epoch=1, step=4)
    return model


def _rewrite_meta(path, edit):
    """Re-save ``path`` with its JSON bytes replaced by ``edit(bytes)``."""
    with np.load(path, allow_pickle=False) as z:
        payload = {k: z[k] for k in z.files}
    raw = edit(payload["__meta_json__"].tobytes())
    payload["__meta_json__"] = np.frombuffer(raw, dtype=np.uint8)
    np.savez(path, **payload)


# ------------------------------------------------------------ damaged files ---

def test_every_flipped_bit_is_detected_or_harmless(tmp_path):
    """Flip one bit in each byte of a small file: the load either raises a
    CheckpointError naming the file or returns exactly what was saved (a
    byte no reader uses, such as a zip timestamp). Before the checksum, a
    flip in the zip directory silently dropped the metadata."""
    path = tmp_path / "c.npz"
    save_npz(path, ARRAYS, META)
    raw = path.read_bytes()
    bad = tmp_path / "flipped.npz"
    detected = 0
    for i in range(len(raw)):
        b = bytearray(raw)
        b[i] ^= 1 << (i % 8)
        bad.write_bytes(bytes(b))
        try:
            arrays, meta = load_npz(bad)
        except CheckpointError as exc:
            assert str(bad) in str(exc)
            detected += 1
            continue
        assert _same(arrays, meta), f"bit {i % 8} of byte {i} changed the contents silently"
    assert detected > len(raw) // 2          # most bytes matter


def test_truncated_file_is_refused_with_its_path(tmp_path):
    path = tmp_path / "c.npz"
    save_npz(path, ARRAYS, META)
    raw = path.read_bytes()
    cut = tmp_path / "cut.npz"
    for n in range(len(raw)):
        cut.write_bytes(raw[:n])
        with pytest.raises(CheckpointError, match=str(cut)):
            load_npz(cut)


def test_checksum_catches_changed_arrays_in_a_valid_zip(tmp_path):
    """A well-formed archive (zip CRCs fine) whose array differs from the one
    the checksum was computed over: only the checksum can see it."""
    path = tmp_path / "c.npz"
    save_npz(path, ARRAYS, META)
    with np.load(path, allow_pickle=False) as z:
        payload = {k: z[k] for k in z.files}
    assert json.loads(payload["__meta_json__"].tobytes())["arrays_sha256"] == arrays_sha256(ARRAYS)
    for change in ({"a": ARRAYS["a"] + 1}, {"a": ARRAYS["a"].reshape(3, 2)},
                   {"b": ARRAYS["b"].astype(np.float32)}):
        np.savez(path, **{**payload, **change})
        with pytest.raises(CheckpointError, match=f"{path} is damaged.*SHA-256"):
            load_npz(path)


def test_files_without_a_checksum_still_load(tmp_path):
    path = tmp_path / "c.npz"
    model = _trained_checkpoint(path)
    _rewrite_meta(path, lambda raw: json.dumps(
        {k: v for k, v in json.loads(raw).items() if k != "arrays_sha256"}).encode())
    arrays, meta = load_npz(path)
    assert "arrays_sha256" not in meta and meta["epoch"] == 1
    other, opt = _tiny(seed=5)
    assert load_checkpoint(path, other, opt)["step"] == 4
    np.testing.assert_array_equal(other[0].weight.data, model[0].weight.data)
    np.savez(tmp_path / "plain.npz", **{"0.weight": np.zeros((2, 3), np.float32),
                                        "0.bias": np.zeros(2, np.float32)})   # no metadata
    load_weights(other, tmp_path / "plain.npz")
    np.testing.assert_array_equal(other[0].weight.data, 0)


# -------------------------------------------------------- hand-made metadata ---

@pytest.mark.parametrize("edit, message", [
    (lambda raw: b"{not json", "metadata is not valid JSON"),
    (lambda raw: b"[1, 2, 3]", "metadata is a JSON list, not an object"),
    (lambda raw: b"\xff\xfe{}", "metadata is not UTF-8"),
])
@pytest.mark.parametrize("loader", ["checkpoint", "weights"])
def test_bad_metadata_is_a_checkpoint_error(tmp_path, edit, message, loader):
    path = tmp_path / "c.npz"
    _trained_checkpoint(path)
    _rewrite_meta(path, edit)
    model, opt = _tiny()
    with pytest.raises(CheckpointError, match=f"{path}: its {message}"):
        if loader == "checkpoint":
            load_checkpoint(path, model, opt)
        else:
            load_weights(model, path)


@pytest.mark.parametrize("key", ["epoch", "step", "optimizer", "rng"])
def test_metadata_missing_a_key_names_it(tmp_path, key):
    path = tmp_path / "c.npz"
    _trained_checkpoint(path)

    def drop(raw):
        meta = json.loads(raw)
        del meta[key], meta["arrays_sha256"]      # a hand-edited file
        return json.dumps(meta).encode()
    _rewrite_meta(path, drop)
    model, opt = _tiny(seed=9)
    before = model[0].weight.data.copy()
    with pytest.raises(CheckpointError, match=f"{path} lacks '{key}'"):
        load_checkpoint(path, model, opt)
    np.testing.assert_array_equal(model[0].weight.data, before)     # nothing half-restored


def test_malformed_entries_name_the_file(tmp_path):
    path = tmp_path / "c.npz"
    _trained_checkpoint(path)
    for key, value, message in [("epoch", "3", "'epoch' is '3'"),
                                ("optimizer", {}, "lacks its 'param_groups'"),
                                ("optimizer", {"param_groups": [7]}, "optimizer state does not fit"),
                                ("rng", {"state": 1}, "RNG state is malformed"),
                                ("config", 5, "'config' is 5")]:
        def put(raw):
            return json.dumps({**json.loads(raw), key: value}).encode()
        _trained_checkpoint(path)
        _rewrite_meta(path, put)
        model, opt = _tiny()
        model.config = {"preset": "tiny"}
        with pytest.raises(CheckpointError, match=f"{path}.*{message}"):
            load_checkpoint(path, model, opt)


def test_pickle_refusal_gives_no_unsafe_advice(tmp_path):
    path = tmp_path / "c.npz"
    with open(path, "wb") as f:
        pickle.dump({"weights": [1.0, 2.0]}, f)         # a raw pickle named .npz
    np.savez(tmp_path / "obj.npz", w=np.array([None, 1], dtype=object))
    for p in (path, tmp_path / "obj.npz"):
        with pytest.raises(CheckpointError, match=f"{p} is corrupt.*(a pickle|unpickl)") as info:
            load_npz(p)
        assert "allow_pickle" not in str(info.value) and "unsafe" not in str(info.value)


# ------------------------------------------------------------ failed writes ---

def _previous_intact(path, model):
    other, opt = _tiny(seed=7)
    assert load_checkpoint(path, other, opt)["step"] == 4
    np.testing.assert_array_equal(other[0].weight.data, model[0].weight.data)
    assert [p.name for p in path.parent.iterdir()] == [path.name]    # no temporary left


@pytest.mark.parametrize("where, error", [
    ("numpy.savez", OSError(errno.ENOSPC, "No space left on device")),
    ("os.replace", PermissionError(errno.EACCES, "Permission denied")),
    ("tempfile.mkstemp", PermissionError(errno.EACCES, "Permission denied")),
])
def test_failed_write_keeps_the_previous_checkpoint(tmp_path, monkeypatch, where, error):
    path = tmp_path / "run" / "checkpoint.npz"
    model = _trained_checkpoint(path)

    def fail(*args, **kwargs):
        raise error
    monkeypatch.setattr(where, fail)
    changed, opt = _tiny(seed=3)
    with pytest.raises(CheckpointError, match=f"could not write {path}: {error.strerror}"):
        save_checkpoint(path, changed, opt, epoch=9)
    monkeypatch.undo()
    _previous_intact(path, model)


def test_unwritable_folder_is_a_checkpoint_error(tmp_path):
    (tmp_path / "file").write_text("not a folder")
    model, opt = _tiny()
    path = tmp_path / "file" / "checkpoint.npz"
    with pytest.raises(CheckpointError, match=f"could not write {path}"):
        save_checkpoint(path, model, opt)


def test_crash_between_writing_and_renaming(tmp_path):
    """A process that dies after writing the temporary file but before the
    rename (os._exit: no cleanup runs) leaves the old checkpoint loadable."""
    path = tmp_path / "checkpoint.npz"
    model = _trained_checkpoint(path)
    script = (
        "import os, sys, numpy as np, minialex\n"
        "from minialex import nn\n"
        "from minialex.optim import SGD\n"
        "from minialex.checkpoint import save_checkpoint\n"
        "m = nn.Sequential(nn.Linear(3, 2))\n"
        "os.replace = lambda *a: os._exit(3)\n"
        "save_checkpoint(sys.argv[1], m, SGD(m.parameters(), lr=0.1), epoch=5)\n")
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    done = subprocess.run([sys.executable, "-c", script, str(path)], env=env)
    assert done.returncode == 3
    leftovers = [p for p in tmp_path.iterdir() if p.name != path.name]
    assert len(leftovers) == 1 and leftovers[0].name.startswith(".tmp-")
    leftovers[0].unlink()
    _previous_intact(path, model)


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0,
                    reason="root writes into read-only folders; the monkeypatched "
                           "PermissionError above covers this case there")
def test_read_only_folder_keeps_the_previous_checkpoint(tmp_path):
    path = tmp_path / "run" / "checkpoint.npz"
    model = _trained_checkpoint(path)
    path.parent.chmod(0o555)
    try:
        changed, opt = _tiny(seed=3)
        with pytest.raises(CheckpointError, match=f"could not write {path}: Permission denied"):
            save_checkpoint(path, changed, opt, epoch=9)
    finally:
        path.parent.chmod(0o755)
    _previous_intact(path, model)


def test_unreadable_file_says_so(tmp_path, monkeypatch):
    path = tmp_path / "c.npz"
    save_npz(path, ARRAYS, META)

    def denied(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")
    monkeypatch.setattr(np, "load", denied)
    with pytest.raises(CheckpointError, match=f"could not read {path}: Permission denied"):
        load_npz(path)


# ------------------------------------------------ what load_checkpoint restores ---

def test_defaults_and_extra_come_back(tmp_path):
    """epoch and step default to 0; ``extra`` comes back as saved, and as {}
    (not None) when none was given."""
    path = tmp_path / "c.npz"
    model, opt = _tiny()
    save_checkpoint(path, model, opt)
    assert load_checkpoint(path, *_tiny(seed=1)) == {"epoch": 0, "step": 0, "extra": {}}
    save_checkpoint(path, model, opt, epoch=2, step=5, extra={"val_acc": 0.5, "note": "x"})
    assert load_checkpoint(path, *_tiny(seed=1)) == {
        "epoch": 2, "step": 5, "extra": {"val_acc": 0.5, "note": "x"}}


def test_scheduler_is_restored_only_from_a_file_that_has_one(tmp_path):
    path = tmp_path / "c.npz"
    model, opt = _tiny()
    sched = MultiStepLR(opt, [2, 5], gamma=0.5)
    for _ in range(3):
        sched.step()
    save_checkpoint(path, model, opt, sched, epoch=3)
    other, other_opt = _tiny(seed=1)
    fresh = MultiStepLR(other_opt, [9], gamma=0.1)
    load_checkpoint(path, other, other_opt, fresh)
    assert fresh.state_dict() == {"milestones": [2, 5], "gamma": 0.5, "base_lrs": [0.1],
                                  "last_epoch": 3}
    assert other_opt.param_groups[0]["lr"] == pytest.approx(0.05)
    save_checkpoint(path, model, opt)                      # no scheduler in the file
    untouched = MultiStepLR(other_opt, [9], gamma=0.1)
    before = untouched.state_dict()
    load_checkpoint(path, other, other_opt, untouched)
    assert untouched.state_dict() == before


class _VersionedScheduler:
    """A caller's own scheduler that validates what it is given (ValueError)."""

    def __init__(self, optimizer):
        self.optimizer = optimizer

    def state_dict(self):
        return {"version": 2}

    def load_state_dict(self, state):
        if state.get("version") != 2:
            raise ValueError(f"unknown state version {state.get('version')!r}")


@pytest.mark.parametrize("saved, loader, error", [
    ("StepLR", "MultiStepLR", "KeyError: 'milestones'"),
    ([1, 2], "MultiStepLR", "TypeError: list indices must be integers or slices, not str"),
    ([1, 2], "ReduceLROnPlateau", "AttributeError: 'list' object has no attribute 'items'"),
    ({"version": 1}, "_VersionedScheduler", "ValueError: unknown state version 1"),
])
def test_a_scheduler_state_that_does_not_fit_names_both(tmp_path, saved, loader, error):
    """Another scheduler's state (KeyError), a hand-made one (TypeError,
    AttributeError), or one the caller's scheduler refuses (ValueError)."""
    path = tmp_path / "c.npz"
    model, opt = _tiny()
    if saved == "StepLR":
        save_checkpoint(path, model, opt, StepLR(opt, 2))
    else:
        save_checkpoint(path, model, opt, MultiStepLR(opt, [2]))
        _rewrite_meta(path, lambda raw: json.dumps({**json.loads(raw), "scheduler": saved}
                                                   ).encode())
    other, other_opt = _tiny(seed=1)
    sched = {"MultiStepLR": lambda: MultiStepLR(other_opt, [3]),
             "ReduceLROnPlateau": lambda: ReduceLROnPlateau(other_opt),
             "_VersionedScheduler": lambda: _VersionedScheduler(other_opt)}[loader]()
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path, other, other_opt, sched)
    assert str(info.value) == f"{path}: its scheduler state does not fit {loader} ({error})"


@pytest.mark.parametrize("fmt", [None, "minialex-checkpoint-0", "minialex-checkpoint-2", "npz"])
def test_a_file_that_is_not_a_training_checkpoint_says_so(tmp_path, fmt):
    """A weights file (no "format") or any other format than
    minialex-checkpoint-1, older or newer, is refused before anything else."""
    path = tmp_path / "c.npz"
    model, opt = _tiny()
    if fmt is None:
        save_weights(model, path)
    else:
        _trained_checkpoint(path)
        _rewrite_meta(path, lambda raw: json.dumps({**json.loads(raw), "format": fmt}).encode())
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path, *_tiny(seed=1))
    assert str(info.value) == (f"{path} is not a minialex training checkpoint (for plain "
                               "weights use minialex.models.load_weights)")


@pytest.mark.parametrize("key, value, kind", [("epoch", "3", "integer"), ("step", True, "integer"),
                                              ("optimizer", [1], "object"),
                                              ("rng", 5, "object")])
def test_a_mistyped_entry_names_the_json_type_expected(tmp_path, key, value, kind):
    path = tmp_path / "c.npz"
    _trained_checkpoint(path)
    _rewrite_meta(path, lambda raw: json.dumps({**json.loads(raw), key: value}).encode())
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path, *_tiny(seed=1))
    assert str(info.value) == (f"{path}: metadata {key!r} is {value!r}, expected a "
                               f"JSON {kind}")


def test_a_checkpoint_that_does_not_fit_the_model_names_the_problem(tmp_path):
    """Models without a config: a missing entry (load_state_dict's KeyError)
    and a shape (its ValueError) are CheckpointErrors naming the file."""
    path = tmp_path / "c.npz"
    _trained_checkpoint(path)
    bigger = nn.Sequential(nn.Linear(3, 2), nn.Linear(2, 2))
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path, bigger, SGD(bigger.parameters(), lr=0.1))
    assert str(info.value) == (f"{path} does not fit this model: 'load_state_dict into "
                               "Sequential: missing entries: 1.weight, 1.bias'")
    wider = nn.Sequential(nn.Linear(4, 2))
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path, wider, SGD(wider.parameters(), lr=0.1))
    assert str(info.value) == (f"{path} does not fit this model: load_state_dict into "
                               "Sequential: shape mismatch in 0.weight: checkpoint (2, 3) vs "
                               "model (2, 4)")


def test_an_optimizer_buffer_name_may_hold_a_slash(tmp_path):
    """``optim/<i>/<buffer>``: everything after the index is the buffer's
    name, so a name with "/" (a subclass's "ema/slow") round-trips."""
    path = tmp_path / "c.npz"
    model, _ = _tiny()
    opt = SGD(model.parameters(), lr=0.1, momentum=0.9)
    w = model[0].weight
    opt.state[id(w)] = {"momentum_buffer": np.full((2, 3), 0.5, np.float32),
                        "ema/slow": np.arange(6, dtype=np.float32).reshape(2, 3)}
    save_checkpoint(path, model, opt)
    assert "optim/0/ema/slow" in load_npz(path)[0]
    other, _ = _tiny(seed=1)
    other_opt = SGD(other.parameters(), lr=0.1, momentum=0.9)
    load_checkpoint(path, other, other_opt)
    state = other_opt.state[id(other[0].weight)]
    assert sorted(state) == ["ema/slow", "momentum_buffer"]
    np.testing.assert_array_equal(state["ema/slow"], np.arange(6).reshape(2, 3))
    np.testing.assert_array_equal(state["momentum_buffer"], 0.5)
