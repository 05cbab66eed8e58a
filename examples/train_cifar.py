#!/usr/bin/env python
"""Train AlexNet on real CIFAR-10 with minialex: the main job.

    python examples/train_cifar.py --data ../shared/data/cifar10

The paper's recipe (sections 4 and 5), adapted to 32x32 images as in
REFERENCE.md: random 28x28 crops with horizontal flips and PCA colour
noise, mean subtraction, SGD with momentum 0.9 and weight decay 5e-4 (the
paper's update rule), dropout 0.5 on fc6 and fc7, and at the end the
paper's ten-crop test (four corners + centre and their mirrors, softmax
outputs averaged) beside the plain centre crop.

Data parallel on several processes or machines (MPI; README, "More than
one process"): ``mpiexec -n 2 python examples/train_cifar.py --distributed``
trains with ``--batch-size`` as the global batch, each rank on its share.

Everything the run produces goes in its run folder (--out): config.json,
metrics.jsonl (one line per epoch), checkpoint.npz (written atomically
after every epoch, and on Ctrl-C), curves.png (with matplotlib) and
final.json. ``--resume RUN_FOLDER`` continues exactly where it stopped.
"""

import argparse
import itertools
import json
import math
import os
import signal
import sys
import time

import minialex  # before NumPy: it sets OpenBLAS's thread timeout (README, "Threads")
import numpy
from tqdm import tqdm

