"""The epoch loop every training program shares, in one process or many.

Per step: forward, softmax cross-entropy, backward (with
DistributedDataParallel the gradients are averaged over the ranks inside
``backward()``), the optimizer step. Per epoch: the centre-crop test, the
scheduler, a checkpoint and a metrics line. A checkpoint is also written
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


def evaluate_all(model, loader, ten_crop=False):
    """``evaluate`` on this rank's share of ``loader``, the counts summed
    over ranks. Returns {"top1", "top5", "n"}."""
    ev = evaluate(model, loader, ten_crop=ten_crop)
    counts = numpy.array([ev["top1"] * ev["n"], ev["top5"] * ev["n"], ev["n"]])
    dist.all_reduce(counts)
    top1, top5, n = numpy.rint(counts)
    return {"top1": top1 / max(n, 1), "top5": top5 / max(n, 1), "n": int(n)}


def final_test(net, test, test10=None):
    """Centre-crop (and, given ``test10``, ten-crop) top-1/top-5."""
    centre = evaluate_all(net, test)
    final = {"centre_top1": centre["top1"], "centre_top5": centre["top5"]}
    if test10 is not None:
        t0 = time.time()
        ten = evaluate_all(net, test10, ten_crop=True)
        final.update(ten_crop_top1=ten["top1"], ten_crop_top5=ten["top5"],
                     ten_crop_time_s=round(time.time() - t0, 1))
    return final


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
        stop_after_steps=None, progress=True, log=print):
    """Train ``net`` (the model, or its DistributedDataParallel wrapper) from
    ``state`` to ``epochs`` epochs.

    Args:
        model: the plain model (what checkpoints hold). opt, sched: its
            optimizer and scheduler. train, test: DataLoaders (this rank's
            shares). folder: a :class:`RunFolder` (written by rank 0 only).
        state: a :class:`TrainState` (a fresh one, or a resumed one).
        checkpoint_every: steps between mid-epoch checkpoints (0: none).
        stop_after_steps: act as if Ctrl-C came after this many steps (tests).
        log: print function (rank 0's print; the others pass a no-op).

    Returns 0 when every epoch ran, 130 when stopped by Ctrl-C (saved).
    Raises NonFiniteLoss, or RunError when a checkpoint cannot be written.
    """
    rank, world = dist.rank(), dist.world_size()
    interrupt = _Interrupt(log)
    previous = signal.signal(signal.SIGINT, interrupt)
    lr_of = lambda: opt.param_groups[0]["lr"]  # noqa: E731
    steps_done = 0
    try:
        for epoch in range(state.epoch, epochs):
            t0 = time.time()
            net.train()
            train.set_epoch(epoch, start_batch=state.step)
            # loss sum, correct, images of this rank; the saved sums are the
            # whole world's, so only rank 0 starts from them
            sums = numpy.zeros(3)
            if state.step and rank == 0:
                p = state.partial
                sums[:] = [p.get("loss", 0.0), p.get("correct", 0), p.get("n", 0)]
            bar = tqdm(total=len(train), initial=state.step, desc=f"epoch {epoch + 1}/{epochs}",
                       disable=not progress or rank != 0, leave=False, dynamic_ncols=True)
            seen_t0, seen = time.time(), 0
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
                sums += [value * n, int((logits.numpy().argmax(axis=1) == yb).sum()), n]
                seen += n
                steps_done += 1
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
            ev = evaluate_all(net, test)
            lr_used = lr_of()
            if isinstance(sched, ReduceLROnPlateau):
                sched.step(ev["top1"])
            else:
                sched.step()
            loss_sum, correct, n = sums
            row = {"epoch": epoch + 1, "train_loss": loss_sum / n, "train_top1": correct / n,
                   "test_top1": ev["top1"], "test_top5": ev["top5"], "lr": lr_used,
                   "epoch_time_s": round(time.time() - t0, 2),
                   "train_time_s": round(train_time, 2),
                   "images_per_s": round(n / train_time, 1)}
            if world > 1:
                row["ranks"] = world
            state.history.append(row)
            state.epoch = epoch + 1
            if rank == 0:
                folder.save(model, opt, sched, epoch=epoch + 1, step=0,
                            extra={"history": state.history})
                folder.append_metrics(row)
                plot_curves(folder.path, state.history)
            log(f"epoch {epoch + 1:3d}/{epochs}  train loss {row['train_loss']:.4f} "
                f"top-1 {row['train_top1']:.4f}  test top-1 {ev['top1']:.4f} (centre)  "
                f"lr {lr_used:.4g}  {row['epoch_time_s']:.1f} s ({row['images_per_s']:.0f} img/s)",
                flush=True)
        return 0
    finally:
        signal.signal(signal.SIGINT, previous)
