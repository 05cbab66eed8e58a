#!/usr/bin/env python
"""The paper's ablations at CIFAR scale, in one command.

    python examples/ablations.py --data ../shared/data/cifar10 --out runs/ablations

Each arm is the main job (examples/train_cifar.py, the same recipe and
code: data, augmentation, SGD, schedule, checkpoints, ten-crop test) with
one of the paper's design choices taken out:

    baseline     the main job as it is
    no_lrn       no local response normalization          (section 3.3)
    no_overlap   max-pooling 2x2 stride 2, not 3x3 stride 2 (3.4)
    one_gpu      the one-GPU net: half the kernels of conv1-conv4 (3.2)
    no_pca       no PCA colour noise                      (4.1)
    no_dropout   dropout 0 in place of 0.5                (4.2)
    tanh         tanh in place of ReLU                    (3.1)

Every arm and seed trains in its own run folder, ``OUT/<arm>-seed<k>``,
for the same ``--epochs``. The experiment is resumable: run the same
command again and finished runs (final.json) are skipped, a run stopped
half-way (Ctrl-C, a kill) continues from its checkpoint, and the rest
start. Then, unless ``--relu-tanh-epochs 0``, the paper's figure 1
(examples/relu_tanh.py) runs in ``OUT/relu_tanh``. At the end it writes
``OUT/ablations.md`` and ``OUT/ablations.json`` (per arm: centre-crop and
ten-crop top-1/top-5 error as the mean and min-max over seeds, the
difference from the baseline with its noise band, and the paper's reported
difference beside it) and ``OUT/ablations.png`` (test top-1 per epoch, one
line per arm; needs matplotlib).
"""

import argparse
import json
import math
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import minialex  # noqa: E402,F401  (before NumPy: OpenBLAS's thread timeout)
import numpy  # noqa: E402

import relu_tanh  # noqa: E402
import train_cifar  # noqa: E402
from minialex.training import HelpFormatter, NonFiniteLoss, RunError, write_json  # noqa: E402

