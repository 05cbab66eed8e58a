#!/usr/bin/env python
"""ReLU against tanh as the paper ran it (section 3.1, figure 1).

    python examples/relu_tanh.py --data ../shared/data/cifar10 --out runs/relu_tanh

A four-layer CNN on CIFAR-10 (:class:`minialex.models.ConvNet4`: three 5x5
convolutional layers and one fully connected layer; the layers are our
assumption, see its docstring), trained twice, once with ReLU and once with
tanh, at the SAME learning rate, init, seed, batch order and data. "No
regularization of any kind": no weight decay, no dropout, no augmentation
(the whole 32x32 image, mean-subtracted and divided by the channel std).
The training error is the running error over each epoch (the weights change
during it), as cuda-convnet reported it. Each net trains until its training
error first reaches 25% (or ``--max-epochs``); the result is the epochs and
seconds to that point and their ratio tanh / ReLU, against the paper's 6x.
(The paper chose each net's learning rate "independently to make training
as fast as possible"; here one rate serves both, as the issue asks.)

Writes, under --out: ``relu/`` and ``tanh/`` run folders (resumable: a
second call continues where one stopped), ``relu_tanh.json`` and
``relu_tanh.png`` (training error against epochs, both curves, the 25% line:
the paper's figure 1).
"""

import argparse
import json
import os
import sys

import minialex  # noqa: F401  (before NumPy: OpenBLAS's thread timeout)
import numpy

from minialex import data as D
from minialex.models import convnet4
from minialex.optim import SGD, MultiStepLR
from minialex.training import RunFolder, RunError, TrainState, fit, write_json

TARGET = 0.25          # the paper's training error
PAPER_RATIO = 6.0      # "six times faster"
# settings a resumed net must share with the run it continues
FIXED = ("data", "subset", "test_subset", "lr", "momentum", "batch_size", "seed")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--data", default=None, help="CIFAR-10 folder (default $MINIALEX_DATA)")
    p.add_argument("--out", required=True, help="experiment folder")
    p.add_argument("--max-epochs", type=int, default=60, help="stop a net here if it has not "
                   "reached 25%% training error")
    p.add_argument("--subset", type=int, default=None, metavar="N",
                   help="train on N training images (a fixed random sample)")
    p.add_argument("--test-subset", type=int, default=500, metavar="N",
                   help="test images evaluated after each epoch (not used by the criterion)")
    p.add_argument("--lr", type=float, default=0.02, help="learning rate, both nets")
    p.add_argument("--momentum", type=float, default=0.9)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--progress", action="store_true", help="progress bars")
    args = p.parse_args(argv)
    if args.max_epochs < 1:
        p.error(f"--max-epochs must be at least 1, got {args.max_epochs}")
    return args


def _sample(x, y, n):
    if not n or n >= len(x):
        return x, y
    keep = numpy.sort(numpy.random.default_rng(0).permutation(len(x))[:n])
    return x[keep], y[keep]


def build_data(args):
    """Training and test loaders: whole images, normalized, no augmentation."""
    x_train, y_train, x_test, y_test, _ = D.load_cifar10(args.data, download=args.data is None)
    x_train, y_train = _sample(x_train, y_train, args.subset)
    x_test, y_test = _sample(x_test, y_test, args.test_subset)
    mean, std = D.channel_mean(x_train), D.channel_std(x_train)
    steps = D.Compose([D.to_float32(), D.normalize(mean, std), D.to_nchw_float32()])
    train = D.DataLoader(x_train, y_train, batch_size=args.batch_size, shuffle=True,
                         seed=args.seed, drop_last=True, transform=steps)
    test = D.DataLoader(x_test, y_test, batch_size=500, shuffle=False, transform=steps)
    return train, test


def first_reach(history, target=TARGET):
    """(epoch, seconds) when the training error first is <= target, else (None, None)."""
    seconds = 0.0
    for row in history:
        seconds += row["train_time_s"]
        if 1.0 - row["train_top1"] <= target:
            return row["epoch"], round(seconds, 1)
    return None, None


