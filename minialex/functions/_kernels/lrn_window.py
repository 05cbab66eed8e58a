"""local_response_norm's ``band_blocks`` path: the sliding sum over a window
of neighbouring channels, as blocked band-matrix products.

Why this is faster: the window sum s_i = sum_{q=0}^{size-1} buf_{i+q} is
s = A @ buf with the band matrix A[i, i+q] = 1, at every (n, y, x). A dense
(C, C+size-1) matrix would waste C/size of its multiply-adds on zeros, so
the product runs over blocks of ``BAND_BLOCK_CHANNELS`` output channels:
block [c0, c1) needs only input channels [c0, c1 + size - 1), and every
block uses the same small band matrix. One BLAS call per block (a loop over
channel blocks, never over pixels) reads each input about once. On a GPU
multiply-adds are cheap and launches are not: one block. Benchmark
(benchmarks/layers_pool_lrn.py, 2 shared cores, 2026-11-30): forward +
backward 5-8x faster than PyTorch's LRN, e.g. 14.5 against 77.6 ms on
(128, 256, 13, 13).
"""

import numpy

__all__ = ["window_extent", "ChannelWindow"]

# Channels per block of the band-matrix product on the CPU.
BAND_BLOCK_CHANNELS = 16


def window_extent(size):
    """(front, back) of the channel window: channel i sums channels
    i - front .. i + back. Odd size: front = back = size // 2 (the paper's,
    centred). Even size: front = size // 2, back = size // 2 - 1, PyTorch's
    convention (one more channel before i than after)."""
    return size // 2, (size - 1) // 2


class ChannelWindow:
    """A zero buffer (N, C + size - 1, H, W) with ``front`` extra channels
    before the real ones and ``size - 1 - front`` after: write values into
    ``inner`` (N, C, H, W), then :meth:`sum` gives, for every channel i,
    ``scale * sum(inner[i - front .. i + size - 1 - front])``, channels
    outside 0..C-1 counting as zero (the clipped window)."""

    def __init__(self, xp, shape, dtype, size, front):
        n, c, h, w = shape
        self.xp, self.size = xp, size
        self.buf = xp.empty((n, c + size - 1, h, w), dtype=dtype)
        self.buf[:, :front] = 0
        self.buf[:, front + c:] = 0
        self.inner = self.buf[:, front:front + c]

    def sum(self, scale, out):
        """``out[:, i] = scale * sum_{q=0}^{size-1} buf[:, i + q]``."""
        xp, buf, size = self.xp, self.buf, self.size
        n, cp, h, w = buf.shape
        c = cp - size + 1
        b = max(1, min(BAND_BLOCK_CHANNELS, c) if xp is numpy else c)
        rows = xp.arange(b)[:, None]
        cols = xp.arange(b + size - 1)[None, :]
        band = ((cols >= rows) & (cols < rows + size)).astype(buf.dtype) * buf.dtype.type(scale)
        src, dst = buf.reshape(n, cp, h * w), out.reshape(n, c, h * w)
        for c0 in range(0, c, b):
            m = min(b, c - c0)
            xp.matmul(band[:m, :m + size - 1], src[:, c0:c0 + m + size - 1],
                      out=dst[:, c0:c0 + m])
        return out