#: arm -> (train_cifar options, section, what changes, the paper's top-1 / top-5
#: error difference against the full net (arm minus full net, in % points; a
#: string where the paper gives no number)
ARMS = {
    "baseline": ([], "", "the main job's recipe", None, None),
    "no_lrn": (["--no-lrn"], "3.3", "no LRN", 1.4, 1.2),
    "no_overlap": (["--pool", "2,2"], "3.4", "pooling 2x2/2, not 3x3/2", 0.4, 0.3),
    "one_gpu": (["--one-gpu"], "3.2", "one tower, half the kernels in conv1-4", 1.7, 1.2),
    "no_pca": (["--no-pca"], "4.1", "no PCA colour noise", "> +1", "n/a"),
    "no_dropout": (["--dropout", "0"], "4.2", "no dropout", "overfits", "n/a"),
    "tanh": (["--activation", "tanh"], "3.1", "tanh, not ReLU", "6x slower", "n/a"),
}
METRICS = ("centre_top1", "centre_top5", "ten_crop_top1", "ten_crop_top5")
# settings a resumed experiment must share with the one it continues
FIXED = ("data", "preset", "subset", "test_subset")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=HelpFormatter)
    p.add_argument("--data", default=None, help="CIFAR-10 folder (default $MINIALEX_DATA)")
    p.add_argument("--out", default="runs/ablations", help="experiment folder")
    p.add_argument("--arms", default=",".join(ARMS),
                   help="comma-separated arms, of: " + ", ".join(ARMS))
    p.add_argument("--epochs", type=int, default=15, help="epochs of every run (the same "
                   "for all arms; the main job's default)")
    p.add_argument("--seeds", type=int, default=2, help="seeds per arm (0, 1, ...)")
    p.add_argument("--baseline-seeds", type=int, default=None,
                   help="seeds of the baseline (default: --seeds + 1)")
    p.add_argument("--preset", default="small", choices=["small", "half", "paper"])
    p.add_argument("--subset", type=int, default=None, metavar="N",
                   help="train every arm on the same N training images")
    p.add_argument("--test-subset", type=int, default=None, metavar="N",
                   help="evaluate every arm on the same N test images")
    p.add_argument("--relu-tanh-epochs", type=int, default=60, metavar="E",
                   help="figure 1's run: at most E epochs per net (0: skip it)")
    p.add_argument("--relu-tanh-subset", type=int, default=None, metavar="N",
                   help="training images of figure 1's run (default: --subset)")
    p.add_argument("--relu-tanh-lr", type=float, default=0.02,
                   help="learning rate of both nets of figure 1's run")
    p.add_argument("--report-only", action="store_true",
                   help="train nothing: write the table and plot from the runs finished so "
                        "far (e.g. while the experiment runs)")
    p.add_argument("--progress", action="store_true", help="progress bars")
    p.add_argument("--stop-after-steps", type=int, default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    args.arms = [a.strip() for a in args.arms.split(",") if a.strip()]
    unknown = [a for a in args.arms if a not in ARMS]
    if unknown:
        p.error(f"unknown arm(s) {', '.join(unknown)}: choose from {', '.join(ARMS)}")
    if args.epochs < 1 or args.seeds < 1:
        p.error("--epochs and --seeds must be at least 1")
    if args.baseline_seeds is None:
        args.baseline_seeds = args.seeds + 1
    return args


def seeds_of(arm, args):
    return range(args.baseline_seeds if arm == "baseline" else args.seeds)


def check_experiment(args, log):
    """Write OUT/experiment.json, or check that a continued experiment has
    the same data settings (else its arms would not be comparable)."""
    path = os.path.join(args.out, "experiment.json")
    settings = {k: getattr(args, k) for k in FIXED}
    if os.path.exists(path):
        with open(path) as f:
            saved = json.load(f)
        diffs = [f"--{k.replace('_', '-')} {saved.get(k)} (saved) vs {settings[k]}"
                 for k in FIXED if saved.get(k) != settings[k]]
        if diffs:
            raise RunError(f"{args.out} holds an experiment with other settings: "
                           + "; ".join(diffs) + ". Use the saved ones, or another --out")
        log(f"continuing the experiment in {args.out}")
    os.makedirs(args.out, exist_ok=True)
    write_json(path, {**settings, "epochs": args.epochs})


def run_arm(arm, seed, args, log):
    """Train (or skip, or resume) one arm and seed; returns "done", "skipped",
    "diverged" or "stopped"."""
    name = f"{arm}-seed{seed}"
    folder = os.path.join(args.out, name)
    final = os.path.join(folder, "final.json")
    ckpt = os.path.join(folder, "checkpoint.npz")
    common = [] if args.progress else ["--no-progress"]
    if args.stop_after_steps:
        common += ["--stop-after-steps", str(args.stop_after_steps)]
    saved_epochs = None
    if os.path.exists(os.path.join(folder, "config.json")):
        with open(os.path.join(folder, "config.json")) as f:
            saved_epochs = json.load(f).get("epochs")
    if os.path.exists(final) and saved_epochs == args.epochs:
        log(f"skip {name}: finished ({final})")
        return "skipped"
    if os.path.exists(ckpt):
        if os.path.exists(final):          # a finished run extended to more epochs
            os.remove(final)
        log(f"resume {name} from {ckpt}", flush=True)
        argv = ["--resume", folder, "--epochs", str(args.epochs)] + common
    else:
        log(f"start {name}", flush=True)
        for stale in ("metrics.jsonl", "final.json"):
            if os.path.exists(os.path.join(folder, stale)):
                os.remove(os.path.join(folder, stale))
        argv = ["--preset", args.preset, "--epochs", str(args.epochs), "--seed", str(seed),
                "--out", folder] + common + ARMS[arm][0]
        if args.data:
            argv += ["--data", args.data]
        for opt, value in (("--subset", args.subset), ("--test-subset", args.test_subset)):
            if value:
                argv += [opt, str(value)]
    try:
        status = train_cifar.main(argv)
    except NonFiniteLoss as exc:
        log(f"{name} diverged: {exc}")
        return "diverged"
    return "stopped" if status else "done"


# ------------------------------------------------------------------ summary
def _read(folder, name):
    path = os.path.join(folder, name)
    if not os.path.exists(path):
        return None
    with open(path) as f:
        if name.endswith(".jsonl"):
            return [json.loads(line) for line in f if line.strip()]
        return json.load(f)


def _stats(values):
    v = numpy.asarray(values, dtype=float)
    return {"mean": float(v.mean()), "std": float(v.std(ddof=1)) if len(v) > 1 else 0.0,
            "min": float(v.min()), "max": float(v.max()), "values": [float(x) for x in v],
            "n": len(v)}


def collect(args):
    """Per arm: final errors (%) over its seeds, their stats, the curves."""
    arms = {}
    for arm in args.arms:
        finals, curves, gaps, times = [], [], [], []
        for seed in seeds_of(arm, args):
            folder = os.path.join(args.out, f"{arm}-seed{seed}")
            final, history = _read(folder, "final.json"), _read(folder, "metrics.jsonl") or []
            if final is None:
                continue
            finals.append(final)
            curves.append([h["test_top1"] for h in history])
            gaps.append(100 * (history[-1]["train_top1"] - history[-1]["test_top1"]))
            times.append(final.get("total_train_time_s", 0.0))
        if not finals:
            continue
        arms[arm] = {"seeds": len(finals), "train_time_s": _stats(times),
                     "train_minus_test_top1": _stats(gaps),
                     "curve_test_top1": numpy.mean(
                         [c for c in curves if len(c) == len(curves[0])], axis=0).tolist(),
                     **{m + "_err": _stats([100 * (1 - f[m]) for f in finals]) for m in METRICS}}
    base = arms.get("baseline")
    for arm, a in arms.items():
        _, section, what, p1, p5 = ARMS[arm]
        a.update(section=section, change=what, paper_delta_top1=p1, paper_delta_top5=p5)
        if base is None or arm == "baseline":
            continue
        for m in METRICS:
            x, b = a[m + "_err"], base[m + "_err"]
            # noise band: 2 standard errors of a difference of two means
            band = 2 * math.sqrt(x["std"] ** 2 / x["n"] + b["std"] ** 2 / b["n"])
            delta = x["mean"] - b["mean"]
            a[m + "_delta"] = {"delta": delta, "band": band, "beyond_noise": abs(delta) > band}
    return arms


def _cell(s):
    if s["n"] == 1:
        return f"{s['mean']:.1f}"
    return f"{s['mean']:.1f} ({s['min']:.1f}-{s['max']:.1f})"


def _delta(d):
    if d is None:
        return ""
    mark = "" if d["beyond_noise"] else " *"
    return f"{d['delta']:+.1f} ±{d['band']:.1f}{mark}"


def _paper(v):
    return "" if v is None else (f"+{v}" if isinstance(v, float) else v)


def write_table(args, arms, wall_s, rt):
    head = ("| arm | section | change | seeds | centre top-1 err | centre top-5 err"
            " | ten-crop top-1 err | ten-crop top-5 err | Δ top-1 centre | Δ top-1 ten-crop | Δ top-5 ten-crop"
            " | paper Δ top-1 / top-5 | train-test top-1 gap |")
    lines = [f"# Ablations at CIFAR-10 scale ({args.preset} preset)", "",
             f"{args.epochs} epochs per run, training images: {args.subset or 'all 50,000'}, "
             f"test images: {args.test_subset or 'all 10,000'}; seeds: baseline "
             f"{args.baseline_seeds}, other arms {args.seeds}. Errors in %, mean "
             "(min-max over seeds). Δ = arm minus baseline in % points (positive: the arm "
             "is worse, i.e. the paper's feature helps), ± two standard errors of the "
             "difference; * = within that seed-to-seed noise.", "", head,
             "|" + "---|" * (head.count("|") - 1)]
    for arm, a in arms.items():
        row = [arm, a["section"], a["change"], str(a["seeds"])]
        row += [_cell(a[m + "_err"]) for m in METRICS]
        row += [_delta(a.get(m + "_delta")) for m in ("centre_top1", "ten_crop_top1",
                                                      "ten_crop_top5")]
        paper = "" if arm == "baseline" else \
            f"{_paper(a['paper_delta_top1'])} / {_paper(a['paper_delta_top5'])}"
        row += [paper, f"{a['train_minus_test_top1']['mean']:+.1f}"]
        lines.append("| " + " | ".join(row) + " |")
    train_s = sum(sum(a["train_time_s"]["values"]) for a in arms.values())
    lines += ["", f"Training time summed over the {sum(a['seeds'] for a in arms.values())} runs "
              f"(epochs, without loading and the final tests): {train_s / 60:.1f} min"
              + ("." if args.report_only else
                 f"; wall time of this call (all of it, skipped runs cost nothing): "
                 f"{wall_s / 60:.1f} min.")]
    if rt:
        lines += ["", "## ReLU against tanh (section 3.1, figure 1)", "",
                  relu_tanh.summary(rt) + "."]
    with open(os.path.join(args.out, "ablations.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    write_json(os.path.join(args.out, "ablations.json"),
               {"epochs": args.epochs, "subset": args.subset, "test_subset": args.test_subset,
                "preset": args.preset, "wall_time_s": round(wall_s, 1), "arms": arms,
                "relu_tanh": rt})
    return "\n".join(lines)


def plot(args, arms):
    """ablations.png: test top-1 (centre crop) per epoch, mean over seeds."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib is not installed (pip install 'minialex[plot]')"
    fig, ax = plt.subplots(figsize=(6, 4))
    for arm, a in arms.items():
        c = a["curve_test_top1"]
        ax.plot(range(1, len(c) + 1), c, marker=".", label=arm,
                lw=2.5 if arm == "baseline" else 1.2, color="black" if arm == "baseline" else None)
    ax.set_xlabel("epoch"), ax.set_ylabel("test top-1 (centre crop)")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.set_title(f"ablations, mean over seeds ({args.preset} preset)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(os.path.join(args.out, "ablations.png"), dpi=80)
    plt.close(fig)
    return None


def main(argv=None):
    args = parse_args(argv)
    log = print
    t0 = time.time()
    if args.report_only:
        if not os.path.isfile(os.path.join(args.out, "experiment.json")):
            sys.exit(f"error: {args.out} holds no experiment (no experiment.json): give the "
                     "--out of a run of examples/ablations.py")
        return report(args, log, t0, _read(os.path.join(args.out, "relu_tanh"),
                                           "relu_tanh.json"))
    try:
        check_experiment(args, log)
        for arm in args.arms:
            for seed in seeds_of(arm, args):
                if run_arm(arm, seed, args, log) == "stopped":
                    log(f"stopped; run the same command again to continue ({args.out})")
                    return 130
        rt = None
        if args.relu_tanh_epochs:
            rt_args = relu_tanh.parse_args(
                ["--out", os.path.join(args.out, "relu_tanh"),
                 "--max-epochs", str(args.relu_tanh_epochs), "--lr", str(args.relu_tanh_lr)]
                + (["--data", args.data] if args.data else [])
                + (["--progress"] if args.progress else [])
                + (["--subset", str(args.relu_tanh_subset or args.subset)]
                   if (args.relu_tanh_subset or args.subset) else []))
            rt = relu_tanh.run(rt_args, log)
    except RunError as exc:
        sys.exit(f"error: {exc}")
    except KeyboardInterrupt:
        log(f"stopped; run the same command again to continue ({args.out})")
        return 130
    return report(args, log, t0, rt)


def report(args, log, t0, rt):
    """Write ablations.md, ablations.json and ablations.png; returns 0."""
    arms = collect(args)
    log(write_table(args, arms, time.time() - t0, rt))
    skipped = plot(args, arms)
    if skipped:
        log(f"ablations.png skipped: {skipped}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
