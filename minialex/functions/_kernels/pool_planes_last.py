"""max_pool2d's ``planes_last`` path: the same running maximum and argmax
codes as the ``phases`` path, with the N*C planes moved to the last axis
(the default on the CPU for padded maps up to
``paths.PLANES_LAST_MAX_PIXELS``, AlexNet's 13x13 and 6x6 maps).

The method. xpad becomes (Hp, Wp, planes); kernel offset (i, j) is then the
strided view ``xpad[i : i + sh*OH : sh, j : j + sw*OW : sw, :]`` of shape
(OH, OW, planes), whose rows are runs of contiguous planes, and the running
maximum goes over the kh*kw views.

Why this is faster on small maps: with NCHW's rows of 6 or 13 numbers,
NumPy spends more on starting rows than on the numbers; planes last, each
pass is a few long loops. Measured fwd+bwd at batch 128 on 2 cores: 30-50%
faster than the phase split on 6x6 maps, 5-10% on 13x13 (commits 8a4fdf7,
f0858c3). The planes are copied to the last axis ``TRANSPOSE_PLANES`` at a
time: each output row of the copy reads one number of each of these
planes, and their cache lines (32 KB in all) must stay in L1 until the next
row reads their neighbours (6x6 maps: 0.64 instead of 1.7 ms a block,
commit cc13d19). Below ``SPLIT_OUTPUTS`` outputs it runs on one thread.
"""

from .._threads import parallel
from .pool_scatter import backward, outputs

__all__ = ["forward", "backward"]

# Padded pixels per block of planes: long enough that NumPy's per-call cost
# vanishes (measured best at 2^19 on 13x13 maps).
BLOCK_POINTS = 1 << 19
# Planes moved to the last axis per copy (32 KB of cache lines: L1).
TRANSPOSE_PLANES = 512
# With fewer outputs (N*C*OH*OW) than this, two threads pass NumPy's lock
# back and forth between passes more than they gain (measured at batch 128:
# 6x6 inputs, 2x2 outputs, ran slower on two threads; 13x13 inputs, 6x6
# outputs, 25% faster).
SPLIT_OUTPUTS = 1 << 18


def forward(x, window, track):
    """(y, argmax) of max-pooling x (N, C, H, W); argmax is None unless
    ``track``."""
    xp, y, argmax = outputs(x, window, track)

    def work(lo, hi):
        """Pool images lo..hi-1 into their slices of y (and argmax)."""
        _pool(xp, window, x[lo:hi], y[lo:hi], None if argmax is None else argmax[lo:hi])
    if y.size < SPLIT_OUTPUTS:
        work(0, x.shape[0])   # short passes: a second thread costs more than it saves
    else:
        parallel(work, x.shape[0], x)
    return y, argmax


def _pool(xp, window, x, y, argmax):
    """The forward pass on a part of the batch, over blocks of planes: each
    block is copied into xpad (Hp, Wp, m), reduced over the kh*kw strided
    views, and its results copied back to (m, OH, OW)."""
    n, c, h, w = x.shape
    hp, wp = window.padded_size(h, w)
    (sh, sw), (ph, pw) = (window.sh, window.sw), (window.ph, window.pw)
    oh, ow = window.oh, window.ow
    planes = n * c
    block = max(1, min(planes, BLOCK_POINTS // (hp * wp)))
    xpad = xp.full((hp, wp, block), -xp.inf, dtype=x.dtype)  # its border stays -inf
    best = xp.empty((oh, ow, block), dtype=x.dtype)
    track = argmax is not None
    if track:
        code = argmax.dtype.type
        best_code = xp.empty(best.shape, dtype=code)
        new_code = xp.empty(best.shape, dtype=code)
        greater = xp.empty(best.shape, dtype=bool)
    offsets = [(i, j) for i in range(window.kh) for j in range(window.kw)]
    # y and argmax are contiguous slices of forward's arrays: these
    # reshapes are views, so the writes below land in them
    x3, y3 = x.reshape(planes, h, w), y.reshape(planes, oh, ow)
    argmax3 = argmax.reshape(planes, oh, ow) if track else None
    for p0 in range(0, planes, block):
        m = min(block, planes - p0)
        for start in range(0, m, TRANSPOSE_PLANES):
            stop = min(m, start + TRANSPOSE_PLANES)
            xpad[ph:ph + h, pw:pw + w, start:stop] = x3[p0 + start:p0 + stop].transpose(1, 2, 0)
        b = best[:, :, :m]
        for t, (i, j) in enumerate(offsets):
            v = xpad[i:i + sh * oh:sh, j:j + sw * ow:sw, :m]   # (OH, OW, m)
            if t == 0:
                b[...] = v
                if track:
                    best_code[:, :, :m] = 0
                continue
            if track:  # best_code = this code where v > best: it exceeds every earlier one
                xp.greater(v, b, out=greater[:, :, :m])
                xp.multiply(greater[:, :, :m], code(i * wp + j), out=new_code[:, :, :m])
                xp.maximum(best_code[:, :, :m], new_code[:, :, :m], out=best_code[:, :, :m])
            xp.maximum(b, v, out=b)
        y3[p0:p0 + m] = b.transpose(2, 0, 1)
        if track:
            argmax3[p0:p0 + m] = best_code[:, :, :m].transpose(2, 0, 1)
