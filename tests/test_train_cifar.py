"""End-to-end: the main job on a few thousand real CIFAR-10 images."""

import json
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from conftest import REPO
from minialex.serialization import load_npz

SCRIPT = REPO / "examples" / "train_cifar.py"


def run(*args):
    out = subprocess.run([sys.executable, str(SCRIPT), "--no-progress", *map(str, args)],
                         capture_output=True, text=True, cwd=REPO, timeout=900)
    return out


@pytest.mark.slow
def test_quick_run_learns_and_writes_run_folder(cifar10_dir, tmp_path):
    out = tmp_path / "run"
    quick = ["--subset", 4096, "--test-subset", 1000, "--schedule", "plateau"]
    r = run("--data", cifar10_dir, *quick, "--epochs", 2, "--out", out)
    assert r.returncode == 0, r.stderr[-3000:]
    for name in ("config.json", "metrics.jsonl", "checkpoint.npz", "final.json"):
        assert (out / name).exists(), name
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [row["epoch"] for row in rows] == [1, 2]
    assert rows[1]["train_loss"] < rows[0]["train_loss"]
    assert "ten-crop: top-1" in r.stdout

    # --resume continues from the saved epoch (here: two more epochs)
    r = run("--resume", out, "--epochs", 4)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "resumed" in r.stdout and "epoch   3/4" in r.stdout
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [row["epoch"] for row in rows] == [1, 2, 3, 4]
    assert rows[3]["train_loss"] < rows[0]["train_loss"] - 0.2
    assert json.loads((out / "config.json").read_text())["epochs"] == 4   # the run's new end
    final = json.loads((out / "final.json").read_text())
    # 128 SGD steps on 4096 real images: well above chance (0.10 / 0.50)
    assert final["centre_top1"] > 0.2
    assert final["ten_crop_top1"] > 0.2 and final["ten_crop_top5"] > 0.65
    # the totals cover the whole run, the epochs before the resume included
    total = lambda key: sum(row[key] for row in rows)  # noqa: E731
    assert final["total_train_time_s"] == round(total("train_time_s"), 1)
    assert final["total_epoch_test_time_s"] == round(total("test_time_s"), 1)
    assert final["total_time_s"] == round(total("epoch_time_s") + final["centre_time_s"]
                                          + final["ten_crop_time_s"], 1)


@pytest.mark.slow
def test_interrupted_run_resumes_exactly(cifar10_dir, tmp_path):
    common = ["--data", cifar10_dir, "--subset", 1024, "--test-subset", 500, "--epochs", 2,
              "--no-ten-crop"]
    r = run(*common, "--out", tmp_path / "a")
    assert r.returncode == 0, r.stderr[-3000:]
    r = run(*common, "--out", tmp_path / "b", "--stop-after-steps", 3)   # as if Ctrl-C
    assert r.returncode == 130, r.stderr[-3000:]
    assert "saved" in r.stdout and "step 3" in r.stdout
    assert not (tmp_path / "b" / "metrics.jsonl").exists()
    r = run("--resume", tmp_path / "b")
    assert r.returncode == 0, r.stderr[-3000:]
    a = np.load(tmp_path / "a" / "checkpoint.npz")
    b = np.load(tmp_path / "b" / "checkpoint.npz")
    assert set(a.files) == set(b.files)
    for k in a.files:
        if k.startswith("model/") or k.startswith("optim/"):
            np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    ra = (tmp_path / "a" / "metrics.jsonl").read_text().splitlines()
    rb = (tmp_path / "b" / "metrics.jsonl").read_text().splitlines()
    for la, lb in zip(ra, rb):
        ja, jb = json.loads(la), json.loads(lb)
        for k in ("train_loss", "train_top1", "test_top1", "lr"):
            assert ja[k] == jb[k], k

    # kill -9 in the middle of the SECOND epoch, after a periodic checkpoint:
    # the resumed run must know its epoch (loader order, augmentation, lr)
    # and its step, and end bit for bit where the uninterrupted run ended
    c = tmp_path / "c"
    proc = subprocess.Popen([sys.executable, str(SCRIPT), "--no-progress", *map(str, common),
                             "--out", str(c), "--checkpoint-every", "3"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO)
    meta = None
    deadline = time.time() + 600
    while time.time() < deadline and proc.poll() is None:
        try:
            meta = load_npz(c / "checkpoint.npz")[1]
        except Exception:       # not written yet
            meta = None
        if meta and meta["epoch"] == 1 and meta["step"] > 0:
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.03)
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read()[-2000:]
    meta = load_npz(c / "checkpoint.npz")[1]
    assert meta["epoch"] == 1 and meta["step"] in (3, 6)      # mid-epoch 2
    r = run("--resume", c)
    assert r.returncode == 0, r.stderr[-3000:]
    assert f"resumed {c} at epoch 2, step {meta['step']}" in r.stdout
    cc = np.load(c / "checkpoint.npz")
    for k in a.files:
        if k.startswith("model/") or k.startswith("optim/"):
            np.testing.assert_array_equal(a[k], cc[k], err_msg=k)
    rows_a = [json.loads(x) for x in ra]
    rows_c = [json.loads(x) for x in (c / "metrics.jsonl").read_text().splitlines()]
    assert [x["train_loss"] for x in rows_c] == [x["train_loss"] for x in rows_a]


