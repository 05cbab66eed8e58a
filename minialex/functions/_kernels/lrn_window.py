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
and the scaling are long vectorised loops (size = 5 in AlexNet: 5 passes);
images are split across the CPU threads by the caller. Benchmark
(benchmarks/layers_pool_lrn.py, 2 shared cores): see the README's figures;
LRN forward + backward stays several times faster than PyTorch's.
"""

__all__ = ["window_extent", "ChannelWindow"]


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
