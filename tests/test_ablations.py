"""End-to-end: examples/ablations.py runs every arm on real CIFAR-10 images,
writes the table, and resumes an interrupted experiment."""

import json
import subprocess
import sys

import pytest

from conftest import REPO

SCRIPT = REPO / "examples" / "ablations.py"
ARMS = ["baseline", "no_lrn", "no_overlap", "one_gpu", "no_pca", "no_dropout", "tanh"]


def run(*args):
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], capture_output=True,
                          text=True, cwd=REPO, timeout=1200)


@pytest.fixture(scope="module")
def experiment(cifar10_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("ablations") / "exp"
    args = ["--data", cifar10_dir, "--subset", 512, "--test-subset", 200, "--epochs", 1,
            "--seeds", 1, "--relu-tanh-epochs", 1, "--out", out]
    r = run(*args)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
    return out, args, r


@pytest.mark.slow
def test_every_arm_runs_and_the_table_is_written(experiment):
    out, _, r = experiment
    # --seeds 1: one run per arm, the baseline one more
    runs = sorted(p.name for p in out.iterdir() if p.is_dir() and p.name != "relu_tanh")
    assert runs == sorted([f"{a}-seed0" for a in ARMS] + ["baseline-seed1"])
    for name in runs:
        cfg = json.loads((out / name / "config.json").read_text())
        assert cfg["subset"] == 512 and cfg["epochs"] == 1
        assert (out / name / "final.json").exists()
    # each arm's run folder holds its switch
    cfg = {a: json.loads((out / f"{a}-seed0" / "config.json").read_text()) for a in ARMS}
    assert cfg["no_lrn"]["lrn"] is False and cfg["baseline"]["lrn"] is True
    assert cfg["no_overlap"]["pool"] == "2,2" and cfg["baseline"]["pool"] == "3,2"
    assert cfg["one_gpu"]["one_gpu"] is True and cfg["no_pca"]["no_pca"] is True
    assert cfg["no_dropout"]["dropout"] == 0.0 and cfg["baseline"]["dropout"] == 0.5
    assert cfg["tanh"]["activation"] == "tanh"

    table = json.loads((out / "ablations.json").read_text())
    assert set(table["arms"]) == set(ARMS)
    base = table["arms"]["baseline"]
    assert base["seeds"] == 2 and base["ten_crop_top1_err"]["n"] == 2
    for arm in ARMS:
        a = table["arms"][arm]
        final = json.loads((out / f"{arm}-seed0" / "final.json").read_text())
        # the table's errors are the run folders' results, in %
        assert a["ten_crop_top1_err"]["values"][0] == pytest.approx(
            100 * (1 - final["ten_crop_top1"]))
        if arm != "baseline":
            d = a["ten_crop_top1_delta"]["delta"]
            assert d == pytest.approx(a["ten_crop_top1_err"]["mean"]
                                      - base["ten_crop_top1_err"]["mean"])
    assert table["arms"]["no_lrn"]["paper_delta_top1"] == 1.4
    assert table["arms"]["one_gpu"]["paper_delta_top5"] == 1.2
    md = (out / "ablations.md").read_text()
    for arm in ARMS:
        assert f"| {arm} |" in md
    assert "+1.4 / +1.2" in md and "ReLU against tanh" in md
    assert table["relu_tanh"]["relu"]["epochs_run"] == 1
    try:
        import matplotlib  # noqa: F401
    except ImportError:     # the plot extra is missing: the PNGs are skipped
        return
    else:
        assert (out / "ablations.png").stat().st_size > 1000
        assert (out / "relu_tanh" / "relu_tanh.png").stat().st_size > 1000


@pytest.mark.slow
def test_rerun_skips_finished_arms(experiment):
    out, args, _ = experiment
    ckpts = {p: p.stat().st_mtime_ns for p in out.glob("*/checkpoint.npz")}
    r = run(*args)
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.count("skip ") == 8 and "start " not in r.stdout
    assert "continuing the experiment" in r.stdout
    assert {p: p.stat().st_mtime_ns for p in out.glob("*/checkpoint.npz")} == ckpts
    # --report-only trains nothing and rewrites the table from the run folders
    (out / "ablations.md").unlink()
    r = run(*args, "--report-only")
    assert r.returncode == 0 and "start " not in r.stdout and "skip " not in r.stdout
    assert "summed over the 8 runs" in (out / "ablations.md").read_text()
    assert {p: p.stat().st_mtime_ns for p in out.glob("*/checkpoint.npz")} == ckpts


@pytest.mark.slow
def test_interrupted_arm_resumes_from_its_checkpoint(cifar10_dir, tmp_path):
    args = ["--data", cifar10_dir, "--subset", 512, "--test-subset", 200, "--epochs", 2,
            "--seeds", 1, "--baseline-seeds", 1, "--arms", "baseline,no_lrn",
            "--relu-tanh-epochs", 0, "--out", tmp_path]
    # as if Ctrl-C came at step 5: epoch 1 (4 steps) done, 1 step into epoch 2
    r = run(*args, "--stop-after-steps", 5)
    assert r.returncode == 130, r.stderr[-3000:]
    assert "stopped; run the same command again" in r.stdout
    assert not (tmp_path / "baseline-seed0" / "final.json").exists()
    assert not (tmp_path / "no_lrn-seed0").exists()
    r = run(*args)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "resume baseline-seed0" in r.stdout and "at epoch 2, step 1" in r.stdout
    assert "start no_lrn-seed0" in r.stdout
    rows = [json.loads(x) for x in (tmp_path / "baseline-seed0" / "metrics.jsonl")
            .read_text().splitlines()]
    assert [row["epoch"] for row in rows] == [1, 2]
    assert (tmp_path / "ablations.md").exists()
    # other data settings in the same folder are refused: the arms would not compare
    r = run(*[a if a != 512 else 1024 for a in args])
    assert r.returncode != 0 and "other settings" in r.stderr


def test_unknown_arm_is_refused():
    r = run("--arms", "baseline,no_relu", "--out", "/nonexistent")
    assert r.returncode == 2 and "unknown arm(s) no_relu" in r.stderr


def test_report_only_without_an_experiment_names_the_folder(tmp_path):
    r = run("--out", tmp_path / "nothing", "--report-only")
    assert r.returncode != 0
    assert "holds no experiment" in r.stderr and "nothing" in r.stderr
    assert "Traceback" not in r.stderr