from minialex import functional as F
from minialex import data as D
from minialex import distributed as dist
from minialex.checkpoint import save_checkpoint, load_checkpoint
from minialex.evaluation import evaluate
from minialex.models import alexnet_cifar
from minialex.optim import SGD, ReduceLROnPlateau, MultiStepLR


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Appends "(default: ...)" unless the help text already names the
    default, there is none, or the option is a store_false switch (whose
    default True would read as "this switch is on")."""

    def _get_help_string(self, action):
        if (action.default is None or "default" in (action.help or "")
                or isinstance(action, argparse._StoreFalseAction)):
            return action.help
        return super()._get_help_string(action)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=_HelpFormatter)
    p.add_argument("--data", default=None,
                   help="CIFAR-10 folder (binary, python or image-folder layout); "
                        "default $MINIALEX_DATA, else ~/.cache/minialex (downloaded there if "
                        "missing; an explicit --data folder is never downloaded into)")
    p.add_argument("--preset", default="small", choices=["small", "half", "paper"],
                   help="channel widths (REFERENCE.md); small fits a 2-core CPU")
    p.add_argument("--epochs", type=int, default=None,  # 15 when not resuming
                   help="number of epochs (default 15, about 32 minutes on 2 CPU cores; with "
                        "--resume: the saved run's, or this many to extend it, the lr cuts "
                        "staying where the saved run put them)")
    p.add_argument("--batch-size", type=int, default=128, help="images per SGD step, the paper's")
    p.add_argument("--lr", type=float, default=0.02, help="initial learning rate")
    p.add_argument("--momentum", type=float, default=0.9, help="SGD momentum, the paper's")
    p.add_argument("--weight-decay", type=float, default=5e-4,
                   help="L2 weight decay, the paper's")
    p.add_argument("--schedule", default="step", choices=["step", "plateau"],
                   help="step: lr/10 at 2/3 and at 7/8 of the epochs (fits a fixed time "
                        "budget); plateau: lr/10 when test top-1 stops improving "
                        "(the paper's rule, automated)")
    p.add_argument("--patience", type=int, default=2, help="epochs without improvement "
                   "before a plateau cut")
    p.add_argument("--init", default="kaiming", choices=["kaiming", "kaiming_in", "paper"],
                   help="weights: kaiming (He normal, fan-out for convolutions), kaiming_in "
                        "(fan-in everywhere) or paper (N(0, 0.01^2); stays at chance on "
                        "this net, REFERENCE.md)")
    p.add_argument("--towers", type=int, default=None, choices=[1, 2],
                   help="default: 2 when two devices are given, else 1 (the same function "
                        "as grouped convolutions, faster on one device)")
    p.add_argument("--devices", default="cpu",
                   help="'cpu', 'cpu:0,cpu:1' (two logical towers), 'cuda:0', 'cuda:0,cuda:1'")
    p.add_argument("--seed", type=int, default=0, help="seeds weights, sampling and dropout")
    p.add_argument("--out", default=None, help="run folder (default runs/<time>)")
    p.add_argument("--resume", default=None, metavar="RUN_FOLDER",
                   help="continue the run saved in this folder")
    p.add_argument("--no-pca", action="store_true", help="turn off PCA colour noise")
    p.add_argument("--ten-crop", dest="ten_crop", action="store_true", default=True,
                   help="final test with ten-crop averaging (default on)")
    p.add_argument("--no-ten-crop", dest="ten_crop", action="store_false",
                   help="skip the ten-crop test (the centre-crop test still runs)")
    p.add_argument("--subset", type=int, default=None, metavar="N",
                   help="train on N training images only, a fixed random sample (quick runs)")
    p.add_argument("--test-subset", type=int, default=None, metavar="N",
                   help="evaluate on N test images only, a fixed random sample (quick runs)")
    p.add_argument("--standardize", action=argparse.BooleanOptionalAction, default=True,
                   help="divide by the per-channel std after subtracting the mean")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument("--distributed", action="store_true",
                   help="data parallel over the MPI processes this was started with "
                        "(mpiexec -n N ...; needs the dist extra): --batch-size is the global "
                        "batch, each rank trains on its share; rank 0 prints and writes the "
                        "run folder")
    p.add_argument("--bucket-mb", type=float, default=1.0, help=argparse.SUPPRESS)
    p.add_argument("--no-overlap", action="store_true", help=argparse.SUPPRESS)
    # for tests: behave as if Ctrl-C came after this many training steps
    p.add_argument("--stop-after-steps", type=int, default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.epochs is not None and args.epochs < 1:
        p.error(f"--epochs must be at least 1, got {args.epochs}")
    return args


# ------------------------------------------------------------------ data
def build_data(args, rank=0, world=1):
    """The three loaders; with ``world`` > 1 each yields this rank's share
    of every global batch (the same samples and augmentations as one
    process, split N ways). Rank 0 loads (and downloads or caches) first,
    the others then read its cache, so the data set is decoded once."""
    # an explicit --data folder must already hold the data; the default
    # location ($MINIALEX_DATA or the cache) is filled by downloading
    if rank != 0:
        dist.barrier()             # wait for rank 0's download / decode cache
    try:
        x_train, y_train, x_test, y_test, classes = D.load_cifar10(args.data,
                                                                   download=args.data is None)
    finally:
        if rank == 0 and world > 1:
            dist.barrier()
    # subsets are a fixed random sample (seed 0), not the first N files: the
    # image-folder layout is sorted by class, so the first N would be airplanes
    if args.subset:
        keep = numpy.sort(numpy.random.default_rng(0).permutation(len(x_train))[:args.subset])
        x_train, y_train = x_train[keep], y_train[keep]
    if args.test_subset:
        keep = numpy.sort(numpy.random.default_rng(0).permutation(len(x_test))[:args.test_subset])
        x_test, y_test = x_test[keep], y_test[keep]
    # the paper subtracts the training set's mean activity and keeps raw
    # pixel units (0..255), the scale its LRN constants were chosen for
    mean = D.channel_mean(x_train)
    std = D.channel_std(x_train) if args.standardize else None
    steps = [D.random_crop(28), D.random_flip(), D.to_float32()]
    if not args.no_pca:
        steps.append(D.PCAColor.fit(x_train, std=0.1))
    steps += [D.normalize(mean, std), D.to_nchw_float32()]
    shard = dict(num_replicas=world, rank=rank)
    train = D.DataLoader(x_train, y_train, batch_size=args.batch_size, shuffle=True,
                         seed=args.seed, drop_last=True, transform=D.Compose(steps), **shard)
    test = D.DataLoader(x_test, y_test, batch_size=500, shuffle=False, transform=D.Compose(
        [D.center_crop(28), D.to_float32(), D.normalize(mean, std), D.to_nchw_float32()]), **shard)
    test10 = D.DataLoader(x_test, y_test, batch_size=250, shuffle=False, transform=D.Compose(
        [D.ten_crop(28), D.to_float32(), D.normalize(mean, std), D.to_nchw_float32()]), **shard)
    return train, test, test10, classes


def evaluate_all(model, loader, ten_crop=False):
    """``evaluate`` on this rank's share, the counts summed over ranks."""
    ev = evaluate(model, loader, ten_crop=ten_crop)
    counts = numpy.array([ev["top1"] * ev["n"], ev["top5"] * ev["n"], ev["n"]])
    dist.all_reduce(counts)
    top1, top5, n = numpy.rint(counts)
    return {"top1": top1 / max(n, 1), "top5": top5 / max(n, 1), "n": int(n)}


