"""Which implementation ("path") each op runs: one explicit table.

Every fast op has one or more paths, each a module of ``_kernels`` with the
same small interface, and one rule that picks a path from the array module
and the input's size. The table below is the whole story; nothing else in
minialex picks a path. Tests and benchmarks force a path with

    with paths.use("max_pool2d", "planes_last"):
        ...                                  # every max_pool2d call in here

(thread-safe enough for tests: the choice is global while the block runs).

============== ============= ====== =========================================
op             path          arrays chosen by default when
============== ============= ====== =========================================
conv2d         winograd_f2x2 any    NumPy, 3x3 kernel, stride 1, at least
               _3x3                 128 input channels a group (see below)
conv2d         winograd_f3x3 any    never (forced with ``use``): F(3x3, 3x3),
               _3x3                 measured 1.0-1.4x F(2x2)'s time (below)
conv2d         winograd_f2x2 any    never (forced with ``use``): F(2x2, 5x5)
               _5x5                 for 5x5 stride 1, measured 1.7-5x the
                                    chunks' time (below)
conv2d         mec_rows      any    NumPy, other stride-1 windows with at
                                    least 16 input and at most 96 output
                                    channels a group (the small and half
                                    presets' conv2-conv5 below Winograd's)
conv2d         chwn_chunks   any    NumPy, other stride-1 windows (conv1's
                                    3 input channels; the paper and
                                    ImageNet conv2's 128 outputs a group)
conv2d         chwn_slices   any    NumPy, strides over 1 (e.g. the
                                    ImageNet net's 11x11/4 conv1)
conv2d         cuda_kernels  CuPy   CuPy arrays
max_pool2d     phases        any    NumPy, padded map over 400 pixels
max_pool2d     planes_last   any    NumPy, padded map up to 400 pixels
                                    (AlexNet's 13x13 and 6x6 maps)
max_pool2d     cuda_kernels  CuPy   CuPy arrays
local_resp...  window_slices any    NumPy arrays
local_resp...  cuda_kernels  CuPy   CuPy arrays
============== ============= ====== =========================================

"any" paths are plain array code and run on NumPy or CuPy (forced with
``use``, they run on CuPy arrays too: tests/test_gpu.py compares the two
on a GPU); the ``cuda_kernels`` paths are CUDA kernels (``*_cuda.py``,
compiled by CuPy) and need CuPy arrays. They have not run on a GPU yet;
should one misbehave, ``use(op, "<array path>")`` is the way around it.
"""

import contextlib
from dataclasses import dataclass

import numpy

__all__ = ["Path", "TABLE", "choose", "use"]


@dataclass(frozen=True)
class Path:
    """One implementation of an op: its name, the module that holds it
    (relative to ``minialex.functions._kernels``), and whether it needs
    CuPy arrays (``cupy_only``) or runs on any array module."""
    name: str
    module: str
    cupy_only: bool = False


TABLE = {
    "conv2d": (Path("chwn_slices", "im2col_cpu"), Path("winograd_f2x2_3x3", "winograd"),
               Path("winograd_f3x3_3x3", "winograd_f3x3"), Path("winograd_f2x2_5x5", "winograd_f2x2_5x5"),
               Path("chwn_chunks", "im2col_chunks"), Path("mec_rows", "mec"),
               Path("cuda_kernels", "im2col_cuda", True)),
    "max_pool2d": (Path("phases", "pool_phases"), Path("planes_last", "pool_planes_last"),
                   Path("cuda_kernels", "pool_cuda", True)),
    "local_response_norm": (Path("window_slices", "lrn_window"),
                            Path("cuda_kernels", "lrn_cuda", True)),
}

# Max-pooling's planes-last path takes padded maps up to this many pixels
# (Hp*Wp), e.g. AlexNet's 13x13 and 6x6 maps. Measured fwd+bwd at batch 128
# on 2 cores: 30-50% faster than the phase split on 6x6 maps, 5-10% on
# 13x13; on 27x27 maps the phase split was 5-8% faster and within 5% on
# 28x28 (commit f0858c3), hence the limit between 13x13 (225) and 27x27.
PLANES_LAST_MAX_PIXELS = 400

# conv2d's default paths on NumPy, measured fwd+bwd on every AlexNet conv
# layer (CIFAR presets at batch 128, ImageNet at 32) with
# benchmarks/conv_paths.py --repeats 7, one process, alternating, an idle
# 2-core AVX-512 Xeon (OpenBLAS SkylakeX kernels), 2026-12-02; times as
# im2col whole batch / in chunks / Winograd, ms:
# - stride-1 5x5 (conv1, conv2): chunks 11-32% faster than the whole batch
#   (small conv2 37.7 / 31.1, half conv2 83.4 / 61.7, paper conv1 52.1 / 35.5);
# - 3x3 stride 1 with C/G < 128 (small conv3-5, half conv4-5): chunks
#   5-7% faster than the whole batch on small and within 6% on half, and
#   Winograd 25-40% slower than chunks on small;
# - 3x3 stride 1 with C/G >= 128 (half conv3, paper and ImageNet conv3-5):
#   Winograd 2-22% faster than either im2col path (paper conv3 107.0 /
#   109.1 / 84.8);
# - the ImageNet conv1 (11x11, stride 4): chunks 1.56x slower (114.8 / 179.2):
#   chunks of two images of strided copies.
# On the EPYC of 2026-12-01 Winograd had also been faster than im2col on
# half (0.81-0.92x) but not on small (0.97-1.11x).
# The larger Winograd tiles lose (same Xeon, 2026-12-02 session 8, --repeats
# 5, one run; the machine read ~1.4x slower than the run above for all of
# minialex's paths, so compare within the run): F(3x3, 3x3) against
# F(2x2, 3x3) 1.44x on small conv3, 1.00 on half conv3, 1.09 / 1.03 / 1.01
# on paper conv3-5 (its 1.44x fewer products are paid back in 5x5 tiles'
# transforms, which are memory passes); F(2x2, 5x5) against chunks 4.7x on
# small conv1 (3 channels: all transform, no product), 2.1x on small
# conv2, 1.9x on half conv2, 1.7x on paper conv2 (384.8 / 230.3 ms).
WINOGRAD_BY_DEFAULT = True
WINOGRAD_MIN_GROUP_CHANNELS = 128

