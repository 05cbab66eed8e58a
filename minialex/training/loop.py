"""The epoch loop every training program shares, in one process or many.

Per step: forward, softmax cross-entropy, backward (with
DistributedDataParallel the gradients are averaged over the ranks inside
``backward()``), the optimizer step. After the first steps: an estimate
of the run's time on this machine. Per epoch: the centre-crop test, the
scheduler, a checkpoint, a metrics line and ``curves.png``. A checkpoint is also written
every ``checkpoint_every`` steps inside an epoch and on Ctrl-C (SIGINT),
so a killed run loses at most those steps, and a resumed run continues
with exactly the samples, augmentations and dropout masks it would have
had. With several ranks, rank 0 alone writes and prints; every rank stops
at the same step (the Ctrl-C flag is reduced each step).
"""

import math
import signal
import time
from dataclasses import dataclass, field

import numpy
from tqdm import tqdm

from .. import distributed as dist
from .. import functional as F
from ..autograd import Tensor
from ..evaluation import evaluate
from ..optim import ReduceLROnPlateau
from .plots import plot_curves

__all__ = ["TrainState", "NonFiniteLoss", "fit", "evaluate_all", "final_test"]


class NonFiniteLoss(RuntimeError):
    """The loss became inf or NaN; the message names the epoch, the step,
    the last good checkpoint and what to change."""


@dataclass
class TrainState:
    """Where a run stands: ``epoch`` epochs done, ``step`` batches of the
    next one done, the metrics ``history`` so far and the ``partial`` sums
    (loss, correct, n) of the epoch in progress, over all ranks."""
    epoch: int = 0
    step: int = 0
    history: list = field(default_factory=list)
    partial: dict = field(default_factory=dict)


def evaluate_all(model, loader, ten_crop=False, progress=False, desc="test"):
    """``evaluate`` on this rank's share of ``loader``, the counts summed
    over ranks. ``progress``: a tqdm bar labelled ``desc`` (rank 0 only).
    Returns {"top1", "top5", "n"}."""
    bar = tqdm(loader, desc=desc, disable=not progress or dist.rank() != 0, leave=False,
               dynamic_ncols=True, unit="batch")
    try:
        ev = evaluate(model, bar, ten_crop=ten_crop)
    finally:
        bar.close()
    counts = numpy.array([ev["top1"] * ev["n"], ev["top5"] * ev["n"], ev["n"]])
    dist.all_reduce(counts)
    top1, top5, n = numpy.rint(counts)
    return {"top1": top1 / max(n, 1), "top5": top5 / max(n, 1), "n": int(n)}


def final_test(net, test, test10=None, progress=False):
    """Centre-crop (and, given ``test10``, ten-crop) top-1/top-5, each pass
    with a progress bar when ``progress`` (rank 0). Returns
    {"centre_top1", "centre_top5", "centre_time_s"} and, with ``test10``,
    {"ten_crop_top1", "ten_crop_top5", "ten_crop_time_s"} (seconds of
    wall time)."""
    t0 = time.time()
    centre = evaluate_all(net, test, progress=progress, desc="final test, centre crop")
    final = {"centre_top1": centre["top1"], "centre_top5": centre["top5"],
             "centre_time_s": round(time.time() - t0, 1)}
    if test10 is not None:
        t0 = time.time()
        ten = evaluate_all(net, test10, ten_crop=True, progress=progress,
                           desc="final test, ten crops")
        final.update(ten_crop_top1=ten["top1"], ten_crop_top5=ten["top5"],
                     ten_crop_time_s=round(time.time() - t0, 1))
    return final


def _log_estimate(log, per_step, batch, epochs_left, steps_left, steps_per_epoch, test, world):
    """Log the expected time of the rest of a run: ``per_step`` seconds
    (measured) for each training step left, plus the test passes, priced
    at a third of a training step's time per image (a forward pass without
    the backward's two products)."""
    steps = steps_left + (epochs_left - 1) * steps_per_epoch
    train_s = steps * per_step
    test_images = len(getattr(test, "x", ())) / world
    test_s = epochs_left * test_images * per_step / batch / 3
    total = (train_s + test_s) / 60
    log(f"{per_step * 1000:.0f} ms per training step: about {total:.0f} min for "
        f"{epochs_left} epoch{'s' if epochs_left != 1 else ''} on this machine "
        f"({train_s / 60:.1f} min training, {test_s / 60:.1f} min testing; the final "
        f"test comes after)", flush=True)


