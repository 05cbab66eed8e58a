"""What conv2d's two chunked paths (``chwn_chunks``: im2col a chunk of
images at a time; ``mec_rows``: MEC's row products a chunk at a time)
promise alike: nothing but the input kept between the passes (a second
backward rebuilds what it needs); each gradient exactly when needed;
float32 in, float32 out; a float64 gradcheck over several chunks; dL/db
summed along contiguous rows; and dL/dW summed in chunk order, so it is
the same to the bit on any number of threads. Each path's own values,
gradients and chunk rule are in tests/test_conv2d_chunks.py and
tests/test_conv2d_mec.py."""

import numpy as np
import pytest

import minialex
from minialex import Tensor
from minialex.functions import _threads
from minialex.functions._kernels import im2col_chunks, mec, paths
from minialex.functions.conv2d import conv2d
from minialex.reference import conv2d_backward as ref_conv2d_backward


@pytest.fixture
def chunked(monkeypatch):
    """force(path, images, threads): a ``paths.use`` block running conv2d
    on ``path`` in chunks of ``images`` images (of 3 channels, 3x3 kernel,
    7x7 outputs; smaller images fit more) on ``threads`` threads, every
    pass split however small."""
    old_threads = minialex.get_num_threads()
    monkeypatch.setattr(_threads, "_MIN_SIZE", 1)

    def force(path, images, threads=1):
        # chunks: numbers in a chunk's columns (C*9*OH*OW an image); MEC:
        # columns of a row product (OW an image)
        monkeypatch.setattr(im2col_chunks, "CHUNK_NUMBERS", 3 * 9 * 49 * images)
        monkeypatch.setattr(mec, "CHUNK_COLUMNS", 7 * images)
        minialex.set_num_threads(threads)
        return paths.use("conv2d", path)
    yield force
    minialex.set_num_threads(old_threads)


