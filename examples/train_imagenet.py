#!/usr/bin/env python
"""Train AlexNet on any image folder with minialex: the paper's ImageNet pipeline.

    python examples/train_imagenet.py --data PHOTOS --model onetower

Layout: PHOTOS/train/<class>/<images> and PHOTOS/val/<class>/<images>
(JPEG, PNG, anything Pillow reads; any size and mode). Without a val/
folder, ``--val-split 0.1`` holds out a fixed 10% of every class
(stratified; the same images on every run, whatever --seed); PHOTOS may
then also be the class folders themselves (PHOTOS/<class>/<images>).

The paper's recipe (sections 2, 4 and 5): every image resized so its
shorter side is 256 and centre-cropped to 256x256, once (the decoded
arrays are cached, as for CIFAR-10: ``minialex.data.load_image_folder``);
random 224x224 crops (227 for the paper's two-tower net, ``--model
paper``) with horizontal flips and PCA colour noise while training; the
training set's per-channel mean subtracted (and, by default, divided by
its std, as train_cifar.py); SGD with momentum 0.9, weight decay 5e-4,
batch 128, lr 0.01 divided by 10 when validation top-1 stops improving;
ten-crop testing at the end beside the centre crop.

``--model onetower`` (default) is the PyTorch tutorials' one-tower AlexNet
(minialex.models.alexnet_onetower, its own init); ``--model paper`` is the
paper's net (minialex.models.AlexNet), with He init by default (the
paper's N(0, 0.01^2) stays at chance, REFERENCE.md; ``--init paper``).

The run folder, checkpoints (every epoch, every --checkpoint-every steps
and on Ctrl-C), ``--resume``, progress bars, metrics.jsonl, curves.png,
final.json and ``--distributed`` are those of train_cifar.py
(minialex.training). config.json keeps "classes", "mean", "std",
"image_size" and "model", so ``examples/predict.py RUN IMAGE`` classifies
new images the way the run was tested.
"""

import argparse
import os
import sys

import minialex  # before NumPy: it sets OpenBLAS's thread timeout (README, "Threads")
import numpy

from minialex import data as D
from minialex import distributed as dist
from minialex.models import AlexNet, alexnet_onetower
from minialex.training import (Data, HelpFormatter, add_run_options, add_sgd_options,
                               command_line, parse_training_args, run)

#: the nets' input sizes: the training crop (224 of 256 in the paper's text;
#: 227 makes the paper's layer sizes work, REFERENCE.md)
CROP = {"onetower": 224, "paper": 227}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=HelpFormatter)
    p.add_argument("--data", default=None, metavar="FOLDER",
                   help="image folder: FOLDER/train/<class>/* and FOLDER/val/<class>/*, or "
                        "with --val-split FOLDER/train/<class>/* or FOLDER/<class>/*")
    p.add_argument("--model", default="onetower", choices=sorted(CROP),
                   help="onetower: the PyTorch tutorials' one-tower AlexNet, 224x224 crops; "
                        "paper: the paper's AlexNet (two towers on two devices), 227x227")
    p.add_argument("--val-split", type=float, default=None, metavar="FRACTION",
                   help="no val/ folder: hold out this fraction of every class for "
                        "validation (fixed, stratified, seed 0)")
    p.add_argument("--image-size", type=int, default=256, metavar="S",
                   help="images are resized so the shorter side is S and centre-cropped to "
                        "SxS, once (the paper's 256); S must be at least the crop")
    add_sgd_options(p, lr=0.01, schedule="plateau", epochs_help=(
        "number of epochs (default 30; the paper ran about 90 on ImageNet; with --resume: "
        "the saved run's, or this many to extend it)"))
    p.add_argument("--init", default=None, choices=["kaiming", "kaiming_in", "paper"],
                   help="weights of --model paper (default kaiming: He normal; paper: "
                        "N(0, 0.01^2), which stays at chance, REFERENCE.md); the one-tower "
                        "net always has the tutorials' init")
    add_run_options(p)
    args = parse_training_args(p, argv)
    if args.resume:
        return args
    if args.data is None:
        p.error("--data FOLDER is required (the image folder to train on), unless --resume")
    if args.val_split is not None and not 0.0 < args.val_split < 1.0:
        p.error(f"--val-split must be a fraction in (0, 1), got {args.val_split}")
    if args.image_size < CROP[args.model]:
        p.error(f"--image-size {args.image_size} is smaller than the {CROP[args.model]}x"
                f"{CROP[args.model]} crops of --model {args.model}")
    if args.model == "onetower" and args.init is not None:
        p.error("--init applies to --model paper; the one-tower net has the tutorials' init "
                "(He fan-out for convolutions, N(0, 0.01^2) for the linear layers)")
    if args.model == "paper" and args.init is None:
        args.init = "kaiming"
    return args


