"""Batch transforms at their edges: crop bounds and the exact message, crops
as large as the image, the documented offset and flip draws, ten-crop
corners when h does not divide H, and normalize on non-square images, other
ranks and every std shape."""

import numpy as np
import pytest

from minialex.data import (center_crop, crop, normalize, random_crop, random_flip, ten_crop,
                           to_nchw_float32)


def batch(n=2, h=8, w=10, c=3, seed=0):
    return np.random.default_rng(seed).integers(0, 256, size=(n, h, w, c), dtype=np.uint8)


def raises_exactly(exc, message, fn, *args, **kwargs):
    with pytest.raises(exc) as info:
        fn(*args, **kwargs)
    assert str(info.value) == message


def test_crop_inside_the_image_is_the_slice():
    """Crops that touch neither the bottom nor the right edge, with every
    offset above 0, and one ending exactly at the right edge: each is the
    plain slice (the bound checks are '< 0' and '> size', nothing stricter)."""
    x = np.arange(2 * 4 * 5 * 1).reshape(2, 4, 5, 1)
    out = crop(x, top=[1, 1], left=[1, 2], height=2, width=2)
    assert out[..., 0].tolist() == [[[6, 7], [11, 12]], [[27, 28], [32, 33]]]
    out = crop(x, top=1, left=3, height=2, width=2)
    assert out[..., 0].tolist() == [[[8, 9], [13, 14]], [[28, 29], [33, 34]]]


@pytest.mark.parametrize("top,left,height,width", [
    ([-1, 0], [0, 0], 2, 2),     # above the top
    ([0, 0], [0, -1], 2, 2),     # left of the left edge
    ([0, 3], [0, 0], 2, 2),      # 3 + 2 > 4 rows
    ([0, 0], [3, 0], 2, 3),      # 3 + 3 > 5 columns (3 | 3, 3 ^ 3, 3 - 3 ... are not)
])
def test_crop_outside_the_image_names_the_image_size(top, left, height, width):
    """Every way out of a (2, 4, 5, 1) batch is one ValueError whose message
    gives the crop and the image size H x W = 4x5 (not N, not C)."""
    x = np.arange(2 * 4 * 5 * 1).reshape(2, 4, 5, 1)
    raises_exactly(ValueError, f"crop {height}x{width} at the given offsets falls outside images "
                   "of size 4x5", crop, x, top, left, height, width)


def test_crops_as_large_as_the_image():
    """A crop of the whole (padded) image is allowed: random_crop, centre
    crop and all ten crops of size (H, W) give the image (the mirrors
    flipped); one more row or column is the 'larger than the images'
    message, also when only one side is too large."""
    x = batch()
    rng = np.random.default_rng(0)
    np.testing.assert_array_equal(random_crop((8, 10))(x, rng), x)
    padded = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    np.testing.assert_array_equal(random_crop((10, 12), padding=1)(x, rng), padded)
    np.testing.assert_array_equal(center_crop((8, 10))(x), x)
    ten = ten_crop((8, 10))(x)
    for k in range(5):
        np.testing.assert_array_equal(ten[k], x)
        np.testing.assert_array_equal(ten[5 + k], x[:, :, ::-1])
    for size in ((9, 10), (8, 11), (9, 4), (4, 11)):
        h, w = size
        raises_exactly(ValueError, f"RandomCrop {h}x{w} is larger than the images (8x10 with "
                       "padding 0). Fix: a smaller size or more padding.",
                       random_crop(size), x, rng)
        raises_exactly(ValueError, f"CenterCrop {h}x{w} is larger than the images (8x10)",
                       center_crop(size), x)
        raises_exactly(ValueError, f"TenCrop {h}x{w} is larger than the images (8x10)",
                       ten_crop(size), x)


