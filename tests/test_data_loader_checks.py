"""DataLoader: the argument checks of the constructor and of set_epoch, with
their exact messages and their exact boundaries (the first value refused and
the last one accepted), the defaults, len() and the check of what the
transform returns. Written for the mutation survivors of
minialex/data/loader.py (issue 20): the messages are matched whole, so a
wrong number in them or a check that refuses a legal value fails."""

import re

import numpy as np
import pytest

from minialex.data import DataLoader, to_nchw_float32


def images(shape, dtype=np.uint8):
    return np.zeros(shape, dtype)


def raises_exactly(exc, message):
    """pytest.raises matching the whole message, not a fragment of it."""
    return pytest.raises(exc, match="^" + re.escape(message) + "$")


def first_batch(loader):
    return next(iter(loader))


# ---------------------------------------------------------------- x and y
def test_x_must_be_4d_images():
    """A 3-D and a 5-D x are both refused with the shape in the message (a
    check `ndim < 4` would let the 5-D one through)."""
    for shape in [(6, 8, 8), (6, 8, 8, 3, 1)]:
        with raises_exactly(ValueError, f"DataLoader x must be images (N, H, W, C), got shape "
                                        f"{shape}"):
            DataLoader(images(shape), np.zeros(6))


@pytest.mark.parametrize("y_shape", [(), (6, 1), (5,), (7,)])
def test_y_must_be_n_labels(y_shape):
    """y a scalar, (N, 1), shorter or longer than x: one ValueError naming both
    (a scalar y must not reach len(), (N, 1) has the right length but not
    the right rank, a longer y is as wrong as a shorter one)."""
    with raises_exactly(ValueError, f"DataLoader x has 6 images but y has shape {y_shape}; they "
                                    "must have the same length N (y of shape (N,))"):
        DataLoader(images((6, 8, 8, 3)), np.zeros(y_shape))


def test_labels_are_int64_and_arrays_are_not_copied():
    """y becomes int64; an int64 y and the uint8 x are held as given, not
    copied (a data set of 50000 images is not duplicated; in-place edits of
    the caller's arrays are what the loader reads)."""
    x, y = images((6, 8, 8, 3)), np.arange(6, dtype=np.int64)
    loader = DataLoader(x, y)
    assert loader.x is x and loader.y is y
    y32 = np.arange(6, dtype=np.int32)
    assert DataLoader(x, y32).y.dtype == np.int64


def test_channels_first_x_is_refused():
    """(N, C, H, W) with C 1 or 3 and a last axis that is no channel count is
    refused (N = 4 and 5, so neither the N axis nor H is read instead)."""
    for shape in [(5, 3, 8, 8), (4, 3, 8, 8), (5, 1, 8, 8), (5, 3, 3, 8), (5, 3, 8, 5)]:
        with raises_exactly(ValueError, f"DataLoader x of shape {shape} looks channels-first "
                            "(N, C, H, W); it takes images as stored, (N, H, W, C), and its "
                            "transforms end in NCHW. Fix: pass x.transpose(0, 2, 3, 1)"):
            DataLoader(images(shape), np.zeros(shape[0]))


@pytest.mark.parametrize("shape", [(5, 3, 8, 1), (5, 3, 8, 3), (5, 3, 8, 4), (5, 1, 8, 1),
                                   (5, 8, 8, 2), (5, 8, 8, 8), (3, 8, 8, 3)])
def test_channels_last_x_with_small_height_is_accepted(shape):
    """Images (N, H, W, C) whose height is 1 or 3 with 1, 3 or 4 channels, and
    images of 2 or 8 channels with H 8, are taken as they are: the first
    batch is (N, C, H, W)."""
    xb, _ = first_batch(DataLoader(images(shape), np.zeros(shape[0]), shuffle=False,
                                   prefetch=0))
    assert xb.shape == (shape[0], shape[3], shape[1], shape[2])


# ---------------------------------------------------------------- numbers
def test_batch_size_bounds():
    """batch_size 1 is legal (one batch per image); 0 and -1 are refused."""
    x, y = images((5, 8, 8, 3)), np.zeros(5)
    assert len(DataLoader(x, y, batch_size=1)) == 5
    for bad in [0, -1]:
        with raises_exactly(ValueError, f"batch_size must be a positive int, got {bad}"):
            DataLoader(x, y, batch_size=bad)


