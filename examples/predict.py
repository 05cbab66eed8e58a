#!/usr/bin/env python
"""Classify images with a trained minialex run: the top-5 classes and their probabilities.

    python examples/predict.py RUN_FOLDER IMAGE [IMAGE ...]     (or a folder of images)
    python examples/predict.py runs/cifar photo.jpg --ten-crop --json
    python examples/predict.py runs/cifar photos/ --onnx        (through onnxruntime)

RUN_FOLDER is what a training program wrote (examples/train_cifar.py,
examples/train_imagenet.py):
config.json (the run's settings) and checkpoint.npz (the weights and the
model's configuration, from which the net is rebuilt). Images of any size
and mode (JPEG, PNG, greyscale, RGBA, ...) get the run's test-time
preprocessing: converted to RGB, resized so the shorter side is the run's
image size (32 for CIFAR runs, 256 for ImageNet-size nets; config.json
"image_size" when present) and centre-cropped to a square, then the
centre crop of the net's input size (28 or 224/227), or the paper's ten
crops averaged (--ten-crop, section 4.1), and the run's normalization.

Read from config.json when present: "classes" (names in label order),
"mean" and "std" (per-channel, pixel units 0..255; std null for mean
subtraction only), "image_size". Runs that lack them: CIFAR runs get
CIFAR-10's ten class names, and the mean/std are recomputed exactly as the
training did, from its training images ("data", "subset", "standardize";
--data points at the data set if it moved).
"""

import argparse
import json
import os
import sys
import tempfile

import minialex
import numpy

from minialex import data as D
from minialex.data._decode import decode_images
from minialex.data.image_folder import IMAGE_EXTENSIONS
from minialex.evaluation import predict_proba
from minialex.models import AlexNet, alexnet_cifar, alexnet_onetower
from minialex.serialization import CheckpointError, check_config, load_npz


class PredictError(Exception):
    """A problem with the command line's run folder or images (one line)."""


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("run", metavar="RUN_FOLDER", help="a training run's folder (config.json, "
                   "checkpoint.npz)")
    p.add_argument("images", metavar="IMAGE", nargs="+",
                   help="image files, or folders (every image file inside, sorted)")
    p.add_argument("--ten-crop", action="store_true",
                   help="average the softmax over the paper's ten crops instead of the centre crop")
    p.add_argument("--json", action="store_true", help="print one JSON document instead of text")
    p.add_argument("--top", type=int, default=5, help="how many classes to show per image")
    p.add_argument("--onnx", nargs="?", const="", default=None, metavar="FILE",
                   help="run the net with onnxruntime: FILE exported before, or without FILE "
                        "the run's net exported now with minialex.onnx.export (temporary file)")
    p.add_argument("--data", default=None,
                   help="the run's training data set, to recompute mean/std when config.json "
                        "lacks them and the run's 'data' path moved")
    p.add_argument("--batch-size", type=int, default=64, help="images per forward pass")
    args = p.parse_args(argv)
    if args.top < 1:
        p.error(f"--top must be at least 1, got {args.top}")
    if args.batch_size < 1:
        p.error(f"--batch-size must be at least 1, got {args.batch_size}")
    return args


# ------------------------------------------------------------------ the run
def load_run(folder):
    """(config.json dict, model in eval mode with the checkpoint's weights)."""
    if not os.path.isdir(folder):
        raise PredictError(f"no run folder at {folder!r}: pass the folder a training run wrote "
                           "(it holds config.json and checkpoint.npz)")
    cfg_path, ckpt = os.path.join(folder, "config.json"), os.path.join(folder, "checkpoint.npz")
    for path in (cfg_path, ckpt):
        if not os.path.exists(path):
            raise PredictError(f"{folder!r} is not a run folder: it has no "
                               f"{os.path.basename(path)} (written by examples/train_cifar.py "
                               "or examples/train_imagenet.py)")
    try:
        with open(cfg_path) as f:
            run_cfg = json.load(f)
    except (OSError, ValueError) as exc:
        raise PredictError(f"cannot read {cfg_path}: {exc}") from None
    try:
        arrays, meta = load_npz(ckpt)
    except CheckpointError as exc:
        raise PredictError(str(exc)) from None
    if meta.get("format") != "minialex-checkpoint-1":
        raise PredictError(f"{ckpt} is not a minialex training checkpoint")
    model = build_model(meta.get("config"), ckpt)
    weights = {k[len("model/"):]: v for k, v in arrays.items() if k.startswith("model/")}
    try:
        model.load_state_dict(weights)
    except (KeyError, ValueError) as exc:
        raise PredictError(f"{ckpt} does not fit the model its config describes: {exc}") from None
    return run_cfg, model.eval()


