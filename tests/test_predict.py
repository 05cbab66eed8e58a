"""examples/predict.py on tiny run folders written here, with real CIFAR-10
test JPEGs and images of other sizes and modes."""

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

import minialex
from conftest import REPO
from minialex.checkpoint import save_checkpoint
from minialex.data import CIFAR10_CLASSES
from minialex.evaluation import predict_proba
from minialex.models import alexnet_cifar, alexnet_onetower
from minialex.optim import SGD

SCRIPT = REPO / "examples" / "predict.py"
MEAN, STD = [125.0, 122.0, 113.0], [62.0, 61.0, 66.0]


def run(*args):
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], capture_output=True,
                          text=True, cwd=REPO, timeout=300)


def make_run(folder, model, config):
    """A run folder as train_cifar.py writes it: config.json + checkpoint.npz."""
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps(config))
    save_checkpoint(folder / "checkpoint.npz", model, SGD(model.parameters(), lr=0.01),
                    epoch=1, extra={"history": []})
    return folder


def cifar_model(seed=0, towers=1):
    minialex.manual_seed(seed)
    model = alexnet_cifar("small", towers=towers)
    # a head that spreads the probabilities: the ranking really depends on the image
    fc8 = dict(model.named_parameters())["fc8.weight"]
    fc8.data = fc8.data * 30
    return model.eval()


def expected_probs(model, files, mean, std, ten=False):
    """The test transform by hand: RGB 32x32 -> crop(s) 28 -> (x - mean) / std."""
    x = np.stack([np.asarray(Image.open(f).convert("RGB"), np.float32) for f in files])
    crops = [x[:, 2:30, 2:30]]
    if ten:
        corners = [x[:, :28, :28], x[:, :28, 4:], x[:, 4:, :28], x[:, 4:, 4:], x[:, 2:30, 2:30]]
        crops = corners + [c[:, :, ::-1] for c in corners]
    out = 0
    for c in crops:
        c = (c - np.float32(mean)) / (np.float32(std) if std is not None else 1)
        out = out + predict_proba(model, np.ascontiguousarray(c.transpose(0, 3, 1, 2)))
    return out / len(crops)


@pytest.fixture
def test_jpegs(cifar10_dir):
    return [cifar10_dir / "test" / c / "0000.jpg" for c in ("cat", "ship", "frog")]


def check_json(out, model, files, mean, std, ten=False, rtol=1e-5):
    want = expected_probs(model, files, mean, std, ten)
    assert [p["image"] for p in out["predictions"]] == [str(f) for f in files]
    for p, w in zip(out["predictions"], want):
        top = p["top"]
        assert len(top) == 5
        assert [t["index"] for t in top] == list(np.argsort(-w, kind="stable")[:5])
        assert [t["class"] for t in top] == [CIFAR10_CLASSES[t["index"]] for t in top]
        np.testing.assert_allclose([t["probability"] for t in top], np.sort(w)[::-1][:5],
                                   rtol=rtol, atol=1e-7)
    tops = [p["top"][0]["probability"] for p in out["predictions"]]
    assert len(set(tops)) == len(tops)          # each image gets its own answer