def test_random_crop_offsets_are_drawn_as_documented():
    """top = rng.integers(0, H - h + 1, N), then left = rng.integers(0,
    W - w + 1, N), with H - h and W - w odd (3): the same numbers from the
    same seed, and all of 0..3 reached."""
    t = random_crop((1, 2))
    top, left = t.draw(300, 4, 5, np.random.default_rng(0))
    g = np.random.default_rng(0)
    np.testing.assert_array_equal(top, g.integers(0, 4, size=300))
    np.testing.assert_array_equal(left, g.integers(0, 4, size=300))
    assert set(top.tolist()) == set(left.tolist()) == {0, 1, 2, 3}
    x = batch(n=300, h=4, w=5, c=1)
    out = t(x, np.random.default_rng(0))
    for i in range(300):
        np.testing.assert_array_equal(out[i], x[i, top[i]:top[i] + 1, left[i]:left[i] + 2])


class FixedDraws(np.random.Generator):
    """A Generator whose random() returns given numbers (to hit p exactly)."""

    def __init__(self, values):
        super().__init__(np.random.PCG64(0))
        self.values = np.asarray(values, dtype=np.float64)

    def random(self, size=None):
        return self.values[:size].copy()


def test_random_flip_flips_where_the_draw_is_below_p():
    """The images flipped are rng.random(N) < p, strictly: a draw equal to p
    keeps its image, so p = 0.5 with draws (0.5, 0.25, 0.75) flips image 1
    only, and p = 0 flips nothing even for a draw of 0."""
    x = np.arange(3 * 1 * 3 * 1).reshape(3, 1, 3, 1).astype(np.uint8)
    out = random_flip(0.5)(x, FixedDraws([0.5, 0.25, 0.75]))
    assert out[:, 0, :, 0].tolist() == [[0, 1, 2], [5, 4, 3], [6, 7, 8]]
    np.testing.assert_array_equal(random_flip(0.0)(x, FixedDraws([0.0, 0.0, 0.0])), x)


def test_ten_crop_corners_when_h_does_not_divide_h():
    """Bottom corners start at H - h (8 - 3 = 5), not H % h (2); right ones
    at W - w (10 - 3 = 7)."""
    x = batch(h=8, w=10)
    out = ten_crop(3)(x)
    np.testing.assert_array_equal(out[0], x[:, :3, :3])
    np.testing.assert_array_equal(out[1], x[:, :3, 7:])
    np.testing.assert_array_equal(out[2], x[:, 5:, :3])
    np.testing.assert_array_equal(out[3], x[:, 5:, 7:])
    np.testing.assert_array_equal(out[4], x[:, 2:5, 3:6])


def test_layout_and_normalize_take_three_axes_or_more():
    """One (H, W, C) image is (..., H, W, C) with nothing before: to_nchw_float32
    gives (C, H, W) and normalize subtracts; a 2-axis array is refused by both
    with their messages (not NumPy's AxisError, not a silent result)."""
    img = np.arange(2 * 3 * 4).reshape(2, 3, 4).astype(np.uint8)
    chw = to_nchw_float32()(img)
    assert chw.shape == (4, 2, 3) and chw.dtype == np.float32
    np.testing.assert_array_equal(chw, img.transpose(2, 0, 1))
    np.testing.assert_array_equal(normalize([1, 2, 3, 4])(img), img - np.float32([1, 2, 3, 4]))
    raises_exactly(ValueError, "to_nchw_float32 expects (..., H, W, C), got shape (3, 4)",
                   to_nchw_float32(), np.zeros((3, 4)))
    raises_exactly(ValueError, "normalize expects a channels-last batch (..., H, W, C), got "
                   "(3, 4)", normalize([1, 2, 3, 4]), np.zeros((3, 4)))


