"""conv2d's ``mec_rows`` path (stride-1 windows lowered along the columns,
one product per output row): values and gradients against the float64
loop reference over random shapes, windows, paddings (also over k - 1,
where dL/dx crops gy) and chunk sizes, on 1 and 3 threads; the chunk
rule; the lowered input and its row matrices by hand. What both chunked paths promise alike is in
tests/test_conv2d_chunked_paths.py."""

import contextlib

import numpy as np
import pytest
from hypothesis import example, given, settings, strategies as st

import minialex
from minialex import Tensor
from minialex.functions import _threads
from minialex.functions._kernels import mec, paths
from minialex.functions.conv2d import conv2d
from minialex.reference import conv2d as ref_conv2d, conv2d_backward as ref_conv2d_backward


@contextlib.contextmanager
def _mec(columns=mec.CHUNK_COLUMNS, threads=1, numbers=mec.CHUNK_NUMBERS):
    """The MEC path forced with CHUNK_COLUMNS = columns and CHUNK_NUMBERS =
    numbers, on ``threads`` threads with every pass split however small."""
    old = mec.CHUNK_COLUMNS, mec.CHUNK_NUMBERS, minialex.get_num_threads(), _threads._MIN_SIZE
    mec.CHUNK_COLUMNS, mec.CHUNK_NUMBERS, _threads._MIN_SIZE = columns, numbers, 1
    minialex.set_num_threads(threads)
    try:
        with paths.use("conv2d", "mec_rows"):
            yield
    finally:
        mec.CHUNK_COLUMNS, mec.CHUNK_NUMBERS, _, _threads._MIN_SIZE = old
        minialex.set_num_threads(old[2])


def _run(x, w, b, gy, padding, groups, needs=(True, True, True)):
    X = Tensor(x, requires_grad=needs[0])
    W = Tensor(w, requires_grad=needs[1])
    B = None if b is None else Tensor(b, requires_grad=needs[2])
    y = conv2d(X, W, B, 1, padding, groups)
    y.backward(gy)
    assert y.creator.delegated and y.creator.kern is mec
    return y.data, X.grad, W.grad, None if B is None else B.grad


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 6), cg=st.integers(1, 3), g=st.integers(1, 3), og=st.integers(1, 2),
       h=st.integers(1, 8), w=st.integers(1, 8), kh=st.integers(1, 5), kw=st.integers(1, 5),
       ph=st.integers(0, 5), pw=st.integers(0, 5), columns=st.integers(1, 40),
       threads=st.sampled_from([1, 3]), bias=st.booleans(), seed=st.integers(0, 2**16))
# AlexNet's 5x5 window with padding 2, two groups, 7 images in uneven chunks
@example(n=7, cg=2, g=2, og=2, h=6, w=5, kh=5, kw=5, ph=2, pw=2, columns=12, threads=3,
         bias=True, seed=1)
# padding over k - 1 on both axes: dL/dx crops gy
@example(n=2, cg=1, g=1, og=1, h=3, w=4, kh=2, kw=3, ph=3, pw=4, columns=1, threads=1,
         bias=False, seed=2)
