"""examples/train_imagenet.py on small image folders written here: mixed
sizes, formats and modes, a corrupt file, --val-split, and a tiny run of
the one-tower net at 224x224 that resumes and that predict.py reads."""

import argparse
import importlib.util
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from conftest import REPO
from minialex.data import stratified_split

SCRIPT = REPO / "examples" / "train_imagenet.py"
PREDICT = REPO / "examples" / "predict.py"


def load_script():
    spec = importlib.util.spec_from_file_location("train_imagenet", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def run(script, *args, cache):
    env = {**os.environ, "MINIALEX_CACHE": str(cache)}
    return subprocess.run([sys.executable, str(script), *map(str, args)], capture_output=True,
                          text=True, cwd=REPO, timeout=600, env=env)


def save(path, array, mode=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.asarray(array, np.uint8), mode).save(path)


def halves(h, w, left, right):
    """An h x w RGB image, the left half one colour, the right half another."""
    im = np.empty((h, w, 3), np.uint8)
    im[:, :w // 2], im[:, w // 2:] = left, right
    return im


def photo_folder(root, classes=("cat", "dog", "owl"), per_class=6, seed=0):
    """Noisy photos of every size and mode, one base colour per class."""
    rng = np.random.default_rng(seed)
    colours = {"cat": (200, 40, 40), "dog": (40, 200, 40), "owl": (40, 40, 200)}
    sizes = [(300, 200), (200, 260), (256, 256), (90, 120), (400, 300), (64, 64)]
    for c in classes:
        for i in range(per_class):
            h, w = sizes[i % len(sizes)]
            im = np.clip(np.float32(colours[c]) + rng.normal(0, 40, (h, w, 3)), 0, 255)
            name = root / c / f"{i:03d}.{'png' if i % 2 else 'jpg'}"
            if i % 3 == 2:                   # greyscale
                save(name, im.mean(axis=2), "L")
            else:
                save(name, im)


# ------------------------------------------------------------------ data
def test_mixed_sizes_formats_and_modes(tmp_path, monkeypatch):
    monkeypatch.setenv("MINIALEX_CACHE", str(tmp_path / "cache"))
    data = tmp_path / "photos"
    save(data / "train" / "a" / "grey.png", np.full((50, 70), 77), "L")
    rgba = np.zeros((40, 80, 4), np.uint8)
    rgba[...] = (10, 200, 30, 0)                          # fully transparent: colour kept
    save(data / "train" / "a" / "rgba.png", rgba, "RGBA")
    save(data / "train" / "b" / "wide.png", halves(32, 64, (255, 0, 0), (0, 0, 255)))
    save(data / "train" / "b" / "wider.png", halves(64, 128, (255, 0, 0), (0, 0, 255)))
    Image.fromarray(np.full((300, 200, 3), (90, 120, 150), np.uint8)).save(
        data / "train" / "b" / "photo.jpg", quality=95)
    save(data / "val" / "b" / "v.png", np.full((10, 10, 3), 5))
    mod = load_script()
    args = argparse.Namespace(data=str(data), val_split=None, image_size=32)
    x, y, xv, yv, classes = mod.read_folders(args, progress=False)
    assert classes == ["a", "b"] and x.shape == (5, 32, 32, 3) and x.dtype == np.uint8
    assert list(y) == [0, 0, 1, 1, 1]                   # sorted by class, then file name
    np.testing.assert_array_equal(x[0], 77)             # grey.png: L -> RGB
    np.testing.assert_array_equal(x[1], np.broadcast_to([10, 200, 30], (32, 32, 3)))  # alpha off
    assert np.abs(x[2].astype(int) - (90, 120, 150)).max() <= 3   # JPEG, 300x200 -> 32x32
    # wide.png 32x64: shorter side already 32, centre crop = columns 16..47
    np.testing.assert_array_equal(x[3][:, :16], np.broadcast_to([255, 0, 0], (32, 16, 3)))
    np.testing.assert_array_equal(x[3][:, 16:], np.broadcast_to([0, 0, 255], (32, 16, 3)))
    # wider.png 64x128 -> 32x64 (bilinear), then the same crop; blend at the edge only
    assert (x[4][:, :14] == (255, 0, 0)).all() and (x[4][:, 18:] == (0, 0, 255)).all()
    # val/ has only class b: its label is b's index in train/
    assert xv.shape == (1, 32, 32, 3) and list(yv) == [1]


def test_stratified_split_by_hand():
    y = np.array([0] * 10 + [1] * 5 + [2] + [1])          # classes of 10, 6 and 1
    tr, va = stratified_split(y, 0.2)
    assert sorted(np.bincount(y[va], minlength=3)) == [0, 1, 2]
    assert list(np.bincount(y[va], minlength=3)) == [2, 1, 0]   # round(2.0), round(1.2), 0
    assert np.array_equal(np.sort(np.concatenate([tr, va])), np.arange(len(y)))
    tr2, va2 = stratified_split(y, 0.2)
    assert np.array_equal(va, va2) and np.array_equal(tr, tr2)  # fixed
    vals = {tuple(stratified_split(y, 0.2, seed=s)[1]) for s in range(6)}
    assert len(vals) > 1                                         # random within a class
    # at least one of a class of two, never all of it
    tr, va = stratified_split(np.array([0, 0, 1, 1, 1, 1]), 0.01)
    assert list(np.bincount(np.array([0, 0, 1, 1, 1, 1])[va])) == [1, 1]
    with pytest.raises(ValueError, match=r"in \(0, 1\)"):
        stratified_split(y, 1.0)
    with pytest.raises(ValueError, match="no validation sample"):
        stratified_split(np.array([0, 1, 2]), 0.5)


def test_val_split_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("MINIALEX_CACHE", str(tmp_path / "cache"))
    photo_folder(tmp_path / "flowers", per_class=5)   # no train/, no val/: the classes
    mod = load_script()
    args = argparse.Namespace(data=str(tmp_path / "flowers"), val_split=0.4, image_size=40)
    x, y, xv, yv, classes = mod.read_folders(args, progress=False)
    assert classes == ["cat", "dog", "owl"]
    assert list(np.bincount(y)) == [3, 3, 3] and list(np.bincount(yv)) == [2, 2, 2]
    assert x.shape == (9, 40, 40, 3) and xv.shape == (6, 40, 40, 3)
    # the held-out images are exactly stratified_split's, whatever the seed of training
    full, labels, _ = mod.D.load_image_folder(tmp_path / "flowers", size=40, progress=False)
    tr, va = stratified_split(labels, 0.4, seed=0)
    np.testing.assert_array_equal(xv, full[va])
    np.testing.assert_array_equal(x, full[tr])


def test_layout_errors_name_the_fix(tmp_path):
    cache = tmp_path / "cache"
    photo_folder(tmp_path / "d" / "train", per_class=2)
    r = run(SCRIPT, "--data", tmp_path / "d", "--out", tmp_path / "r", cache=cache)
    assert r.returncode == 1 and "has no val/ folder" in r.stderr and "--val-split" in r.stderr
    assert "Traceback" not in r.stderr and not (tmp_path / "r").exists()
    photo_folder(tmp_path / "d" / "val", per_class=1)
    r = run(SCRIPT, "--data", tmp_path / "d", "--val-split", 0.2, cache=cache)
    assert r.returncode == 1 and "has its own val/ folder; drop --val-split" in r.stderr
    r = run(SCRIPT, "--data", tmp_path / "d", "--val-split", 1.5, cache=cache)
    assert r.returncode == 2 and "--val-split must be a fraction in (0, 1), got 1.5" in r.stderr
    r = run(SCRIPT, "--data", tmp_path / "d", "--image-size", 200, cache=cache)
    assert r.returncode == 2 and "--image-size 200 is smaller than the 224x224" in r.stderr
    r = run(SCRIPT, "--data", tmp_path / "nowhere", cache=cache)
    assert r.returncode == 1 and "nowhere" in r.stderr and "Traceback" not in r.stderr


def test_corrupt_image_is_named(tmp_path):
    photo_folder(tmp_path / "d" / "train", per_class=2)
    photo_folder(tmp_path / "d" / "val", per_class=1)
    good = (tmp_path / "d" / "train" / "dog" / "000.jpg").read_bytes()
    (tmp_path / "d" / "train" / "dog" / "broken.jpg").write_bytes(good[:300])   # truncated
    r = run(SCRIPT, "--data", tmp_path / "d", "--out", tmp_path / "r", "--no-progress",
            cache=tmp_path / "cache")
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert "dog/broken.jpg" in r.stderr and "cannot decode" in r.stderr
    assert not (tmp_path / "r").exists()


def test_models_take_their_crops():
    mod = load_script()
    for name, crop in mod.CROP.items():
        args = argparse.Namespace(model=name, towers=1, init="kaiming")
        model = mod.build_model(args, ["a", "b"], ["cpu"])
        assert model.input_size == crop and model.config["num_classes"] == 2


def test_loaders_crop_for_the_model(tmp_path, monkeypatch):
    monkeypatch.setenv("MINIALEX_CACHE", str(tmp_path / "cache"))
    photo_folder(tmp_path / "d" / "train", per_class=2)
    photo_folder(tmp_path / "d" / "val", per_class=1, seed=1)
    mod = load_script()
    args = argparse.Namespace(data=str(tmp_path / "d"), val_split=None, image_size=256,
                              model="paper", standardize=True, no_pca=False, batch_size=4,
                              seed=0, no_progress=True)
    data = mod.build_data(args)
    x, y, xv, yv, _ = mod.read_folders(args, progress=False)
    mean, std = np.float32(data.config["mean"]), np.float32(data.config["std"])
    xb, yb = next(iter(data.train))
    assert xb.shape == (4, 3, 227, 227) and xb.dtype == np.float32 and len(data.train) == 1
    # the centre 227 of 256 starts at (256 - 227) // 2 = 14
    xc, yc = next(iter(data.test))
    want = (xv[:, 14:241, 14:241].astype(np.float32) - mean) / std
    np.testing.assert_allclose(xc, want.transpose(0, 3, 1, 2), rtol=1e-5, atol=1e-5)
    assert list(yc) == list(yv) == [0, 1, 2]
    x10, _ = next(iter(data.test10))
    assert x10.shape == (10, 3, 3, 227, 227)
    np.testing.assert_allclose(x10[4], xc)                   # crop 4 is the centre
    np.testing.assert_allclose(x10[0], ((xv[:, :227, :227] - mean) / std).transpose(0, 3, 1, 2),
                               rtol=1e-5, atol=1e-5)        # crop 0 the top-left corner
    # training crops: some 227-window of the image, flipped or not, plus one colour
    # shift per image (PCA); without PCA the crop is exact
    args.no_pca = True
    xb, yb = next(iter(mod.build_data(args).train))
    imgs = (x.astype(np.float32) - mean) / std
    def windows_equal_to(c, i):
        # offsets whose top-left pixel matches (the images are noise), then the whole window
        ts, ls = np.nonzero(np.abs(imgs[i, :30, :30] - c[0, 0]).max(axis=-1) < 1e-4)
        return [(t, l) for t, l in zip(ts, ls)
                if np.allclose(c, imgs[i, t:t + 227, l:l + 227], atol=1e-4)]

    for crop, label in zip(xb.transpose(0, 2, 3, 1), yb):
        hits = [(i, f) for i in np.flatnonzero(y == label)
                for f, c in enumerate((crop, crop[:, ::-1])) if windows_equal_to(c, i)]
        assert len(hits) == 1, "each training crop is one window of one of its class's images"


# ------------------------------------------------------------------ a tiny run
@pytest.mark.slow
def test_tiny_run_resumes_and_predict_reads_it(tmp_path):
    """18 training and 3 validation images at 256x256, batch 6: three SGD
    steps of the one-tower net per epoch."""
    cache = tmp_path / "cache"
    photo_folder(tmp_path / "d" / "train", per_class=6)
    photo_folder(tmp_path / "d" / "val", per_class=1, seed=1)
    out = tmp_path / "run"
    r = run(SCRIPT, "--data", tmp_path / "d", "--epochs", 1, "--batch-size", 6, "--no-progress",
            "--out", out, cache=cache)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "one-tower AlexNet" in r.stdout and "train images=18 test images=3" in r.stdout
    assert "ten-crop: top-1" in r.stdout
    for name in ("config.json", "metrics.jsonl", "checkpoint.npz", "final.json"):
        assert (out / name).exists(), name
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["classes"] == ["cat", "dog", "owl"] and cfg["model"] == "onetower"
    assert cfg["image_size"] == 256 and cfg["crop"] == 224 and cfg["epochs"] == 1
    # the mean and std are the training images' (as decoded to 256x256)
    from minialex.data import load_image_folder
    x, _, _ = load_image_folder(tmp_path / "d", "train", size=256, cache=False, progress=False)
    xf = x.reshape(-1, 3).astype(np.float64)
    np.testing.assert_allclose(cfg["mean"], xf.mean(axis=0), rtol=1e-5)
    np.testing.assert_allclose(cfg["std"], xf.std(axis=0), rtol=1e-4)
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [row["epoch"] for row in rows] == [1] and rows[0]["images_per_s"] > 0

    r = run(SCRIPT, "--resume", out, "--epochs", 2, "--no-progress", cache=cache)
    assert r.returncode == 0, r.stderr[-3000:]
    assert f"resumed {out} at epoch 2, step 0" in r.stdout and "epoch   2/2" in r.stdout
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [row["epoch"] for row in rows] == [1, 2]
    assert json.loads((out / "config.json").read_text())["epochs"] == 2

    # predict.py: the run's classes, preprocessing and weights
    images = sorted((tmp_path / "d" / "val").rglob("*.*"))[:2]
    r = run(PREDICT, out, *images, "--json", cache=cache)
    assert r.returncode == 0, r.stderr
    got = json.loads(r.stdout)
    assert got["preprocessing"] == "centre crop 224x224 of 256x256"
    from minialex.checkpoint import load_checkpoint
    from minialex.evaluation import predict_proba
    from minialex.models import alexnet_onetower
    model = alexnet_onetower(3)
    load_checkpoint(out / "checkpoint.npz", model)
    for p, path in zip(got["predictions"], images):
        im = Image.open(path).convert("RGB")
        w, h = im.size
        s = 256 / min(w, h)
        nw, nh = max(256, round(w * s)), max(256, round(h * s))
        im = im.resize((nw, nh), Image.BILINEAR)
        im = np.asarray(im, np.float32)[(nh - 256) // 2:, (nw - 256) // 2:][16:240, 16:240]
        xin = (im - np.float32(cfg["mean"])) / np.float32(cfg["std"])
        want = predict_proba(model.eval(), np.ascontiguousarray(xin.transpose(2, 0, 1))[None])[0]
        assert [t["class"] for t in p["top"]] == [cfg["classes"][i] for i in np.argsort(-want)]
        np.testing.assert_allclose([t["probability"] for t in p["top"]], np.sort(want)[::-1],
                                   rtol=1e-4)


def test_resume_refuses_new_settings(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"epochs": 3}))
    r = run(SCRIPT, "--data", tmp_path, "--resume", tmp_path, "--model", "paper",
            cache=tmp_path / "cache")
    assert r.returncode == 2 and "would be ignored: --data, --model" in r.stderr
