#!/usr/bin/env python
"""Train AlexNet on real CIFAR-10 with minialex: the main job.

    python examples/train_cifar.py                 # downloads CIFAR-10 (170 MB) once
    python examples/train_cifar.py --data FOLDER   # a copy of your own

The paper's recipe (sections 4 and 5), adapted to 32x32 images as in
docs/paper.md: random 28x28 crops with horizontal flips and PCA colour
noise, mean subtraction, SGD with momentum 0.9 and weight decay 5e-4 (the
paper's update rule), dropout 0.5 on fc6 and fc7, and at the end the
paper's ten-crop test (four corners + centre and their mirrors, softmax
outputs averaged) beside the plain centre crop.

Data parallel on several processes or machines (MPI; README, "More than
one process"): ``mpiexec -n 2 python examples/train_cifar.py --distributed``
trains with ``--batch-size`` as the global batch, each rank on its share.

Everything the run produces goes in its run folder (--out): config.json,
metrics.jsonl (one line per epoch), checkpoint.npz (written atomically
every --checkpoint-every steps, after every epoch and on Ctrl-C), curves.png (with matplotlib) and
final.json. ``--resume RUN_FOLDER`` continues exactly where it stopped.
"""

import argparse
import os
import sys

import minialex  # noqa: F401  (before NumPy: README, "Threads")
import numpy

from minialex import data as D
from minialex.data.image_folder import cache_path
from minialex import distributed as dist
from minialex.models import alexnet_cifar
from minialex.training import (Data, HelpFormatter, add_run_options, add_sgd_options,
                               command_line, parse_training_args, run)


EPILOG = """\
time: the default run (preset small, 15 epochs) took 32 min on a 2-core AMD EPYC Zen 3
(AVX2) and 11.7 min on a 2-core Zen 5 (AVX-512); after its first 10 steps the program
prints its own estimate for this machine.

environment:
  MINIALEX_DATA         where CIFAR-10 is looked for, and downloaded to, without --data
                        (default ~/.cache/minialex)
  MINIALEX_CACHE        where the decoded arrays of image folders are cached, 185 MB
                        for CIFAR-10's JPEGs, also with --data (default ~/.cache/minialex;
                        the first run prints the file; delete it to free the space)
  MINIALEX_NUM_THREADS  threads for minialex's own passes (README, "Threads")

the paper's facts and this net's layers: docs/paper.md"""


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=EPILOG,
                                formatter_class=HelpFormatter)
    p.add_argument("--data", default=None,
                   help="CIFAR-10 folder (binary, python or image-folder layout, or a folder "
                        "holding cifar10/); default $MINIALEX_DATA, else ~/.cache/minialex "
                        "(downloaded there, MD5-checked, if missing; an explicit --data "
                        "folder is never downloaded into). The first line printed names "
                        "the folder used")
    p.add_argument("--preset", default="small", choices=["small", "half", "paper"],
                   help="channel widths (docs/paper.md); small fits a 2-core CPU")
    add_sgd_options(p, lr=0.02, epochs_help=(
        "number of epochs (default 15; see 'time' below; with "
        "--resume: the saved run's, or this many to extend it, the lr cuts "
        "staying where the saved run put them)"))
    p.add_argument("--init", default="kaiming", choices=["kaiming", "kaiming_in", "paper"],
                   help="weights: kaiming (He normal, fan-out for convolutions), kaiming_in "
                        "(fan-in everywhere) or paper (N(0, 0.01^2); stays at chance on "
                        "this net, docs/paper.md)")
    add_run_options(p)
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
    p.add_argument("--subset", type=int, default=None, metavar="N",
                   help="train on N training images only, a fixed random sample (quick runs)")
    p.add_argument("--test-subset", type=int, default=None, metavar="N",
                   help="evaluate on N test images only, a fixed random sample (quick runs)")
    args = parse_training_args(p, argv)
    if not 0.0 <= args.dropout < 1.0:
        p.error(f"--dropout must be in [0, 1), got {args.dropout}")
    if args.one_gpu and args.towers == 2:
        p.error("--one-gpu is a one-tower net: drop --towers 2")
    return args


