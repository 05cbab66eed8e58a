"""load_image_folder: classes and labels, RGB conversion, resizing, decode
errors naming the file, and the fingerprinted cache outside the data folder."""

import os
import warnings

import numpy as np
import pytest
from PIL import Image

import minialex.data.image_folder as image_folder
from minialex.data import ImageDecodeError, load_image_folder
from minialex.data.image_folder import cache_path


def make_folder(root, per_class=(3, 2, 4), size=(6, 5), seed=0, names=("dog", "cat", "ant")):
    """PNG image folder; returns {relative path: RGB array} of what was written."""
    rng = np.random.default_rng(seed)
    written = {}
    for name, n in zip(names, per_class):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            img = rng.integers(0, 256, size=(size[0], size[1], 3), dtype=np.uint8)
            Image.fromarray(img).save(root / name / f"{i:03d}.png")
            written[f"{name}/{i:03d}.png"] = img
    return written


def no_decode(*args, **kwargs):
    raise AssertionError("decode_images was called: the cache was not used")


def test_classes_labels_and_pixels(tmp_path):
    data = tmp_path / "data"
    written = make_folder(data)
    (data / "cat" / "notes.txt").write_text("not an image")
    (data / "cat" / ".hidden.png").write_bytes(b"junk")
    x, y, classes = load_image_folder(data, cache_dir=tmp_path / "c", progress=False)
    assert classes == ["ant", "cat", "dog"]
    assert x.shape == (9, 6, 5, 3) and x.dtype == np.uint8
    assert y.dtype == np.int64 and y.tolist() == [0] * 4 + [1] * 2 + [2] * 3
    expected = [written[k] for k in sorted(written, key=lambda k: (k.split("/")[0], k))]
    np.testing.assert_array_equal(x, np.stack(expected))


def test_split_argument_and_non_rgb_modes(tmp_path):
    d = tmp_path / "train" / "a"
    d.mkdir(parents=True)
    grey = np.arange(12, dtype=np.uint8).reshape(3, 4) * 20
    Image.fromarray(grey, mode="L").save(d / "0.png")
    rgba = np.zeros((3, 4, 4), np.uint8)
    rgba[..., :3], rgba[..., 3] = (10, 20, 30), 255
    Image.fromarray(rgba, mode="RGBA").save(d / "1.png")
    Image.fromarray(np.full((3, 4, 3), 200, np.uint8)).save(d / "2.jpg", quality=95)
    x, y, classes = load_image_folder(tmp_path, split="train", cache=False, progress=False)
    assert classes == ["a"] and x.shape == (3, 3, 4, 3)
    np.testing.assert_array_equal(x[0], np.repeat(grey[..., None], 3, axis=-1))
    np.testing.assert_array_equal(x[1], rgba[..., :3])
    with Image.open(d / "2.jpg") as im:
        np.testing.assert_array_equal(x[2], np.asarray(im.convert("RGB")))
    assert abs(int(x[2].mean()) - 200) <= 2


def test_resize_shorter_side_and_centre_crop(tmp_path):
    d = tmp_path / "c"
    d.mkdir()
    rng = np.random.default_rng(1)
    wide = rng.integers(0, 256, (20, 40, 3), dtype=np.uint8)   # H=20, W=40
    Image.fromarray(wide).save(d / "wide.png")
    exact = rng.integers(0, 256, (10, 10, 3), dtype=np.uint8)
    Image.fromarray(exact).save(d / "exact.png")
    x, _, _ = load_image_folder(tmp_path, size=10, cache=False, progress=False)
    assert x.shape == (2, 10, 10, 3)
    np.testing.assert_array_equal(x[0], exact)                   # already 10x10: untouched
    ref = Image.fromarray(wide).resize((20, 10), Image.BILINEAR).crop((5, 0, 15, 10))
    np.testing.assert_array_equal(x[1], np.asarray(ref))


def test_mixed_sizes_without_size_are_refused(tmp_path):
    make_folder(tmp_path / "a", per_class=(2,), size=(6, 5), names=("k",))
    Image.fromarray(np.zeros((7, 5, 3), np.uint8)).save(tmp_path / "a" / "k" / "999.png")
    with pytest.raises(ImageDecodeError, match=r"999\.png.*7x5.*size="):
        load_image_folder(tmp_path / "a", cache=False, progress=False)


