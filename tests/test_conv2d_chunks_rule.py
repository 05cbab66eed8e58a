"""conv2d's ``chwn_chunks`` path: the chunk rule pinned for given shapes
(hand-computed from :data:`CHUNK_POSITIONS` and :data:`CHUNK_NUMBERS`),
the chunks forward and backward actually run (a spy on the column
builder and on the thread split), and the zero-padded buffers at their
edges (padding over two, images of zero height or width), on hand-computed
values.

The split matters beyond speed: dL/dW and dL/db are summed per chunk, in
chunk order, so another split changes their float32 bits."""

import numpy as np
import pytest

import minialex
from minialex import Tensor
from minialex.functions._kernels import im2col_chunks, paths
from minialex.functions.conv2d import conv2d


@pytest.mark.parametrize("N, positions, numbers, expected", [
    (128, 63, 189, 66),             # 63 * 65 = 4095: one position short, so 66 images
    (128, 1024, 1024, 4),           # 4 * 1024 = 4096 exactly: 4 images, not 5
    (5000, 1, 1, 4096),             # one position an image: 4096 images
    (5, 0, 0, 5)])                  # no positions, no numbers: N, no division by zero
def test_chunk_images_at_the_documented_limits(N, positions, numbers, expected):
    """chunk_images is ceil(CHUNK_POSITIONS / positions) images, capped by
    CHUNK_NUMBERS // numbers, within 1..N; sizes of 0 count as 1 (4096
    and 1 << 22, the module's limits)."""
    assert im2col_chunks.chunk_images(N, positions, numbers) == expected


@pytest.mark.parametrize("limit, numbers, expected", [(3, 1, 3), (7, 2, 3), (7, 0, 7)])
def test_chunk_images_under_a_small_numbers_limit(monkeypatch, limit, numbers, expected):
    """CHUNK_NUMBERS (a tunable: benchmarks/conv_paths.py --chunk-numbers)
    caps a chunk at CHUNK_NUMBERS // numbers images, one number an image
    included: 3 numbers of room hold 3 one-number images, 7 hold 3 of two
    numbers, and 0 numbers an image count as 1."""
    monkeypatch.setattr(im2col_chunks, "CHUNK_NUMBERS", limit)
    assert im2col_chunks.chunk_images(100, 1, numbers) == expected


