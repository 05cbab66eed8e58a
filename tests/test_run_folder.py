"""RunFolder (minialex/training/run_folder.py) in-process: each check of
--resume and of the folder's files, with its one-line message; the
checkpoint errors come back as RunError; config.json and metrics.jsonl
round-trip. (test_train_cifar.py runs the same through the command line.)"""

import json
import os

import pytest

from minialex.checkpoint import CheckpointError
from minialex.training import run_folder
from minialex.training.run_folder import RunError, RunFolder, new_run_folder, write_json


def _folder(tmp_path, config=None, raw=None, checkpoint=True):
    if raw is not None:
        (tmp_path / "config.json").write_bytes(raw)
    elif config is not None:
        write_json(tmp_path / "config.json", config)
    if checkpoint:
        (tmp_path / "checkpoint.npz").write_bytes(b"")
    return RunFolder(tmp_path)


@pytest.mark.parametrize("raw, words", [
    (None, "no config.json there; is it a run folder?"),
    (b"{not json", "config.json is not valid JSON"),
    (b"\xff\xfe\x00", "config.json is not valid JSON"),              # not UTF-8
    (b"[1, 2]", "config.json holds no run settings"),                 # JSON, not a dict
    (b'{"lr": 0.01}', "config.json holds no run settings"),           # a dict without epochs
])
def test_read_config_refuses_what_is_not_a_run(tmp_path, raw, words):
    folder = _folder(tmp_path, raw=raw)
    with pytest.raises(RunError) as info:
        folder.read_config()
    assert str(info.value).startswith(f"--resume {tmp_path}: {words}")


def test_read_config_checks_the_epochs_and_the_checkpoint(tmp_path):
    folder = _folder(tmp_path, config={"epochs": 5, "lr": 0.01})
    assert folder.read_config() == {"epochs": 5, "lr": 0.01}
    assert folder.read_config(epochs=5)["epochs"] == 5          # as many: allowed
    assert folder.read_config(epochs=9)["epochs"] == 5          # more: extended
    with pytest.raises(RunError, match=r"--epochs 4 is fewer than the saved run's 5; a run can "
                                       r"be extended, not shortened"):
        folder.read_config(epochs=4)
    os.remove(tmp_path / "checkpoint.npz")
    with pytest.raises(RunError, match=r"no checkpoint.npz there \(the run stopped before its "
                                       r"first checkpoint\); start it again without --resume"):
        folder.read_config()


def test_checkpoint_errors_become_one_line_run_errors(tmp_path, monkeypatch):
    def fail(message):
        def raise_(*args, **kwargs):
            raise CheckpointError(message)
        return raise_
    folder = RunFolder(tmp_path)
    monkeypatch.setattr(run_folder, "save_checkpoint", fail("cannot write checkpoint.npz"))
    with pytest.raises(RunError, match=r"^cannot write checkpoint.npz; stopping \(fix the "
                                       r"problem, then --resume\)$"):
        folder.save(None, None, None, epoch=1)
    monkeypatch.setattr(run_folder, "load_checkpoint",
                        fail("conv1.weight has shape (3,). Build the model as it was saved"))
    with pytest.raises(RunError) as info:
        folder.load(None, None, None)
    assert str(info.value) == (f"--resume {tmp_path}: conv1.weight has shape (3,). config.json "
                               "and checkpoint.npz there do not belong together, or the file "
                               "is damaged; start a new run without --resume")


def test_config_and_metrics_round_trip(tmp_path):
    folder = RunFolder(tmp_path)
    folder.write_config({"epochs": 2, "preset": "small"})
    assert json.loads((tmp_path / "config.json").read_text()) == {"epochs": 2, "preset": "small"}
    assert not os.path.exists(str(tmp_path / "config.json") + ".tmp")      # renamed into place
    with pytest.raises(RunError, match="no metrics.jsonl there"):
        folder.read_metrics()
    folder.append_metrics({"epoch": 0, "loss": 2.5})
    folder.append_metrics({"epoch": 1, "loss": 2.0})
    assert folder.read_metrics() == [{"epoch": 0, "loss": 2.5}, {"epoch": 1, "loss": 2.0}]
    folder.rewrite_metrics([{"epoch": 0, "loss": 2.5}])                    # as of the checkpoint
    assert folder.read_metrics() == [{"epoch": 0, "loss": 2.5}]
    with open(folder.metrics, "a") as f:
        f.write("\n{broken\n")
    with pytest.raises(RunError, match="not one JSON object per line"):
        folder.read_metrics()


def test_new_run_folders_never_collide(tmp_path, monkeypatch):
    monkeypatch.setattr(run_folder.time, "strftime", lambda fmt: "20261202-120000")
    made = [new_run_folder(tmp_path / "runs") for _ in range(3)]
    base = str(tmp_path / "runs" / "20261202-120000")
    assert made == [base, base + "-2", base + "-3"] and all(os.path.isdir(p) for p in made)