@pytest.mark.parametrize("workers", [0, 2])
def test_truncated_or_bogus_image_names_the_file(tmp_path, workers):
    make_folder(tmp_path, per_class=(3,), names=("k",))
    p = tmp_path / "k" / "001.png"
    p.write_bytes(p.read_bytes()[:40])
    with pytest.raises(ImageDecodeError, match=r"k/001\.png"):
        load_image_folder(tmp_path, cache=False, workers=workers, progress=False)
    p.write_bytes(b"this is not a PNG file at all")
    with pytest.raises(ImageDecodeError, match=r"k/001\.png"):
        load_image_folder(tmp_path, cache=False, workers=workers, progress=False)


def test_process_pool_gives_the_same_arrays(tmp_path, monkeypatch):
    make_folder(tmp_path, per_class=(5, 7, 3))
    monkeypatch.setattr("minialex.data._decode._CHUNK", 4)   # several jobs per worker
    a = load_image_folder(tmp_path, cache=False, workers=0, progress=False)
    b = load_image_folder(tmp_path, cache=False, workers=2, progress=False)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])


def test_errors_for_missing_or_empty_folders(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_image_folder(tmp_path / "missing")
    with pytest.raises(ValueError, match="no class sub-folders"):
        load_image_folder(tmp_path)
    (tmp_path / "a").mkdir()
    with pytest.raises(ValueError, match="no image files"):
        load_image_folder(tmp_path)
    with pytest.raises(ValueError, match="size must be"):
        load_image_folder(tmp_path, size=0)


def listing(root):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def test_cache_is_used_outside_the_data_folder_and_rebuilt_on_change(tmp_path, monkeypatch):
    data, cache = tmp_path / "data", tmp_path / "cache"
    make_folder(data)
    files_before = listing(data)
    first = load_image_folder(data, cache_dir=cache, progress=False)
    assert listing(data) == files_before                      # nothing written into the data
    path = cache_path(data, None, None, cache)
    assert path.parent == cache and path.is_file()
    assert [p.name for p in cache.iterdir()] == [path.name]   # no temp files left over

    monkeypatch.setattr(image_folder, "decode_images", no_decode)
    second = load_image_folder(data, cache_dir=cache, progress=False)
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)
    # MINIALEX_CACHE is the default cache dir
    monkeypatch.setenv("MINIALEX_CACHE", str(cache))
    load_image_folder(data, progress=False)
    monkeypatch.undo()

    # rewrite one file (new pixels, new mtime): the cache is rebuilt
    new = np.full((6, 5, 3), 7, np.uint8)
    target = data / "cat" / "001.png"
    Image.fromarray(new).save(target)
    st = os.stat(target)
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    third = load_image_folder(data, cache_dir=cache, progress=False)
    np.testing.assert_array_equal(third[0][4 + 1], new)      # ant has 4, then cat/000, cat/001
    # add a file: rebuilt again
    Image.fromarray(new).save(data / "ant" / "zzz.png")
    fourth = load_image_folder(data, cache_dir=cache, progress=False)
    assert len(fourth[0]) == 10 and fourth[1].tolist().count(0) == 5
    # different size setting: a different cache entry
    assert cache_path(data, None, 4, cache) != path


def test_corrupt_cache_is_rebuilt(tmp_path):
    data, cache = tmp_path / "data", tmp_path / "cache"
    make_folder(data)
    x, _, _ = load_image_folder(data, cache_dir=cache, progress=False)
    path = cache_path(data, None, None, cache)
    path.write_bytes(path.read_bytes()[:100])                  # truncated cache file
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        again, _, _ = load_image_folder(data, cache_dir=cache, progress=False)
    assert any("unreadable cache" in str(m.message) for m in w)
    np.testing.assert_array_equal(again, x)
    with np.load(path, allow_pickle=False) as z:                 # rewritten, complete
        np.testing.assert_array_equal(z["x"], x)


def test_cache_is_not_used_when_disabled(tmp_path, monkeypatch):
    data, cache = tmp_path / "data", tmp_path / "cache"
    make_folder(data)
    load_image_folder(data, cache=False, cache_dir=cache, progress=False)
    assert not cache.exists()
    calls = []
    real = image_folder.decode_images
    monkeypatch.setattr(image_folder, "decode_images", lambda *a, **k: calls.append(1) or real(*a, **k))
    load_image_folder(data, cache=False, cache_dir=cache, progress=False)
    assert calls == [1]
    load_image_folder(data, cache_dir=cache, progress=False)   # cache on: decodes, writes
    assert calls == [1, 1] and cache_path(data, None, None, cache).is_file()
