"""Overlapping max-pooling (paper section 3.4)."""

import numbers

import numpy

from ..autograd import Function
from ._threads import parallel as _parallel
from ._utils import check_float

# Grid points per channel block on the CPU (phase path): the block's phases,
# running maximum and argmax (about 25 bytes a point) then stay in a 2 MB L2 cache.
_CACHE_POINTS = 1 << 16
# Small maps (padded H*W up to this many pixels, e.g. AlexNet's 13x13 and
# 6x6 maps) take the planes-last path on the CPU (fwd+bwd measured at batch
# 128: 30-50% faster than the phase split on 6x6 maps, 5-10% on 13x13; on
# 27x27 and 28x28 maps the two were within 6% of each other, either way) ...
_PLANES_LAST_MAX = 400
# ... over blocks of planes of about this many padded pixels: long enough
# that NumPy's per-call cost vanishes (measured best at 2^19 on 13x13 maps).
_PLANES_LAST_POINTS = 1 << 19
# Planes moved to the last axis per copy: each output row of the copy reads
# one number from each of these planes, and their cache lines (64 bytes
# each, 32 KB in all) must stay in L1 until the next row reads their
# neighbours (measured on 6x6 maps: 0.64 instead of 1.7 ms a block).
_TRANSPOSE_PLANES = 512
# The planes-last passes run over (OH, OW, planes) arrays; with fewer
# outputs (N*C*OH*OW) than this, two threads pass NumPy's lock (the GIL)
# back and forth between passes more than they gain (measured at batch 128:
# 6x6 inputs, 2x2 outputs, ran slower on two threads; 13x13 inputs, 6x6
# outputs, 25% faster).
_PLANES_LAST_SPLIT = 1 << 18


def _pair(name, value):
    """An int or an (h, w) pair of ints -> (h, w)."""
    pair = tuple(value) if isinstance(value, (tuple, list)) else (value, value)
    if len(pair) != 2 or not all(isinstance(v, numbers.Integral) and not isinstance(v, bool)
                                 for v in pair):
        raise TypeError(f"max_pool2d: {name}={value!r} is invalid; give an int or a pair "
                        "(h, w) of ints")
    return int(pair[0]), int(pair[1])


def pool_arguments(kernel_size, stride=None, padding=0):
    """Check max_pool2d's window arguments; return (kernel, stride, padding)
    as (h, w) pairs, stride defaulting to the kernel. Raises TypeError for
    non-integers, ValueError for kernel or stride < 1 and for padding outside
    0..kernel // 2 (a wider padding could make a window of padding only)."""
    kernel = _pair("kernel_size", kernel_size)
    stride = kernel if stride is None else _pair("stride", stride)
    padding = _pair("padding", padding)
    if min(kernel) < 1:
        raise ValueError(f"max_pool2d: kernel_size={kernel_size!r} must be >= 1")
    if min(stride) < 1:
        raise ValueError(f"max_pool2d: stride={stride!r} must be >= 1")
    if min(padding) < 0 or padding[0] > kernel[0] // 2 or padding[1] > kernel[1] // 2:
        raise ValueError(f"max_pool2d: padding={padding!r} must be between 0 and half the "
                         f"kernel {kernel}, i.e. at most {(kernel[0] // 2, kernel[1] // 2)}, so "
                         "every window holds at least one input element")
    return kernel, stride, padding


def pool_output_size(length, kernel, stride, padding, ceil_mode):
    """Number of windows along one axis (PyTorch's rule).

    floor mode: floor((L + 2p - k) / s) + 1, the windows that fit.
    ceil mode:  ceil((L + 2p - k) / s) + 1, one more partial window at the
    end when the stride leaves a remainder (cuda-convnet's and Chainer's
    size), except that a window starting at or beyond L + p (in the
    right/bottom padding only) is dropped.
    """
    span = length + 2 * padding - kernel
    n = (span + (stride - 1 if ceil_mode else 0)) // stride + 1
    if ceil_mode and (n - 1) * stride >= length + padding:
        n -= 1
    return n