def test_missing_data_folder_is_a_clear_error(tmp_path):
    r = run("--data", tmp_path / "nowhere", "--epochs", 1, "--out", tmp_path / "r")
    assert r.returncode != 0
    assert "nowhere" in r.stderr
    assert "--data" in r.stderr and "Traceback" not in r.stderr    # advice for the command line
    assert not (tmp_path / "r").exists()                            # no stray run folder


def test_zero_epochs_is_an_error_not_the_default(tmp_path):
    r = run("--data", tmp_path, "--epochs", 0, "--out", tmp_path / "r")
    assert r.returncode == 2 and "--epochs must be at least 1, got 0" in r.stderr
    assert not (tmp_path / "r").exists()


def test_resume_cannot_shorten_a_run(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"epochs": 15}))
    r = run("--resume", tmp_path, "--epochs", 3)
    assert r.returncode != 0 and "Traceback" not in r.stderr
    assert "--epochs 3 is fewer than the saved run's 15" in r.stderr


def test_resume_of_a_non_run_folder_is_a_clear_error(tmp_path):
    r = run("--resume", tmp_path)
    assert r.returncode != 0
    assert "config.json" in r.stderr


@pytest.mark.slow
def test_diverging_loss_stops_with_epoch_and_step(cifar10_dir, tmp_path):
    r = run("--data", cifar10_dir, "--subset", 1024, "--test-subset", 200, "--epochs", 1,
            "--lr", 1e12, "--no-ten-crop", "--out", tmp_path / "r")
    assert r.returncode != 0
    assert "loss became" in r.stderr and "epoch 1, step" in r.stderr
    assert "--lr" in r.stderr                     # says what to change
    assert not (tmp_path / "r" / "checkpoint.npz").exists()   # nothing bad was saved


def test_default_run_folders_never_collide(tmp_path, monkeypatch):
    # two runs started in the same second get two folders
    from minialex.training import run_folder
    monkeypatch.setattr(run_folder.time, "strftime", lambda fmt: "20261130-000000")
    first = run_folder.new_run_folder(str(tmp_path))
    assert first == str(tmp_path / "20261130-000000") and (tmp_path / "20261130-000000").is_dir()
    assert run_folder.new_run_folder(str(tmp_path)) == first + "-2"     # each call claims one
    assert run_folder.new_run_folder(str(tmp_path)) == first + "-3"
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "20261130-000000", "20261130-000000-2", "20261130-000000-3"]


def test_flags_given_with_resume_are_refused(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"epochs": 15}))
    r = run("--resume", tmp_path, "--lr", 0.5, "--preset", "paper")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "would be ignored: --lr, --preset" in r.stderr