@pytest.mark.parametrize("path", ["chwn_chunks", "mec_rows"])
def test_keeps_only_the_input_between_the_passes_and_runs_backward_twice(chunked, path):
    rng = np.random.default_rng(5)
    x, w = rng.standard_normal((4, 2, 5, 5)), rng.standard_normal((3, 2, 3, 3))
    gy = rng.standard_normal((4, 3, 3, 3))
    X, W = Tensor(x, requires_grad=True), Tensor(w, requires_grad=True)
    with chunked(path, 1):
        y = conv2d(X, W)
        assert y.creator.delegated and not y.creator.winograd
        saved = y.creator.saved
        assert saved[0] is x and not any(isinstance(s, np.ndarray) and s.size > w.size
                                         for s in saved[1:])
        y.backward(gy, retain_graph=True)
        first = X.grad.copy(), W.grad.copy()
        y.backward(gy)
    rx, rw, _ = ref_conv2d_backward(gy, x, w)
    np.testing.assert_allclose(first[0], rx, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(W.grad, 2 * rw, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("path", ["chwn_chunks", "mec_rows"])
def test_weight_gradient_is_the_same_bits_on_one_and_three_threads(chunked, path):
    # the chunks' parts of dL/dW are summed in chunk order, whichever thread
    # finished first: a resumed run must get exactly the same weights
    rng = np.random.default_rng(6)
    x = rng.standard_normal((9, 3, 7, 7)).astype(np.float32)
    w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    gy = rng.standard_normal((9, 4, 7, 7)).astype(np.float32)
    grads = []
    for threads in (1, 3, 3):
        X, W = Tensor(x, requires_grad=True), Tensor(w, requires_grad=True)
        with chunked(path, 2, threads):
            y = conv2d(X, W, padding=1)
            assert y.creator.delegated          # 9 images in chunks of 2: 6 chunks
            y.backward(gy)
        grads.append(W.grad)
    np.testing.assert_array_equal(grads[0], grads[1])
    np.testing.assert_array_equal(grads[1], grads[2])


@pytest.mark.parametrize("path", ["chwn_chunks", "mec_rows"])
@pytest.mark.parametrize("needs", [(True, False, False), (False, True, False), (False, False, True),
                                   (True, True, False), (False, True, True)])
def test_each_gradient_exactly_when_needed(chunked, path, needs):
    rng = np.random.default_rng(4)
    x, w, b = (rng.standard_normal(s) for s in ((5, 4, 6, 6), (6, 2, 5, 5), (6,)))
    gy = rng.standard_normal((5, 6, 6, 6))
    X, W, B = (Tensor(a, requires_grad=n) for a, n in zip((x, w, b), needs))
    with chunked(path, 2, threads=3):
        y = conv2d(X, W, B, padding=2, groups=2)
        assert y.creator.delegated
        y.backward(gy)
    ref = ref_conv2d_backward(gy, x, w, 1, 2, 2)
    for got, want, needed in zip((X.grad, W.grad, B.grad), ref, needs):
        if needed:
            np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
        else:
            assert got is None


@pytest.mark.parametrize("path", ["chwn_chunks", "mec_rows"])
def test_float32_stays_float32(chunked, path):
    rng = np.random.default_rng(7)
    x, w, b = (rng.standard_normal(s).astype(np.float32) for s in ((3, 2, 5, 5), (2, 2, 3, 3), (2,)))
    X, W, B = (Tensor(a, requires_grad=True) for a in (x, w, b))
    with chunked(path, 1):
        y = conv2d(X, W, B)
        y.backward(np.ones((3, 2, 3, 3), np.float32))
    assert all(a.dtype == np.float32 for a in (y.data, X.grad, W.grad, B.grad))


@pytest.mark.parametrize("path, stride", [("chwn_chunks", (1, 2)), ("mec_rows", (1, 1))])
def test_gradcheck_over_several_chunks(chunked, monkeypatch, path, stride):
    rng = np.random.default_rng(3)
    x = Tensor(rng.standard_normal((5, 4, 6, 5)), requires_grad=True)
    w = Tensor(rng.standard_normal((6, 2, 3, 2)), requires_grad=True)
    b = Tensor(rng.standard_normal(6), requires_grad=True)
    with chunked(path, 1, threads=3):
        # two images a chunk, so 4 chunks (1, 1, 1, 2): chunks' columns are
        # 4*3*2*6*3 numbers an image at stride (1, 2); MEC's rows 6 columns
        monkeypatch.setattr(im2col_chunks, "CHUNK_NUMBERS", 4 * 3 * 2 * 6 * 3 * 2)
        monkeypatch.setattr(mec, "CHUNK_COLUMNS", 6 * 2)
        y = conv2d(x, w, b, stride=stride, padding=1, groups=2)
        assert y.creator.delegated
        assert minialex.gradcheck(lambda *t: conv2d(*t, stride=stride, padding=1, groups=2),
                                  [x, w, b], atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("path", ["chwn_chunks", "mec_rows"])
def test_float32_bias_gradient_is_summed_along_contiguous_rows(path):
    # dL/db adds N*OH*OW numbers: summed along contiguous rows (NumPy's
    # pairwise sum; MEC then adds its OH row sums) it stays near float32's
    # rounding, where gy.sum(axis=(0, 2, 3)) adds image after image (4.6e-7
    # here, 7x more: enough to move a two-rank run's biases off the
    # one-process run's)
    rng = np.random.default_rng(8)
    x = rng.standard_normal((256, 2, 13, 13)).astype(np.float32)
    w = rng.standard_normal((4, 2, 3, 3)).astype(np.float32)
    gy = (rng.standard_normal((256, 4, 13, 13)) + 3).astype(np.float32)
    exact = gy.astype(np.float64).sum(axis=(0, 2, 3))
    B = Tensor(np.zeros(4, np.float32), requires_grad=True)
    with paths.use("conv2d", path):
        y = conv2d(Tensor(x), Tensor(w), B, padding=1)
        assert y.creator.delegated
        y.backward(gy)
    assert np.abs(B.grad - exact).max() / np.abs(exact).max() < 1.5e-7
