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
import os
import sys

import minialex  # before NumPy: it sets OpenBLAS's thread timeout (README, "Threads")
import numpy

from minialex import data as D
from minialex import distributed as dist
from minialex.training import (RunFolder, RunError, TrainState, NonFiniteLoss, fit,
                               final_test, new_run_folder, write_json)
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
    # the paper's ablation switches (examples/ablations.py; README, "Reproducing the paper")
    p.add_argument("--lrn", action=argparse.BooleanOptionalAction, default=True,
                   help="local response normalization after conv1 and conv2 (section 3.3)")
    p.add_argument("--pool", default="3,2", choices=["3,2", "2,2"],
                   help="max-pooling kernel,stride: 3,2 overlapping (3.4) or 2,2 not")
    p.add_argument("--activation", default="relu", choices=["relu", "tanh"],
                   help="nonlinearity after every conv and hidden fc layer (3.1)")
    p.add_argument("--dropout", type=float, default=0.5,
                   help="drop probability after fc6 and fc7 (4.2); 0 turns dropout off")
    p.add_argument("--one-gpu", action="store_true",
                   help="the paper's one-GPU comparison net (3.2): half the kernels of "
                        "conv1-conv4, one tower, no grouped convolutions (needs --towers 1)")
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
    p.add_argument("--checkpoint-every", type=int, default=100, metavar="STEPS",
                   help="also save a checkpoint every STEPS training steps inside an epoch "
                        "(atomic; a killed run loses at most these steps; 0: only at the end "
                        "of each epoch and on Ctrl-C)")
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
    if not 0.0 <= args.dropout < 1.0:
        p.error(f"--dropout must be in [0, 1), got {args.dropout}")
    if args.one_gpu and args.towers == 2:
        p.error("--one-gpu is a one-tower net: drop --towers 2")
    if args.epochs is not None and args.epochs < 1:
        p.error(f"--epochs must be at least 1, got {args.epochs}")
    if args.checkpoint_every < 0:
        p.error(f"--checkpoint-every must be >= 0, got {args.checkpoint_every}")
    if args.resume:
        # which options were typed: parse again with every default hidden
        typed = vars(p.parse_args(argv, argparse.Namespace(**{
            a.dest: argparse.SUPPRESS for a in p._actions if a.dest != "help"})))
        ignored = sorted(k for k, v in typed.items()
                         if v is not argparse.SUPPRESS and k not in RESUME_FLAGS)
        if ignored:
            p.error("--resume continues the saved run with its own settings, so these options "
                    "would be ignored: " + ", ".join("--" + k.replace("_", "-") for k in ignored)
                    + ". Drop them, or start a new run with them (--epochs may extend a run)")
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
    stats = {"mean": [float(v) for v in numpy.ravel(mean)],
             "std": None if std is None else [float(v) for v in numpy.ravel(std)]}
    return train, test, test10, classes, stats


# settings that belong to this invocation, not to the run (never saved)
RUNTIME_KEYS = ("resume", "no_progress", "stop_after_steps", "distributed", "bucket_mb",
                "no_overlap", "checkpoint_every")
# what may be given with --resume (the rest is the saved run's)
RESUME_FLAGS = RUNTIME_KEYS + ("epochs",)