def _even(N, k):
    return [(N * i // k, N * (i + 1) // k) for i in range(k)]


@pytest.mark.parametrize("N, C, kernel, out_hw, expected", [
    # the paper's conv2 (96 channels, 5x5, 27x27 out): 729 positions want 6
    # images, but 96*25*729 = 1,749,600 numbers an image leave room for 2:
    # 64 chunks of 2
    (128, 96, (5, 5), (27, 27), _even(128, 64)),
    # 63 positions want 66 images; 192*15*63 = 181,440 numbers leave room
    # for 23: ceil(64 / 23) = 3 chunks, made even: 4 of 16
    (64, 192, (5, 3), (9, 7), _even(64, 4)),
    # one position an image wants 4096 images; 128*3*5 = 1920 numbers leave
    # room for 2184: ceil(5000 / 2184) = 3 chunks, made even: 4 of 1250
    (5000, 128, (3, 5), (1, 1), _even(5000, 4)),
    # 9x7 (63 positions): 66 images, so 131 images make 2 chunks (65, 66)
    (131, 3, (1, 1), (9, 7), [(0, 65), (65, 131)]),
    # 7x9 is 63 positions too: 2 chunks of 64 (not 81 positions: 51 images)
    (128, 3, (1, 1), (7, 9), [(0, 64), (64, 128)]),
    # 32x32 (1024 positions): 4 images, 32 chunks (128 / 4 exactly: no extra)
    (128, 1, (1, 1), (32, 32), _even(128, 32)),
    (1, 3, (3, 3), (5, 5), [(0, 1)]),                   # one image: one chunk
    (0, 3, (3, 3), (5, 5), [(0, 0)])])                  # no image: one empty chunk
def test_chunks_for_given_shapes(N, C, kernel, out_hw, expected):
    """The split the documented rule gives, at the module's own limits:
    chunk_images(N, OH*OW, C*kh*kw*OH*OW) images a chunk at most, then an
    even number of chunks (at most N), sizes differing by at most one."""
    assert im2col_chunks._chunks(N, C, kernel, out_hw) == expected


@pytest.fixture
def spies(monkeypatch):
    """Record what the chunked path runs: the (first image, images) of each
    chunk whose columns are built, and the count of each thread split."""
    built, splits = [], []
    columns, batched = im2col_chunks._columns, im2col_chunks.batched_products

    def spy_columns(x, *args):
        built.append((int(x[0, 0, 0, 0]), x.shape[0]))        # image n holds n
        return columns(x, *args)

    def spy_batched(work, count, a):
        splits.append(count)
        return batched(work, count, a)
    monkeypatch.setattr(im2col_chunks, "_columns", spy_columns)
    monkeypatch.setattr(im2col_chunks, "batched_products", spy_batched)
    old = minialex.get_num_threads()
    minialex.set_num_threads(1)                 # chunks in order
    try:
        with paths.use("conv2d", "chwn_chunks"):
            yield built, splits
    finally:
        minialex.set_num_threads(old)


def _images(N, C=1, H=32, W=32):
    return np.broadcast_to(np.arange(N, dtype=np.float64).reshape(N, 1, 1, 1), (N, C, H, W)).copy()


def test_forward_and_backward_run_the_rules_chunks_once_each(spies):
    """10 images of 32x32 outputs (1024 positions: 4 images a chunk, 3
    chunks, made 4): forward builds the columns of (0, 2), (2, 5), (5, 7),
    (7, 10) once each, in order, over one thread split of 4; backward
    rebuilds them once each for dL/dW and not at all for dL/dx alone."""
    built, splits = spies
    chunks = [(0, 2), (2, 3), (5, 2), (7, 3)]                 # (first image, images)
    X = Tensor(_images(10), requires_grad=True)
    Wt = Tensor(np.ones((2, 1, 1, 1)), requires_grad=True)
    y = conv2d(X, Wt)
    assert (built, splits) == (chunks, [4])
    y.backward(np.ones(y.shape), retain_graph=True)
    assert (built, splits) == (chunks * 2, [4, 4])
    np.testing.assert_array_equal(Wt.grad, np.full((2, 1, 1, 1), 45.0 * 1024))
    y = conv2d(X, np.ones((2, 1, 1, 1)))                      # a constant weight
    y.backward(np.ones(y.shape))
    assert (built, splits) == (chunks * 3, [4, 4, 4, 4])          # no columns for dL/dx


def test_a_single_chunk_runs_once_in_the_caller(spies):
    """One image is one chunk: its columns are built once a pass, and it
    runs in the calling thread with BLAS's threads as they are (no thread
    split, which would put its products on one BLAS thread)."""
    built, splits = spies
    X = Tensor(_images(1, H=3, W=3) + 2, requires_grad=True)
    Wt = Tensor(np.full((1, 1, 1, 1), 3.0), requires_grad=True)
    y = conv2d(X, Wt)
    assert (built, splits) == ([(2, 1)], [])
    np.testing.assert_array_equal(y.data, np.full((1, 1, 3, 3), 6.0))
    y.backward(np.ones(y.shape))
    assert (built, splits) == ([(2, 1)] * 2, [])
    np.testing.assert_array_equal(Wt.grad, [[[[18.0]]]])
    np.testing.assert_array_equal(X.grad, np.full((1, 1, 3, 3), 3.0))


def _conv(x, w, b, padding, gy):
    X, W, B = (Tensor(a, requires_grad=True) for a in (x, w, b))
    with paths.use("conv2d", "chwn_chunks"):
        y = conv2d(X, W, B, padding=padding)
        y.backward(gy)
    return y.data, X.grad, W.grad, B.grad


def test_padding_of_three_and_four_hand_computed():
    """Two 1x1 images 2 and 5, a 1x1 weight 3, bias 1, padding (3, 4): a
    7x9 output of 1 but for the centre (3, 4), 1 + 3x = 7 and 16. With
    gy[n] = arange(63) + 100n (31 and 131 at the centre): dL/dx = 3 * 31,
    3 * 131; dL/dW = 2*31 + 5*131 = 717; dL/db = 2*1953 + 6300 = 10206.
    The last padded row and column are read, so the padded buffers must
    have all H + 2*ph rows and W + 2*pw columns."""
    x = np.array([2.0, 5.0]).reshape(2, 1, 1, 1)
    gy = np.arange(63.0).reshape(1, 1, 7, 9) + 100 * np.arange(2.0).reshape(2, 1, 1, 1)
    y, gx, gw, gb = _conv(x, np.full((1, 1, 1, 1), 3.0), np.ones(1), (3, 4), gy)
    want = np.ones((2, 1, 7, 9))
    want[:, 0, 3, 4] = 7.0, 16.0
    np.testing.assert_array_equal(y, want)
    np.testing.assert_array_equal(gx, np.array([93.0, 393.0]).reshape(2, 1, 1, 1))
    np.testing.assert_array_equal(gw, [[[[717.0]]]])
    np.testing.assert_array_equal(gb, [10206.0])


@pytest.mark.parametrize("shape, padding, out_hw", [((2, 1, 0, 3), (1, 0), (2, 3)),
                                                    ((2, 1, 3, 0), (0, 1), (3, 2))])
def test_an_image_of_zero_height_or_width_convolves_its_padding(shape, padding, out_hw):
    """conv2d takes an image with no rows (or columns) if the padding makes
    room for the kernel: every window sees only zeros, so y is the bias
    (2 and -1), dL/dW is 0, dL/db sums gy (2 images * 6 positions) and
    dL/dx is empty."""
    x = np.zeros(shape)
    y, gx, gw, gb = _conv(x, np.ones((2, 1, 1, 1)), np.array([2.0, -1.0]), padding,
                          np.ones((2, 2) + out_hw))
    np.testing.assert_array_equal(y, np.broadcast_to(np.array([2.0, -1.0]).reshape(1, 2, 1, 1),
                                                     (2, 2) + out_hw))
    assert gx.shape == shape
    np.testing.assert_array_equal(gw, np.zeros((2, 1, 1, 1)))
    np.testing.assert_array_equal(gb, [12.0, 12.0])