class MaxPool2d(Function):
    """y[n,c,oy,ox] = max_{0<=i<kh, 0<=j<kw} xpad[n, c, oy*sh + i, ox*sw + j]
    with xpad the input padded by -inf (section 3.4: z = 3, s = 2, so
    neighbouring windows overlap by one row and one column).

    Forward, with plain array ops and no loop over pixels. Split xpad into
    its sh*sw *phases* X[p, q] = xpad[:, :, p::sh, q::sw], each (N, C, A, B).
    Window offset (i, j) = (sh*di + p, sw*dj + q) of output (oy, ox) reads
    xpad[oy*sh + i, ox*sw + j] = X[p, q][oy + di, ox + dj]: phase (p, q)
    shifted by (di, dj). Flattened, that shift is a plain contiguous slice
    X[p, q].ravel()[di*B + dj:], so every output is computed at once on the
    (N, C, A, B) grid, one offset after the other: a running maximum, and
    where it came from, the offset's position i*Wp + j inside xpad (Wp
    columns). Grid points with oy >= OH or ox >= OW are computed as well
    (their reads run into the next row) and thrown away. A later offset
    replaces the running maximum only when strictly greater, so ties keep
    the first offset in row-major window order. On the CPU all this runs
    per block of channels (every image and pixel of them at once), small
    enough that the kh*kw passes hit the cache instead of memory, and the
    batch is split across minialex's threads (images are independent).

    Small maps on the CPU (padded Hp*Wp <= 400) take a simpler path with
    the same running maximum and the same argmax codes: the N*C planes
    move to the last axis, xpad as (Hp, Wp, planes). Offset (i, j) is then
    the strided view ``[i : i + sh*OH : sh, j : j + sw*OW : sw, :]``,
    whose rows are runs of contiguous planes, so each pass is a few long
    NumPy loops (with NCHW's rows of 6 or 13 numbers NumPy spends more on
    starting rows than on the numbers; the phase split is cheaper only on
    big maps, where moving the planes axis costs more than it saves).

    Backward. y = xpad[argmax], so dy/dx is 1 at the recorded argmax of the
    window and 0 elsewhere: each output sends its whole gradient to that one
    input. An input inside several (overlapping) windows receives the sum
    of the gradients of the windows that picked it:

      gx[u] = sum over outputs w with argmax(w) = u of gy[w],

    exactly what an unbuffered scatter-add does (``xp.add.at``; a plain
    ``gx[idx] += gy`` would keep only one of the repeated indices).
    """

    def __init__(self, kernel, stride, padding, out_size):
        (self.kh, self.kw), (self.sh, self.sw) = kernel, stride
        (self.ph, self.pw), (self.oh, self.ow) = padding, out_size

    def _padded_size(self, h, w):
        """(Hp, Wp): rows and columns of xpad, enough for the whole input and
        every window (with no padding and floor mode, just (H, W))."""
        return (max(self.sh * (self.oh - 1) + self.kh, h + self.ph),
                max(self.sw * (self.ow - 1) + self.kw, w + self.pw))

    def _phase_slices(self, r, s, pad, n):
        """Where phase r (stride s) meets an input axis of length n: (slice of
        the phase, slice of the input). Padded index s*a + r is input index
        s*a + r - pad, so the phase starts at a0 = ceil((pad - r) / s)."""
        a0 = max(0, -(-(pad - r) // s))
        first = s * a0 + r - pad
        count = max(0, -(-(n - first) // s))
        return slice(a0, a0 + count), slice(first, n, s)

    def _split(self, x, phases):
        """Write xpad's phases: phases[p, q] = xpad[:, :, p::sh, q::sw], the
        places outside x (padding, ceil mode's extra rows) as -inf."""
        h, w = x.shape[2:]
        minus_inf = x.dtype.type(-float("inf"))
        for p in range(self.sh):
            for q in range(self.sw):
                (ra, rx), (ca, cx) = (self._phase_slices(p, self.sh, self.ph, h),
                                      self._phase_slices(q, self.sw, self.pw, w))
                X = phases[p, q]
                X[:, :, ra, ca] = x[:, :, rx, cx]
                for rows, cols in ((slice(0, ra.start), slice(None)),
                                   (slice(ra.stop, None), slice(None)),
                                   (ra, slice(0, ca.start)), (ra, slice(ca.stop, None))):
                    if X[:, :, rows, cols].size:
                        X[:, :, rows, cols] = minus_inf

    def forward(self, x):
        xp = self.device.xp
        track = self.needs_input_grad[0]
        y = xp.empty(x.shape[:2] + (self.oh, self.ow), dtype=x.dtype)
        hp, wp = self._padded_size(*x.shape[2:])
        argmax = xp.empty(y.shape, dtype=self._code_dtype(xp, wp)) if track else None
        if track:
            self.argmax, self.x_shape = argmax, x.shape

        planes_last = xp is numpy and hp * wp <= _PLANES_LAST_MAX
        pool = self._pool_planes_last if planes_last else self._pool

        def work(lo, hi):                                      # images lo..hi-1
            pool(xp, x[lo:hi], y[lo:hi], None if argmax is None else argmax[lo:hi])
        if planes_last and y.size < _PLANES_LAST_SPLIT:
            work(0, x.shape[0])   # short passes: a second thread costs more than it saves
        else:
            _parallel(work, x.shape[0], x)    # images are independent: split across threads
        return y

    def _pool(self, xp, x, y, argmax):
        """The forward pass on a part of the batch: y and (unless None)
        argmax, the window position of each maximum, written in place."""
        n, c, h, w = x.shape
        hp, wp = self._padded_size(h, w)
        a, b = -(-hp // self.sh), -(-wp // self.sw)            # phase size, rounded up
        # window offset (i, j): its phase, its flat shift in the phase, and its
        # position i*wp + j in xpad relative to the window's corner
        taps = [(i % self.sh, j % self.sw, (i // self.sh) * b + j // self.sw, i * wp + j)
                for i in range(self.kh) for j in range(self.kw)]
        track = argmax is not None
        code = argmax.dtype.type if track else None
        # Cache blocking: each pass below streams its arrays once, so on the
        # CPU they run over a block of channels (all images, all pixels)
        # small enough to stay in cache; on a GPU over all channels at once.
        block = c if xp is not numpy else max(1, min(c, _CACHE_POINTS // max(1, n * a * b)))
        room = block * n * a * b
        phase_mem = xp.empty(self.sh * self.sw * room, dtype=x.dtype)
        grid_mem = xp.empty(room, dtype=x.dtype)
        if track:
            at_mem, pos_mem = xp.empty(room, dtype=code), xp.empty(room, dtype=code)
            better_mem = xp.empty(room, dtype=bool)
        keep = (slice(None), slice(None), slice(0, self.oh), slice(0, self.ow))
        for c0 in range(0, c, block):
            m = min(block, c - c0)
            g = n * m * a * b                                  # grid points of this block
            phases = phase_mem[:self.sh * self.sw * g].reshape(self.sh, self.sw, n, m, a, b)
            self._split(x[:, c0:c0 + m], phases)
            flat = phases.reshape(self.sh, self.sw, g)
            size = max(0, g - max(t[2] for t in taps))         # grid points computed
            grid = grid_mem[:size]
            p, q, s, _ = taps[0]
            best = flat[p, q, s:s + size]      # running maximum: offset (0, 0) first
            if track:  # position of the running maximum
                at, pos, better = at_mem[:size], pos_mem[:size], better_mem[:size]
            for t, (p, q, s, offset) in enumerate(taps[1:]):
                v = flat[p, q, s:s + size]
                if track:  # at = offset where v > best: offset exceeds every earlier one
                    xp.greater(v, best, out=better)
                    xp.multiply(better, code(offset), out=pos if t else at)
                    if t:
                        xp.maximum(at, pos, out=at)
                best = xp.maximum(best, v, out=grid)
            if len(taps) == 1:
                grid[...] = best
                if track:
                    at[...] = 0
            y[:, c0:c0 + m] = grid_mem[:g].reshape(n, m, a, b)[keep]
            if track:
                argmax[:, c0:c0 + m] = at_mem[:g].reshape(n, m, a, b)[keep]

    def _pool_planes_last(self, xp, x, y, argmax):
        """The forward pass on a part of the batch, planes last: the same
        y and argmax as :meth:`_pool`, for small maps (see the class doc).
        Runs over blocks of planes; each block is copied into
        xpad (Hp, Wp, m) (one transpose), reduced over the kh*kw strided
        views, and its results copied back to (m, OH, OW)."""
        n, c, h, w = x.shape
        hp, wp = self._padded_size(h, w)
        (sh, sw), (ph, pw), (oh, ow) = (self.sh, self.sw), (self.ph, self.pw), (self.oh, self.ow)
        planes = n * c
        block = max(1, min(planes, _PLANES_LAST_POINTS // (hp * wp)))
        xpad = xp.full((hp, wp, block), -xp.inf, dtype=x.dtype)  # its border stays -inf
        best = xp.empty((oh, ow, block), dtype=x.dtype)
        track = argmax is not None
        if track:
            code = argmax.dtype.type
            at, pos = xp.empty(best.shape, dtype=code), xp.empty(best.shape, dtype=code)
            better = xp.empty(best.shape, dtype=bool)
        taps = [(i, j) for i in range(self.kh) for j in range(self.kw)]
        # y and argmax are contiguous slices of forward's arrays: these
        # reshapes are views, so the writes below land in them
        x3, y3 = x.reshape(planes, h, w), y.reshape(planes, oh, ow)
        a3 = argmax.reshape(planes, oh, ow) if track else None
        for p0 in range(0, planes, block):
            m = min(block, planes - p0)
            for q in range(0, m, _TRANSPOSE_PLANES):
                r = min(m, q + _TRANSPOSE_PLANES)
                xpad[ph:ph + h, pw:pw + w, q:r] = x3[p0 + q:p0 + r].transpose(1, 2, 0)
            b = best[:, :, :m]
            for t, (i, j) in enumerate(taps):
                v = xpad[i:i + sh * oh:sh, j:j + sw * ow:sw, :m]   # (OH, OW, m)
                if t == 0:
                    b[...] = v
                    if track:
                        at[:, :, :m] = 0
                    continue
                if track:  # at = offset where v > best: offset exceeds every earlier one
                    xp.greater(v, b, out=better[:, :, :m])
                    xp.multiply(better[:, :, :m], code(i * wp + j), out=pos[:, :, :m])
                    xp.maximum(at[:, :, :m], pos[:, :, :m], out=at[:, :, :m])
                xp.maximum(b, v, out=b)
            y3[p0:p0 + m] = b.transpose(2, 0, 1)
            if track:
                a3[p0:p0 + m] = at[:, :, :m].transpose(2, 0, 1)

    def _code_dtype(self, xp, wp):
        """uint8 when every offset i*wp + j fits (3x3 windows on rows of up to
        126 columns), else uint16 or int32."""
        last = (self.kh - 1) * wp + self.kw - 1
        return xp.uint8 if last < 256 else xp.uint16 if last < 65536 else xp.int32

    def backward(self, gy):
        xp = self.device.xp
        n, c, h, w = self.x_shape
        hp, wp = self._padded_size(h, w)
        # flat index in xpad of each output's argmax: plane + window corner + offset
        # (int32 when it fits: half the memory traffic of int64). One scatter-add
        # on one thread: split over images it was no faster (add.at keeps the GIL).
        it = xp.int32 if n * c * hp * wp < 2**31 else xp.int64
        corner = (xp.arange(self.oh, dtype=it)[:, None] * it(self.sh * wp)
                  + xp.arange(self.ow, dtype=it)[None, :] * it(self.sw))
        # (repeat and tile: long runs; broadcasting (N*C, 1, 1) against the
        # (OH, OW) corners made NumPy step through rows of OW numbers)
        planes = xp.arange(0, n * c * hp * wp, hp * wp, dtype=it)      # each plane's start
        index = xp.repeat(planes, self.oh * self.ow)
        index += xp.tile(corner.reshape(-1), n * c)
        index += self.argmax.reshape(-1)
        gpad = xp.zeros((n, c, hp, wp), dtype=gy.dtype)
        xp.add.at(gpad.reshape(-1), index, gy.reshape(-1))
        if (hp, wp) == (h, w):                   # no padding, no ceil-mode overhang
            return gpad
        return xp.ascontiguousarray(gpad[:, :, self.ph:self.ph + h, self.pw:self.pw + w])


def max_pool2d(x, kernel_size, stride=None, padding=0, ceil_mode=False):
    """2-D max-pooling, overlapping when ``stride < kernel_size`` (paper
    section 3.4 uses kernel_size=3, stride=2).

    Args:
        x: Tensor (N, C, H, W), float32 (float64 for gradient checks).
        kernel_size: int or (kh, kw), >= 1.
        stride: int or (sh, sw), >= 1. Default: ``kernel_size``.
        padding: int or (ph, pw), 0 <= p <= k // 2, on both sides. Padding
            is read as -inf, never 0, so it is never the maximum.
        ceil_mode (bool): False (default, PyTorch's): floor((H + 2p - k)/s) + 1
            output rows. True: ceil((H + 2p - k)/s) + 1 (cuda-convnet's and
            Chainer's size), dropping a last window that would start at or
            beyond H + p (PyTorch's rule; see :func:`pool_output_size`).

    Returns:
        Tensor (N, C, OH, OW), same dtype and device as ``x``.

    Gradient: each output's gradient goes to one argmax of its window; ties
    go to the first maximal element in row-major window order (top row
    first, then left to right); where windows overlap, gradients add.

    Raises:
        ValueError: x is not 4-D; kernel_size or stride < 1; padding < 0 or
            padding > kernel_size // 2; the kernel larger than the padded
            input (H + 2p < kh or W + 2p < kw).
        TypeError: x is not floating point (e.g. integer images);
            kernel_size, stride or padding not an int or a pair of ints.

    Source: Krizhevsky et al. 2012, section 3.4 ("Overlapping Pooling":
    z = 3, s = 2 lowered their top-1 error by 0.4% against z = s = 2), after
    conv1, conv2 and conv5.
    """
    if x.ndim != 4:
        raise ValueError(f"max_pool2d expects x of shape (N, C, H, W), got shape "
                         f"{tuple(x.shape)}; add the missing axes with reshape")
    check_float("max_pool2d", x=x)
    kernel, stride, padding = pool_arguments(kernel_size, stride, padding)
    h, w = x.shape[2:]
    if h + 2 * padding[0] < kernel[0] or w + 2 * padding[1] < kernel[1]:
        raise ValueError(f"max_pool2d: kernel_size={kernel} is larger than the padded input "
                         f"({h + 2 * padding[0]}, {w + 2 * padding[1]}) (H, W = {h}, {w}, "
                         f"padding={padding}); use a smaller kernel or a larger input")
    out = tuple(pool_output_size(n, k, s, p, bool(ceil_mode))
                for n, k, s, p in zip((h, w), kernel, stride, padding))
    return MaxPool2d(kernel, stride, padding, out)(x)
