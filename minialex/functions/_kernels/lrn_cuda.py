"""local_response_norm's ``cuda_kernels`` path: the sliding window sum
over channels as one CUDA kernel (CuPy arrays only).

Why: the array path adds ``size`` shifted slices (size - 1 additions and a
scaling: 5 kernel launches and passes over memory for size 5); here thread
``idx`` computes one output ``scale * sum_q buf[n, c + q, p]`` in one pass,
adding in the array path's order (q = 0, 1, ...), then scaling, so the
numbers are the array path's bit for bit. It touches only the window, as
the array path does (a NaN or inf reaches only the channels whose window
holds it). Not yet measured on a GPU: written and tested on the CPU (see
:mod:`.cuda_source`); tests/test_gpu.py compares it with the array path.
"""

from . import lrn_window
from .cuda_source import Kernel, i64
from .lrn_window import window_extent

__all__ = ["window_extent", "ChannelWindow", "over_image_blocks"]


def over_image_blocks(work, a):
    """On a GPU: the whole batch in one call (no cache blocking, no threads)."""
    work(0, a.shape[0])

_WINDOW_SUM = Kernel("minialex_lrn_window_sum", r"""
extern "C" __global__ void minialex_lrn_window_sum(
        long long total, const T* buf, T* out, T scale, long long C, long long HW,
        long long size) {
    for (long long idx = (long long)blockIdx.x * blockDim.x + threadIdx.x; idx < total;
         idx += (long long)blockDim.x * gridDim.x) {
        long long p = idx % HW;
        long long t = idx / HW;
        long long c = t % C;
        long long n = t / C;
        const T* b = buf + (n * (C + size - 1) + c) * HW + p;   /* buf[n, c, p] */
        T sum = size == 1 ? b[0] : b[0] + b[HW];
        for (long long q = 2; q < size; ++q) sum += b[q * HW];
        out[idx] = sum * scale;
    }
}
""")


class ChannelWindow(lrn_window.ChannelWindow):
    """The array path's padded buffer (see :class:`.lrn_window.ChannelWindow`)
    with :meth:`sum` as one kernel; ``out`` must be contiguous."""

    def sum(self, scale, out):
        """out[n, i] = scale * sum of the window's channels of the buffer,
        one CUDA thread per output number; returns ``out``.

        Raises:
            ValueError: ``out`` is not C-contiguous.
        """
        buf = self.xp.ascontiguousarray(self.buf)
        n, cp, h, w = buf.shape
        c = cp - self.size + 1
        if not out.flags.c_contiguous:
            raise ValueError("lrn_cuda: the window sum writes a contiguous output only")
        _WINDOW_SUM(buf.dtype, out.size, buf, out, buf.dtype.type(scale),
                    *i64(c, h * w, self.size))
        return out
