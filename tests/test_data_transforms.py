"""Batch transforms: hand-checked crops and flips, ten-crop layout, normalize,
layout conversion, errors."""

import numpy as np
import pytest

from minialex.data import (Compose, PCAColor, center_crop, channel_mean, channel_std, crop,
                           mean_image, normalize, random_crop, random_flip, ten_crop, to_float32,
                           to_nchw_float32)


def batch(n=6, h=8, w=10, c=3, seed=0):
    return np.random.default_rng(seed).integers(0, 256, size=(n, h, w, c), dtype=np.uint8)


def test_crop_hand_case():
    x = np.arange(2 * 4 * 5 * 1).reshape(2, 4, 5, 1)
    out = crop(x, top=[0, 2], left=[1, 3], height=2, width=2)
    assert out[..., 0].tolist() == [[[1, 2], [6, 7]], [[33, 34], [38, 39]]]
    with pytest.raises(ValueError, match="outside"):
        crop(x, top=[0, 3], left=[0, 0], height=2, width=2)


def test_random_crop_matches_drawn_offsets():
    x = batch(n=50)
    t = random_crop(5)
    out = t(x, np.random.default_rng(7))
    top, left = t.draw(50, 8, 10, np.random.default_rng(7))
    assert out.shape == (50, 5, 5, 3) and out.dtype == np.uint8
    assert len(set(zip(top.tolist(), left.tolist()))) > 10  # offsets really vary
    assert top.max() <= 3 and left.max() <= 5
    for i in range(50):
        np.testing.assert_array_equal(out[i], x[i, top[i]:top[i] + 5, left[i]:left[i] + 5])


def test_random_crop_padding_is_zero_and_offsets_cover_range():
    x = np.full((400, 4, 4, 1), 9, np.uint8)
    t = random_crop(4, padding=2)
    out = t(x, np.random.default_rng(1))
    top, left = t.draw(400, 4, 4, np.random.default_rng(1))
    assert set(top.tolist()) == set(range(5)) and set(left.tolist()) == set(range(5))
    padded = np.pad(x, ((0, 0), (2, 2), (2, 2), (0, 0)))
    for i in range(400):
        np.testing.assert_array_equal(out[i], padded[i, top[i]:top[i] + 4, left[i]:left[i] + 4])
    i = int(np.flatnonzero((top == 0) & (left == 0))[0])
    assert out[i, :2].max() == 0 and out[i, 2:, 2:].min() == 9


def test_random_crop_errors_and_input_untouched():
    x = batch()
    before = x.copy()
    random_crop(4)(x, np.random.default_rng(0))
    np.testing.assert_array_equal(x, before)
    with pytest.raises(ValueError, match="larger than the images"):
        random_crop(9)(x, np.random.default_rng(0))
    with pytest.raises(TypeError, match="Generator"):
        random_crop(4)(x, None)
    with pytest.raises(ValueError, match=r"\(N, H, W, C\)"):
        random_crop(4)(x[0], np.random.default_rng(0))


def test_random_flip_hand_case():
    x = np.arange(4 * 1 * 3 * 1).reshape(4, 1, 3, 1).astype(np.uint8)
    out = random_flip()(x, np.random.default_rng(3))
    flipped = np.random.default_rng(3).random(4) < 0.5
    for i in range(4):
        expect = x[i, :, ::-1] if flipped[i] else x[i]
        np.testing.assert_array_equal(out[i], expect)
    assert 0 < flipped.sum() < 4  # this seed flips some but not all
    np.testing.assert_array_equal(random_flip(1.0)(x, np.random.default_rng(0))[:, 0, :, 0],
                                  [[2, 1, 0], [5, 4, 3], [8, 7, 6], [11, 10, 9]])
    np.testing.assert_array_equal(random_flip(0.0)(x, np.random.default_rng(0)), x)


