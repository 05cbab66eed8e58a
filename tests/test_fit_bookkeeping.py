"""minialex.training.fit's bookkeeping, in process and on a fake clock.

The command-line tests (test_train_cifar.py) run the whole program, but
the numbers fit writes (each epoch's row, the log lines, the progress
bars, the time estimate, the checkpoints' epoch and step) are checked
here against a plain reference loop and hand-computed values: every
training forward pass moves the clock by TRAIN_DT seconds and every test
forward by TEST_DT, so each time in a row is known exactly.
"""

import os
import signal

import numpy as np
import pytest

from minialex import data as D, functional as F, nn, optim
from minialex.autograd import Tensor
from minialex.evaluation import evaluate
from minialex.random import manual_seed
from minialex.training import NonFiniteLoss, RunFolder, TrainState, evaluate_all, final_test, fit
from minialex.training import loop

TRAIN_DT, TEST_DT, ORIGIN = 0.7, 2.021, 1.0
BATCH, STEPS = 6, 4                       # 24 training images: 4 steps per epoch
quiet = lambda *a, **k: None  # noqa: E731


class Clock:
    """Stands in for the time module inside loop.py."""

    def __init__(self):
        self.now = ORIGIN

    def time(self):
        return self.now


class Timed(nn.Module):
    """The net, with the clock moved by each forward pass; ``hook(k)`` runs
    before the k-th training forward (1-based)."""

    def __init__(self, inner, clock, hook=None):
        super().__init__()
        self.inner, self.clock, self.hook, self.calls = inner, clock, hook, 0

    def forward(self, x):
        if self.training:
            self.calls += 1
            if self.hook:
                self.hook(self.calls)
        self.clock.now += TRAIN_DT if self.training else TEST_DT
        return self.inner(x)


def make(tmp_path, clock, sched="multistep", hook=None):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 8, (24, 4, 4, 3), dtype=np.uint8)     # small: a tame loss
    y = np.arange(24) % 3
    train = D.DataLoader(x, y, batch_size=BATCH, seed=1, drop_last=True, prefetch=0)
    test = D.DataLoader(x[:16], y[:16], batch_size=8, shuffle=False, prefetch=0)
    manual_seed(3)
    model = nn.Sequential(nn.Flatten(), nn.Linear(48, 3))
    opt = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    if sched == "multistep":
        s = optim.MultiStepLR(opt, milestones=[1], gamma=0.1)
    else:
        # "min" on an accuracy that rises: the rate is cut after every epoch but the first
        s = optim.ReduceLROnPlateau(opt, mode="min", factor=0.5, patience=0)
    return Timed(model, clock, hook), model, opt, s, train, test, RunFolder(tmp_path)


@pytest.fixture
def clock(monkeypatch):
    c = Clock()
    monkeypatch.setattr(loop, "time", c)
    return c


def run(tmp_path, clock, epochs=2, state=None, sched="multistep", hook=None, **kw):
    net, model, opt, s, train, test, folder = make(tmp_path, clock, sched, hook)
    state = state or TrainState()
    kw = {"checkpoint_every": 0, "progress": False, "log": quiet, **kw}
    status = fit(net, model, opt, s, train, test, folder, epochs=epochs, state=state, **kw)
    return status, state, model


