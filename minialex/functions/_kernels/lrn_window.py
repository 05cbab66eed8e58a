"""local_response_norm's ``window_slices`` path: the sliding sum over a
window of ``size`` neighbouring channels, as ``size`` shifted slices of a
zero-padded buffer added together.

Only the window: channel i's sum reads channels i - front .. i + back and
nothing else, so a non-finite or huge value reaches only the channels whose
window holds it (forward: i - back .. i + front; backward: the transposed
window). The blocked band-matrix product used before (s = A @ buf with
A[i, i+q] = 1) multiplied every square of a 16-channel block by the band's
zeros, and 0 * inf = NaN spread one inf across 16 channels (issue 14). A
cumulative sum over channels would not do either: its differences
c_{i+back} - c_{i-front-1} are inf - inf = NaN past an inf, and lose float32
digits (cancellation) past a huge value.

Why this is fast: each shifted slice of one image's (C + size - 1, H, W)
buffer is one contiguous run of C*H*W numbers, so the size - 1 additions
and the scaling are long vectorised loops (size = 5 in AlexNet: 5 passes).
The forward and backward are about ten passes each, so they run
(:func:`over_image_blocks`) on blocks of whole images of about
``BLOCK_NUMBERS`` numbers, whose arrays stay in the cache from one pass to
the next, and the blocks are split across the CPU threads. Measured
(forward + backward, 2 threads, alternating in one process, 2 cores shared
with other jobs, so noisy; medians): (128, 96, 28, 28) 115 ms against 136
ms for the band-matrix products used before, (128, 256, 13, 13) 64
against 85 ms, (32, 256, 27, 27) 75 against 103 ms, (32, 96, 55, 55) 109
ms against 3.9 s (BLAS on 3025-pixel rows under load). On one thread,
blocks of 2^18 numbers against the whole batch at once: 65 against 123 ms
on (128, 96, 28, 28), 36 against 98 ms on (32, 96, 55, 55).
"""

from .._threads import parallel

__all__ = ["window_extent", "ChannelWindow", "over_image_blocks"]

# Numbers per block of images (at least one image): about 1 MB per array.
BLOCK_NUMBERS = 1 << 18


def over_image_blocks(work, a):
    """Run ``work(lo, hi)`` over the images of ``a`` (N, C, H, W): the batch
    split across the threads, each part in blocks of whole images of about
    ``BLOCK_NUMBERS`` numbers. ``work`` must write only images lo..hi-1."""
    step = max(1, BLOCK_NUMBERS // max(1, a[0].size)) if a.shape[0] else 1

    def part(lo, hi):
        """One thread's images lo..hi-1, in blocks of ``step`` images."""
        for start in range(lo, hi, step):
            work(start, min(hi, start + step))
    parallel(part, a.shape[0], a)


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
        """``out[:, i] = scale * sum_{q=0}^{size-1} buf[:, i + q]``: the
        shifted slices added in order q = 0, 1, ..., then scaled."""
        xp, buf, size = self.xp, self.buf, self.size
        c = buf.shape[1] - size + 1
        if size == 1:
            out[...] = buf
        else:
            xp.add(buf[:, 0:c], buf[:, 1:1 + c], out=out)
        for q in range(2, size):
            out += buf[:, q:q + c]
        out *= buf.dtype.type(scale)
        return out
