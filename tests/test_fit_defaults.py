"""minialex.training.fit's defaults, long epochs and several ranks, in
process on the fake clock of test_fit_bookkeeping.py: the default
checkpoint_every (100) and estimate_after (10) on a 300-step epoch, a
fake world of two ranks, evaluate_all's defaults, and the bars following
the terminal's width."""

import os
import time

import numpy as np
import pytest

from minialex import data as D, nn, optim
from minialex.autograd import Tensor
from minialex.checkpoint import load_checkpoint
from minialex.random import manual_seed
from minialex.training import RunFolder, TrainState, evaluate_all, fit
from minialex.training import loop

from test_fit_bookkeeping import BATCH, STEPS, TRAIN_DT, Clock, Timed, estimates, make, run, saves_of

quiet = lambda *a, **k: None  # noqa: E731


@pytest.fixture
def clock(monkeypatch):
    c = Clock()
    monkeypatch.setattr(loop, "time", c)
    return c


def long_epoch(tmp_path, clock, **kw):
    """One epoch of 300 steps of one image each, with fit's defaults but ``kw``."""
    rng = np.random.default_rng(1)
    x = rng.integers(0, 8, (300, 4, 4, 3), dtype=np.uint8)
    y = np.arange(300) % 3
    train = D.DataLoader(x, y, batch_size=1, seed=1, prefetch=0)
    test = D.DataLoader(x[:4], y[:4], batch_size=4, shuffle=False, prefetch=0)
    manual_seed(3)
    model = nn.Sequential(nn.Flatten(), nn.Linear(48, 3))
    opt = optim.SGD(model.parameters(), lr=0.01)
    sched = optim.MultiStepLR(opt, milestones=[5])
    return fit(Timed(model, clock), model, opt, sched, train, test, RunFolder(tmp_path),
               epochs=1, state=TrainState(), progress=False, log=quiet, **kw)


def test_the_defaults_checkpoint_every_100_steps_and_estimate_after_10(tmp_path, clock,
                                                                       monkeypatch):
    saved, calls = saves_of(monkeypatch), estimates(monkeypatch)
    assert long_epoch(tmp_path, clock) == 0
    assert saved == [(0, 100), (0, 200), (1, 0)]          # not at 300: the epoch's end saves
    ((_, per_step, batch, epochs_left, steps_left, per_epoch, _, world),) = calls
    assert per_step == pytest.approx(TRAIN_DT, rel=1e-9)
    assert (batch, epochs_left, steps_left, per_epoch, world) == (1, 1, 290, 300, 1)


def test_an_estimate_after_more_than_256_steps(tmp_path, clock, monkeypatch):
    # CPython caches the ints up to 256: a count of 300 is compared by value
    calls = estimates(monkeypatch)
    long_epoch(tmp_path, clock, estimate_after=300, checkpoint_every=0)
    ((_, per_step, _, _, steps_left, *_),) = calls
    assert per_step == pytest.approx(TRAIN_DT, rel=1e-9) and steps_left == 0


def test_stop_after_more_than_256_steps(tmp_path, clock, monkeypatch):
    saved = saves_of(monkeypatch)
    assert long_epoch(tmp_path, clock, stop_after_steps=280, checkpoint_every=0) == 130
    assert saved == [(0, 280)]


class TwoRanks:
    """A fake world of two ranks with the same data: a sum doubles, and
    the other rank's Ctrl-C arrives at its ``ctrl_c_at``-th step."""

    def __init__(self, monkeypatch, ctrl_c_at=None):
        self.ops, self.max_calls, self.ctrl_c_at = [], 0, ctrl_c_at
        monkeypatch.setattr(loop.dist, "world_size", lambda: 2)
        monkeypatch.setattr(loop.dist, "all_reduce", self.all_reduce)
        monkeypatch.setattr(loop.dist, "barrier", lambda: self.ops.append("barrier"))

    def all_reduce(self, array, op="sum"):
        self.ops.append(op)
        if op == "sum":
            array *= 2
        else:
            self.max_calls += 1
            array[:] = np.maximum(array, float(self.max_calls == self.ctrl_c_at))
        return array


def test_two_ranks_sum_the_counts_and_stop_at_the_same_step(tmp_path, clock, monkeypatch):
    world, saved = TwoRanks(monkeypatch, ctrl_c_at=3), saves_of(monkeypatch)
    status, state, _ = run(tmp_path, clock, epochs=2)
    assert status == 130 and saved == [(0, 3)] and state.history == []
    assert world.ops == ["max", "max", "max", "sum", "barrier"]
    _, model, opt, s, *_ = make(tmp_path / "x", clock)
    p = load_checkpoint(RunFolder(tmp_path).checkpoint, model, opt, s)["extra"]["partial"]
    assert p["n"] == 2 * 3 * BATCH                       # both ranks' images