@pytest.mark.parametrize("shape", [(2, 3, 5, 3), (3, 5, 3), (10, 2, 3, 5, 3)])
def test_normalize_non_square_images_of_any_rank(shape):
    """(x - mean) / std on non-square (3 x 5) images, one image, a batch and
    a ten-crop batch, per-channel and full-image mean and std: equal to the
    plain broadcast in float32 (the W*C view must use W, the axis before C,
    and keep every leading axis)."""
    x = np.random.default_rng(1).integers(0, 256, size=shape).astype(np.uint8)
    xf = x.astype(np.float32)
    m, s = np.float32([10, 20, 30]), np.float32([2, 4, 5])
    mi = np.random.default_rng(2).uniform(0, 255, size=(3, 5, 3)).astype(np.float32)
    si = np.random.default_rng(3).uniform(1, 9, size=(3, 5, 3)).astype(np.float32)
    np.testing.assert_array_equal(normalize(m)(x), xf - m)
    np.testing.assert_array_equal(normalize(m, s)(x), (xf - m) / s)
    np.testing.assert_array_equal(normalize(mi)(x), xf - mi)
    np.testing.assert_array_equal(normalize(mi, si)(x), (xf - mi) / si)
    np.testing.assert_array_equal(normalize(m, np.float32(4))(x), (xf - m) / np.float32(4))


def test_normalize_std_shapes():
    """std may be a scalar, (C,) or (H, W, C) (each divides as broadcast, by
    hand for the scalar); (H, C) and (1, H, W, C) are refused by name."""
    x = np.array([[[[2, 4, 6], [8, 10, 12]]]], np.uint8)  # (1, 1, 2, 3)
    assert normalize([0, 0, 0], 2.0)(x).ravel().tolist() == [1, 2, 3, 4, 5, 6]
    assert normalize([0, 2, 4], std=[1, 2, 2])(x).ravel().tolist() == [2, 1, 1, 8, 4, 4]
    si = np.array([[[1, 2, 3], [4, 5, 6]]], np.float32)  # (1, 2, 3)
    assert normalize([0, 0, 0], std=si)(x).ravel().tolist() == [2, 2, 2, 2, 2, 2]
    raises_exactly(ValueError, "std must be a scalar, (C,) or (H, W, C), got (2, 3)",
                   normalize, [0, 0, 0], np.ones((2, 3)))
    raises_exactly(ValueError, "std must be a scalar, (C,) or (H, W, C), got (1, 1, 2, 3)",
                   normalize, [0, 0, 0], np.ones((1, 1, 2, 3)))


def test_normalize_refuses_zeros_in_std_only():
    """Only a zero std is refused ('has zeros'): std 1 and a negative std
    divide as given, (x - mean) / std."""
    raises_exactly(ValueError, "std has zeros; dividing by it would give inf. Fix: add a small "
                   "epsilon or use std=None", normalize, [0, 0, 0], [2, 0, 2])
    x = np.array([[[[2, 4, 6]]]], np.uint8)
    assert normalize([1, 1, 1], [1, 1, 1])(x).ravel().tolist() == [1, 3, 5]
    assert normalize([0, 0, 0], [-2, 1, -1])(x).ravel().tolist() == [-1, 4, -6]


def test_normalize_names_a_mean_or_std_that_does_not_fit():
    """A mean image or a per-channel mean/std of the wrong size is refused
    with the message, also when its shape is smaller than the batch's
    (a (3, 3, 3) mean on 4x4 images, a (3,) mean or std on 4 channels)."""
    def message(name, a_shape, x_shape):
        return (f"normalize {name} of shape {a_shape} does not fit a channels-last batch of "
                f"shape {x_shape}. Fix: a per-channel (C,) {name}, or a (H, W, C) one of the "
                "batch's spatial size (apply it before cropping).")
    x = np.zeros((2, 4, 4, 3), np.uint8)
    raises_exactly(ValueError, message("mean", (3, 3, 3), (2, 4, 4, 3)),
                   normalize(np.zeros((3, 3, 3))), x)
    raises_exactly(ValueError, message("mean", (5, 5, 3), (2, 4, 4, 3)),
                   normalize(np.zeros((5, 5, 3))), x)
    x4 = np.zeros((2, 4, 4, 4), np.uint8)
    raises_exactly(ValueError, message("mean", (3,), (2, 4, 4, 4)), normalize([1, 2, 3]), x4)
    raises_exactly(ValueError, message("std", (3,), (2, 4, 4, 4)),
                   normalize([1, 2, 3, 4], [1, 2, 3]), x4)