def test_matches_the_float64_reference(n, cg, g, og, h, w, kh, kw, ph, pw, columns, threads,
                                       bias, seed):
    if kh > h + 2 * ph or kw > w + 2 * pw:
        return
    rng = np.random.default_rng(seed)
    c, c_out = cg * g, og * g
    oh, ow = h + 2 * ph - kh + 1, w + 2 * pw - kw + 1
    x = rng.standard_normal((n, c, h, w))
    wt = rng.standard_normal((c_out, cg, kh, kw))
    b = rng.standard_normal(c_out) if bias else None
    gy = rng.standard_normal((n, c_out, oh, ow))
    with _mec(columns, threads):
        y, gx, gw, gb = _run(x, wt, b, gy, (ph, pw), g)
    np.testing.assert_allclose(y, ref_conv2d(x, wt, b, 1, (ph, pw), g), rtol=1e-12, atol=1e-12)
    rx, rw, rb = ref_conv2d_backward(gy, x, wt, 1, (ph, pw), g)
    np.testing.assert_allclose(gx, rx, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(gw, rw, rtol=1e-12, atol=1e-12)
    if bias:
        np.testing.assert_allclose(gb, rb, rtol=1e-12, atol=1e-12)


def test_lowered_input_and_row_matrices_by_hand():
    # one image, one channel, 3x3 map, padding 1, 2x2 kernel: Hp = Wp = 5,
    # OH = OW = 4; L[hp, j, ow] = xpad[hp, ow + j]
    x = np.arange(1.0, 10.0).reshape(1, 1, 3, 3)
    L = mec._lowered(x, 1, 2, (1, 1), 4)
    assert L.shape == (1, 5, 1, 2, 4, 1)
    xpad = np.pad(x[0, 0], 1)
    for j in range(2):
        np.testing.assert_array_equal(L[0, :, 0, j, :, 0], xpad[:, j:j + 4])
    V = mec._row_matrices(L, 2, 4)
    assert V.shape == (1, 4, 4, 4) and np.shares_memory(V, L)
    # row oh holds padded rows oh, oh+1, each shifted by j = 0, 1: rows (i, c, j)
    np.testing.assert_array_equal(V[0, 1], [xpad[1, 0:4], xpad[1, 1:5], xpad[2, 0:4], xpad[2, 1:5]])


def test_flipped_kernel_swaps_the_channel_axes_per_group():
    w = np.arange(2 * 3 * 2 * 2, dtype=float).reshape(2, 3, 2, 2)     # two groups of one output
    f = mec._flipped(w, 2)
    assert f.shape == (6, 1, 2, 2)
    for g in range(2):
        for c in range(3):
            np.testing.assert_array_equal(f[3 * g + c, 0], w[g, c, ::-1, ::-1])


@pytest.mark.parametrize("N, out_w, numbers, expected", [
    (128, 13, 17_680, 79),              # small conv2: ceil(1024 / 13) images
    (128, 28, 15_360, 37),              # conv1 28x28: ceil(1024 / 28)
    (128, 13, 1 << 20, 8),              # 8M numbers hold 8 images
    (128, 10_000, 1 << 23, 1),          # one image is over both limits: still one a chunk
    (3, 1, 1, 3)])                      # never more than N
def test_chunk_images(N, out_w, numbers, expected):
    assert mec.chunk_images(N, out_w, numbers) == expected


@pytest.mark.parametrize("N, expected", [
    (128, [(0, 64), (64, 128)]),        # 79 a chunk: 2 chunks of 64
    (1, [(0, 1)]), (0, [(0, 0)]),
    (200, [(0, 50), (50, 100), (100, 150), (150, 200)])])   # 3 chunks -> 4
def test_chunks_cover_the_batch_in_order_an_even_number(N, expected):
    assert mec._chunks(N, 13, 1) == expected


def test_applies_to_stride_one_only():
    assert mec.applies((5, 5), (1, 1)) and mec.applies((1, 3), (1, 1))
    assert not mec.applies((3, 3), (2, 1)) and not mec.applies((11, 11), (4, 4))


def test_forced_on_a_strided_window_falls_back_to_im2col():
    rng = np.random.default_rng(9)
    x, w = rng.standard_normal((2, 3, 9, 9)), rng.standard_normal((4, 3, 3, 3))
    X, W = Tensor(x, requires_grad=True), Tensor(w, requires_grad=True)
    with paths.use("conv2d", "mec_rows"):
        y = conv2d(X, W, stride=2, padding=1)
        y.backward(np.ones(y.shape))
    assert not y.creator.delegated
    np.testing.assert_allclose(y.data, ref_conv2d(x, w, None, 2, 1), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(W.grad, ref_conv2d_backward(np.ones(y.shape), x, w, 2, 1)[1],
                               rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("c, c_out, groups, k, expected", [
    (32, 64, 2, 5, "mec"),               # small conv2: 16 in, 32 out a group
    (96, 96, 2, 3, "mec"),               # small conv4
    (96, 256, 2, 5, "im2col_chunks"),    # paper conv2: 128 out a group
    (3, 32, 1, 5, "im2col_chunks"),      # conv1: 3 input channels
    (256, 384, 1, 3, "winograd")])       # paper conv3: Winograd from 128 in a group
def test_conv2d_passes_both_group_widths_to_the_path_rule(c, c_out, groups, k, expected):
    rng = np.random.default_rng(10)
    x = Tensor(rng.standard_normal((1, c, 6, 6)).astype(np.float32))
    w = Tensor(rng.standard_normal((c_out, c // groups, k, k)).astype(np.float32) * 0.1,
               requires_grad=True)
    y = conv2d(x, w, padding=k // 2, groups=groups)
    assert y.creator.kern.__name__ == "minialex.functions._kernels." + expected
    np.testing.assert_allclose(y.data, ref_conv2d(x.data.astype(float), w.data.astype(float), None,
                                                  1, k // 2, groups), rtol=1e-4, atol=1e-4)


def test_a_non_contiguous_input_gets_every_gradient():
    # the chunks write y and dL/dx through views of a run of images with the
    # channel axis split into groups; x itself is only read (a transposed x)
    rng = np.random.default_rng(11)
    x = rng.standard_normal((5, 6, 7, 4)).transpose(0, 3, 2, 1)       # (5, 4, 7, 6), strided
    w, gy = rng.standard_normal((6, 2, 3, 3)), rng.standard_normal((5, 6, 7, 6))
    with _mec(columns=12, threads=3):
        y, gx, gw, _ = _run(x, w, None, gy, (1, 1), 2, (True, True, False))
    np.testing.assert_allclose(y, ref_conv2d(x, w, None, 1, 1, 2), rtol=1e-12, atol=1e-12)
    rx, rw, _ = ref_conv2d_backward(gy, x, w, 1, 1, 2)
    np.testing.assert_allclose(gx, rx, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(gw, rw, rtol=1e-12, atol=1e-12)