# ------------------------------------------------------------------ run folder
def new_run_folder(root="runs"):
    """Make and return ``runs/<date-time>``, or ``...-2``, ``-3``, ... when a
    run started in the same second has that folder already. Each name is
    claimed by creating it (``os.makedirs`` fails on an existing folder), so
    two runs never share a folder."""
    os.makedirs(root, exist_ok=True)
    base = run = os.path.join(root, time.strftime("%Y%m%d-%H%M%S"))
    for i in itertools.count(2):
        try:
            os.makedirs(run)
            return run
        except FileExistsError:
            run = f"{base}-{i}"


def write_json(path, obj):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=2)
    os.replace(tmp, path)


def plot_curves(run, history):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    ep = [h["epoch"] for h in history]
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    a.plot(ep, [h["train_loss"] for h in history], marker="o", label="train loss")
    a.set_xlabel("epoch"), a.set_ylabel("cross-entropy"), a.legend()
    b.plot(ep, [h["train_top1"] for h in history], marker="o", label="train top-1")
    b.plot(ep, [h["test_top1"] for h in history], marker="o", label="test top-1 (centre crop)")
    b.set_xlabel("epoch"), b.set_ylabel("accuracy"), b.legend()
    fig.tight_layout()
    fig.savefig(os.path.join(run, "curves.png"), dpi=100)
    plt.close(fig)


class NonFiniteLoss(RuntimeError):
    pass


def load_saved_config(resume, args):
    """The saved run's settings merged with this command's few run-time ones."""
    cfg_path = os.path.join(resume, "config.json")
    if not os.path.exists(cfg_path):
        sys.exit(f"--resume {resume}: no config.json there; is it a run folder?")
    with open(cfg_path) as f:
        saved = json.load(f)
    if args.epochs is not None and args.epochs < saved["epochs"]:
        sys.exit(f"--resume {resume}: --epochs {args.epochs} is fewer than the saved run's "
                 f"{saved['epochs']}; a run can be extended, not shortened")
    return saved


# settings that belong to this invocation, not to the run (never saved)
RUNTIME_KEYS = ("resume", "no_progress", "stop_after_steps", "distributed", "bucket_mb",
                "no_overlap")