def test_drop_last_needs_one_full_batch():
    """drop_last with exactly batch_size images gives one batch; one image
    fewer is refused."""
    x, y = images((8, 4, 4, 3)), np.arange(8)
    loader = DataLoader(x, y, batch_size=8, drop_last=True, shuffle=False, prefetch=0)
    assert len(loader) == 1 and [yb.tolist() for _, yb in loader] == [list(range(8))]
    with raises_exactly(ValueError, "drop_last=True with 7 images < batch_size=8 gives no "
                        "batches; lower batch_size or set drop_last=False"):
        DataLoader(x[:7], y[:7], batch_size=8, drop_last=True)


@pytest.mark.parametrize("bad", [0, -1, 1.5, "2"])
def test_num_replicas_must_be_an_int_from_one(bad):
    """num_replicas 0, -1, 1.5 and '2' each get the num_replicas message, not
    the rank one that would follow."""
    with raises_exactly(ValueError, f"num_replicas must be an int >= 1, got {bad!r}"):
        DataLoader(images((4, 2, 2, 3)), np.zeros(4), num_replicas=bad)


def test_every_rank_below_num_replicas_is_legal():
    """num_replicas 2 and 4 with each legal rank (numpy ints too) construct."""
    x, y = images((8, 2, 2, 3)), np.zeros(8)
    for world in [2, 4]:
        for rank in range(world):
            assert DataLoader(x, y, num_replicas=world, rank=np.int64(rank)).rank == rank


@pytest.mark.parametrize("world,rank", [(2, -1), (2, 2), (2, 3), (4, -1), (4, 4), (4, 5),
                                        (4, 1.0)])
def test_rank_outside_the_world_is_refused(world, rank):
    """rank -1, num_replicas and beyond, or a float: the message names the
    range 0..num_replicas-1 exactly (0..1 for 2 processes, 0..3 for 4)."""
    with raises_exactly(ValueError, f"rank must be an int in 0..{world - 1} "
                                    f"(num_replicas={world}), got {rank!r}"):
        DataLoader(images((8, 2, 2, 3)), np.zeros(8), num_replicas=world, rank=rank)


def test_defaults():
    """batch_size 128, seed 0, prefetch 2: 300 images give 3 batches, and the
    order of epoch 0 is default_rng([0, 0]).permutation(300)."""
    x, y = images((300, 2, 2, 3)), np.arange(300)
    loader = DataLoader(x, y)
    assert (loader.batch_size, loader.seed, loader.prefetch) == (128, 0, 2)
    assert len(loader) == 3
    labels = [yb for _, yb in loader]
    assert [len(yb) for yb in labels] == [128, 128, 44]
    order = np.random.default_rng([0, 0]).permutation(300)
    np.testing.assert_array_equal(np.concatenate(labels), order)


# ---------------------------------------------------------------- len and set_epoch
@pytest.mark.parametrize("n,b,drop_last,expected", [(96, 16, False, 6), (97, 16, False, 7),
                                                    (95, 16, False, 6), (96, 16, True, 6),
                                                    (111, 16, True, 6), (16, 16, False, 1)])
def test_len_counts_global_batches(n, b, drop_last, expected):
    """len() is ceil(n / b), or floor with drop_last: exact at a multiple of b
    too (96 images in batches of 16 are 6 batches, not 7)."""
    loader = DataLoader(images((n, 2, 2, 3)), np.zeros(n), batch_size=b, drop_last=drop_last,
                        prefetch=0)
    assert len(loader) == expected
    assert sum(1 for _ in loader) == expected


def test_set_epoch_bounds():
    """epoch -1 and start_batch -1 or len+1 are refused, with exact messages;
    epoch 0 from batch len() is legal and yields nothing."""
    loader = DataLoader(images((20, 2, 2, 3)), np.zeros(20), batch_size=3)   # 7 batches
    with raises_exactly(ValueError, "epoch must be >= 0, got -1"):
        loader.set_epoch(-1)
    for bad in [-1, 8]:
        with raises_exactly(ValueError, f"start_batch must be in 0..7, got {bad}"):
            loader.set_epoch(0, bad)
    loader.set_epoch(0, 7)
    assert list(loader) == []
    assert loader.epoch == 1


