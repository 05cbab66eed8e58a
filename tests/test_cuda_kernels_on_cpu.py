"""The CUDA kernels of the ``cuda_kernels`` paths, checked without a GPU.

Each kernel's CUDA C source is compiled for the CPU by g++ with a
one-thread grid (``blockIdx`` = ``threadIdx`` = 0, ``blockDim`` =
``gridDim`` = 1, so the grid-stride loop visits every item in order) and
called through ctypes on NumPy arrays; the results must equal the NumPy
paths' bit for bit (they only add, multiply and compare, in the same
order). This checks the index arithmetic, the tie and NaN rules and the
summation order; it cannot check CUDA-only things (the launch, memory
coalescing, NVRTC's dialect), which tests/test_gpu.py does on a GPU, and
which nvcc's compile check below covers in part. Skipped without g++.
"""

import ctypes
import hashlib
import os
import shutil
import subprocess

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import minialex
from minialex import functional as F
from minialex.functions._geometry import PoolWindow, output_size
from minialex.functions._kernels import (cuda_source, im2col_cpu, im2col_cuda, lrn_cuda,
                                         lrn_window, paths, pool_cuda, pool_phases,
                                         pool_planes_last)

pytestmark = pytest.mark.skipif(shutil.which("g++") is None, reason="needs g++")

SHIM = """#include <cmath>
struct minialex_dim3 { long long x; };
static const minialex_dim3 blockIdx = {0}, threadIdx = {0}, blockDim = {1}, gridDim = {1};
#define __global__
"""
_libraries = {}


def _library(kernel, dtype, folder):
    code = SHIM + kernel.code(dtype)
    key = hashlib.sha1(code.encode()).hexdigest()[:16]
    if key not in _libraries:
        src, lib = os.path.join(folder, key + ".cpp"), os.path.join(folder, key + ".so")
        with open(src, "w") as f:
            f.write(code)
        subprocess.run(["g++", "-O1", "-ffp-contract=off", "-shared", "-fPIC", "-o", lib, src],
                       check=True, capture_output=True)
        _libraries[key] = ctypes.CDLL(lib)
    return getattr(_libraries[key], kernel.name)


def _c_arg(a):
    if isinstance(a, np.ndarray):
        assert a.flags.c_contiguous, "a kernel got a non-contiguous array"
        return ctypes.c_void_p(a.ctypes.data)
    return {np.int64: ctypes.c_longlong, np.int32: ctypes.c_int, np.float32: ctypes.c_float,
            np.float64: ctypes.c_double}[type(a)](a)


@pytest.fixture(autouse=True)
def kernels_on_the_cpu(tmp_path_factory):
    folder = str(tmp_path_factory.getbasetemp())

    def run(kernel, dtype, total, args):
        fn = _library(kernel, dtype, folder)
        fn.restype = None
        fn(*[_c_arg(a) for a in (np.int64(total),) + tuple(args)])
    cuda_source.set_runner(run)
    yield
    cuda_source.set_runner(None)


GEOMETRY = dict(n=st.integers(1, 3), c=st.integers(1, 4), h=st.integers(1, 9),
                w=st.integers(1, 9), kh=st.integers(1, 4), kw=st.integers(1, 4),
                sh=st.integers(1, 3), sw=st.integers(1, 3), ph=st.integers(0, 2),
                pw=st.integers(0, 2), seed=st.integers(0, 2**31 - 1))


@settings(max_examples=40, deadline=None)
@given(**GEOMETRY, dtype=st.sampled_from([np.float32, np.float64]))
def test_im2col_and_col2im_kernels_equal_the_array_path(n, c, h, w, kh, kw, sh, sw, ph, pw,
                                                         seed, dtype):
    if kh > h + 2 * ph or kw > w + 2 * pw:
        return
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c, h, w)).astype(dtype)
    args = ((kh, kw), (sh, sw), (ph, pw), (output_size(h, kh, sh, ph), output_size(w, kw, sw, pw)))
    want = im2col_cpu.im2col(x, *args).copy()        # (copied: spare arrays are recycled)
    got = im2col_cuda.im2col(x, *args)
    np.testing.assert_array_equal(got, want)
    cols = rng.standard_normal(want.shape).astype(dtype)
    np.testing.assert_array_equal(im2col_cuda.col2im(cols, x.shape, *args),
                                  im2col_cpu.col2im(cols, x.shape, *args))