def test_two_ranks_write_one_row_for_the_world(tmp_path, clock, monkeypatch):
    _, one, _ = run(tmp_path / "one", clock, epochs=1)
    TwoRanks(monkeypatch)
    _, two, _ = run(tmp_path / "two", clock, epochs=1)
    a, b = one.history[0], two.history[0]
    assert b.pop("ranks") == 2 and "ranks" not in a
    assert b.pop("images_per_s") == round(2 * STEPS * BATCH / (STEPS * TRAIN_DT), 1)
    a.pop("images_per_s")
    assert a == pytest.approx(b, rel=1e-12)             # means and times as in one rank


def test_evaluate_all_shows_no_bar_by_default_and_counts_one_image(capsys):
    class One(nn.Module):
        def forward(self, x):
            return Tensor(np.array([[0.0, 3.0, 1.0]]))
    ev = evaluate_all(One(), [(np.zeros((1, 1, 1, 1), np.float32), np.array([1]))])
    assert ev == {"top1": 1.0, "top5": 1.0, "n": 1}
    assert capsys.readouterr().err == ""


def test_the_test_bar_follows_the_terminals_width(capsys, monkeypatch):
    import tqdm.std
    width = [200]                              # a terminal tqdm asks for its size
    monkeypatch.setattr(tqdm.std, "_screen_shape_wrapper", lambda: lambda fp: (width[0], 20))

    class Narrowing(nn.Module):
        def forward(self, x):
            width[0] = 60                     # the terminal shrinks during the pass
            time.sleep(0.12)                  # past tqdm's 0.1 s between refreshes
            return Tensor(np.zeros((len(x.data), 3)))
    batches = [(np.zeros((2, 1, 1, 1), np.float32), np.array([0, 1]))] * 3
    evaluate_all(Narrowing(), batches, progress=True)
    segments = capsys.readouterr().err.split("\r")
    assert max(len(s) for s in segments if "0/3" in s) > 150     # drawn at 200 at first
    lines = [s for s in segments if "3/3" in s]
    assert lines and all(len(s.rstrip()) <= 60 for s in lines)


def test_a_skipped_plot_is_said_once_whatever_string_says_it(tmp_path, clock, monkeypatch):
    lines = []
    monkeypatch.setattr(loop, "plot_curves", lambda path, h: "".join(["no ", "matplotlib"]))
    run(tmp_path, clock, epochs=3, log=lambda *a, **k: lines.append(a[0]))
    assert [s for s in lines if "curves" in s] == ["curves.png not written: no matplotlib"]


def test_the_log_lines_are_flushed(tmp_path, clock):
    flushes = []
    run(tmp_path, clock, epochs=1, estimate_after=3,
        log=lambda s, **k: flushes.append((s.split()[0], k.get("flush"))))
    assert flushes == [("700", True), ("epoch", True)]     # the estimate, the epoch line


def test_the_training_bar_follows_the_terminals_width(tmp_path, clock, capsys, monkeypatch):
    import tqdm.std
    width = [200]
    monkeypatch.setattr(tqdm.std, "_screen_shape_wrapper", lambda: lambda fp: (width[0], 20))
    shrink = lambda k: width.__setitem__(0, 60) if k == 2 else None  # noqa: E731
    run(tmp_path, clock, epochs=1, progress=True, hook=shrink)
    segments = capsys.readouterr().err.split("\r")
    assert max(len(s) for s in segments if "1/4" in s) > 150
    lines = [s for s in segments if "4/4" in s and "epoch" in s]
    assert lines and all(len(s.rstrip()) <= 60 for s in lines)


def test_fit_draws_its_bars_by_default(tmp_path, clock, capsys):
    net, model, opt, s, train, test, folder = make(tmp_path, clock)
    fit(net, model, opt, s, train, test, folder, epochs=1, state=TrainState(), log=quiet)
    err = capsys.readouterr().err
    assert "epoch 1/1" in err and "test 1/1" in err


def test_two_ranks_bar_shows_the_worlds_images_per_second(tmp_path, clock, capsys, monkeypatch):
    TwoRanks(monkeypatch)
    run(tmp_path, clock, epochs=1, progress=True)
    # 2 ranks x 24 images in 4 x 0.7 s: 17 img/s (one rank's 24 in 2.8 s: 9)
    assert "img_s=17," in capsys.readouterr().err


