#!/usr/bin/env python
"""Make a photo-sized image folder from CIFAR-10's test JPEGs, to try
examples/train_imagenet.py where no photo data set is at hand.

    python scripts/upsampled_cifar_folder.py /tmp/cifar256 \
        --data ../shared/data/cifar10 --classes airplane automobile frog horse ship \
        --train 400 --val 100

Writes OUT/train/<class>/*.jpg and OUT/val/<class>/*.jpg: the first
``--train`` + ``--val`` test images of each class (sorted by file name),
upsampled from 32x32 to ``--size`` (bicubic) and saved as JPEG. The
images carry no more detail than CIFAR's; they exercise the 256x256
pipeline (decoding, resizing, 224 crops, the one-tower net) on real pictures.
Never write OUT inside the repository.
"""

import argparse
import os
import sys

from PIL import Image


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("out", help="folder to write (train/ and val/ inside)")
    p.add_argument("--data", default=os.environ.get("MINIALEX_DATA", "../shared/data/cifar10"),
                   help="CIFAR-10 in the image-folder layout (test/<class>/*.jpg)")
    p.add_argument("--classes", nargs="+", default=["airplane", "automobile", "frog", "horse",
                                                    "ship"])
    p.add_argument("--train", type=int, default=400, help="training images per class")
    p.add_argument("--val", type=int, default=100, help="validation images per class")
    p.add_argument("--size", type=int, default=256, help="side of the written images")
    args = p.parse_args(argv)
    bicubic = getattr(Image, "Resampling", Image).BICUBIC
    for c in args.classes:
        src = os.path.join(args.data, "test", c)
        if not os.path.isdir(src):
            sys.exit(f"error: no folder {src!r}: pass --data <CIFAR-10 image folder>")
        files = sorted(f for f in os.listdir(src) if f.endswith(".jpg"))
        if len(files) < args.train + args.val:
            sys.exit(f"error: {src!r} has {len(files)} images, fewer than "
                     f"--train + --val = {args.train + args.val}")
        for split, part in (("train", files[:args.train]),
                            ("val", files[args.train:args.train + args.val])):
            dst = os.path.join(args.out, split, c)
            os.makedirs(dst, exist_ok=True)
            for f in part:
                im = Image.open(os.path.join(src, f)).convert("RGB")
                im.resize((args.size, args.size), bicubic).save(os.path.join(dst, f), quality=90)
    print(f"wrote {args.out}: {len(args.classes)} classes, {args.train} train and {args.val} "
          f"val images each, {args.size}x{args.size}")


if __name__ == "__main__":
    main()