def _check_counts(**counts):
    """Refuse negative step counts: a negative ``checkpoint_every`` would
    save at every step (Python's ``%`` takes the divisor's sign) and a
    negative ``stop_after_steps`` stop after the first."""
    for name, value in counts.items():
        if value is not None and value < 0:
            raise ValueError(f"fit: {name} must be 0 or more (0: never), got {value}")


class _Interrupt:
    """Ctrl-C sets a flag (the step finishes, a checkpoint is saved); a
    second Ctrl-C aborts at once."""

    def __init__(self, log):
        self.flag, self.log = False, log

    def __call__(self, signum, frame):
        if self.flag:
            raise KeyboardInterrupt
        self.flag = True
        self.log("\nCtrl-C: finishing this step, saving, then stopping (Ctrl-C again to abort)")


def fit(net, model, opt, sched, train, test, folder, *, epochs, state, checkpoint_every=100,
        stop_after_steps=None, progress=True, estimate_after=10, log=print):
    """Train ``net`` (the model, or its DistributedDataParallel wrapper) from
    ``state`` to ``epochs`` epochs.

    Args:
        model: the plain model (what checkpoints hold). opt, sched: its
            optimizer and scheduler. train, test: DataLoaders (this rank's
            shares). folder: a :class:`RunFolder` (written by rank 0 only).
        state: a :class:`TrainState` (a fresh one, or a resumed one).
        checkpoint_every: steps between mid-epoch checkpoints (0: none).
        stop_after_steps: act as if Ctrl-C came after this many steps (tests).
        progress: tqdm bars for the training steps and the test passes
            (rank 0 only).
        estimate_after: after this many steps (or the epoch's steps, if
            fewer; rank 0, once), log the expected time of the rest of the
            run on this machine, timed from the steps after the first
            (below 2: no estimate).
        log: print function (rank 0's print; the others pass a no-op).

    Each epoch appends to ``state.history`` (and to metrics.jsonl) a row:
    epoch, train_loss, train_top1 (running, with augmentation and
    dropout), test_top1, test_top5 (centre crop), lr (the epoch's),
    train_time_s (the training steps), images_per_s (training images per
    second, all ranks; an epoch resumed mid-way counts the steps it ran),
    test_time_s (the test pass), epoch_time_s (both, up to the epoch's
    checkpoint), and ranks when there are several.

    Returns 0 when every epoch ran, 130 when stopped by Ctrl-C (saved).
    Raises NonFiniteLoss, RunError when a checkpoint cannot be written, or
    ValueError for a negative checkpoint_every or stop_after_steps.
    """
    _check_counts(checkpoint_every=checkpoint_every, stop_after_steps=stop_after_steps)
    rank, world = dist.rank(), dist.world_size()
    interrupt = _Interrupt(log)
    previous = signal.signal(signal.SIGINT, interrupt)
    lr_of = lambda: opt.param_groups[0]["lr"]  # noqa: E731
    steps_done = 0
    plot_note, estimated = None, False
    try:
        for epoch in range(state.epoch, epochs):
            t0 = time.time()
            net.train()
            train.set_epoch(epoch, start_batch=state.step)
            # loss sum, correct, images of this rank's epoch; the saved sums are
            # the whole world's, so only rank 0 starts from them. [3]: images of
            # this call alone (the images per second of a resumed epoch)
            sums = numpy.zeros(4)
            if state.step and rank == 0:
                p = state.partial
                sums[:3] = [p.get("loss", 0.0), p.get("correct", 0), p.get("n", 0)]
            bar = tqdm(total=len(train), initial=state.step, desc=f"epoch {epoch + 1}/{epochs}",
                       disable=not progress or rank != 0, leave=False, dynamic_ncols=True)
            seen_t0, seen = time.time(), 0
            first_step = state.step
            measure = min(estimate_after, len(train) - first_step)   # >= 2 to estimate
            for step, (xb, yb) in enumerate(train, start=state.step):
                logits = net(Tensor(xb))
                loss = F.cross_entropy(logits, yb)
                value = loss.item()
                if not math.isfinite(value):
                    raise NonFiniteLoss(
                        f"loss became {value} at epoch {epoch + 1}, step {step + 1} "
                        f"(lr {lr_of():g}); stopping. The last good checkpoint is "
                        f"{folder.checkpoint}; try a lower --lr")
                opt.zero_grad()
                loss.backward()       # with DDP: gradients averaged over the ranks here
                opt.step()
                n = len(yb)
                sums += [value * n, int((logits.numpy().argmax(axis=1) == yb).sum()), n, n]
                seen += n
                steps_done += 1
                here = step + 1 - first_step     # steps of this epoch in this call
                if here == 1:
                    first_step_end = time.time()   # the first step warms up: not timed
                elif here == measure and not estimated and rank == 0:
                    estimated = True
                    with tqdm.external_write_mode():     # above the bar, not through it
                        _log_estimate(log, (time.time() - first_step_end) / (measure - 1), n,
                                      epochs - epoch, len(train) - step - 1, len(train), test,
                                      world)
                bar.update(1)
                bar.set_postfix(loss=f"{sums[0] / sums[2]:.3f}", acc=f"{sums[1] / sums[2]:.3f}",
                                img_s=f"{seen * world / (time.time() - seen_t0):.0f}")
                if stop_after_steps and steps_done >= stop_after_steps:
                    interrupt.flag = True
                stop = interrupt.flag
                if world > 1:         # every rank stops at the same step
                    stop = bool(dist.all_reduce(numpy.array([float(stop)]), op="max")[0])
                periodic = (checkpoint_every and (step + 1) % checkpoint_every == 0
                            and step + 1 < len(train))
                if stop or periodic:
                    total = dist.all_reduce(sums.copy())
                    if rank == 0:
                        folder.save(model, opt, sched, epoch=epoch, step=step + 1, extra={
                            "history": state.history, "partial": {
                                "loss": float(total[0]), "correct": int(total[1]),
                                "n": int(total[2])}})
                    dist.barrier()    # the others wait until the checkpoint is written
                if stop:
                    bar.close()
                    log(f"saved {folder.checkpoint} at epoch {epoch + 1}, step {step + 1}; "
                        f"continue with --resume {folder.path}")
                    return 130
            bar.close()
            state.step = 0
            train_time = time.time() - t0
            dist.all_reduce(sums)
            t_test = time.time()
            ev = evaluate_all(net, test, progress=progress, desc=f"test {epoch + 1}/{epochs}")
            test_time = time.time() - t_test
            lr_used = lr_of()
            if isinstance(sched, ReduceLROnPlateau):
                sched.step(ev["top1"])
            else:
                sched.step()
            loss_sum, correct, n, n_now = sums
            row = {"epoch": epoch + 1, "train_loss": loss_sum / n, "train_top1": correct / n,
                   "test_top1": ev["top1"], "test_top5": ev["top5"], "lr": lr_used,
                   "epoch_time_s": round(time.time() - t0, 2),
                   "train_time_s": round(train_time, 2),
                   "images_per_s": round(n_now / train_time, 1),
                   "test_time_s": round(test_time, 2)}
            if world > 1:
                row["ranks"] = world
            state.history.append(row)
            state.epoch = epoch + 1
            if rank == 0:
                folder.save(model, opt, sched, epoch=epoch + 1, step=0,
                            extra={"history": state.history})
                folder.append_metrics(row)
                skipped = plot_curves(folder.path, state.history)
                if skipped and skipped != plot_note:
                    log(f"curves.png not written: {skipped}")
                plot_note = skipped
            log(f"epoch {epoch + 1:3d}/{epochs}  train loss {row['train_loss']:.4f} "
                f"top-1 {row['train_top1']:.4f}  test top-1 {ev['top1']:.4f} (centre)  "
                f"lr {lr_used:.4g}  train {train_time:.1f} s ({row['images_per_s']:.0f} img/s)  "
                f"test {test_time:.1f} s", flush=True)
        return 0
    finally:
        signal.signal(signal.SIGINT, previous)
