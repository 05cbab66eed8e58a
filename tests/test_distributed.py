"""Data parallelism (minialex.distributed, DataLoader sharding, the main job
under mpiexec). The MPI tests launch ``mpiexec -n 2`` (two processes on the
two cores) and skip, naming the extra to install, without mpi4py."""

import json
import os
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest

import minialex
from minialex import data as D, distributed as dist, functional as F, models, optim
from conftest import REPO

WORKER = REPO / "tests" / "dist_worker.py"


def mpiexec():
    pytest.importorskip("mpi4py", reason="MPI tests need the dist extra: "
                                         "pip install -e '.[dist]'")
    exe = shutil.which("mpiexec", path=os.path.dirname(sys.executable)) or shutil.which("mpiexec")
    if exe is None:
        pytest.skip("no mpiexec on PATH or beside this Python: pip install -e '.[dist]' "
                    "(the mpich wheel provides it)")
    return exe


def launch(n, *args, timeout=300):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    t0 = time.time()
    out = subprocess.run([mpiexec(), "-n", str(n), sys.executable, *map(str, args)],
                         capture_output=True, text=True, cwd=REPO, env=env, timeout=timeout)
    return out, time.time() - t0


# ---------------------------------------------------------------- sharding (no MPI needed)
@pytest.mark.parametrize("world", [1, 2, 3])
@pytest.mark.parametrize("batch_size", [7, 10, 16])
def test_shards_cover_every_sample_once_per_epoch(world, batch_size):
    n = 53
    x = np.arange(n, dtype=np.uint8).reshape(n, 1, 1, 1) * np.ones((1, 2, 2, 1), np.uint8)
    y = np.arange(n)
    seen = []
    lengths = set()
    for rank in range(world):
        loader = D.DataLoader(x, y, batch_size=batch_size, seed=5, num_replicas=world, rank=rank)
        loader.set_epoch(2)
        batches = [yb for _, yb in loader]
        lengths.add(len(loader))
        seen.extend(np.concatenate(batches))
        for yb in batches:     # a share is at most ceil(B / world) samples
            assert len(yb) <= -(-batch_size // world)
    assert sorted(seen) == list(range(n))
    assert lengths == {-(-n // batch_size)}


def test_ranks_together_see_one_process_batches_and_augmentations():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (40, 8, 8, 3), dtype=np.uint8)
    y = rng.integers(0, 10, 40)
    aug = D.Compose([D.random_crop(6), D.random_flip(), D.to_float32(),
                     D.PCAColor.fit(x, std=0.1), D.to_nchw_float32()])
    one = list(D.DataLoader(x, y, batch_size=12, seed=3, transform=aug))
    parts = [list(D.DataLoader(x, y, batch_size=12, seed=3, transform=aug, num_replicas=3,
                               rank=r)) for r in range(3)]
    for b, (xb, yb) in enumerate(one):
        np.testing.assert_array_equal(np.concatenate([p[b][1] for p in parts]), yb)
        # crops, flips and colour noise follow the sample, not the process
        np.testing.assert_array_equal(np.concatenate([p[b][0] for p in parts]), xb)


def test_loader_rejects_bad_rank():
    x, y = np.zeros((4, 2, 2, 3), np.uint8), np.zeros(4)
    with pytest.raises(ValueError, match="rank must be"):
        D.DataLoader(x, y, num_replicas=2, rank=2)
    with pytest.raises(ValueError, match="num_replicas"):
        D.DataLoader(x, y, num_replicas=0)


def test_world_of_one_without_mpiexec():
    pytest.importorskip("mpi4py", reason="pip install -e '.[dist]'")
    code = ("from minialex import distributed as d; print(d.init(), d.rank(), d.world_size())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=60)
    assert out.stdout.strip() == "(0, 1) 0 1", out.stderr


def test_missing_mpi4py_names_the_extra():
    code = ("import sys; sys.modules['mpi4py'] = None\n"
            "from minialex import distributed as d\n"
            "try:\n    d.init()\nexcept d.DistributedError as e:\n    print(e)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=60)
    assert "minialex[dist]" in out.stdout, out.stderr


# ---------------------------------------------------------------- MPI, two processes
def one_process_reference():
    """3 SGD steps of one process with the global batch of 128."""
    from dist_worker import batch
    minialex.manual_seed(100)
    model = models.alexnet_cifar("small", dropout=0.0)
    opt = optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    for step in range(3):
        x, y = batch(seed=step)
        loss = F.cross_entropy(model(minialex.Tensor(x)), y)
        opt.zero_grad()
        loss.backward()
        if step == 0:
            grads = {k: p.grad.copy() for k, p in model.named_parameters()}
        opt.step()
    return model.state_dict(), grads


@pytest.fixture(scope="module")
def reference():
    return one_process_reference()


def close(a, b, rel=1e-5):
    """Equal up to float32 summation order: |a - b| <= rel * max|a|."""
    return float(np.max(np.abs(a - b))) <= rel * float(np.max(np.abs(a)))


def test_two_ranks_equal_one_process(reference, tmp_path):
    weights, grads = reference
    out, _ = launch(2, WORKER, "equivalence", tmp_path / "ddp.npz")
    assert out.returncode == 0, out.stderr[-3000:]
    got = np.load(tmp_path / "ddp.npz")
    assert int(got["buckets"]) > 1       # the test really used several buckets
    for k in weights:
        assert close(weights[k], got[k]), k
        assert close(grads[k], got[f"grad/{k}"]), k


def test_overlapped_and_deferred_reduction_agree(tmp_path):
    runs = {}
    for scenario in ("equivalence", "equivalence_no_overlap", "equivalence_one_bucket"):
        out, _ = launch(2, WORKER, scenario, tmp_path / f"{scenario}.npz")
        assert out.returncode == 0, out.stderr[-3000:]
        runs[scenario] = np.load(tmp_path / f"{scenario}.npz")
    a = runs["equivalence"]
    for other in ("equivalence_no_overlap", "equivalence_one_bucket"):
        for k in a.files:
            if k.startswith("grad/"):   # the same sums in the same order: identical
                np.testing.assert_array_equal(a[k], runs[other][k], err_msg=f"{other} {k}")


def test_broadcast_makes_replicas_identical(tmp_path):
    out, _ = launch(2, WORKER, "broadcast", tmp_path / "b.npz")
    assert out.returncode == 0, out.stderr[-3000:]
    got = np.load(tmp_path / "b.npz")
    gathered = got["gathered"]
    np.testing.assert_array_equal(gathered[0], gathered[1])   # weights and velocities
    assert np.abs(gathered[0, 1]).sum() > 0                    # velocities were non-trivial
    assert float(got["lr"]) == pytest.approx(0.1)              # root's hyperparameters


def test_one_rank_raising_stops_all_ranks(tmp_path):
    out, seconds = launch(2, WORKER, "fail", tmp_path / "x", timeout=60)
    assert out.returncode != 0
    assert "planted failure on rank 1" in out.stderr
    assert seconds < 30


@pytest.mark.slow
def test_main_job_two_ranks_then_resume_on_one(cifar10_dir, tmp_path):
    run = tmp_path / "run"
    script = REPO / "examples" / "train_cifar.py"
    out, _ = launch(2, script, "--distributed", "--data", cifar10_dir, "--subset", 2048,
                    "--test-subset", 500, "--epochs", 1, "--no-progress", "--out", run,
                    timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.count("epoch   1/1") == 1           # rank 0 alone prints
    assert "ranks=2 (batch 64 each" in out.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]
    for name in ("config.json", "metrics.jsonl", "checkpoint.npz", "final.json"):
        assert (run / name).exists(), name
    row = json.loads((run / "metrics.jsonl").read_text())
    assert row["ranks"] == 2 and row["images_per_s"] > 0
    assert 0 <= row["train_top1"] <= 1 and row["train_loss"] < 2.4
    # resume with one process: the checkpoint carries no trace of the world size
    r = subprocess.run([sys.executable, str(script), "--resume", str(run), "--epochs", "2",
                        "--no-progress"], capture_output=True, text=True, cwd=REPO,
                       timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "resumed" in r.stdout and "epoch   2/2" in r.stdout
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert [x["epoch"] for x in rows] == [1, 2]
    assert json.loads((run / "final.json").read_text())["centre_top1"] > 0.1


def test_uneven_global_batch_is_refused(tmp_path):
    out, _ = launch(2, REPO / "examples" / "train_cifar.py", "--distributed", "--batch-size",
                    "127", "--data", tmp_path, "--no-progress", timeout=60)
    assert out.returncode != 0
    assert "does not split evenly over 2 ranks" in out.stderr


def test_ranks_share_the_cores(tmp_path):
    pytest.importorskip("threadpoolctl", reason="pip install -e '.[dist]'")
    env_keys = ("MINIALEX_NUM_THREADS", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")
    saved = {k: os.environ.pop(k, None) for k in env_keys}
    try:
        out, _ = launch(2, WORKER, "threads", tmp_path / "t.npz")
    finally:
        os.environ.update({k: v for k, v in saved.items() if v is not None})
    assert out.returncode == 0, out.stderr[-3000:]
    got = np.load(tmp_path / "t.npz")
    want = max(1, int(got["cores"]) // 2)
    assert int(got["share"]) == want and int(got["minialex"]) == want
    assert all(int(b) == want for b in got["blas"])
