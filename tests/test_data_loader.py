"""DataLoader: coverage, repeatability per (seed, epoch), prefetch thread
shutdown and error propagation, errors."""

import threading
import time

import numpy as np
import pytest

from minialex.data import (Compose, DataLoader, PCAColor, channel_mean, normalize, random_crop,
                           random_flip, ten_crop, to_float32, to_nchw_float32)


def dataset(n=103, size=8, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, size=(n, size, size, 3), dtype=np.uint8)
    x[:, 0, 0, 0] = np.arange(n) % 256      # pixel (0, 0, R) identifies the sample
    x[:, 0, 0, 1] = np.arange(n) // 256
    return x, np.arange(n, dtype=np.int32) % 10


def ids(xb):
    return (xb[:, 0, 0, 0] + 256 * xb[:, 1, 0, 0]).astype(int)   # NCHW


def loader_threads():
    return [t for t in threading.enumerate() if t.name == "minialex-DataLoader"]


def collect(loader):
    return [(xb.copy(), yb.copy()) for xb, yb in loader]


def test_batches_shapes_and_every_sample_once():
    x, y = dataset()
    loader = DataLoader(x, y, batch_size=16)
    assert len(loader) == 7
    batches = collect(loader)
    assert len(batches) == 7
    assert [len(b[1]) for b in batches] == [16] * 6 + [7]
    for xb, yb in batches:
        assert xb.dtype == np.float32 and xb.shape[1:] == (3, 8, 8) and yb.dtype == np.int64
        np.testing.assert_array_equal(yb, ids(xb) % 10)   # labels travel with their images
    seen = np.concatenate([ids(xb) for xb, _ in batches])
    assert sorted(seen.tolist()) == list(range(103))
    assert seen.tolist() != list(range(103))            # shuffled


def test_drop_last_and_no_shuffle():
    x, y = dataset()
    loader = DataLoader(x, y, batch_size=16, shuffle=False, drop_last=True)
    assert len(loader) == 6
    seen = np.concatenate([ids(xb) for xb, _ in loader])
    assert seen.tolist() == list(range(96))


def augmenting(x):
    return Compose([random_crop(6), random_flip(), to_float32(), PCAColor.fit(x),
                    normalize(channel_mean(x)), to_nchw_float32()])


def test_same_seed_same_batches_and_augmentations():
    x, y = dataset()
    a = collect(DataLoader(x, y, batch_size=10, seed=3, transform=augmenting(x)))
    b = collect(DataLoader(x, y, batch_size=10, seed=3, transform=augmenting(x), prefetch=0))
    c = collect(DataLoader(x, y, batch_size=10, seed=4, transform=augmenting(x)))
    assert all(np.array_equal(p[0], q[0]) and np.array_equal(p[1], q[1]) for p, q in zip(a, b))
    assert not np.array_equal(a[0][1], c[0][1])
    assert a[0][0].shape == (10, 3, 6, 6)


def test_epochs_differ_and_resume_exactly():
    x, y = dataset()
    loader = DataLoader(x, y, batch_size=10, seed=1, transform=augmenting(x))
    e0, e1 = collect(loader), collect(loader)
    assert loader.epoch == 2
    assert not np.array_equal(e0[0][1], e1[0][1])          # new order each epoch
    assert sorted(np.concatenate([b[1] for b in e1]).tolist()) == sorted(y.tolist())
    # resume: a fresh loader at epoch 1 repeats epoch 1 exactly
    state = {"seed": 1, "epoch": 1}
    again = DataLoader(x, y, batch_size=10, seed=99, transform=augmenting(x))
    again.load_state_dict(state)
    r1 = collect(again)
    assert all(np.array_equal(p[0], q[0]) for p, q in zip(e1, r1))
    again.set_epoch(0)
    assert all(np.array_equal(p[0], q[0]) for p, q in zip(e0, collect(again)))
    assert again.state_dict() == {"seed": 1, "epoch": 1}