def test_resume_mid_epoch_repeats_the_rest_exactly():
    """set_epoch(1, s) for s = 1, 3, 6 yields exactly batches s.. of an
    uninterrupted epoch 1 (same samples, same order), and then the next
    iter() starts epoch 2 from batch 0."""
    x = np.arange(20, dtype=np.uint8).reshape(20, 1, 1, 1) * np.ones((1, 2, 2, 3), np.uint8)
    loader = DataLoader(x, np.arange(20), batch_size=3, seed=4)
    loader.set_epoch(1)
    full = [yb.tolist() for _, yb in loader]
    loader.set_epoch(2)
    epoch2 = [yb.tolist() for _, yb in loader]
    for s in [1, 3, 6]:
        loader.set_epoch(1, s)
        assert [yb.tolist() for _, yb in loader] == full[s:]
        assert [yb.tolist() for _, yb in loader] == epoch2


# ---------------------------------------------------------------- transform output
def returning(shape, dtype=np.float32):
    return lambda xb, rng: np.zeros(shape, dtype)


@pytest.mark.parametrize("shape,dtype", [
    ((4, 3, 8, 8), np.float16), ((4, 3, 8, 8), np.uint8),      # not float32
    ((4, 3, 64), np.float32),                                   # 3-D
    ((2, 4, 3, 8), np.float32),                                 # 4-D, batch on axis 1
    ((4, 3, 8, 8, 1), np.float32),                              # 5-D, batch on axis 0
    ((10, 4, 3, 8, 8, 1), np.float32),                          # 6-D
    ((4, 1, 8, 8), np.float32),                                 # one channel of three
    ((10, 3, 3, 8, 8), np.float32), ((10, 4, 4, 8, 8), np.float32)])   # (k, B, C) wrong
def test_transform_output_must_be_float32_nchw(shape, dtype):
    """What the transform returns must be float32 (B, C, h, w) or (k, B, C, h, w)
    for this batch's B = 4 and the images' C = 3: every other dtype, rank, B
    or C gets the one message naming what came and what was expected."""
    x = images((4, 8, 8, 3))
    loader = DataLoader(x, np.zeros(4), batch_size=4, transform=returning(shape, dtype),
                        prefetch=0)
    with raises_exactly(ValueError, f"DataLoader transform returned {np.dtype(dtype)} of shape "
                        f"{shape}; expected float32 (B=4, C=3, h, w) or (k, B, C, h, w). Fix: "
                        "end the transform with to_nchw_float32()."):
        first_batch(loader)


def test_transform_output_of_another_type_is_named():
    """A transform returning a list names the type (it has no dtype)."""
    loader = DataLoader(images((4, 8, 8, 3)), np.zeros(4), transform=lambda xb, rng: [1],
                        prefetch=0)
    with raises_exactly(ValueError, "DataLoader transform returned list of shape None; expected "
                        "float32 (B=4, C=3, h, w) or (k, B, C, h, w). Fix: end the transform "
                        "with to_nchw_float32()."):
        first_batch(loader)


@pytest.mark.parametrize("shape", [(4, 3, 8, 8), (4, 3, 5, 6), (10, 4, 3, 6, 6), (1, 4, 3, 8, 8)])
def test_transform_output_of_the_right_form_passes(shape):
    """float32 (4, 3, h, w) and (k, 4, 3, h, w) are yielded as returned."""
    loader = DataLoader(images((4, 8, 8, 3)), np.zeros(4), transform=returning(shape), prefetch=0)
    assert first_batch(loader)[0].shape == shape


def test_transform_output_of_to_nchw_float32_passes():
    """The default transform's float32 (B, C, H, W) passes, uint8 images in."""
    loader = DataLoader(images((4, 8, 8, 3)), np.zeros(4), transform=lambda xb, rng:
                        to_nchw_float32()(xb))
    xb, _ = first_batch(loader)
    assert xb.dtype == np.float32 and xb.shape == (4, 3, 8, 8)