def test_json_top5_with_saved_stats_and_classes(tmp_path, test_jpegs):
    model = cifar_model()
    names = [f"c{i}" for i in range(10)]
    folder = make_run(tmp_path / "run", model, {"preset": "small", "mean": MEAN, "std": STD,
                                                "classes": names})
    r = run(folder, *test_jpegs, "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["runtime"] == "minialex" and out["preprocessing"] == "centre crop 28x28 of 32x32"
    assert "AlexNet-CIFAR small" in out["model"]
    want = expected_probs(model, test_jpegs, MEAN, STD)
    for p, w in zip(out["predictions"], want):
        assert [t["class"] for t in p["top"]] == [names[i] for i in np.argsort(-w)[:5]]
        np.testing.assert_allclose([t["probability"] for t in p["top"]], np.sort(w)[::-1][:5],
                                   rtol=1e-5, atol=1e-7)


def test_cifar_run_without_stats_recomputes_them_from_its_training_data(tmp_path, cifar10_dir,
                                                                         test_jpegs):
    """train_cifar.py's config.json today: no mean/std/classes; --subset 500."""
    model = cifar_model(1, towers=2)
    folder = make_run(tmp_path / "run", model, {"data": str(cifar10_dir), "preset": "small",
                                                "subset": 500, "standardize": True, "towers": 2})
    x, *_ = minialex.data.load_cifar10(cifar10_dir, download=False, progress=False)
    keep = np.sort(np.random.default_rng(0).permutation(len(x))[:500])
    mean, std = minialex.data.channel_mean(x[keep]), minialex.data.channel_std(x[keep])
    r = run(folder, *test_jpegs, "--json", "--ten-crop")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["preprocessing"] == "ten crops 28x28 of 32x32"
    check_json(out, model, test_jpegs, mean, std, ten=True)


def test_text_output_and_a_folder_of_images(tmp_path, cifar10_dir):
    model = cifar_model(2)
    folder = make_run(tmp_path / "run", model, {"preset": "small", "mean": MEAN, "std": None})
    imgs = tmp_path / "imgs"
    imgs.mkdir()
    files = [cifar10_dir / "test" / "dog" / f"000{i}.jpg" for i in range(3)]
    for f in files:
        (imgs / f.name).write_bytes(f.read_bytes())
    (imgs / "notes.txt").write_text("not an image: skipped in a folder")
    r = run(folder, imgs)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert "centre crop 28x28 of 32x32; minialex" in lines[0]
    assert lines[1] == str(imgs / "0000.jpg") and len(lines) == 1 + 3 * 6
    want = expected_probs(model, files, MEAN, None)[0]
    best = int(np.argmax(want))
    assert lines[2].split()[:2] == ["1.", CIFAR10_CLASSES[best]]
    assert lines[2].split()[2] == f"{100 * want[best]:.2f}%"


def test_images_of_any_size_and_mode(tmp_path, test_jpegs):
    """Greyscale PNG, RGBA PNG, a large JPEG, a wide one: each becomes RGB,
    shorter side 32 (bilinear), centre 32x32, then the centre 28."""
    model = cifar_model(3)
    folder = make_run(tmp_path / "run", model, {"preset": "small", "mean": MEAN, "std": STD})
    rng = np.random.default_rng(0)
    base = Image.open(test_jpegs[0]).convert("RGB")
    files = {"grey.png": base.convert("L"), "rgba.png": base.convert("RGBA"),
             "big.jpg": base.resize((320, 320)), "wide.png": base.resize((96, 32)),
             "noise.png": Image.fromarray(rng.integers(0, 256, (50, 70, 3), np.uint8))}
    for name, im in files.items():
        im.save(tmp_path / name)
    r = run(folder, *(tmp_path / n for n in files), "--json")
    assert r.returncode == 0, r.stderr
    out = {p["image"]: p["top"] for p in json.loads(r.stdout)["predictions"]}
    assert len(out) == 5
    # the greyscale image is the RGB image with three equal channels
    grey = tmp_path / "grey_rgb.png"
    base.convert("L").convert("RGB").save(grey)
    want = expected_probs(model, [grey], MEAN, STD)[0]
    np.testing.assert_allclose(out[str(tmp_path / "grey.png")][0]["probability"], want.max(),
                               rtol=1e-5)
    # RGBA: the alpha channel is dropped, the colours kept (PNG is lossless)
    want = expected_probs(model, [test_jpegs[0]], MEAN, STD)[0]
    top = out[str(tmp_path / "rgba.png")]
    assert [t["index"] for t in top] == list(np.argsort(-want)[:5])
    np.testing.assert_allclose([t["probability"] for t in top], np.sort(want)[::-1][:5],
                               rtol=1e-5)
    # 96x32: already 32 high, so only the centre 32 columns are kept
    middle = tmp_path / "middle.png"
    files["wide.png"].crop((32, 0, 64, 32)).save(middle)
    want = expected_probs(model, [middle], MEAN, STD)[0]
    np.testing.assert_allclose([t["probability"] for t in out[str(tmp_path / "wide.png")]],
                               np.sort(want)[::-1][:5], rtol=1e-5)


def test_onnx_runtime_gives_the_same_probabilities(tmp_path, test_jpegs):
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    model = cifar_model(4)
    folder = make_run(tmp_path / "run", model, {"preset": "small", "mean": MEAN, "std": STD})
    r = run(folder, *test_jpegs, "--json", "--onnx")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["runtime"] == "onnxruntime"
    check_json(out, model, test_jpegs, MEAN, STD, rtol=1e-4)
    # a file exported before, ten crops through it
    from minialex.onnx import export
    export(model, tmp_path / "m.onnx")
    r = run(folder, *test_jpegs, "--json", "--onnx", tmp_path / "m.onnx", "--ten-crop")
    assert r.returncode == 0, r.stderr
    check_json(json.loads(r.stdout), model, test_jpegs, MEAN, STD, ten=True, rtol=1e-4)
    r = run(folder, *test_jpegs, "--onnx", tmp_path / "none.onnx")
    assert r.returncode == 1 and "none.onnx': no such file" in r.stderr


def test_onetower_run_at_224(tmp_path, test_jpegs):
    minialex.manual_seed(5)
    model = alexnet_onetower(3)
    fc8 = dict(model.named_parameters())["fc8.weight"]
    fc8.data = fc8.data * 300
    folder = make_run(tmp_path / "run", model, {"model": "onetower", "mean": MEAN, "std": STD,
                                                "classes": ["daisy", "rose", "tulip"]})
    r = run(folder, test_jpegs[0], "--json", "--top", "5")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["preprocessing"] == "centre crop 224x224 of 256x256"
    top = out["predictions"][0]["top"]
    assert len(top) == 3 and {t["class"] for t in top} == {"daisy", "rose", "tulip"}
    im = Image.open(test_jpegs[0]).convert("RGB").resize((256, 256), Image.BILINEAR)
    x = (np.asarray(im, np.float32)[16:240, 16:240] - np.float32(MEAN)) / np.float32(STD)
    want = predict_proba(model.eval(), np.ascontiguousarray(x.transpose(2, 0, 1))[None])[0]
    np.testing.assert_allclose([t["probability"] for t in top], np.sort(want)[::-1], rtol=1e-4)


def test_errors_are_one_clear_line(tmp_path, test_jpegs):
    model = cifar_model()
    folder = make_run(tmp_path / "run", model, {"preset": "small", "mean": MEAN, "std": STD})

    def error(*args):
        r = run(*args)
        assert r.returncode == 1 and r.stdout == ""
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("predict.py: error: "), r.stderr
        return lines[0]

    assert "no run folder at" in error(tmp_path / "nope", test_jpegs[0])
    (tmp_path / "empty").mkdir()
    assert "no config.json" in error(tmp_path / "empty", test_jpegs[0])
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(test_jpegs[0].read_bytes()[:200])           # truncated JPEG
    msg = error(folder, test_jpegs[0], bad)
    assert "broken.jpg" in msg and "cannot decode" in msg
    (tmp_path / "notes.txt").write_text("hello")
    assert "notes.txt" in error(folder, tmp_path / "notes.txt")
    assert "no such image file or folder" in error(folder, tmp_path / "missing.jpg")
    (tmp_path / "noimages").mkdir()
    assert "holds no image files" in error(folder, tmp_path / "noimages")


def test_a_run_of_another_model_is_refused(tmp_path, test_jpegs):
    from minialex import nn
    from minialex.serialization import save_npz

    class Other(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 2)
            self.config = {"model": "resnet18", "num_classes": 2}

    folder = make_run(tmp_path / "run", Other(), {"mean": MEAN})
    r = run(folder, test_jpegs[0])
    assert r.returncode == 1 and "model 'resnet18', which predict.py does not know" in r.stderr
    # an AlexNet-like config whose layers differ from every preset
    model = cifar_model()
    weird = tmp_path / "weird"
    make_run(weird, model, {"mean": MEAN})
    arrays = {f"model/{k}": v for k, v in model.state_dict().items()}
    cfg = {**model.config, "widths": [16, 32, 48, 32, 256]}
    save_npz(weird / "checkpoint.npz", arrays, {"format": "minialex-checkpoint-1",
                                                "config": cfg})
    r = run(weird, test_jpegs[0])
    assert r.returncode == 1 and "a run of another model" in r.stderr and "widths" in r.stderr
    save_npz(weird / "checkpoint.npz", arrays, {"format": "something-else"})
    r = run(weird, test_jpegs[0])
    assert r.returncode == 1 and "not a minialex training checkpoint" in r.stderr