def test_random_flip_rate():
    x = batch(n=4000, h=1, w=2, c=1)
    x[:, 0, 0], x[:, 0, 1] = 0, 1
    out = random_flip()(x, np.random.default_rng(0))
    assert abs((out[:, 0, 0, 0] == 1).mean() - 0.5) < 0.03


def test_center_crop():
    x = batch(h=8, w=10)
    out = center_crop((4, 6))(x)
    np.testing.assert_array_equal(out, x[:, 2:6, 2:8])
    np.testing.assert_array_equal(center_crop(3)(x), x[:, 2:5, 3:6])


def test_ten_crop_layout():
    x = batch(n=3, h=8, w=10)
    out = ten_crop(5)(x)
    assert out.shape == (10, 3, 5, 5, 3) and out.dtype == np.uint8
    np.testing.assert_array_equal(out[0], x[:, :5, :5])
    np.testing.assert_array_equal(out[1], x[:, :5, 5:])
    np.testing.assert_array_equal(out[2], x[:, 3:, :5])
    np.testing.assert_array_equal(out[3], x[:, 3:, 5:])
    np.testing.assert_array_equal(out[4], center_crop(5)(x))
    for k in range(5):
        np.testing.assert_array_equal(out[5 + k], out[k][:, :, ::-1])
    nchw = Compose([ten_crop(5), to_float32(), to_nchw_float32()])(x)
    assert nchw.shape == (10, 3, 3, 5, 5) and nchw.dtype == np.float32
    np.testing.assert_array_equal(nchw[7, 1, 2], x[1, 3:, :5, 2][:, ::-1])


def test_to_nchw_float32():
    x = batch(n=2, h=3, w=4)
    out = to_nchw_float32()(x)
    assert out.shape == (2, 3, 3, 4) and out.dtype == np.float32 and out.flags.c_contiguous
    assert out[1, 2, 0, 3] == x[1, 0, 3, 2]


def test_normalize_channel_and_image_means():
    x = batch(n=5, h=4, w=4)
    m = channel_mean(x)
    np.testing.assert_allclose(m, x.reshape(-1, 3).mean(0), rtol=1e-6)
    out = normalize(m)(x)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out.reshape(-1, 3).mean(0), 0, atol=1e-4)
    s = channel_std(x)
    np.testing.assert_allclose(s, x.reshape(-1, 3).std(0), rtol=1e-5)
    np.testing.assert_allclose(normalize(m, s)(x).reshape(-1, 3).std(0), 1, rtol=1e-5)
    mi = mean_image(x)
    assert mi.shape == (4, 4, 3)
    np.testing.assert_allclose(normalize(mi)(x).mean(0), 0, atol=1e-4)
    assert normalize([1, 2, 3])(np.zeros((1, 1, 1, 3), np.uint8)).ravel().tolist() == [-1, -2, -3]


def test_normalize_errors():
    x = batch(n=2, h=4, w=4)
    with pytest.raises(ValueError, match="does not fit"):
        normalize(np.zeros((5, 5, 3)))(x)
    with pytest.raises(ValueError, match="zeros"):
        normalize([0, 0, 0], std=[1, 0, 1])
    with pytest.raises(ValueError, match=r"\(C,\) or \(H, W, C\)"):
        normalize(np.zeros((2, 3)))


def test_training_pipeline_shapes_and_determinism():
    x = batch(n=16, h=32, w=32)
    tf = Compose([random_crop(28), random_flip(), to_float32(), PCAColor.fit(x),
                  normalize(channel_mean(x)), to_nchw_float32()])
    a = tf(x, np.random.default_rng(5))
    b = tf(x, np.random.default_rng(5))
    c = tf(x, np.random.default_rng(6))
    assert a.shape == (16, 3, 28, 28) and a.dtype == np.float32
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_compose_rejects_non_callables_and_random_flip_misuse():
    with pytest.raises(TypeError, match="callables"):
        Compose([random_crop(2), 3])
    with pytest.raises(TypeError, match="random_flip\\(\\)"):
        random_flip(batch())