@pytest.mark.slow
def test_resume_without_checkpoint_or_with_a_damaged_one(cifar10_dir, tmp_path):
    from minialex.checkpoint import save_checkpoint
    from minialex.models import alexnet_cifar
    from minialex.optim import SGD
    cfg = {"data": str(cifar10_dir), "preset": "small", "epochs": 2, "batch_size": 128, "lr": 0.02,
           "momentum": 0.9, "weight_decay": 5e-4, "schedule": "step", "patience": 2,
           "init": "kaiming", "towers": 1, "devices": "cpu", "seed": 0, "out": str(tmp_path),
           "no_pca": False, "ten_crop": True, "subset": 256, "test_subset": 64,
           "standardize": True}
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    # config.json but no checkpoint: one line, what to do
    r = run("--resume", tmp_path)
    assert r.returncode != 0 and "Traceback" not in r.stderr
    assert "no checkpoint.npz there" in r.stderr
    # a checkpoint of another preset
    model = alexnet_cifar("half", towers=1)
    save_checkpoint(tmp_path / "checkpoint.npz", model, SGD(model.parameters(), lr=0.1))
    r = run("--resume", tmp_path)
    assert r.returncode != 0 and "Traceback" not in r.stderr
    assert "different model" in r.stderr and "do not belong together" in r.stderr
    assert "Build the model" not in r.stderr           # no API advice at the command line
    # a truncated checkpoint
    raw = (tmp_path / "checkpoint.npz").read_bytes()
    (tmp_path / "checkpoint.npz").write_bytes(raw[:len(raw) // 2])
    r = run("--resume", tmp_path)
    assert r.returncode != 0 and "Traceback" not in r.stderr
    assert "checkpoint.npz" in r.stderr and len(r.stderr.strip().splitlines()) <= 2


@pytest.mark.slow
def test_failed_checkpoint_write_stops_with_the_path(cifar10_dir, tmp_path):
    out = tmp_path / "r"
    (out / "checkpoint.npz").mkdir(parents=True)        # the write must fail
    r = run("--data", cifar10_dir, "--subset", 256, "--test-subset", 100, "--epochs", 1,
            "--no-ten-crop", "--out", out)
    assert r.returncode != 0 and "Traceback" not in r.stderr
    assert "could not write" in r.stderr and str(out / "checkpoint.npz") in r.stderr


def _script_globals():
    import runpy
    return runpy.run_path(str(SCRIPT))      # the functions, without running main


def test_short_runs_keep_the_lr_and_the_default_schedule_is_unchanged():
    from minialex.training.session import lr_milestones
    assert lr_milestones(15) == [10, 13]              # the README's schedule
    assert lr_milestones(1) == lr_milestones(2) == lr_milestones(3) == []
    assert lr_milestones(4) == [3, 4] and lr_milestones(8) == [5, 7]
    assert lr_milestones(90) == [60, 79]


def test_failed_download_says_what_to_do(tmp_path, monkeypatch, capsys):
    from minialex.data import DownloadError, cifar10

    def unreachable(root, progress=True):
        raise DownloadError("could not download https://example.invalid/c.tar.gz: "
                            "Name or service not known")
    monkeypatch.setattr(cifar10, "download_cifar10", unreachable)
    monkeypatch.setenv("MINIALEX_DATA", str(tmp_path / "data"))
    with pytest.raises(SystemExit) as exit_:
        _script_globals()["main"](["--no-progress", "--out", str(tmp_path / "r")])
    msg = str(exit_.value.code)
    assert msg.startswith("error: could not download") and "Name or service" in msg
    assert f"could not be downloaded into {tmp_path / 'data'}" in msg and "--data" in msg
    out = capsys.readouterr().out
    assert out.startswith(f"data: none in {tmp_path / 'data'} yet: downloading CIFAR-10")
    assert not (tmp_path / "r").exists()


@pytest.mark.slow
def test_output_names_the_folder_the_estimate_and_what_each_time_measures(cifar10_dir,
                                                                          tmp_path):
    # the parent of the data folder works too; the first line says what was used
    given = cifar10_dir.parent if cifar10_dir.name == "cifar10" else cifar10_dir
    r = run("--data", given, "--subset", 1280, "--test-subset", 200, "--epochs", 1,
            "--no-ten-crop", "--out", tmp_path / "r")
    assert r.returncode == 0, r.stderr[-3000:]
    lines = r.stdout.splitlines()
    assert lines[0].startswith(f"data: {cifar10_dir} (")
    estimate = [x for x in lines if "ms per training step: about" in x]
    assert len(estimate) == 1 and "min for 1 epoch on this machine" in estimate[0]
    epoch = [x for x in lines if x.startswith("epoch   1/1")][0]
    assert " train " in epoch and " img/s)  test " in epoch
    row = json.loads((tmp_path / "r" / "metrics.jsonl").read_text())
    # each of the three is rounded to 0.01 s on its own: up to 0.015 s of slack
    assert row["train_time_s"] + row["test_time_s"] <= row["epoch_time_s"] + 0.015
    assert row["train_time_s"] + row["test_time_s"] >= 0.5 * row["epoch_time_s"]
    final = json.loads((tmp_path / "r" / "final.json").read_text())
    assert final["total_train_time_s"] == round(row["train_time_s"], 1)
    assert final["total_epoch_test_time_s"] == round(row["test_time_s"], 1)
    assert final["total_time_s"] == round(row["epoch_time_s"] + final["centre_time_s"], 1)
