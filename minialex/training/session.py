"""One training run of a command line, from its parsed options to final.json.

Every training program (``examples/train_cifar.py``,
``examples/train_imagenet.py``) is its options plus two functions handed
to :func:`run`: one that loads the data, one that builds the model. The
rest is here, the same for all: MPI set-up (``--distributed``), reading
a resumed run's settings, seeding, claiming the run folder and writing
config.json, SGD and its schedule, loading the checkpoint (and sharing
it with the other ranks), DistributedDataParallel, the epoch loop
(:func:`~minialex.training.fit`), the final centre-crop and ten-crop
test, and final.json.
"""

import argparse
import os
import sys
from dataclasses import dataclass, field

from .. import distributed as dist
from ..optim import SGD, ReduceLROnPlateau, MultiStepLR
from ..random import manual_seed
from .cli import RUNTIME_KEYS
from .loop import NonFiniteLoss, TrainState, fit, final_test
from .run_folder import RunError, RunFolder, new_run_folder, write_json

__all__ = ["Data", "run", "command_line", "make_optimizer"]


@dataclass
class Data:
    """What a program's data function returns: the three DataLoaders (this
    rank's shares: training, centre-crop test, ten-crop test), the class
    names in label order, and ``config``, entries config.json keeps beside
    the options (e.g. "mean", "std", "image_size": what examples/predict.py
    needs to preprocess images as the run did)."""
    train: object
    test: object
    test10: object
    classes: list
    config: dict = field(default_factory=dict)


def lr_milestones(epochs):
    """Epochs after which the step schedule divides the lr by 10: after 2/3
    and 7/8 of the run (15 epochs: after 10 and 13). Runs of fewer than 4
    epochs keep the lr constant (a cut after epoch 1 of 2 would slow a
    quick run to a crawl)."""
    if epochs < 4:
        return []
    return sorted({round(epochs * 2 / 3), round(epochs * 7 / 8)})


def make_optimizer(model, args):
    """SGD with the paper's update (momentum, weight decay) and the
    ``--schedule``: ReduceLROnPlateau on test top-1 (factor 0.1,
    ``--patience``) or lr/10 at :func:`lr_milestones`."""
    opt = SGD(model.parameters(), lr=args.lr, momentum=args.momentum,
              weight_decay=args.weight_decay)
    if args.schedule == "plateau":
        sched = ReduceLROnPlateau(opt, mode="max", factor=0.1, patience=args.patience)
    else:
        sched = MultiStepLR(opt, milestones=lr_milestones(args.epochs), gamma=0.1)
    return opt, sched


def _devices(args, world):
    devices = [d.strip() for d in args.devices.split(",") if d.strip()]
    if world > 1 and any(d.startswith("cuda") for d in devices):
        devices = [f"cuda:{dist.local_rank()}"]     # one GPU per rank: its local index
    return devices


def run(args, load_data, build_model, *, default_epochs, name):
    """Train as ``args`` (from :func:`~minialex.training.cli.parse_training_args`) say.

    Args:
        load_data: ``(args, rank, world) -> Data``. It may exit with a
            one-line message (nothing is written before it returns).
        build_model: ``(args, classes, devices) -> model``; ``args.towers``
            is set (``--towers``, else 2 for two devices, else 1).
        default_epochs: epochs of a new run without ``--epochs``.
        name: ``args -> str``, what the first printed line calls the model
            (given the resumed run's settings when resuming).

    Returns the exit status: 0 done, 130 stopped by Ctrl-C (saved).
    Raises NonFiniteLoss, RunError (see :func:`command_line`).
    """
    rank, world = dist.init() if args.distributed else (0, 1)
    if world > 1:
        dist.share_cpu_threads()     # N ranks on one machine: each its share of the cores
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
    args.epochs = args.epochs or default_epochs
    devices = _devices(args, world)
    # two devices mean two towers, except for a net that has one (--one-gpu)
    args.towers = args.towers or (2 if len(devices) == 2 and not getattr(args, "one_gpu", False)
                                  else 1)

    manual_seed(args.seed)
    data = load_data(args, rank, world)      # before the run folder: a failed start leaves nothing
    path = None
    if rank == 0:
        path = args.out or new_run_folder()
        os.makedirs(path, exist_ok=True)
    folder = RunFolder(dist.broadcast_object(path))
    if rank == 0:
        if not resume:
            folder.write_config({**{k: v for k, v in vars(args).items()
                                    if k not in RUNTIME_KEYS},
                                 "classes": list(data.classes), **data.config})
        elif args.epochs != saved["epochs"]:    # extended: a later --resume runs to the new end
            folder.write_config({**saved, "epochs": args.epochs})
    model = build_model(args, data.classes, devices)
    opt, sched = make_optimizer(model, args)
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
        manual_seed([args.seed, 1 + rank, state.epoch, state.step])
        net = dist.DistributedDataParallel(model, bucket_cap_mb=args.bucket_mb,
                                           overlap=not args.no_overlap, broadcast=not resume)
    say(f"minialex {name(args)} towers={args.towers} devices={devices} "
        f"params={model.num_parameters():,} train images={len(data.train.x)} "
        f"test images={len(data.test.x)} run={folder.path}"
        + (f" ranks={world} (batch {args.batch_size // world} each, gradients via "
           f"{net.backend})" if world > 1 else ""))

    status = fit(net, model, opt, sched, data.train, data.test, folder, epochs=args.epochs,
                 state=state, checkpoint_every=args.checkpoint_every,
                 stop_after_steps=args.stop_after_steps, progress=not args.no_progress, log=say)
    if status:
        return status
    final = final_test(net, data.test, data.test10 if args.ten_crop else None,
                       progress=not args.no_progress)
    # what each figure measures: training steps only; the per-epoch test
    # passes; everything (epochs with their tests and checkpoints, the final test)
    final["total_train_time_s"] = round(sum(h["train_time_s"] for h in state.history), 1)
    final["total_epoch_test_time_s"] = round(sum(h.get("test_time_s", 0.0)
                                                 for h in state.history), 1)
    final["total_time_s"] = round(sum(h["epoch_time_s"] for h in state.history)
                                  + final["centre_time_s"] + final.get("ten_crop_time_s", 0), 1)
    if rank == 0:
        write_json(folder.final, final)
    msg = f"test centre crop: top-1 {final['centre_top1']:.4f} top-5 {final['centre_top5']:.4f}"
    if args.ten_crop:
        msg += (f" | ten-crop: top-1 {final['ten_crop_top1']:.4f} "
                f"top-5 {final['ten_crop_top5']:.4f}")
    say(msg)
    return 0


def command_line(main, argv=None):
    """Run ``main()`` as a program: NonFiniteLoss and RunError become one
    ``error: ...`` line (exit status 1); with --distributed, one rank's
    error (or sys.exit) stops every rank instead of a hang."""
    def _run():
        try:
            return main()
        except (NonFiniteLoss, RunError) as exc:
            sys.exit(f"error: {exc}")

    argv = sys.argv[1:] if argv is None else argv
    if "--distributed" in argv:
        with dist.abort_on_error():
            sys.exit(_run())
    sys.exit(_run())
