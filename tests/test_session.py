"""minialex.training.run (session.py) in process: the glue between the
options and fit, checked where the command-line tests cannot look.

The command-line tests (test_train_cifar.py, test_distributed.py) run
whole programs; here ``session.dist`` is a recording stand-in for
minialex.distributed (a world of N ranks seen from one), and where only
the glue is under test, ``fit`` and ``final_test`` are stand-ins too, so
what ``run`` hands them (devices, towers, seeds, the
DistributedDataParallel options, final.json's totals) is seen exactly.
"""

import argparse
import contextlib
import json
from types import SimpleNamespace

import numpy as np
import pytest

from minialex import data as D, nn
from minialex.optim import MultiStepLR, ReduceLROnPlateau
from minialex.random import manual_seed as real_seed
from minialex.training import (Data, add_run_options, add_sgd_options, command_line,
                               make_optimizer, parse_training_args, run, session)


def parse(*argv):
    p = argparse.ArgumentParser()
    add_sgd_options(p, lr=0.05, epochs_help="epochs", batch_size=6)
    add_run_options(p)
    return parse_training_args(p, [str(a) for a in argv])


def load_data(args, rank, world):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 8, (24, 4, 4, 3), dtype=np.uint8)
    y = np.arange(24) % 3
    loader = lambda n, **kw: D.DataLoader(x[:n], y[:n], batch_size=6, prefetch=0, **kw)  # noqa: E731
    return Data(loader(24, seed=1, drop_last=True), loader(12, shuffle=False),
                loader(12, shuffle=False), ["a", "b", "c"], {"image_size": 4})


class Built:
    """build_model that remembers what it was given."""

    def __call__(self, args, classes, devices):
        self.towers, self.classes, self.devices = args.towers, list(classes), list(devices)
        return nn.Sequential(nn.Flatten(), nn.Linear(48, 3))


class FakeDist:
    """minialex.distributed as one rank of a ``world`` sees it; records
    every call. A non-root rank's broadcast_object returns the next of
    ``from_root`` (what rank 0 would have sent)."""

    def __init__(self, rank=0, world=2, from_root=()):
        self.rank, self.world, self.from_root = rank, world, list(from_root)
        self.calls, self.ddp = [], None

    def init(self):
        self.calls.append("init")
        return self.rank, self.world

    def share_cpu_threads(self):
        self.calls.append("share_cpu_threads")

    def local_rank(self):
        return self.rank

    def broadcast_object(self, obj):
        self.calls.append("broadcast_object")
        return obj if self.rank == 0 else self.from_root.pop(0)

    def broadcast_parameters(self, model):
        self.calls.append("broadcast_parameters")

    def broadcast_optimizer_state(self, opt):
        self.calls.append("broadcast_optimizer_state")

    def DistributedDataParallel(self, model, **kw):
        self.ddp = kw
        return SimpleNamespace(module=model, backend="fake")

    @contextlib.contextmanager
    def abort_on_error(self):
        self.calls.append("abort_on_error")
        yield


ROWS = [{"epoch": 1, "train_time_s": 1.25, "epoch_time_s": 2.5, "test_time_s": 0.75},
        {"epoch": 2, "train_time_s": 1.5, "epoch_time_s": 3.0}]   # a row from before test_time_s
FINAL = {"centre_top1": 0.5, "centre_top5": 1.0, "centre_time_s": 0.4,
         "ten_crop_top1": 0.25, "ten_crop_top5": 1.0, "ten_crop_time_s": 0.2}


@pytest.fixture
def glue(monkeypatch):
    """fit and final_test replaced (fit appends ROWS to the state's
    history; both record what they were given); the seeds run() sets are
    recorded, and set."""
    seen = SimpleNamespace(seeds=[], fit=None, final_test=None)

    def fake_fit(net, model, opt, sched, train, test, folder, **kw):
        seen.fit = dict(kw, net=net, model=model)
        kw["state"].history.extend(dict(r) for r in ROWS)
        return 0

    def fake_final_test(net, test, test10=None, **kw):
        seen.final_test = kw
        return dict(FINAL)

    def seed(s):
        seen.seeds.append(s)
        real_seed(s)                   # a seed NumPy refuses (e.g. negative) fails here

    monkeypatch.setattr(session, "fit", fake_fit)
    monkeypatch.setattr(session, "final_test", fake_final_test)
    monkeypatch.setattr(session, "manual_seed", seed)
    return seen