# ------------------------------------------------------------------ data
def read_folders(args, progress=True):
    """(x_train, y_train, x_val, y_val, classes): uint8 (N, S, S, 3) arrays,
    S = --image-size. Raises FileNotFoundError / ValueError (ImageDecodeError
    naming the file) with the fix in the message."""
    root = args.data
    if not os.path.isdir(root):
        raise FileNotFoundError(f"--data {root!r}: no such folder")
    has_train = os.path.isdir(os.path.join(root, "train"))
    has_val = os.path.isdir(os.path.join(root, "val"))
    if has_val and not has_train:
        raise ValueError(f"--data {root!r} has a val/ folder but no train/ folder beside it")
    if has_val and args.val_split is not None:
        raise ValueError(f"--data {root!r} has its own val/ folder; drop --val-split (or move "
                         "val/ away to split the training images instead)")
    if not has_val and args.val_split is None:
        raise ValueError(f"--data {root!r} has no val/ folder; add FOLDER/val/<class>/* or pass "
                         "--val-split 0.1 to hold out 10% of every class")
    size = args.image_size
    x, y, classes = D.load_image_folder(root, "train" if has_train else None, size=size,
                                        progress=progress)
    if args.val_split is not None:
        tr, va = D.stratified_split(y, args.val_split, seed=0)
        return x[tr], y[tr], x[va], y[va], classes
    xv, yv, val_classes = D.load_image_folder(root, "val", size=size, progress=progress)
    extra = sorted(set(val_classes) - set(classes))
    if extra:
        raise ValueError(f"--data {root!r}: val/ has classes that train/ lacks: "
                         f"{', '.join(extra)}; give both the same class folders")
    index = {c: i for i, c in enumerate(classes)}          # val may lack some classes
    yv = numpy.array([index[c] for c in val_classes], numpy.int64)[yv]
    return x, y, xv, yv, classes


def build_data(args, rank=0, world=1):
    """The three loaders (this rank's shares) and the config entries of the
    run's preprocessing. Rank 0 decodes (and caches) first, the others then
    read its cache."""
    if rank != 0:
        dist.barrier()
    try:
        x_train, y_train, x_val, y_val, classes = read_folders(
            args, progress=not args.no_progress and rank == 0)
    finally:
        if rank == 0 and world > 1:
            dist.barrier()
    crop = CROP[args.model]
    mean = D.channel_mean(x_train)
    std = D.channel_std(x_train) if args.standardize else None
    steps = [D.random_crop(crop), D.random_flip(), D.to_float32()]
    if not args.no_pca:
        steps.append(D.PCAColor.fit(x_train, std=0.1))
    steps += [D.normalize(mean, std), D.to_nchw_float32()]
    shard = dict(num_replicas=world, rank=rank)
    if len(x_train) < args.batch_size:
        raise ValueError(f"{len(x_train)} training images are fewer than --batch-size "
                         f"{args.batch_size}; lower it")
    train = D.DataLoader(x_train, y_train, batch_size=args.batch_size, shuffle=True,
                         seed=args.seed, drop_last=True, transform=D.Compose(steps), **shard)
    test_steps = [D.to_float32(), D.normalize(mean, std), D.to_nchw_float32()]
    # about 0.6 MB per 224x224 crop; ten-crop batches hold ten crops of each image
    test = D.DataLoader(x_val, y_val, batch_size=50, shuffle=False,
                        transform=D.Compose([D.center_crop(crop), *test_steps]), **shard)
    test10 = D.DataLoader(x_val, y_val, batch_size=20, shuffle=False,
                          transform=D.Compose([D.ten_crop(crop), *test_steps]), **shard)
    config = {"mean": [float(v) for v in numpy.ravel(mean)],
              "std": None if std is None else [float(v) for v in numpy.ravel(std)],
              "crop": crop}
    return Data(train, test, test10, classes, config)


def load_data(args, rank, world):
    try:
        return build_data(args, rank, world)
    except (FileNotFoundError, ValueError) as exc:      # ImageDecodeError names the file
        sys.exit(f"error: {exc}")


def build_model(args, classes, devices):
    if args.model == "onetower":
        if args.towers == 2 or len(devices) != 1:
            sys.exit("error: --model onetower has one tower on one device; pass one device "
                     "(--devices cuda:0), or --model paper for the two-tower net")
        return alexnet_onetower(len(classes), device=devices[0])
    return AlexNet(len(classes), towers=args.towers, init=args.init,
                   devices=devices if args.towers == 2 else devices[0])


# ------------------------------------------------------------------ main
def main(argv=None):
    args = parse_args(argv)
    return run(args, load_data, build_model, default_epochs=30, name=lambda a: (
        "one-tower AlexNet (tutorials)" if a.model == "onetower"
        else f"AlexNet (paper) init={a.init}"))


if __name__ == "__main__":
    command_line(main)
