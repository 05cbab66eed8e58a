"""conv2d's ``chwn_chunks`` path (im2col a chunk of images at a time):
values and gradients against the float64 loop reference over random
shapes, windows and chunk sizes (several chunks, an uneven last one, one
image a chunk, the whole batch in one), on 1 and 3 threads; the chunk
rule. What both chunked paths promise alike (what is kept between the
passes, which gradients, float32, gradcheck, dL/db's sums, the same dL/dW
bits on any thread count) is in tests/test_conv2d_chunked_paths.py."""

import contextlib

import numpy as np
import pytest
from hypothesis import example, given, settings, strategies as st

import minialex
from minialex import Tensor
from minialex.functions import _threads
from minialex.functions._kernels import im2col_chunks, paths
from minialex.functions.conv2d import conv2d
from minialex.reference import conv2d as ref_conv2d, conv2d_backward as ref_conv2d_backward


@contextlib.contextmanager
def _chunks(numbers, threads=1):
    """The chunked path forced, CHUNK_NUMBERS = numbers, on ``threads``
    threads with every pass split however small its array."""
    old_numbers, old_threads, old_min = (im2col_chunks.CHUNK_NUMBERS, minialex.get_num_threads(),
                                         _threads._MIN_SIZE)
    im2col_chunks.CHUNK_NUMBERS = numbers
    minialex.set_num_threads(threads)
    _threads._MIN_SIZE = 1
    try:
        with paths.use("conv2d", "chwn_chunks"):
            yield
    finally:
        im2col_chunks.CHUNK_NUMBERS, _threads._MIN_SIZE = old_numbers, old_min
        minialex.set_num_threads(old_threads)


def _run(x, w, b, gy, stride, padding, groups, needs=(True, True, True)):
    X = Tensor(x, requires_grad=needs[0])
    W = Tensor(w, requires_grad=needs[1])
    B = None if b is None else Tensor(b, requires_grad=needs[2])
    y = conv2d(X, W, B, stride, padding, groups)
    y.backward(gy)
    assert y.creator.delegated and not y.creator.winograd
    return y.data, X.grad, W.grad, None if B is None else B.grad


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 7), cg=st.integers(1, 3), g=st.integers(1, 3), og=st.integers(1, 2),
       h=st.integers(1, 8), w=st.integers(1, 8), kh=st.integers(1, 5), kw=st.integers(1, 5),
       sh=st.integers(1, 3), sw=st.integers(1, 3), ph=st.integers(0, 2), pw=st.integers(0, 2),
       images_per_chunk=st.integers(1, 8), threads=st.sampled_from([1, 3]),
       bias=st.booleans(), seed=st.integers(0, 2**16))
# 7 images in chunks of 3 (3, 3, 1) on 3 threads, 5x5 window, two groups
@example(n=7, cg=2, g=2, og=2, h=6, w=5, kh=5, kw=5, sh=1, sw=1, ph=2, pw=2,
         images_per_chunk=3, threads=3, bias=True, seed=1)
# stride 2 with unread pixels, three groups, one image a chunk
@example(n=4, cg=1, g=3, og=1, h=8, w=7, kh=3, kw=2, sh=2, sw=3, ph=1, pw=0,
         images_per_chunk=1, threads=1, bias=False, seed=2)
def test_matches_the_float64_reference(n, cg, g, og, h, w, kh, kw, sh, sw, ph, pw,
                                       images_per_chunk, threads, bias, seed):
    if kh > h + 2 * ph or kw > w + 2 * pw:
        return
    rng = np.random.default_rng(seed)
    c, c_out = cg * g, og * g
    oh, ow = (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1
    x = rng.standard_normal((n, c, h, w))
    wt = rng.standard_normal((c_out, cg, kh, kw))
    b = rng.standard_normal(c_out) if bias else None
    gy = rng.standard_normal((n, c_out, oh, ow))
    with _chunks(c * kh * kw * oh * ow * images_per_chunk, threads):
        y, gx, gw, gb = _run(x, wt, b, gy, (sh, sw), (ph, pw), g)
    np.testing.assert_allclose(y, ref_conv2d(x, wt, b, (sh, sw), (ph, pw), g), rtol=1e-12, atol=1e-12)
    rx, rw, rb = ref_conv2d_backward(gy, x, wt, (sh, sw), (ph, pw), g)
    np.testing.assert_allclose(gx, rx, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(gw, rw, rtol=1e-12, atol=1e-12)
    if bias:
        np.testing.assert_allclose(gb, rb, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("N, positions, numbers, expected", [
    (128, 784, 58_800, 6),              # conv1 28x28: ceil(4096 / 784) positions' worth
    (128, 169, 135_200, 25),            # small conv2 13x13: ceil(4096 / 169)
    (128, 169, 405_600, 10),            # paper conv2: 4M numbers hold 10 images
    (128, 36, 20_736, 114),             # 6x6 maps: 114 images
    (128, 10_000, 1 << 23, 1),          # one image is over both limits: still one a chunk
    (3, 1, 1, 3)])                      # never more than N
def test_chunk_images(N, positions, numbers, expected):
    assert im2col_chunks.chunk_images(N, positions, numbers) == expected


@pytest.mark.parametrize("N, per_chunk, expected", [
    (7, 8, [(0, 3), (3, 7)]),                        # all fit one chunk: still two
    (1, 8, [(0, 1)]),                                # one image: one chunk
    (7, 3, [(0, 1), (1, 3), (3, 5), (5, 7)]),        # 3 a chunk: 3 chunks -> 4
    (7, 2, [(0, 1), (1, 3), (3, 5), (5, 7)]),        # 2 a chunk: 4 chunks
    (3, 1, [(0, 1), (1, 2), (2, 3)]),                # 3 chunks of one: never more than N
    (0, 4, [(0, 0)]),                                # an empty batch: one empty chunk
    (8, 5, [(0, 4), (4, 8)])])
def test_chunks_cover_the_batch_in_order_an_even_number(monkeypatch, N, per_chunk, expected):
    # 4x4 outputs: 16 positions an image, so per_chunk images a chunk
    monkeypatch.setattr(im2col_chunks, "CHUNK_POSITIONS", 16 * per_chunk)
    assert im2col_chunks._chunks(N, 2, (3, 3), (4, 4)) == expected