def train_one(activation, args, train, test, log=print):
    """Train (or resume) one net until 25% training error or --max-epochs;
    returns its metrics history."""
    folder = RunFolder(os.path.join(args.out, activation))
    os.makedirs(folder.path, exist_ok=True)
    minialex.manual_seed(args.seed)
    model = convnet4(activation)
    opt = SGD(model.parameters(), lr=args.lr, momentum=args.momentum, weight_decay=0.0)
    sched = MultiStepLR(opt, milestones=[])          # constant learning rate
    state = TrainState()
    if os.path.exists(folder.checkpoint):
        with open(folder.config) as f:
            saved = json.load(f)
        diffs = [f"--{k.replace('_', '-')} {saved.get(k)} (saved) vs {getattr(args, k)}"
                 for k in FIXED if saved.get(k) != getattr(args, k)]
        if diffs:
            raise RunError(f"{folder.path} holds a run with other settings: " + "; ".join(diffs)
                           + ". Use the saved ones, or another --out")
        loaded = folder.load(model, opt, sched)
        history = loaded["extra"].get("history", [])
        folder.rewrite_metrics(history)
        state = TrainState(loaded["epoch"], loaded["step"], history,
                           loaded["extra"].get("partial", {}))
        log(f"{activation}: resumed {folder.path} at epoch {state.epoch + 1}")
    else:
        folder.write_config({"activation": activation, **{k: v for k, v in vars(args).items()
                                                          if k != "progress"}})
    while first_reach(state.history)[0] is None and state.epoch < args.max_epochs:
        status = fit(model, model, opt, sched, train, test, folder, epochs=state.epoch + 1,
                     state=state, checkpoint_every=0, progress=args.progress,
                     log=lambda *a, **k: None)
        if status:
            raise KeyboardInterrupt
        row = state.history[-1]
        log(f"{activation}: epoch {row['epoch']:3d}  training error {1 - row['train_top1']:.4f}"
            f"  test error {1 - row['test_top1']:.4f}  {row['train_time_s']:.1f} s", flush=True)
    return state.history


def plot(path, histories):
    """Figure 1: training error against epochs, one curve per net."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib is not installed (pip install 'minialex[plot]')"
    fig, ax = plt.subplots(figsize=(5.5, 4))
    for act, style in (("relu", "-"), ("tanh", "--")):
        h = histories[act]
        ax.plot([r["epoch"] for r in h], [1 - r["train_top1"] for r in h], style, marker=".",
                color="black", label={"relu": "ReLU", "tanh": "tanh"}[act])
    ax.axhline(TARGET, color="grey", lw=0.8)
    ax.set_xlabel("epochs"), ax.set_ylabel("training error rate"), ax.set_ylim(0, 0.9)
    ax.set_title("four-layer CNN on CIFAR-10 (paper fig. 1)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return None


def run(args, log=print):
    """Both nets, then ``relu_tanh.json`` and ``relu_tanh.png``; returns the result dict."""
    os.makedirs(args.out, exist_ok=True)
    train, test = build_data(args)
    histories = {act: train_one(act, args, train, test, log) for act in ("relu", "tanh")}
    result = {"target_train_error": TARGET, "lr": args.lr, "subset": args.subset,
              "train_images": len(train.x), "max_epochs": args.max_epochs,
              "paper_ratio": PAPER_RATIO}
    for act, h in histories.items():
        epoch, seconds = first_reach(h)
        result[act] = {"epochs_to_target": epoch, "seconds_to_target": seconds,
                       "epochs_run": len(h),
                       "train_error": [round(1 - r["train_top1"], 4) for r in h],
                       "test_error": [round(1 - r["test_top1"], 4) for r in h]}
    r, t = result["relu"], result["tanh"]
    result["ratio_epochs"] = (t["epochs_to_target"] / r["epochs_to_target"]
                              if r["epochs_to_target"] and t["epochs_to_target"] else None)
    result["ratio_seconds"] = (t["seconds_to_target"] / r["seconds_to_target"]
                               if r["seconds_to_target"] and t["seconds_to_target"] else None)
    write_json(os.path.join(args.out, "relu_tanh.json"), result)
    skipped = plot(os.path.join(args.out, "relu_tanh.png"), histories)
    if skipped:
        log(f"relu_tanh.png skipped: {skipped}")
    log(summary(result))
    return result


def summary(result):
    """One paragraph: epochs and seconds to 25% training error, and the ratio."""
    parts = []
    for act in ("relu", "tanh"):
        r = result[act]
        parts.append(f"{act}: 25% training error after {r['epochs_to_target']} epochs "
                     f"({r['seconds_to_target']} s)" if r["epochs_to_target"] else
                     f"{act}: not reached in {r['epochs_run']} epochs "
                     f"(last {r['train_error'][-1]:.3f})")
    ratio = result["ratio_epochs"]
    ratio = (f"tanh/ReLU = {ratio:.2f}x in epochs, {result['ratio_seconds']:.2f}x in seconds"
             if ratio else "ratio: not measured (a net did not reach 25%)")
    return "; ".join(parts) + f"; {ratio} (paper: {PAPER_RATIO:g}x)"


def main(argv=None):
    args = parse_args(argv)
    try:
        run(args)
    except RunError as exc:
        sys.exit(f"error: {exc}")
    except KeyboardInterrupt:
        print(f"stopped; run the same command again to continue ({args.out})")
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
