"""Batch transforms: what each one accepts and the exact message for what it
does not (sizes, padding, flip probability, batch rank, data-set statistics'
inputs), the class defaults, and the reprs."""

import numpy as np
import pytest

from minialex.data import (Compose, RandomCrop, RandomFlip, center_crop, channel_mean,
                           channel_std, mean_image, normalize, random_crop, random_flip, ten_crop,
                           to_float32)


def batch(n=2, h=8, w=10, c=3, seed=0):
    return np.random.default_rng(seed).integers(0, 256, size=(n, h, w, c), dtype=np.uint8)


def raises_exactly(exc, message, fn, *args, **kwargs):
    """fn(*args, **kwargs) raises exactly ``exc`` (not a subclass stand-in of
    another type) with exactly ``message``."""
    with pytest.raises(exc) as info:
        fn(*args, **kwargs)
    assert str(info.value) == message


def test_compose_repr_lists_its_transforms_in_order():
    """repr(Compose) is 'Compose([' + the items' reprs joined by ', ' + '])';
    every other operator between these strings is a TypeError."""
    assert repr(Compose([random_crop(2), to_float32()])) == \
        "Compose([RandomCrop(size=(2, 2), padding=0), ToFloat32()])"
    assert repr(Compose([])) == "Compose([])"


def test_a_size_must_be_an_int_or_a_pair():
    """A size that does not iterate (TypeError inside _pair), whose items are
    not ints (ValueError) or that has three items (ValueError on unpacking) is
    the one TypeError with the transform's name; each of the two exception
    types must be caught."""
    raises_exactly(TypeError, "CenterCrop size must be an int or (height, width), got None",
                   center_crop, None)
    raises_exactly(TypeError, "RandomCrop size must be an int or (height, width), got ('a', 2)",
                   random_crop, ("a", 2))
    raises_exactly(TypeError, "TenCrop size must be an int or (height, width), got (1, 2, 3)",
                   ten_crop, (1, 2, 3))
    assert center_crop(np.int64(3)).size == (3, 3) and center_crop(("2", 4)).size == (2, 4)


@pytest.mark.parametrize("size", [(0, 3), (3, 0), (-1, 3), (3, -1), 0])
def test_a_size_must_be_positive_in_both_directions(size):
    """Zero or negative height or width, each alone, is refused with the
    pair in the message (a check on only one side, or '< 0', or 'and', lets
    one of these through)."""
    h, w = (size, size) if isinstance(size, int) else size
    for factory, name in ((center_crop, "CenterCrop"), (random_crop, "RandomCrop"),
                          (ten_crop, "TenCrop")):
        raises_exactly(ValueError, f"{name} size must be positive, got {(h, w)}", factory, size)


def test_a_one_pixel_crop_is_allowed():
    """Size 1 is the smallest valid size: the centre pixel (3, 4) of an 8x10
    image, and a 1x1 random crop equal to the pixel at its drawn offset."""
    x = batch()
    np.testing.assert_array_equal(center_crop(1)(x), x[:, 3:4, 4:5])
    np.testing.assert_array_equal(center_crop((1, 10))(x), x[:, 3:4])
    t = random_crop((1, 1))
    out = t(x, np.random.default_rng(4))
    top, left = t.draw(2, 8, 10, np.random.default_rng(4))
    for i in range(2):
        np.testing.assert_array_equal(out[i, 0, 0], x[i, top[i], left[i]])
    assert ten_crop(1)(x).shape == (10, 2, 1, 1, 3)


def test_random_crop_default_padding_is_zero_and_bad_paddings_say_so():
    """RandomCrop(size) pads nothing (the paper): padding 0, a full-size crop
    is the image. A negative, fractional or string padding is the ValueError
    'padding must be an int >= 0' (a NumPy int is fine)."""
    t = RandomCrop(3)
    assert t.padding == 0 and repr(t) == "RandomCrop(size=(3, 3), padding=0)"
    x = batch(h=3, w=3)
    np.testing.assert_array_equal(t(x, np.random.default_rng(0)), x)
    raises_exactly(ValueError, "padding must be an int >= 0, got -1", random_crop, 3, padding=-1)
    raises_exactly(ValueError, "padding must be an int >= 0, got 1.5", random_crop, 3, padding=1.5)
    raises_exactly(ValueError, "padding must be an int >= 0, got '2'", random_crop, 3, padding="2")
    assert random_crop(3, padding=np.int64(1)).padding == 1


