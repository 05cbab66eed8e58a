"""max_pool2d's ``cuda_kernels`` path: the forward (maximum and argmax)
and the backward as one CUDA kernel each (CuPy arrays only).

Why: the array paths run kh*kw passes (running maximum, comparison,
argmax update: 3-4 kernel launches and full passes each) and a scatter-add
(``cupy.add.at``, atomics); here thread ``idx`` of the forward reads its
own window once and writes its maximum and argmax code, and thread ``idx``
of the backward owns one input pixel and gathers the gradients of the (at
most ceil(kh/sh)*ceil(kw/sw)) windows that picked it, in output order, so
there are no atomics and the sums are NumPy's ``add.at``'s, bit for bit.
Same rules as the array paths: the padding is -inf, a later offset wins
only when strictly greater (ties keep the first in row-major order), a NaN
makes the maximum NaN and keeps the argmax where it was, and the argmax
code is ``i*Wp + j`` (int32 here). Not yet measured on a GPU: written and
tested on the CPU (see :mod:`.cuda_source`); tests/test_gpu.py compares
it with the array paths.
"""

from ...backend import get_array_module
from .cuda_source import Kernel, i64

__all__ = ["forward", "backward"]

_FORWARD = Kernel("minialex_max_pool_forward", r"""
extern "C" __global__ void minialex_max_pool_forward(
        long long total, const T* x, T* y, int* argmax, T minus_inf, long long track, long long H,
        long long W, long long kh, long long kw, long long sh, long long sw, long long ph,
        long long pw, long long OH, long long OW, long long Wp) {
    for (long long idx = (long long)blockIdx.x * blockDim.x + threadIdx.x; idx < total;
         idx += (long long)blockDim.x * gridDim.x) {
        long long t = idx;
        long long ox = t % OW; t /= OW;
        long long oy = t % OH;
        long long plane = t / OH;                  /* n*C + c */
        const T* xs = x + plane * H * W;
        T best = (T)0;
        int code = 0;
        for (long long i = 0; i < kh; ++i) {
            long long yy = oy * sh + i - ph;
            for (long long j = 0; j < kw; ++j) {
                long long xx = ox * sw + j - pw;
                T v = (yy >= 0 && yy < H && xx >= 0 && xx < W) ? xs[yy * W + xx] : minus_inf;
                if (i == 0 && j == 0) {
                    best = v;
                } else if (v > best) {
                    best = v;
                    code = (int)(i * Wp + j);
                } else if (v != v) {               /* NaN: the maximum is NaN from here on */
                    best = v;
                }
            }
        }
        y[idx] = best;
        if (track) argmax[idx] = code;
    }
}
""")

_BACKWARD = Kernel("minialex_max_pool_backward", r"""
extern "C" __global__ void minialex_max_pool_backward(
        long long total, const T* gy, const int* argmax, T* gx, long long H, long long W,
        long long kh, long long kw, long long sh, long long sw, long long ph, long long pw,
        long long OH, long long OW, long long Wp) {
    for (long long idx = (long long)blockIdx.x * blockDim.x + threadIdx.x; idx < total;
         idx += (long long)blockDim.x * gridDim.x) {
        long long t = idx;
        long long xx = t % W; t /= W;
        long long y = t % H;
        long long plane = t / H;
        long long yp = y + ph, xp = xx + pw;       /* padded coordinates */
        /* windows covering row yp: oy*sh <= yp < oy*sh + kh */
        long long oy0 = yp - kh + 1 > 0 ? (yp - kh + 1 + sh - 1) / sh : 0;
        long long oy1 = yp / sh < OH - 1 ? yp / sh : OH - 1;
        long long ox0 = xp - kw + 1 > 0 ? (xp - kw + 1 + sw - 1) / sw : 0;
        long long ox1 = xp / sw < OW - 1 ? xp / sw : OW - 1;
        T sum = (T)0;
        for (long long oy = oy0; oy <= oy1; ++oy) {
            for (long long ox = ox0; ox <= ox1; ++ox) {
                long long o = (plane * OH + oy) * OW + ox;
                long long code = argmax[o];
                if (oy * sh + code / Wp == yp && ox * sw + code % Wp == xp) sum += gy[o];
            }
        }
        gx[idx] = sum;
    }
}
""")


def forward(x, window, track):
    """(y, argmax) of max-pooling x (N, C, H, W); argmax (int32) is None
    unless ``track``."""
    xp = get_array_module(x)
    x = xp.ascontiguousarray(x)
    n, c, h, w = x.shape
    wp = window.padded_size(h, w)[1]
    y = xp.empty((n, c, window.oh, window.ow), dtype=x.dtype)
    argmax = xp.empty(y.shape, dtype=xp.int32) if track else xp.empty(1, dtype=xp.int32)
    _FORWARD(x.dtype, y.size, x, y, argmax, x.dtype.type(-float("inf")),
             *i64(int(track), h, w, window.kh, window.kw, window.sh, window.sw, window.ph,
                  window.pw, window.oh, window.ow, wp))
    return y, (argmax if track else None)


def backward(gy, argmax, window, x_shape):
    """gx (N, C, H, W): each input sums the gradients of the outputs whose
    argmax it is."""
    xp = get_array_module(gy)
    gy, argmax = xp.ascontiguousarray(gy), xp.ascontiguousarray(argmax)
    n, c, h, w = x_shape
    wp = window.padded_size(h, w)[1]
    gx = xp.empty(tuple(x_shape), dtype=gy.dtype)
    _BACKWARD(gy.dtype, gx.size, gy, argmax, gx,
              *i64(h, w, window.kh, window.kw, window.sh, window.sw, window.ph, window.pw,
                   window.oh, window.ow, wp))
    return gx