def test_break_stops_the_background_thread():
    x, y = dataset(n=2000)
    before = len(loader_threads())
    loader = DataLoader(x, y, batch_size=8, prefetch=2)
    for i, _ in enumerate(loader):
        if i == 2:
            break
    deadline = time.time() + 5
    while len(loader_threads()) > before and time.time() < deadline:
        time.sleep(0.01)
    assert len(loader_threads()) == before
    it = iter(loader)
    next(it)
    it.close()
    assert len(loader_threads()) == before
    with pytest.raises(StopIteration):
        next(it)


def test_transform_error_is_reraised_in_the_consumer():
    x, y = dataset()
    calls = []

    def failing(xb, rng):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("boom in transform")
        return to_nchw_float32()(xb)

    before = len(loader_threads())
    got = []
    with pytest.raises(RuntimeError, match="boom in transform"):
        for xb, _ in DataLoader(x, y, batch_size=10, transform=failing):
            got.append(xb)
    assert len(got) == 2
    assert len(loader_threads()) == before


def test_transform_output_is_checked():
    x, y = dataset()
    with pytest.raises(ValueError, match="to_nchw_float32"):
        next(iter(DataLoader(x, y, transform=Compose([to_float32()]))))
    with pytest.raises(ValueError, match="to_nchw_float32"):
        next(iter(DataLoader(x, y, transform=lambda xb, rng: to_nchw_float32()(xb).astype(np.float64))))


def test_ten_crop_batches():
    x, y = dataset()
    tf = Compose([ten_crop(6), to_float32(), to_nchw_float32()])
    xb, yb = next(iter(DataLoader(x, y, batch_size=4, shuffle=False, transform=tf)))
    assert xb.shape == (10, 4, 3, 6, 6)
    np.testing.assert_array_equal(xb[0, 2], np.moveaxis(x[2, :6, :6], -1, 0))


def test_errors():
    x, y = dataset()
    with pytest.raises(ValueError, match="same length"):
        DataLoader(x, y[:-1])
    with pytest.raises(ValueError, match="empty"):
        DataLoader(x[:0], y[:0])
    with pytest.raises(ValueError, match="batch_size"):
        DataLoader(x, y, batch_size=0)
    with pytest.raises(ValueError, match=r"\(N, H, W, C\)"):
        DataLoader(x[0], y)
    with pytest.raises(ValueError, match="prefetch"):
        DataLoader(x, y, prefetch=-1)
    with pytest.raises(ValueError, match="no batches"):
        DataLoader(x, y, batch_size=200, drop_last=True)


# ---------------------------------------------------------------- shares of num_replicas ranks
def shares(n, batch_size, world, rank):
    x, y = dataset(n=n)
    loader = DataLoader(x, y, batch_size=batch_size, shuffle=False, num_replicas=world, rank=rank)
    out = []
    for xb, yb in loader:
        np.testing.assert_array_equal(ids(xb) % 10, yb)   # images and labels stay together
        out.append(ids(xb).tolist())
    return out


def test_each_rank_takes_its_contiguous_share_of_every_batch():
    """10 images in batches of 4 over 2 ranks, in data order: rank 0 gets the
    first half of every global batch, rank 1 the second; the last batch
    (8, 9) gives one image to each."""
    assert shares(10, 4, 2, 0) == [[0, 1], [4, 5], [8]]
    assert shares(10, 4, 2, 1) == [[2, 3], [6, 7], [9]]
    assert shares(10, 4, 1, 0) == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]


def test_a_rank_with_an_empty_share_skips_the_batch():
    """9 images in batches of 4 over 4 ranks: the last batch (8) goes to rank
    0 alone; ranks 1..3 skip it (no empty batch reaches the transform or the
    caller), and the batches of one image each before it are kept."""
    assert shares(9, 4, 4, 0) == [[0], [4], [8]]
    assert shares(9, 4, 4, 1) == [[1], [5]]
    assert shares(9, 4, 4, 3) == [[3], [7]]
