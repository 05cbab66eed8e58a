#!/usr/bin/env python
"""Does the 256x256 input pipeline keep up with the training step?

    python benchmarks/image_folder_loader.py /tmp/cifar256 [--model onetower] [--batch 32]

Times, on an image folder (FOLDER/train/<class>/*), in this process:

1. decode + resize: Pillow decoding the files and resizing each to
   256x256 (shorter side 256, centre crop), what
   ``load_image_folder(..., size=256)`` does once before caching
   (one process; it forks a pool for 4096+ files); once for the folder's
   own files, once for copies of them at 500x375, ImageNet's typical
   photo size (JPEG quality 90, written to a temporary folder);
2. augment: what the DataLoader does every batch on the cached uint8
   arrays (random crop, flip, float32, PCA colour noise, mean/std, NCHW),
   in the calling thread (``prefetch=0``);
3. train step: forward, backward and SGD step of the net on such batches.

and prints images/s of each and which is the bottleneck. The loader runs
in a background thread beside the step, so it keeps up when (2) is well
above (3); (1) is paid once per data set, then the cache is read.
"""

import argparse
import os
import platform
import tempfile
import time

import minialex  # before NumPy (README, "Threads")
import numpy
from PIL import Image

from minialex import data as D
from minialex import functional as F
from minialex.autograd import Tensor
from minialex.data._decode import decode_images
from minialex.data.image_folder import list_image_folder
from minialex.models import AlexNet, alexnet_onetower
from minialex.optim import SGD


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("folder")
    p.add_argument("--model", default="onetower", choices=["onetower", "paper"])
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--files", type=int, default=256, help="images to decode")
    p.add_argument("--batches", type=int, default=8, help="batches to augment")
    p.add_argument("--steps", type=int, default=3, help="training steps to time (after one "
                   "untimed)")
    args = p.parse_args()
    root = os.path.join(args.folder, "train")
    root = root if os.path.isdir(root) else args.folder
    _, files = list_image_folder(root)
    paths = [os.path.join(root, f[0]) for f in files]
    paths = [paths[i] for i in numpy.random.default_rng(0).permutation(len(paths))[:args.files]]
    print(f"CPU: {cpu_name()}, {os.cpu_count()} cores; load average before: "
          f"{os.getloadavg()[0]:.1f} (shared with other processes)")

    t = time.perf_counter()
    x = decode_images(paths, size=256, workers=0, progress=False)
    decode = len(paths) / (time.perf_counter() - t)
    print(f"decode + resize to 256x256 (Pillow, 1 process): {decode:7.1f} images/s "
          f"({len(paths)} files of {x.shape[1]}x{x.shape[2]} and other sizes)")
    with tempfile.TemporaryDirectory() as tmp:
        photos = []
        for i, a in enumerate(x[:64]):
            photos.append(os.path.join(tmp, f"{i}.jpg"))
            Image.fromarray(a).resize((500, 375), Image.BILINEAR).save(photos[-1], quality=90)
        t = time.perf_counter()
        decode_images(photos, size=256, workers=0, progress=False)
        decode_photo = len(photos) / (time.perf_counter() - t)
    print(f"decode + resize, 500x375 JPEGs -> 256x256:      {decode_photo:7.1f} images/s "
          f"({len(photos)} files)")

    crop = 224 if args.model == "onetower" else 227
    y = numpy.zeros(len(x), numpy.int64)
    mean, std = D.channel_mean(x), D.channel_std(x)
    tf = D.Compose([D.random_crop(crop), D.random_flip(), D.to_float32(), D.PCAColor.fit(x),
                    D.normalize(mean, std), D.to_nchw_float32()])
    loader = D.DataLoader(x, y, batch_size=args.batch, transform=tf, prefetch=0)
    it, n, t = iter(loader), 0, time.perf_counter()
    for _ in range(args.batches):
        try:
            xb, _ = next(it)
        except StopIteration:
            it = iter(loader)
            xb, _ = next(it)
        n += len(xb)
    augment = n / (time.perf_counter() - t)
    print(f"augment (crop {crop}, flip, PCA, normalize, NCHW):  {augment:7.1f} images/s")

    model = alexnet_onetower(5) if args.model == "onetower" else AlexNet(5, towers=1,
                                                                          init="kaiming")
    opt = SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    yb = numpy.arange(len(xb)) % 5
    times = []
    for i in range(args.steps + 1):
        t = time.perf_counter()
        loss = F.cross_entropy(model(Tensor(xb)), yb)
        opt.zero_grad()
        loss.backward()
        opt.step()
        times.append(time.perf_counter() - t)
    step = len(xb) / float(numpy.median(times[1:]))
    print(f"train step ({args.model}, batch {len(xb)}, median of {args.steps}):     "
          f"{step:7.1f} images/s")
    slow = min(("augment", augment), ("train step", step), key=lambda kv: kv[1])[0]
    print(f"bottleneck: {slow}; the loader is {augment / step:.0f}x the step "
          f"(decode + resize, once per data set: {decode_photo / step:.0f}x for 500x375 "
          f"photos); "
          f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
