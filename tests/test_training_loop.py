"""minialex.training.fit's bookkeeping: the loader runs epoch e in epoch e
(fresh and resumed), from the saved step, and the run state advances."""

import numpy as np

from minialex import data as D, nn, optim
from minialex.training import RunFolder, TrainState, fit


class RecordingLoader(D.DataLoader):
    """A DataLoader that records every set_epoch call."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.calls = []

    def set_epoch(self, epoch, start_batch=0):
        self.calls.append((epoch, start_batch))
        super().set_epoch(epoch, start_batch)


def setup(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (24, 4, 4, 3), dtype=np.uint8)
    y = np.arange(24) % 3
    train = RecordingLoader(x, y, batch_size=6, seed=1, drop_last=True, prefetch=0)
    test = D.DataLoader(x, y, batch_size=12, shuffle=False, prefetch=0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(48, 3))
    opt = optim.SGD(model.parameters(), lr=0.01)
    sched = optim.MultiStepLR(opt, milestones=[100])
    return train, test, model, opt, sched, RunFolder(tmp_path)


def test_fit_runs_each_epoch_of_the_loader_in_order(tmp_path):
    train, test, model, opt, sched, folder = setup(tmp_path)
    state = TrainState()
    assert fit(model, model, opt, sched, train, test, folder, epochs=3, state=state,
               checkpoint_every=0, progress=False, log=lambda *a, **k: None) == 0
    assert train.calls == [(0, 0), (1, 0), (2, 0)]
    assert state.epoch == 3 and state.step == 0 and [h["epoch"] for h in state.history] == [1, 2, 3]


def test_a_resumed_fit_continues_in_the_saved_epoch_and_step(tmp_path):
    train, test, model, opt, sched, folder = setup(tmp_path)
    row = {"epoch": 1, "train_loss": 1.1, "train_top1": 0.3, "test_top1": 0.3, "test_top5": 1.0,
           "lr": 0.01, "epoch_time_s": 1.0, "train_time_s": 0.8, "test_time_s": 0.2,
           "images_per_s": 30.0}
    state = TrainState(epoch=1, step=2, history=[row],
                       partial={"loss": 2.2, "correct": 4, "n": 12})
    fit(model, model, opt, sched, train, test, folder, epochs=3, state=state,
        checkpoint_every=0, progress=False, log=lambda *a, **k: None)
    # epoch 2 from its third batch, then epoch 3 whole: never epoch 0 again
    assert train.calls == [(1, 2), (2, 0)]
    assert [h["epoch"] for h in state.history] == [1, 2, 3]