# MEC (one product per output row, :mod:`.mec`) against the chunks, fwd+bwd,
# benchmarks/conv_paths.py-style alternation in one process, min of 9-15
# runs, 2-core AMD EPYC (Zen 4, AVX-512, OpenBLAS SkylakeX kernels, no
# OPENBLAS_* set), 2026-12-03, ms as chunks / MEC: small conv2 45.1 / 34.4,
# conv4 14.0 / 11.5, conv5 11.7 / 8.2, conv3 12.4 / 12.7, conv1 16.2 / 15.4;
# half conv2 97.0 / 91.0, conv5 30.4 / 26.9, conv4 38.6 / 37.5; paper conv2
# 283 / 287; ImageNet conv2 365 / 312 (MEC with 8M-number chunks). MEC loses
# on conv1 of half and paper (3 input channels: K = 75 makes thin
# products; 18.1 / 20.6 and 31.9 / 43.4 ms), hence the channel floor.
# Whole training steps (benchmarks/train_step.py's nets, blocks of 6 steps
# on each rule, 4 rounds, medians, same machine): MEC on every conv2-conv5
# below Winograd's against chunks 0.83x on small, 0.95x on half, 1.06x on
# paper and 1.01x on ImageNet (batch 16), whose conv2 has 128 output
# channels a group: where the products are fat the copies MEC saves matter
# less than its thinner per-row products, hence the output-channel ceiling.
MEC_MIN_GROUP_CHANNELS = 16
MEC_MAX_OUT_GROUP_CHANNELS = 96

_forced = {}                 # op -> path name, while a ``use`` block runs


def _path(op, name):
    for path in TABLE[op]:
        if path.name == name:
            return path
    raise ValueError(f"paths: {op} has no path {name!r}; its paths are "
                     f"{[p.name for p in TABLE[op]]}")


def _default(op, xp, padded_pixels, window, group_channels, out_group_channels):
    if xp is not numpy:
        return "cuda_kernels"
    if op == "conv2d":
        if window is None or tuple(window[1]) != (1, 1):
            return "chwn_slices"
        if (WINOGRAD_BY_DEFAULT and tuple(window[0]) == (3, 3)
                and group_channels >= WINOGRAD_MIN_GROUP_CHANNELS):
            return "winograd_f2x2_3x3"
        if (group_channels >= MEC_MIN_GROUP_CHANNELS
                and out_group_channels <= MEC_MAX_OUT_GROUP_CHANNELS):
            return "mec_rows"
        return "chwn_chunks"
    if op == "local_response_norm":
        return "window_slices"
    if padded_pixels <= PLANES_LAST_MAX_PIXELS:
        return "planes_last"
    return "phases"


def choose(op, xp, padded_pixels=0, window=None, group_channels=0, out_group_channels=0):
    """The module implementing ``op`` for arrays of module ``xp``: the
    forced path inside a :func:`use` block, else the table's rule
    (``padded_pixels``, Hp*Wp, matters only to max_pool2d; ``window``,
    ``((kh, kw), (sh, sw))``, ``group_channels``, C_in/groups, and
    ``out_group_channels``, C_out/groups, only to
    conv2d). Raises ValueError if a forced CuPy-only path meets NumPy arrays."""
    name = _forced.get(op) or _default(op, xp, padded_pixels, window, group_channels,
                                       out_group_channels)
    path = _path(op, name)
    if path.cupy_only and xp is numpy:
        raise ValueError(f"paths: {op}'s path {name!r} needs CuPy arrays, got NumPy ones; "
                         "force it only around GPU code")
    return _load(path.module)


_modules = {}


def _load(module):
    if module not in _modules:
        import importlib
        _modules[module] = importlib.import_module(f"{__package__}.{module}")
    return _modules[module]


@contextlib.contextmanager
def use(op, name):
    """Run every call of ``op`` inside the block on path ``name`` (one of
    ``TABLE[op]``), whatever the input; the previous choice comes back after."""
    if op not in TABLE:
        raise ValueError(f"paths.use: unknown op {op!r}; the ops are {sorted(TABLE)}")
    _path(op, name)
    old = _forced.get(op)
    _forced[op] = name
    try:
        yield
    finally:
        if old is None:
            _forced.pop(op, None)
        else:
            _forced[op] = old