# ------------------------------------------------------------------ data
def where_data(data):
    """The folder CIFAR-10 will be read from, as one line for the user
    (the first the program prints), and the decoded-array caches that a
    load would newly write."""
    root = D.default_data_root() if data is None else os.path.expanduser(data)
    found = D.find_cifar10(root)
    if found is None:
        if data is not None:
            return f"data: nothing found in {root}", []
        return (f"data: none in {root} yet: downloading CIFAR-10 from {D.CIFAR10_URL} "
                f"({D.CIFAR10_SIZE / 1e6:.0f} MB, MD5-checked) into it (set MINIALEX_DATA "
                "or --data to use another folder)"), []
    kind, folder = found
    layout = {"binary": "official binary release", "python": "official python release",
              "folder": "image folders train/ and test/"}[kind]
    new = []
    if kind == "folder":
        new = [c for c in (cache_path(folder, s, None) for s in ("train", "test"))
               if not c.exists()]
    return f"data: {folder} ({layout})", new


def build_data(args, rank=0, world=1, log=print):
    """The three loaders; with ``world`` > 1 each yields this rank's share
    of every global batch (the same samples and augmentations as one
    process, split N ways). Rank 0 loads (and downloads or caches) first,
    the others then read its cache, so the data set is decoded once.
    ``log`` (rank 0's print) is told which folder is used and where a new
    decoded-array cache went."""
    # an explicit --data folder must already hold the data; the default
    # location ($MINIALEX_DATA or the cache) is filled by downloading
    if rank != 0:
        dist.barrier()             # wait for rank 0's download / decode cache
    try:
        line, new_caches = where_data(args.data)
        log(line, flush=True)
        x_train, y_train, x_test, y_test, classes = D.load_cifar10(
            args.data, download=args.data is None, progress=not args.no_progress)
        written = [c for c in new_caches if c.exists()]
        if written:
            log(f"cached the decoded images in {written[0].parent} "
                f"({sum(c.stat().st_size for c in written) / 1e6:.0f} MB: "
                + ", ".join(c.name for c in written) + "; later runs read them in a second; "
                "MINIALEX_CACHE puts them elsewhere)", flush=True)
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
    return Data(train, test, test10, classes, stats)


def load_data(args, rank, world):
    try:
        return build_data(args, rank, world, log=print if rank == 0 else lambda *a, **k: None)
    except D.DownloadError as exc:
        root = D.default_data_root()
        sys.exit(f"error: {str(exc).splitlines()[0]}\nCIFAR-10 could not be downloaded into "
                 f"{root}. If this machine cannot reach {D.CIFAR10_URL}, download it on one "
                 f"that can and unpack it here (tar xzf cifar-10-binary.tar.gz -C {root}), or "
                 "pass --data <folder holding CIFAR-10> (binary, python or image-folder "
                 "layout).")
    except FileNotFoundError as exc:
        sys.exit(f"error: {exc}\nFrom this script: pass --data <folder holding CIFAR-10> "
                 "(binary, python or image-folder layout), or leave --data out to use "
                 "$MINIALEX_DATA, else download into ~/.cache/minialex.")


def model_switches(args):
    """The ablation switches of ``alexnet_cifar`` from the options (a run
    saved before they existed has the defaults)."""
    get = lambda k, d: getattr(args, k, d)  # noqa: E731
    return dict(dropout=get("dropout", 0.5), lrn=get("lrn", True),
                pool=tuple(int(v) for v in get("pool", "3,2").split(",")),
                activation=get("activation", "relu"), one_gpu=get("one_gpu", False))


def build_model(args, classes, devices):
    if getattr(args, "one_gpu", False):
        args.towers = 1          # the one-GPU comparison net is one tower
    return alexnet_cifar(args.preset, num_classes=len(classes), towers=args.towers,
                         devices=devices if args.towers == 2 else devices[0], init=args.init,
                         **model_switches(args))


# ------------------------------------------------------------------ main
def main(argv=None):
    args = parse_args(argv)
    return run(args, load_data, build_model, default_epochs=15,
               name=lambda a: f"AlexNet-CIFAR preset={a.preset}")


if __name__ == "__main__":
    command_line(main)