def go(args, built=None, dist=None, monkeypatch=None):
    if dist is not None:
        monkeypatch.setattr(session, "dist", dist)
    return run(args, load_data, built or Built(), default_epochs=3, name=lambda a: "net")


def test_two_devices_mean_two_towers_unless_the_program_says_one_gpu(tmp_path, glue):
    args = parse("--devices", "cpu:0,cpu:1", "--out", tmp_path / "a", "--no-progress")
    assert not hasattr(args, "one_gpu")           # train_cifar's --one-gpu is its own option
    built = Built()
    assert go(args, built) == 0
    assert built.towers == 2 and built.devices == ["cpu:0", "cpu:1"]
    args = parse("--devices", "cpu:0,cpu:1", "--out", tmp_path / "b", "--no-progress")
    args.one_gpu = True
    go(args, built)
    assert built.towers == 1
    go(parse("--out", tmp_path / "c", "--no-progress"), built)
    assert built.towers == 1 and built.devices == ["cpu"]
    go(parse("--devices", "cpu:0,cpu:1,cpu:2", "--out", tmp_path / "d", "--no-progress"), built)
    assert built.towers == 1                      # the paper's split is in two, not three


def test_a_run_of_one_keeps_every_gpu_a_rank_of_several_takes_its_own(tmp_path, glue,
                                                                       monkeypatch):
    built = Built()
    go(parse("--devices", "cuda:0, cuda:1", "--out", tmp_path / "a", "--no-progress"), built)
    assert built.devices == ["cuda:0", "cuda:1"] and built.towers == 2
    dist = FakeDist(rank=1, world=2, from_root=[str(tmp_path / "b")])
    go(parse("--devices", "cuda:0,cuda:1", "--out", tmp_path / "b", "--no-progress",
             "--distributed"), built, dist, monkeypatch)
    assert built.devices == ["cuda:1"] and built.towers == 1      # local rank 1's GPU


def test_ranks_share_the_cores_a_run_of_one_keeps_them(tmp_path, glue, monkeypatch):
    dist = FakeDist(rank=0, world=2)
    go(parse("--out", tmp_path / "a", "--no-progress", "--distributed"), None, dist, monkeypatch)
    assert dist.calls.count("share_cpu_threads") == 1 and dist.calls[0] == "init"
    alone = FakeDist(world=1)
    go(parse("--out", tmp_path / "b", "--no-progress"), None, alone, monkeypatch)
    assert "init" not in alone.calls and "share_cpu_threads" not in alone.calls
    assert glue.fit["net"] is glue.fit["model"]            # and no DDP


def test_each_rank_draws_its_own_dropout_masks(tmp_path, glue, monkeypatch):
    seeds = []
    for rank in (0, 1, 2):
        glue.seeds.clear()
        dist = FakeDist(rank=rank, world=3, from_root=[str(tmp_path)])
        go(parse("--out", tmp_path, "--no-progress", "--distributed", "--seed", 7,
                 "--batch-size", 3), None, dist, monkeypatch)
        assert glue.seeds[0] == 7 and len(glue.seeds) == 2   # the same weights on every rank
        seeds.append(glue.seeds[-1])
    assert len({tuple(s) for s in seeds}) == 3                 # and masks of its own on each


def test_distributed_data_parallel_gets_the_run_options(tmp_path, glue, monkeypatch):
    dist = FakeDist()
    go(parse("--out", tmp_path / "a", "--no-progress", "--distributed", "--bucket-mb", 0.5),
       None, dist, monkeypatch)
    assert dist.ddp == {"bucket_cap_mb": 0.5, "overlap": True, "broadcast": True}
    assert glue.fit["net"].module is glue.fit["model"]
    go(parse("--out", tmp_path / "b", "--no-progress", "--distributed", "--no-overlap"),
       None, dist, monkeypatch)
    assert dist.ddp["overlap"] is False


def test_final_json_totals_count_a_row_without_test_time_as_none(tmp_path, glue):
    go(parse("--out", tmp_path, "--no-progress"))
    final = json.loads((tmp_path / "final.json").read_text())
    assert final == {**FINAL, "total_train_time_s": 2.8, "total_epoch_test_time_s": 0.8,
                     "total_time_s": 6.1}