@settings(max_examples=40, deadline=None)
@given(**GEOMETRY, ceil_mode=st.booleans(), specials=st.booleans())
def test_max_pool_kernels_equal_both_array_paths(n, c, h, w, kh, kw, sh, sw, ph, pw, seed,
                                                  ceil_mode, specials):
    if ph > kh // 2 or pw > kw // 2 or kh > h + 2 * ph or kw > w + 2 * pw:
        return
    rng = np.random.default_rng(seed)
    x = rng.integers(-2, 3, (n, c, h, w)).astype(np.float32)     # many ties
    if specials:                                                # NaN, -inf and inf too
        x.flat[rng.integers(0, x.size, 3)] = [np.nan, -np.inf, np.inf]
    out_size = (output_size(h, kh, sh, ph, ceil_mode), output_size(w, kw, sw, pw, ceil_mode))
    window = PoolWindow((kh, kw), (sh, sw), (ph, pw), out_size)
    y, code = pool_cuda.forward(x, window, track=True)
    gy = rng.integers(1, 9, y.shape).astype(np.float32)
    gx = pool_cuda.backward(gy, code, window, x.shape)
    for path in (pool_phases, pool_planes_last):
        y_ref, code_ref = path.forward(x, window, track=True)
        np.testing.assert_array_equal(y, y_ref)
        np.testing.assert_array_equal(code, code_ref.astype(np.int32))
        np.testing.assert_array_equal(gx, path.backward(gy, code_ref, window, x.shape))
    assert pool_cuda.forward(x, window, track=False)[1] is None


@pytest.mark.parametrize("size", [1, 2, 4, 5, 7])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_lrn_window_sum_kernel_equals_the_array_path(size, dtype):
    rng = np.random.default_rng(size)
    values = rng.standard_normal((2, 6, 3, 5)).astype(dtype)
    values[0, 2, 1, 1] = np.nan
    values[1, 4, 0, 3] = np.inf
    for front in {size // 2, (size - 1) // 2}:
        sums = []
        for module in (lrn_window, lrn_cuda):
            window = module.ChannelWindow(np, values.shape, values.dtype, size, front)
            window.inner[...] = values
            sums.append(window.sum(0.3, out=np.empty_like(values)))
        np.testing.assert_array_equal(sums[1], sums[0])


@pytest.mark.parametrize("op", ["conv", "pool", "pool_small", "lrn"])
def test_whole_ops_on_the_kernels_equal_the_default_paths(op, monkeypatch):
    # forward and every gradient of the op, its cuda_kernels path forced onto NumPy arrays
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 8, 11 if op != "pool_small" else 6, 9)).astype(np.float32)
    w = rng.standard_normal((6, 4, 3, 3)).astype(np.float32)
    b = rng.standard_normal(6).astype(np.float32)
    fn, arrays, name = {
        "conv": (lambda x, w, b: F.conv2d(x, w, b, 2, 1, 2), (x, w, b), "conv2d"),
        "pool": (lambda x: F.max_pool2d(x, 3, 2, 1, True), (x,), "max_pool2d"),
        "pool_small": (lambda x: F.max_pool2d(x, 3, 2), (x,), "max_pool2d"),
        "lrn": (lambda x: F.local_response_norm(x, 5, 1e-2, 0.75, 1.0), (x,),
                "local_response_norm")}[op]
    results = []
    for forced in (False, True):
        if forced:
            module = paths._load(paths._path(name, "cuda_kernels").module)
            real = paths.choose
            monkeypatch.setattr(paths, "choose", lambda o, xp, **kw: module if o == name
                                else real(o, xp, **kw))
        ts = [minialex.Tensor(a, requires_grad=True) for a in arrays]
        y = fn(*ts)
        y.backward(np.linspace(-1, 1, y.numel(), dtype=np.float32).reshape(y.shape))
        results.append([y.data] + [t.grad for t in ts])
    for got, want in zip(results[1], results[0]):
        np.testing.assert_array_equal(got, want)


@pytest.mark.skipif(shutil.which("nvcc") is None, reason="needs nvcc")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_every_kernel_compiles_with_nvcc(dtype, tmp_path):
    # CuPy compiles with NVRTC at run time; nvcc's front end catches the same
    # syntax and type errors here (the sources include no header, as NVRTC needs)
    kernels = [im2col_cuda._IM2COL, im2col_cuda._COL2IM, pool_cuda._FORWARD, pool_cuda._BACKWARD,
               lrn_cuda._WINDOW_SUM]
    src = tmp_path / "kernels.cu"
    src.write_text("\n".join(k.code(dtype) for k in kernels))
    out = subprocess.run(["nvcc", "--ptx", "--fmad=false", "-o", str(tmp_path / "k.ptx"),
                          str(src)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    ptx = (tmp_path / "k.ptx").read_text()
    for k in kernels:
        assert f".entry {k.name}" in ptx