def build_model(cfg, ckpt):
    """The net a checkpoint's model config describes, on the CPU."""
    known = "AlexNet (ImageNet), AlexNet-CIFAR presets, alexnet_onetower"
    if not isinstance(cfg, dict):
        raise PredictError(f"{ckpt} holds no model configuration: a run of another model? "
                           f"predict.py knows {known}")
    kind = cfg.get("model")
    try:
        if kind == "alexnet_onetower":
            model = alexnet_onetower(cfg["num_classes"], dropout=cfg["dropout"])
        elif kind is None and "widths" in cfg:
            # the ablation switches; a checkpoint saved before they existed has the defaults
            cfg = {"lrn": True, "pool": [3, 2], "activation": "relu", "one_gpu": False, **cfg}
            args = dict(num_classes=cfg["num_classes"], towers=cfg["towers"],
                        init=cfg.get("init", "kaiming"), dropout=cfg["dropout"], lrn=cfg["lrn"],
                        pool=tuple(cfg["pool"]), activation=cfg["activation"],
                        one_gpu=cfg["one_gpu"])
            model = (alexnet_cifar(cfg["preset"], **args) if "preset" in cfg else AlexNet(**args))
        else:
            raise PredictError(f"{ckpt} is a run of model {kind!r}, which predict.py does not "
                               f"know (it knows {known})")
        check_config(model.config, cfg, ckpt)
    except (KeyError, ValueError, CheckpointError) as exc:
        raise PredictError(f"{ckpt}: a run of another model, or of an AlexNet this predict.py "
                           f"cannot rebuild ({known}): {exc}") from None
    return model


def describe(model):
    c = model.config
    if c.get("model") == "alexnet_onetower":
        return f"one-tower AlexNet, {c['num_classes']} classes"
    name = f"AlexNet-CIFAR {c['preset']}" if "preset" in c else "AlexNet"
    return f"{name}, towers={c['towers']}, {c['num_classes']} classes"


def preprocessing(run_cfg, model, data=None):
    """(image size, (mean, std), class names) of the run's test transform."""
    size = model.input_size
    image_size = int(run_cfg.get("image_size") or (32 if size == 28 else 256))
    n = model.config["num_classes"]
    cifar = size == 28
    classes = run_cfg.get("classes")
    if "mean" in run_cfg:
        mean = numpy.asarray(run_cfg["mean"], numpy.float32)
        std = None if run_cfg.get("std") is None else numpy.asarray(run_cfg["std"], numpy.float32)
    elif cifar:
        mean, std, names = cifar_stats(run_cfg, data)
        classes = classes or names
    else:
        raise PredictError("the run's config.json holds no 'mean' (per-channel, pixel units): "
                           "predict.py cannot normalize images the way this run was trained")
    if classes is None:
        classes = list(D.CIFAR10_CLASSES) if cifar and n == 10 else [f"class {i}" for i in range(n)]
    if len(classes) != n:
        raise PredictError(f"config.json names {len(classes)} classes, the net has {n} outputs")
    return image_size, (mean, std), list(classes)


def cifar_stats(run_cfg, data=None):
    """train_cifar.py's mean/std: its training images (the same subset)."""
    root = data or run_cfg.get("data")
    try:
        x, _, _, _, classes = D.load_cifar10(root, download=False, progress=False)
    except (FileNotFoundError, ValueError) as exc:
        raise PredictError(f"the run's config.json has no 'mean'/'std', and its training data "
                           f"({root!r}) to recompute them is not there ({exc}); pass --data "
                           "<CIFAR-10 folder>") from None
    if run_cfg.get("subset"):   # train_cifar.py's fixed random sample
        keep = numpy.sort(numpy.random.default_rng(0).permutation(len(x))[:run_cfg["subset"]])
        x = x[keep]
    std = D.channel_std(x) if run_cfg.get("standardize", True) else None
    return D.channel_mean(x), std, classes