def reference_rows(tmp_path, sched, epochs=2):
    """The rows fit should write, from a loop a reader can check by eye."""
    net, model, opt, s, train, test, _ = make(tmp_path, Clock(), sched)
    rows = []
    for epoch in range(epochs):
        model.train()
        train.set_epoch(epoch)
        loss_sum = correct = n = 0
        for xb, yb in train:
            logits = model(Tensor(xb))
            loss = F.cross_entropy(logits, yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            loss_sum += loss.item() * len(yb)
            correct += int((logits.numpy().argmax(1) == yb).sum())
            n += len(yb)
        ev = evaluate(model, test)
        lr = opt.param_groups[0]["lr"]
        s.step(ev["top1"]) if sched == "plateau" else s.step()
        train_s, test_s = STEPS * TRAIN_DT, 2 * TEST_DT
        rows.append({"epoch": epoch + 1, "train_loss": loss_sum / n, "train_top1": correct / n,
                     "test_top1": ev["top1"], "test_top5": ev["top5"], "lr": lr,
                     "epoch_time_s": round(train_s + test_s, 2),
                     "train_time_s": round(train_s, 2), "images_per_s": round(n / train_s, 1),
                     "test_time_s": round(test_s, 2)})
    return rows, model


@pytest.mark.parametrize("sched", ["multistep", "plateau"])
def test_each_epoch_row_is_the_reference_loops(tmp_path, clock, sched):
    want, ref = reference_rows(tmp_path / "ref", sched, epochs=3)
    status, state, model = run(tmp_path / "run", clock, epochs=3, sched=sched)
    assert status == 0 and state.epoch == 3 and state.step == 0
    assert len(state.history) == 3
    for got, saved, w in zip(state.history, RunFolder(tmp_path / "run").read_metrics(), want):
        assert got == pytest.approx(w, rel=1e-12) and saved == pytest.approx(w, rel=1e-12)
    assert [r["lr"] for r in want] != [0.05] * 3          # the scheduler did act
    for a, b in zip(model.parameters(), ref.parameters()):
        np.testing.assert_array_equal(a.data, b.data)


def test_the_epoch_log_line(tmp_path, clock):
    lines = []
    run(tmp_path, clock, epochs=1, estimate_after=1, log=lambda *a, **k: lines.append(a[0]))
    (row,) = RunFolder(tmp_path).read_metrics()
    assert lines == [
        f"epoch   1/1  train loss {row['train_loss']:.4f} top-1 {row['train_top1']:.4f}  "
        f"test top-1 {row['test_top1']:.4f} (centre)  lr 0.05  train 2.8 s (9 img/s)  "
        f"test 4.0 s"]


def test_a_run_stopped_mid_epoch_and_resumed_is_the_uninterrupted_run(tmp_path, clock):
    _, whole, whole_model = run(tmp_path / "whole", clock, epochs=2)
    lines = []
    status, _, _ = run(tmp_path / "cut", clock, epochs=2, stop_after_steps=6,
                       log=lambda *a, **k: lines.append(a[0]))
    folder = RunFolder(tmp_path / "cut")
    assert status == 130
    assert lines[-1] == (f"saved {folder.checkpoint} at epoch 2, step 2; "
                         f"continue with --resume {folder.path}")
    net, model, opt, s, train, test, _ = make(tmp_path / "cut", clock)
    loaded = folder.load(model, opt, s)
    assert (loaded["epoch"], loaded["step"]) == (1, 2)
    state = TrainState(loaded["epoch"], loaded["step"], loaded["extra"]["history"],
                       loaded["extra"]["partial"])
    assert fit(net, model, opt, s, train, test, folder, epochs=2, state=state,
               checkpoint_every=0, progress=False, log=quiet) == 0
    times = ("epoch_time_s", "train_time_s", "images_per_s")   # the resumed call's own
    strip = lambda rows: [{k: v for k, v in r.items() if k not in times} for r in rows]  # noqa
    assert strip(state.history) == strip(whole.history)
    assert state.history[1]["train_time_s"] == round(2 * TRAIN_DT, 2)
    for a, b in zip(model.parameters(), whole_model.parameters()):
        np.testing.assert_array_equal(a.data, b.data)


def saves_of(monkeypatch):
    saved = []
    real = RunFolder.save

    def save(self, model, opt, sched, *, epoch, step, extra):
        saved.append((epoch, step))
        real(self, model, opt, sched, epoch=epoch, step=step, extra=extra)
    monkeypatch.setattr(RunFolder, "save", save)
    return saved


def test_checkpoints_mid_epoch_at_the_epoch_end_and_on_stop(tmp_path, clock, monkeypatch):
    saved = saves_of(monkeypatch)
    assert run(tmp_path, clock, checkpoint_every=3, stop_after_steps=6)[0] == 130
    assert saved == [(0, 3), (1, 0), (1, 2)]


def test_checkpoint_every_two_steps_skips_the_epochs_last(tmp_path, clock, monkeypatch):
    saved = saves_of(monkeypatch)
    assert run(tmp_path, clock, checkpoint_every=2)[0] == 0
    assert saved == [(0, 2), (1, 0), (1, 2), (2, 0)]


def test_ctrl_c_finishes_the_step_saves_and_restores_the_handler(tmp_path, clock, monkeypatch):
    saved, lines = saves_of(monkeypatch), []
    before = signal.getsignal(signal.SIGINT)
    hook = lambda k: os.kill(os.getpid(), signal.SIGINT) if k == 3 else None  # noqa: E731
    status, state, _ = run(tmp_path, clock, hook=hook, log=lambda *a, **k: lines.append(a[0]))
    assert status == 130 and saved == [(0, 3)] and state.epoch == 0
    assert lines[0].endswith("Ctrl-C: finishing this step, saving, then stopping "
                             "(Ctrl-C again to abort)")
    assert signal.getsignal(signal.SIGINT) is before


def test_a_second_ctrl_c_aborts_at_once():
    lines = []
    interrupt = loop._Interrupt(lines.append)
    interrupt(signal.SIGINT, None)
    assert interrupt.flag and len(lines) == 1
    with pytest.raises(KeyboardInterrupt):
        interrupt(signal.SIGINT, None)


def test_a_non_finite_loss_names_the_step_and_the_checkpoint(tmp_path, clock):
    nets = []
    poison = lambda k: nets[0].inner[1].weight.data.fill(np.nan) if k == 6 else None  # noqa
    net, model, opt, s, train, test, folder = make(tmp_path, clock, hook=poison)
    nets.append(net)
    with pytest.raises(NonFiniteLoss) as info:
        fit(net, model, opt, s, train, test, folder, epochs=2, state=TrainState(),
            checkpoint_every=0, progress=False, log=quiet)
    assert str(info.value) == (f"loss became nan at epoch 2, step 2 (lr 0.005); stopping. The "
                               f"last good checkpoint is {folder.checkpoint}; try a lower --lr")


def estimates(monkeypatch):
    calls = []
    monkeypatch.setattr(loop, "_log_estimate", lambda *a: calls.append(a))
    return calls


@pytest.mark.parametrize("after, at_step", [(3, 3), (10, 4)])
def test_a_fresh_run_estimates_once_from_the_steps_after_the_first(tmp_path, clock, monkeypatch,
                                                                  after, at_step):
    calls = estimates(monkeypatch)
    run(tmp_path, clock, epochs=2, estimate_after=after)
    ((log, per_step, batch, epochs_left, steps_left, per_epoch, test, world),) = calls
    assert per_step == pytest.approx(TRAIN_DT, rel=1e-12) and batch == BATCH
    assert (epochs_left, steps_left, per_epoch, world) == (2, STEPS - at_step, STEPS, 1)
    assert len(test.x) == 16


def test_a_run_resumed_at_an_epoch_boundary_estimates_its_epochs_left(tmp_path, clock,
                                                                      monkeypatch):
    calls = estimates(monkeypatch)
    _, state, _ = run(tmp_path / "a", clock, epochs=1, estimate_after=1)
    run(tmp_path / "b", clock, epochs=3, state=state, estimate_after=3)
    ((_, per_step, _, epochs_left, steps_left, *_),) = calls
    assert per_step == pytest.approx(TRAIN_DT, rel=1e-12) and (epochs_left, steps_left) == (2, 1)


def test_a_run_resumed_mid_epoch_times_its_own_steps(tmp_path, clock, monkeypatch):
    calls = estimates(monkeypatch)
    state = TrainState(epoch=0, step=1, partial={"loss": 6.6, "correct": 2, "n": 6})
    run(tmp_path, clock, epochs=2, state=state, estimate_after=10)
    ((_, per_step, _, epochs_left, steps_left, *_),) = calls   # steps 2..4: measured over 3, 4
    assert per_step == pytest.approx(TRAIN_DT, rel=1e-12) and (epochs_left, steps_left) == (2, 0)


def test_no_estimate_below_two_steps(tmp_path, clock, monkeypatch):
    calls = estimates(monkeypatch)
    run(tmp_path, clock, estimate_after=1)
    assert calls == []


def test_the_estimate_line_by_hand():
    lines = []
    test = type("T", (), {"x": np.zeros(1000)})()
    # 2 + 2 * 50 = 102 steps of 0.5 s = 51 s; 3 epochs x 500 images per rank x 0.5 / 10 / 3 = 25 s
    loop._log_estimate(lambda s, **k: lines.append(s), 0.5, 10, 3, 2, 50, test, 2)
    assert lines == ["500 ms per training step: about 1 min for 3 epochs on this machine "
                     "(0.8 min training, 0.4 min testing; the final test comes after)"]
    lines.clear()
    loop._log_estimate(lambda s, **k: lines.append(s), 1.2, 10, 1, 300, 400, test, 1)
    assert lines == ["1200 ms per training step: about 7 min for 1 epoch on this machine "
                     "(6.0 min training, 0.7 min testing; the final test comes after)"]
    lines.clear()      # 2,700 s + 1000 x 1.0 / 10 / 3 s: 45.6 min
    loop._log_estimate(lambda s, **k: lines.append(s), 1.0, 10, 1, 2700, 3000, test, 1)
    assert lines == ["1000 ms per training step: about 46 min for 1 epoch on this machine "
                     "(45.0 min training, 0.6 min testing; the final test comes after)"]
    lines.clear()      # 29.8 s + 9 x 0.1 / 1 / 3 = 0.3 s: 30.1 s, just over half a minute
    nine = type("T", (), {"x": np.zeros(9)})()
    loop._log_estimate(lambda s, **k: lines.append(s), 0.1, 1, 1, 298, 400, nine, 1)
    assert lines == ["100 ms per training step: about 1 min for 1 epoch on this machine "
                     "(0.5 min training, 0.0 min testing; the final test comes after)"]


def test_the_bars_show_epoch_step_and_running_figures(tmp_path, clock, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "300")
    want, _ = reference_rows(tmp_path / "ref", "multistep", epochs=1)
    run(tmp_path / "run", clock, epochs=1, progress=True)
    err = capsys.readouterr().err
    row = want[0]
    # after the epoch's last step: running means over all 24 images, 24 / (4 x 0.7) img/s
    assert (f"acc={row['train_top1']:.3f}, img_s=9, loss={row['train_loss']:.3f}") in err
    assert "epoch 1/1" in err and "test 1/1" in err
    assert all(f"{k}/4" in err for k in range(5)) and "5/4" not in err      # step by step


def test_a_resumed_bar_starts_at_the_saved_step(tmp_path, clock, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "300")
    state = TrainState(epoch=1, step=2, partial={"loss": 13.2, "correct": 4, "n": 12})
    run(tmp_path, clock, epochs=2, state=state, progress=True)
    err = capsys.readouterr().err
    assert "epoch 2/2:  50%" in err and "2/4" in err and "epoch 1/2" not in err


def test_no_bars_without_progress(tmp_path, clock, capsys):
    run(tmp_path, clock, epochs=1, progress=False)
    assert capsys.readouterr().err == ""


def test_a_skipped_plot_is_said_once(tmp_path, clock, monkeypatch):
    lines = []
    monkeypatch.setattr(loop, "plot_curves", lambda path, history: "matplotlib is not installed")
    run(tmp_path, clock, epochs=3, log=lambda *a, **k: lines.append(a[0]))
    assert [s for s in lines if "curves" in s] == [
        "curves.png not written: matplotlib is not installed"]


def test_the_resumed_epoch_adds_the_saved_sums(tmp_path, clock):
    (want,), _ = reference_rows(tmp_path / "ref", "multistep", epochs=1)
    run(tmp_path / "a", clock, epochs=1, stop_after_steps=2)       # saved after 2 of 4 steps
    resumed = []
    for _ in range(2):                       # two copies of the saved run, loaded up front
        net, model, opt, s, train, test, folder = make(tmp_path / "a", clock)
        resumed.append((net, model, opt, s, train, test, folder.load(model, opt, s)))
    p = resumed[0][-1]["extra"]["partial"]
    assert p["n"] == 12 and p["loss"] > 0 and p["correct"] > 0
    rows = []
    for (net, model, opt, s, train, test, loaded), partial in zip(resumed, [p, {}]):
        state = TrainState(loaded["epoch"], loaded["step"], [], dict(partial))
        fit(net, model, opt, s, train, test, RunFolder(tmp_path / f"b{len(partial)}"),
            epochs=1, state=state, checkpoint_every=0, progress=False, log=quiet)
        rows.append(state.history[0])
    # with the saved sums: the whole epoch's means; without: the last 12 images' alone
    assert rows[0]["train_loss"] == pytest.approx(want["train_loss"], rel=1e-12)
    assert rows[0]["train_top1"] == want["train_top1"]
    assert rows[1]["train_loss"] == pytest.approx((24 * want["train_loss"] - p["loss"]) / 12,
                                                  rel=1e-9)
    assert rows[1]["train_top1"] == (24 * want["train_top1"] - p["correct"]) / 12
    assert rows[0]["images_per_s"] == rows[1]["images_per_s"] == round(12 / (2 * TRAIN_DT), 1)


def test_a_rank_other_than_0_writes_shows_and_restores_nothing(tmp_path, clock, capsys,
                                                               monkeypatch):
    saved, calls = saves_of(monkeypatch), estimates(monkeypatch)
    monkeypatch.setattr(loop.dist, "rank", lambda: 1)
    state = TrainState(epoch=0, step=2, partial={"loss": 1e6, "correct": 12, "n": 12})
    status, state, _ = run(tmp_path, clock, epochs=1, state=state, progress=True,
                           checkpoint_every=1, estimate_after=2)
    assert status == 0 and saved == [] and calls == [] and capsys.readouterr().err == ""
    assert not os.path.exists(RunFolder(tmp_path).metrics)
    row = state.history[0]
    assert row["train_loss"] < 10 and row["train_top1"] < 1    # rank 0 alone adds the sums


def fixed_logits_model(logits):
    """A model whose k-th forward returns ``logits[k]`` (and moves no clock)."""
    class Fixed(nn.Module):
        def __init__(self):
            super().__init__()
            self.k = 0

        def forward(self, x):
            out = logits[self.k % len(logits)][:len(x.data)]
            self.k += 1
            return Tensor(out)
    return Fixed()


def test_evaluate_all_counts_top1_and_top5(tmp_path):
    rng = np.random.default_rng(5)
    logits = rng.standard_normal((3, 4, 7))          # 3 batches of 4, 7 classes
    y = rng.integers(0, 7, (3, 4))
    order = np.argsort(-logits, axis=2)
    top1 = int((order[..., 0] == y).sum())
    top5 = int((order[..., :5] == y[..., None]).any(-1).sum())
    assert 0 < top1 < top5 < 12                      # the case tells them apart
    batches = [(np.zeros((4, 1, 1, 1), np.float32), y[i]) for i in range(3)]
    ev = evaluate_all(fixed_logits_model(logits), batches)
    assert ev == {"top1": top1 / 12, "top5": top5 / 12, "n": 12}


def test_final_test_times_the_centre_then_the_ten_crop_pass(tmp_path, clock, capsys):
    net, model, opt, s, train, test, _ = make(tmp_path, clock)
    net.eval()
    crops = [(np.stack([xb] * 10), yb) for xb, yb in test]      # (10, B, C, h, w)
    final = final_test(net, test, crops)
    centre = evaluate_all(model, test)
    assert final["centre_top1"] == centre["top1"] and final["centre_top5"] == centre["top5"]
    assert final["ten_crop_top1"] == centre["top1"]              # ten equal crops
    assert final["centre_time_s"] == round(2 * TEST_DT, 1) == 4.0
    assert final["ten_crop_time_s"] == round(20 * TEST_DT, 1) == 40.4
    assert set(final) == {"centre_top1", "centre_top5", "centre_time_s", "ten_crop_top1",
                          "ten_crop_top5", "ten_crop_time_s"}
    assert set(final_test(net, test)) == {"centre_top1", "centre_top5", "centre_time_s"}
    assert capsys.readouterr().err == ""                    # no bars unless asked
