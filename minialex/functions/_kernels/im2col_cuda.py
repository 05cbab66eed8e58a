"""conv2d's ``cuda_kernels`` path: im2col and col2im as one CUDA kernel
each, reading and writing NCHW images directly (CuPy arrays only).

Why: the array path's im2col is kh*kw strided slice copies (25 for a 5x5
kernel) plus a transpose to the image-last layout and back, each a kernel
launch and a full pass over memory; on a GPU one kernel that computes
every column entry from its index does it in one pass: thread ``idx`` of
im2col writes ``cols[c, i, j, oh, ow, n]`` (the array path's layout, n
fastest, so writes are coalesced) from ``x[n, c, oh*sh + i - ph,
ow*sw + j - pw]`` (0 on the padding). col2im is a gather, not a scatter:
thread ``idx`` owns one input pixel and adds, in the order of kernel
offsets (i, j), the column entries of every window that covers it, so no
atomics are needed and the sums are NumPy's, bit for bit (the array path
adds the offsets' slices in the same order). Not yet measured on a GPU:
these kernels were written and tested on the CPU (see
:mod:`.cuda_source`); tests/test_gpu.py compares them with the array path.
The layout changes of the output (Y to NCHW plus bias) and of the output
gradient stay the array path's (one CuPy transpose each).
"""

from ...backend import get_array_module
from .cuda_source import Kernel, i64
from .im2col_cpu import a_times_b_transposed, free_columns, new_columns, to_chwn, to_nchw

__all__ = ["im2col", "col2im", "to_chwn", "to_nchw", "new_columns", "free_columns",
           "a_times_b_transposed"]

_IM2COL = Kernel("minialex_im2col", r"""
extern "C" __global__ void minialex_im2col(
        long long total, const T* x, T* cols, long long N, long long C, long long H,
        long long W, long long kh, long long kw, long long sh, long long sw, long long ph,
        long long pw, long long OH, long long OW) {
    for (long long idx = (long long)blockIdx.x * blockDim.x + threadIdx.x; idx < total;
         idx += (long long)blockDim.x * gridDim.x) {
        long long t = idx;
        long long n = t % N;  t /= N;
        long long ow = t % OW; t /= OW;
        long long oh = t % OH; t /= OH;
        long long j = t % kw; t /= kw;
        long long i = t % kh;
        long long c = t / kh;
        long long y = oh * sh + i - ph, xx = ow * sw + j - pw;
        cols[idx] = (y >= 0 && y < H && xx >= 0 && xx < W) ? x[((n * C + c) * H + y) * W + xx]
                                                            : (T)0;
    }
}
""")

_COL2IM = Kernel("minialex_col2im", r"""
extern "C" __global__ void minialex_col2im(
        long long total, const T* cols, T* dx, long long N, long long C, long long H,
        long long W, long long kh, long long kw, long long sh, long long sw, long long ph,
        long long pw, long long OH, long long OW) {
    for (long long idx = (long long)blockIdx.x * blockDim.x + threadIdx.x; idx < total;
         idx += (long long)blockDim.x * gridDim.x) {
        long long t = idx;
        long long xx = t % W; t /= W;
        long long y = t % H;  t /= H;
        long long c = t % C;
        long long n = t / C;
        long long yp = y + ph, xp = xx + pw;       /* padded coordinates */
        T sum = (T)0;
        for (long long i = 0; i < kh; ++i) {
            long long dy = yp - i;
            if (dy < 0 || dy % sh != 0 || dy / sh >= OH) continue;
            long long oh = dy / sh;
            for (long long j = 0; j < kw; ++j) {
                long long dxp = xp - j;
                if (dxp < 0 || dxp % sw != 0 || dxp / sw >= OW) continue;
                long long ow = dxp / sw;
                sum += cols[((((c * kh + i) * kw + j) * OH + oh) * OW + ow) * N + n];
            }
        }
        dx[idx] = sum;
    }
}
""")


def im2col(x, kernel, stride, padding, out_hw):
    """x (N, C, H, W) -> cols (C, kh, kw, OH, OW, N), one kernel."""
    xp = get_array_module(x)
    x = xp.ascontiguousarray(x)
    N, C, H, W = x.shape
    cols = new_columns(xp, (C, kernel[0], kernel[1], out_hw[0], out_hw[1], N), x.dtype)
    _IM2COL(x.dtype, cols.size, x, cols,
            *i64(N, C, H, W, *kernel, *stride, *padding, *out_hw))
    return cols


def col2im(cols, x_shape, kernel, stride, padding, out_hw):
    """cols (C, kh, kw, OH, OW, N) -> dx (N, C, H, W), one gather kernel."""
    xp = get_array_module(cols)
    cols = xp.ascontiguousarray(cols)
    dx = xp.empty(tuple(x_shape), dtype=cols.dtype)
    _COL2IM(cols.dtype, dx.size, cols, dx, *i64(*x_shape, *kernel, *stride, *padding, *out_hw))
    return dx