def test_a_resumed_rank_takes_rank_0s_checkpoint_and_ddp_does_not_broadcast_again(
        tmp_path, monkeypatch):
    # a real first epoch, then the resume as rank 0 of two, fit stood in for
    args = parse("--out", tmp_path, "--no-progress", "--epochs", 2, "--stop-after-steps", 5,
                 "--checkpoint-every", 1)
    assert go(args) == 130
    monkeypatch.setattr(session, "fit", lambda *a, **k: 130)
    dist = FakeDist()
    assert go(parse("--resume", tmp_path, "--no-progress", "--distributed"), None, dist,
              monkeypatch) == 130
    assert dist.calls == ["init", "share_cpu_threads", "broadcast_object", "broadcast_object",
                          "broadcast_object", "broadcast_parameters",
                          "broadcast_optimizer_state"]
    assert dist.ddp["broadcast"] is False


def test_run_options_after_build_model_are_keywords(tmp_path, glue):
    args = parse("--out", tmp_path, "--no-progress")
    assert run(args, load_data, Built(), default_epochs=3, name=lambda a: "net") == 0
    with pytest.raises(TypeError):
        run(args, load_data, Built(), 3, lambda a: "net")


def test_progress_bars_unless_no_progress(tmp_path, glue):
    go(parse("--out", tmp_path / "a"))
    assert glue.fit["progress"] is True and glue.final_test["progress"] is True
    go(parse("--out", tmp_path / "b", "--no-progress"))
    assert glue.fit["progress"] is False and glue.final_test["progress"] is False


def test_only_rank_0_touches_the_run_folder(tmp_path, glue, monkeypatch):
    # rank 1 of 2 on a machine without the folder: what it needs comes from rank 0
    first = tmp_path / "first"
    assert go(parse("--out", first, "--no-progress")) == 0      # a run to resume (fit stood in)
    elsewhere = tmp_path / "not-on-rank-1s-machine"
    config = json.loads((first / "config.json").read_text())
    monkeypatch.setattr(session, "fit", lambda *a, **k: 130)
    sched = make_optimizer(Built()(argparse.Namespace(**config), [], []),
                           argparse.Namespace(**config))[1]
    dist = FakeDist(rank=1, world=2, from_root=[config, str(elsewhere),
                                                {"epoch": 1, "step": 0,
                                                 "sched": sched.state_dict(),
                                                 "extra": {"history": []}}])
    assert go(parse("--resume", elsewhere, "--no-progress", "--distributed"), None, dist,
              monkeypatch) == 130
    assert not elsewhere.exists()
    new = tmp_path / "new"
    dist = FakeDist(rank=1, world=2, from_root=[str(new)])
    go(parse("--out", new, "--no-progress", "--distributed"), None, dist, monkeypatch)
    assert not new.exists()                       # rank 0 makes it; rank 1 writes nothing


@pytest.mark.parametrize("schedule", ["step", "plateau"])
def test_the_schedule_option_picks_the_scheduler(schedule):
    args = parse("--schedule", schedule, "--epochs", 15, "--patience", 1)
    opt, sched = make_optimizer(nn.Linear(2, 2), args)
    group = opt.param_groups[0]
    assert (group["lr"], group["momentum"], group["weight_decay"]) == (0.05, 0.9, 5e-4)
    lrs = []
    for epoch in range(15):
        lrs.append(opt.param_groups[0]["lr"])
        sched.step(0.5) if schedule == "plateau" else sched.step()
    if schedule == "step":
        assert type(sched) is MultiStepLR
        assert lrs == pytest.approx([0.05] * 10 + [0.005] * 3 + [0.0005] * 2)
    else:                         # a flat top-1: cut by 10 after each 1 + patience epochs
        assert type(sched) is ReduceLROnPlateau
        assert lrs[:5] == pytest.approx([0.05, 0.05, 0.05, 0.005, 0.005])


@pytest.mark.parametrize("argv, guarded", [([], False), (["--epochs", "2"], False),
                                           (["--distributed"], True)])
def test_only_a_distributed_command_line_aborts_every_rank_on_error(monkeypatch, argv, guarded):
    for given in (argv, None):                    # None: sys.argv[1:]
        dist = FakeDist(world=1)
        monkeypatch.setattr(session, "dist", dist)
        monkeypatch.setattr(session.sys, "argv", ["train.py"] + argv)
        with pytest.raises(SystemExit) as exc:
            command_line(lambda: 0, given)
        assert exc.value.code == 0
        assert dist.calls == (["abort_on_error"] if guarded else [])