def test_a_run_stopped_twice_in_one_epoch_saves_all_its_images(tmp_path, clock):
    state = TrainState(epoch=0, step=1, partial={"loss": 6.6, "correct": 2, "n": 6})
    assert run(tmp_path, clock, epochs=1, state=state, stop_after_steps=1)[0] == 130
    _, model, opt, s, *_ = make(tmp_path / "x", clock)
    saved = load_checkpoint(RunFolder(tmp_path).checkpoint, model, opt, s)
    assert saved["step"] == 2 and saved["extra"]["partial"]["n"] == 12      # 6 saved + 6 new


def test_the_bars_leave_nothing_behind(tmp_path, clock, capsys):
    run(tmp_path, clock, epochs=1, progress=True)
    err = capsys.readouterr().err
    assert "epoch 1/1" in err and "\n" not in err       # each bar erased when it closes


def test_the_row_holds_the_first_param_groups_lr(tmp_path, clock):
    net, model, _, _, train, test, folder = make(tmp_path, clock)
    weight, bias = model.parameters()
    opt = optim.SGD([{"params": [weight]}, {"params": [bias], "lr": 0.5}], lr=0.05)
    fit(net, model, opt, optim.MultiStepLR(opt, milestones=[9]), train, test, folder,
        epochs=1, state=TrainState(), progress=False, log=quiet)
    assert folder.read_metrics()[0]["lr"] == 0.05


def test_fit_takes_its_options_by_keyword_and_refuses_negative_counts(tmp_path, clock):
    net, model, opt, s, train, test, folder = make(tmp_path, clock)
    with pytest.raises(TypeError):                       # epochs, state: keyword-only
        fit(net, model, opt, s, train, test, folder, 1, TrainState())
    for bad in ({"checkpoint_every": -2}, {"stop_after_steps": -1}):
        with pytest.raises(ValueError, match=f"{next(iter(bad))} must be 0 or more"):
            fit(net, model, opt, s, train, test, folder, epochs=1, state=TrainState(), **bad)
    assert not os.path.exists(folder.checkpoint)         # refused before the first step


def test_a_resumed_bar_shows_the_whole_epochs_running_figures(tmp_path, clock, capsys,
                                                             monkeypatch):
    monkeypatch.setenv("COLUMNS", "300")
    state = TrainState(epoch=0, step=2, partial={"loss": 13.2, "correct": 4, "n": 12})
    run(tmp_path, clock, epochs=1, state=state, progress=True)
    row = RunFolder(tmp_path).read_metrics()[0]          # saved 12 + these 12 images
    assert f"acc={row['train_top1']:.3f}, img_s=9, loss={row['train_loss']:.3f}" in \
        capsys.readouterr().err


def test_the_times_are_rounded_to_hundredths_and_tenths(tmp_path, clock):
    # 13.1 ms more per step: 4 x 0.7131 = 2.8524 s of training (2.9, 2.85, 2.852 rounded)
    run(tmp_path, clock, epochs=1, hook=lambda k: setattr(clock, "now", clock.now + 0.0131))
    row = RunFolder(tmp_path).read_metrics()[0]
    assert row["train_time_s"] == 2.85 and row["epoch_time_s"] == 6.89      # + 2 x 2.021 s

    class Slow(nn.Module):                               # 0.34 s per test batch
        def forward(self, x):
            clock.now += 0.34
            return Tensor(np.zeros((len(x.data), 3), np.float32))
    assert loop.final_test(Slow(), [(np.zeros((2, 1, 1, 1), np.float32), np.zeros(2, int))]) \
        == {"centre_top1": 1.0, "centre_top5": 1.0, "centre_time_s": 0.3}


def test_evaluate_all_on_no_batches_counts_nothing():
    assert evaluate_all(nn.Flatten(), []) == {"top1": 0.0, "top5": 0.0, "n": 0}


@pytest.mark.parametrize("per_step, images, world, line", [
    # 7.5 images per rank x 60 s / 3 = 150 s of testing: 2.5 min, an even half, rounds to 2
    (60.0, 15, 2, "60000 ms per training step: about 2 min for 1 epoch on this machine "
                  "(0.0 min training, 2.5 min testing; the final test comes after)"),
    # 732 x 0.6 / 3 = 146.4 s: 2.44 min (over 59 s: 2.48)
    (0.6, 732, 1, "600 ms per training step: about 2 min for 1 epoch on this machine "
                  "(0.0 min training, 2.4 min testing; the final test comes after)")])
def test_the_estimate_of_testing_alone(per_step, images, world, line):
    lines, test = [], type("T", (), {"x": np.zeros(images)})()
    loop._log_estimate(lambda s, **k: lines.append(s), per_step, 1, 1, 0, 10, test, world)
    assert lines == [line]