def model_switches(args):
    """The ablation switches of ``alexnet_cifar`` from the options (a run
    saved before they existed has the defaults)."""
    get = lambda k, d: getattr(args, k, d)  # noqa: E731
    return dict(dropout=get("dropout", 0.5), lrn=get("lrn", True),
                pool=tuple(int(v) for v in get("pool", "3,2").split(",")),
                activation=get("activation", "relu"), one_gpu=get("one_gpu", False))


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
        saved = dist.broadcast_object(
            RunFolder(resume).read_config(args.epochs) if rank == 0 else None)
        args = argparse.Namespace(**{**saved, **{k: getattr(args, k) for k in RUNTIME_KEYS},
                                     "out": resume, "epochs": args.epochs or saved["epochs"]})
    args.epochs = args.epochs or 15
    devices = [d.strip() for d in args.devices.split(",") if d.strip()]
    if world > 1 and any(d.startswith("cuda") for d in devices):
        # one GPU per rank: the rank's local index picks it
        devices = [f"cuda:{dist.local_rank()}"]
    towers = args.towers or (2 if len(devices) == 2 and not getattr(args, "one_gpu", False)
                             else 1)
    args.towers = towers

    minialex.manual_seed(args.seed)
    try:                      # before the run folder exists: a failed start leaves nothing
        train, test, test10, classes, stats = build_data(args, rank, world)
    except FileNotFoundError as exc:
        sys.exit(f"error: {exc}\nFrom this script: pass --data <folder holding CIFAR-10> "
                 "(binary, python or image-folder layout), or leave --data out to use "
                 "$MINIALEX_DATA, else download into ~/.cache/minialex.")
    path = None
    if rank == 0:
        path = args.out or new_run_folder()
        os.makedirs(path, exist_ok=True)
    folder = RunFolder(dist.broadcast_object(path))
    if rank == 0:
        if not resume:
            folder.write_config({**{k: v for k, v in vars(args).items()
                                    if k not in RUNTIME_KEYS},
                                 "classes": list(classes), **stats})
        elif args.epochs != saved["epochs"]:    # extended: a later --resume runs to the new end
            folder.write_config({**saved, "epochs": args.epochs})
    model = alexnet_cifar(args.preset, num_classes=len(classes), towers=towers,
                          devices=devices if towers == 2 else devices[0], init=args.init,
                          **model_switches(args))
    opt = SGD(model.parameters(), lr=args.lr, momentum=args.momentum,
              weight_decay=args.weight_decay)
    if args.schedule == "plateau":
        sched = ReduceLROnPlateau(opt, mode="max", factor=0.1, patience=args.patience)
    else:
        sched = MultiStepLR(opt, milestones=[max(1, round(args.epochs * 2 / 3)),
                                             max(1, round(args.epochs * 7 / 8))], gamma=0.1)
    state = TrainState()
    if resume:
        loaded = None
        if rank == 0:
            loaded = folder.load(model, opt, sched)
            loaded = {**loaded, "sched": sched.state_dict()}
            folder.rewrite_metrics(loaded["extra"].get("history", []))
        if world > 1:          # rank 0 read the files; the others get its state
            loaded = dist.broadcast_object(loaded)
            dist.broadcast_parameters(model)
            dist.broadcast_optimizer_state(opt)
            sched.load_state_dict(loaded["sched"])
        state = TrainState(loaded["epoch"], loaded["step"], loaded["extra"].get("history", []),
                           loaded["extra"].get("partial", {}))
        say(f"resumed {folder.path} at epoch {state.epoch + 1}, step {state.step}")
    net = model
    if world > 1:
        # each rank draws its own dropout masks
        minialex.manual_seed([args.seed, 1 + rank, state.epoch, state.step])
        net = dist.DistributedDataParallel(model, bucket_cap_mb=args.bucket_mb,
                                           overlap=not args.no_overlap, broadcast=not resume)
    say(f"minialex AlexNet-CIFAR preset={args.preset} towers={towers} devices={devices} "
        f"params={model.num_parameters():,} train images={len(train.x)} "
        f"test images={len(test.x)} run={folder.path}"
        + (f" ranks={world} (batch {args.batch_size // world} each, gradients via "
           f"{net.backend})" if world > 1 else ""))

    status = fit(net, model, opt, sched, train, test, folder, epochs=args.epochs, state=state,
                 checkpoint_every=args.checkpoint_every, stop_after_steps=args.stop_after_steps,
                 progress=not args.no_progress, log=say)
    if status:
        return status
    final = final_test(net, test, test10 if args.ten_crop else None)
    final["total_train_time_s"] = round(sum(h["epoch_time_s"] for h in state.history), 1)
    if rank == 0:
        write_json(folder.final, final)
    msg = f"test centre crop: top-1 {final['centre_top1']:.4f} top-5 {final['centre_top5']:.4f}"
    if args.ten_crop:
        msg += (f" | ten-crop: top-1 {final['ten_crop_top1']:.4f} "
                f"top-5 {final['ten_crop_top5']:.4f}")
    say(msg)
    return 0


def _run():
    try:
        return main()
    except (NonFiniteLoss, RunError) as exc:
        sys.exit(f"error: {exc}")


if __name__ == "__main__":
    if "--distributed" in sys.argv[1:]:
        # one rank's error (or sys.exit) stops every rank instead of a hang
        with dist.abort_on_error():
            sys.exit(_run())
    sys.exit(_run())