# ------------------------------------------------------------------ images
def list_images(args):
    paths = []
    for item in args:
        if os.path.isdir(item):
            found = sorted(os.path.join(d, f) for d, _, files in os.walk(item) for f in files
                           if os.path.splitext(f)[1].lower() in IMAGE_EXTENSIONS
                           and not f.startswith("."))
            if not found:
                raise PredictError(f"folder {item!r} holds no image files "
                                   f"({', '.join(sorted(IMAGE_EXTENSIONS))})")
            paths += found
        elif os.path.isfile(item):
            paths.append(item)
        else:
            raise PredictError(f"no such image file or folder: {item!r}")
    return paths


def batches(paths, image_size, crop, stats, ten_crop, batch_size):
    """(paths, float32 batch): (B, 3, s, s), or (10, B, 3, s, s) with --ten-crop."""
    mean, std = stats
    tf = D.Compose([D.ten_crop(crop) if ten_crop else D.center_crop(crop), D.to_float32(),
                    D.normalize(mean, std), D.to_nchw_float32()])
    for i in range(0, len(paths), batch_size):
        part = paths[i:i + batch_size]
        try:
            x = decode_images(part, size=image_size, workers=0, progress=False)
        except D.ImageDecodeError as exc:
            raise PredictError(str(exc)) from None
        yield part, tf(x)


def onnx_runner(model, path):
    """x (B, 3, s, s) -> softmax probabilities, through onnxruntime."""
    try:
        import onnxruntime
    except ImportError:
        raise PredictError("--onnx needs onnxruntime: pip install onnxruntime") from None
    tmp = None
    if not path:
        from minialex.onnx import export
        tmp = tempfile.TemporaryDirectory()
        path = os.path.join(tmp.name, "model.onnx")
        export(model, path)
    elif not os.path.isfile(path):
        raise PredictError(f"--onnx {path!r}: no such file")
    try:
        sess = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    except Exception as exc:     # onnxruntime raises its own Fail/InvalidGraph types
        raise PredictError(f"--onnx {path!r}: onnxruntime cannot load it ({exc})") from None
    name = sess.get_inputs()[0].name

    def probs(x):
        logits = sess.run(None, {name: x})[0].astype(numpy.float64)
        e = numpy.exp(logits - logits.max(axis=1, keepdims=True))
        return (e / e.sum(axis=1, keepdims=True)).astype(numpy.float32)
    probs.tmp = tmp              # keep the temporary folder alive with the runner
    return probs


def predict(args):
    run_cfg, model = load_run(args.run)
    paths = list_images(args.images)
    image_size, stats, classes = preprocessing(run_cfg, model, args.data)
    crop = model.input_size
    if image_size < crop:
        raise PredictError(f"config.json's image_size {image_size} is smaller than the net's "
                           f"input {crop}")
    probs_of = onnx_runner(model, args.onnx) if args.onnx is not None \
        else (lambda x: predict_proba(model, x))
    k = min(args.top, len(classes))
    out = []
    for part, x in batches(paths, image_size, crop, stats, args.ten_crop, args.batch_size):
        probs = sum(probs_of(c) for c in x) / len(x) if args.ten_crop else probs_of(x)
        order = numpy.argsort(-probs, axis=1, kind="stable")[:, :k]
        for path, row, idx in zip(part, probs, order):
            out.append({"image": path, "top": [{"class": classes[i], "index": int(i),
                                                 "probability": float(row[i])} for i in idx]})
    return {"run": args.run, "model": describe(model),
            "preprocessing": (f"{'ten crops' if args.ten_crop else 'centre crop'} {crop}x{crop} "
                              f"of {image_size}x{image_size}"),
            "runtime": "onnxruntime" if args.onnx is not None else "minialex",
            "predictions": out}


def main(argv=None):
    args = parse_args(argv)
    try:
        result = predict(args)
    except PredictError as exc:
        sys.exit(f"predict.py: error: {exc}")
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"{result['run']}: {result['model']}; {result['preprocessing']}; {result['runtime']}")
    width = max(len(c["class"]) for p in result["predictions"] for c in p["top"])
    for p in result["predictions"]:
        print(p["image"])
        for rank, c in enumerate(p["top"], 1):
            print(f"  {rank}. {c['class']:<{width}}  {100 * c['probability']:6.2f}%")
    return 0


if __name__ == "__main__":
    sys.exit(main())