def test_random_flip_default_and_p_outside_zero_one():
    """RandomFlip() flips with p 0.5; p below 0 or above 1 is refused with
    the value in the message; 0 and 1 themselves are allowed."""
    t = RandomFlip()
    assert t.p == 0.5 and repr(t) == "RandomFlip(p=0.5)"
    raises_exactly(ValueError, "RandomFlip p must be in [0, 1], got -0.5", random_flip, -0.5)
    raises_exactly(ValueError, "RandomFlip p must be in [0, 1], got 1.5", random_flip, 1.5)
    raises_exactly(ValueError, "RandomFlip p must be in [0, 1], got -1.0", RandomFlip, -1.0)
    assert random_flip(0.0).p == 0.0 and random_flip(1).p == 1.0


def test_batch_transforms_refuse_a_five_axis_array():
    """The batch transforms take exactly (N, H, W, C): a ten-crop result
    (5 axes) is refused with the full message, not cropped or flipped."""
    x5 = np.zeros((1, 1, 4, 4, 3), np.uint8)
    rng = np.random.default_rng(0)
    for t, name in ((random_crop(2), "RandomCrop"), (random_flip(), "RandomFlip"),
                    (center_crop(2), "CenterCrop"), (ten_crop(2), "TenCrop")):
        raises_exactly(ValueError, f"{name} expects a batch (N, H, W, C) as a NumPy array, got "
                       "(1, 1, 4, 4, 3). Fix: add a batch axis (x[None]) or convert with "
                       "np.asarray.", t, x5, rng)


@pytest.mark.parametrize("shape", [(0, 2, 2, 3), (2, 2, 3), (1, 1, 2, 2, 3), (0, 2, 3)])
def test_data_set_statistics_need_a_non_empty_four_axis_batch(shape):
    """channel_mean, channel_std and mean_image refuse an empty batch and any
    rank but 4 with one message (not NaN means, nor a mean over the wrong
    axes)."""
    x = np.ones(shape, np.uint8)
    for fn in (channel_mean, channel_std, mean_image):
        raises_exactly(ValueError, f"{fn.__name__} expects a non-empty batch (N, H, W, C), got "
                       f"shape {shape}", fn, x)


def test_data_set_statistics_of_one_image_by_hand():
    """A batch of one image is a data set: pixels (1, 2, 3) and (3, 6, 5)
    have channel means (2, 4, 4), population stds (1, 2, 1), and are the
    mean image themselves."""
    x = np.array([[[[1, 2, 3], [3, 6, 5]]]], np.uint8)
    assert channel_mean(x).tolist() == [2, 4, 4]
    assert channel_std(x).tolist() == [1, 2, 1]
    assert mean_image(x).tolist() == [[[1, 2, 3], [3, 6, 5]]]


def test_channel_std_of_a_constant_channel_is_exactly_zero():
    """Constant channels have std 0, not 1 (the clip's floor) and not NaN:
    uint8 sums are exact (std exactly 0); for float constants such as 0.3
    the float64 sums leave a variance a few ulps off 0, often below it
    (E[x^2] - E[x]^2: -1.4e-17 for 0.3, -2.2e-16 for 0.7 here), which the
    clip at 0 must remove before the square root."""
    assert channel_std(np.full((2, 2, 2, 3), 7, np.uint8)).tolist() == [0, 0, 0]
    x = np.empty((7, 1, 1, 4))
    x[...] = [0.3, 0.7, 3.3, 0.1]
    y = np.empty((3, 2, 1, 3))
    y[...] = [0.1, 0.2, 0.3]
    for s in (channel_std(x), channel_std(y)):
        assert np.isfinite(s).all() and s.max() < 1e-6


def test_normalize_repr_names_the_shapes():
    """repr(Normalize) gives the mean's shape and 'None' or the std's shape."""
    assert repr(normalize([1, 2, 3])) == "Normalize(mean shape (3,), std=None)"
    assert repr(normalize(np.zeros((2, 2, 3)), [1, 2, 3])) == \
        "Normalize(mean shape (2, 2, 3), std=(3,))"