# ------------------------------------------------------------------ main
def main(argv=None):
    args = parse_args(argv)
    rank, world = dist.init() if args.distributed else (0, 1)
    say = print if rank == 0 else (lambda *a, **k: None)
    if args.batch_size % world:
        sys.exit(f"--batch-size {args.batch_size} does not split evenly over {world} ranks; "
                 f"use a multiple of {world}")
    resume = args.resume
    if resume:
        saved = dist.broadcast_object(load_saved_config(resume, args) if rank == 0 else None)
        args = argparse.Namespace(**{**saved, **{k: getattr(args, k) for k in RUNTIME_KEYS},
                                     "out": resume, "epochs": args.epochs or saved["epochs"]})
    args.epochs = args.epochs or 15
    devices = [d.strip() for d in args.devices.split(",") if d.strip()]
    if world > 1 and any(d.startswith("cuda") for d in devices):
        # one GPU per rank: the rank's local index picks it
        devices = [f"cuda:{dist.local_rank()}"]
    towers = args.towers or (2 if len(devices) == 2 else 1)
    args.towers = towers

    minialex.manual_seed(args.seed)
    try:                      # before the run folder exists: a failed start leaves nothing
        train, test, test10, classes = build_data(args, rank, world)
    except FileNotFoundError as exc:
        sys.exit(f"error: {exc}\nFrom this script: pass --data <folder holding CIFAR-10> "
                 "(binary, python or image-folder layout), or leave --data out to use "
                 "$MINIALEX_DATA, else download into ~/.cache/minialex.")
    run = None
    if rank == 0:
        run = args.out or new_run_folder()
        os.makedirs(run, exist_ok=True)
        if not resume:
            write_json(os.path.join(run, "config.json"), {
                k: v for k, v in vars(args).items() if k not in RUNTIME_KEYS})
        elif args.epochs != saved["epochs"]:    # extended: a later --resume runs to the new end
            write_json(os.path.join(run, "config.json"), {**saved, "epochs": args.epochs})
    run = dist.broadcast_object(run)
    model = alexnet_cifar(args.preset, num_classes=len(classes), towers=towers,
                          devices=devices if towers == 2 else devices[0], init=args.init)
    opt = SGD(model.parameters(), lr=args.lr, momentum=args.momentum,
              weight_decay=args.weight_decay)
    if args.schedule == "plateau":
        sched = ReduceLROnPlateau(opt, mode="max", factor=0.1, patience=args.patience)
    else:
        sched = MultiStepLR(opt, milestones=[round(args.epochs * 2 / 3),
                                             round(args.epochs * 7 / 8)], gamma=0.1)
    ckpt = os.path.join(run, "checkpoint.npz")
    metrics_path = os.path.join(run, "metrics.jsonl")
    history, start_epoch, start_step, partial = [], 0, 0, {}
    if resume:
        state = None
        if rank == 0:
            state = load_checkpoint(ckpt, model, opt, sched)
            state = {**state, "sched": sched.state_dict()}
            # metrics.jsonl may hold lines written after the checkpoint: rewrite it
            with open(metrics_path, "w") as f:
                f.writelines(json.dumps(h) + "\n" for h in state["extra"].get("history", []))
        if world > 1:          # rank 0 read the files; the others get its state
            state = dist.broadcast_object(state)
            dist.broadcast_parameters(model)
            dist.broadcast_optimizer_state(opt)
            sched.load_state_dict(state["sched"])
        start_epoch, start_step = state["epoch"], state["step"]
        history = state["extra"].get("history", [])
        partial = state["extra"].get("partial", {})
        say(f"resumed {run} at epoch {start_epoch + 1}, step {start_step}")
    net = model
    if world > 1:
        # each rank draws its own dropout masks
        minialex.manual_seed([args.seed, 1 + rank, start_epoch, start_step])
        net = dist.DistributedDataParallel(model, bucket_cap_mb=args.bucket_mb,
                                           overlap=not args.no_overlap, broadcast=not resume)
    say(f"minialex AlexNet-CIFAR preset={args.preset} towers={towers} devices={devices} "
        f"params={model.num_parameters():,} train images={len(train.x)} "
        f"test images={len(test.x)} run={run}"
        + (f" ranks={world} (batch {args.batch_size // world} each, gradients via "
           f"{net.backend})" if world > 1 else ""))

    interrupted = {"flag": False}

    def on_sigint(signum, frame):
        if interrupted["flag"]:
            raise KeyboardInterrupt
        interrupted["flag"] = True
        say("\nCtrl-C: finishing this step, saving, then stopping (Ctrl-C again to abort)")

    signal.signal(signal.SIGINT, on_sigint)
    lr_of = lambda: opt.param_groups[0]["lr"]  # noqa: E731
    total_steps = 0

    for epoch in range(start_epoch, args.epochs):
        t0 = time.time()
        net.train()
        train.set_epoch(epoch)
        # loss sum, correct, images: this rank's, summed over ranks when saved or printed
        sums = numpy.zeros(3)
        if start_step:
            sums[:] = [partial.get("loss", 0.0), partial.get("correct", 0), partial.get("n", 0)]
            if world > 1 and rank != 0:
                sums[:] = 0      # the saved sums are the whole world's: counted once
        bar = tqdm(total=len(train), initial=start_step, desc=f"epoch {epoch + 1}/{args.epochs}",
                   disable=args.no_progress or rank != 0, leave=False, dynamic_ncols=True)
        seen_t0, seen = time.time(), 0
        for step, (xb, yb) in enumerate(train):
            if step < start_step:
                continue          # already trained before the interruption
            logits = net(minialex.Tensor(xb))
            loss = F.cross_entropy(logits, yb)
            value = loss.item()
            if not math.isfinite(value):
                raise NonFiniteLoss(
                    f"loss became {value} at epoch {epoch + 1}, step {step + 1} (lr {lr_of():g}); "
                    f"stopping. The last good checkpoint is {ckpt} (epoch {epoch}); "
                    "try a lower --lr")
            opt.zero_grad()
            loss.backward()       # with DDP: gradients averaged over the ranks here
            opt.step()
            n = len(yb)
            sums += [value * n, int((logits.numpy().argmax(axis=1) == yb).sum()), n]
            seen += n
            bar.update(1)
            total_steps += 1
            if args.stop_after_steps and total_steps >= args.stop_after_steps:
                interrupted["flag"] = True
            bar.set_postfix(loss=f"{sums[0] / sums[2]:.3f}", acc=f"{sums[1] / sums[2]:.3f}",
                            img_s=f"{seen * world / (time.time() - seen_t0):.0f}")
            stop = interrupted["flag"]
            if world > 1:         # every rank stops at the same step
                stop = bool(dist.all_reduce(numpy.array([float(stop)]), op="max")[0])
            if stop:
                dist.all_reduce(sums)
                if rank == 0:
                    save_checkpoint(ckpt, model, opt, sched, epoch=epoch, step=step + 1,
                                    extra={"history": history, "partial": {
                                        "loss": float(sums[0]), "correct": int(sums[1]),
                                        "n": int(sums[2])}})
                dist.barrier()    # the others wait until the checkpoint is written
                bar.close()
                say(f"saved {ckpt} at epoch {epoch + 1}, step {step + 1}; "
                    f"continue with: python examples/train_cifar.py --resume {run}")
                return 130
        bar.close()
        start_step = 0
        train_time = time.time() - t0
        dist.all_reduce(sums)
        ev = evaluate_all(net, test)
        lr_used = lr_of()
        if isinstance(sched, ReduceLROnPlateau):
            sched.step(ev["top1"])
        else:
            sched.step()
        run_loss, run_correct, run_n = sums
        row = {"epoch": epoch + 1, "train_loss": run_loss / run_n, "train_top1": run_correct / run_n,
               "test_top1": ev["top1"], "test_top5": ev["top5"], "lr": lr_used,
               "epoch_time_s": round(time.time() - t0, 2), "train_time_s": round(train_time, 2),
               "images_per_s": round(run_n / train_time, 1)}
        if world > 1:
            row["ranks"] = world
        history.append(row)
        if rank == 0:
            save_checkpoint(ckpt, model, opt, sched, epoch=epoch + 1, step=0,
                            extra={"history": history})
            with open(metrics_path, "a") as f:
                f.write(json.dumps(row) + "\n")
            plot_curves(run, history)
        say(f"epoch {epoch + 1:3d}/{args.epochs}  train loss {row['train_loss']:.4f} "
            f"top-1 {row['train_top1']:.4f}  test top-1 {ev['top1']:.4f} (centre)  "
            f"lr {lr_used:.4g}  {row['epoch_time_s']:.1f} s ({row['images_per_s']:.0f} img/s)",
            flush=True)

    centre = evaluate_all(net, test)
    final = {"centre_top1": centre["top1"], "centre_top5": centre["top5"]}
    if args.ten_crop:
        t0 = time.time()
        ten = evaluate_all(net, test10, ten_crop=True)
        final.update(ten_crop_top1=ten["top1"], ten_crop_top5=ten["top5"],
                     ten_crop_time_s=round(time.time() - t0, 1))
    final["total_train_time_s"] = round(sum(h["epoch_time_s"] for h in history), 1)
    if rank == 0:
        write_json(os.path.join(run, "final.json"), final)
    msg = f"test centre crop: top-1 {final['centre_top1']:.4f} top-5 {final['centre_top5']:.4f}"
    if args.ten_crop:
        msg += (f" | ten-crop: top-1 {final['ten_crop_top1']:.4f} "
                f"top-5 {final['ten_crop_top5']:.4f}")
    say(msg)
    return 0


def _run():
    try:
        return main()
    except NonFiniteLoss as exc:
        sys.exit(f"error: {exc}")


if __name__ == "__main__":
    if "--distributed" in sys.argv[1:]:
        # one rank's error (or sys.exit) stops every rank instead of a hang
        with dist.abort_on_error():
            sys.exit(_run())
    sys.exit(_run())
