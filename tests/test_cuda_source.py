"""How minialex.functions._kernels.cuda_source launches a CUDA kernel, checked without a GPU.

The launch itself (grid, block, argument tuple) and the per-dtype compile cache are
plain Python; a fake compiled kernel (and a fake ``cupy`` module) records what the
GPU would have been given, and the records are checked against hand-computed values:
256 threads a block, ceil(total / 256) blocks capped at 2^16, and ``total`` as the
first (``long long``) argument. tests/test_cuda_kernels_on_cpu.py checks the kernels'
own index arithmetic; tests/test_gpu.py runs them on a GPU.
"""

import sys
import types

import numpy as np
import pytest

from minialex.functions._kernels import cuda_source


class RecordingLaunch:
    """Stands in for a compiled ``cupy.RawKernel``: records each ``(grid, block, args)``."""

    def __init__(self):
        self.launches = []

    def __call__(self, grid, block, args):
        self.launches.append((grid, block, args))


@pytest.fixture
def on_the_gpu(monkeypatch):
    """Kernels launch through the real GPU runner (other tests may have swapped it)."""
    monkeypatch.setattr(cuda_source, "_runner", cuda_source._run_on_gpu)


def _recording_kernel(monkeypatch):
    kernel = cuda_source.Kernel("copy", "extern \"C\" __global__ void copy() {}")
    launch, dtypes = RecordingLaunch(), []

    def cupy_kernel(dtype):
        dtypes.append(dtype)
        return launch
    monkeypatch.setattr(kernel, "cupy_kernel", cupy_kernel)
    return kernel, launch, dtypes


# (total work items, blocks): ceil(total / 256), at most 2^16 = 65536.
LAUNCHES = [(1, 1), (255, 1), (256, 1), (257, 2), (1000, 4), (256 * 255 + 1, 256),
            (256 * 65535, 65535), (256 * 65536, 65536), (256 * 65536 + 1, 65536),
            (10**10, 65536)]


@pytest.mark.parametrize("total, blocks", LAUNCHES)
def test_launch_grid_block_and_arguments(on_the_gpu, monkeypatch, total, blocks):
    kernel, launch, dtypes = _recording_kernel(monkeypatch)
    x = np.zeros(3, dtype=np.float32)
    kernel(np.float32, total, x, np.int64(7), np.float32(0.5))

    assert dtypes == [np.dtype(np.float32)]
    assert len(launch.launches) == 1
    grid, block, args = launch.launches[0]
    assert grid == (blocks,) and type(grid[0]) is int
    assert block == (256,)
    assert len(args) == 4
    assert type(args[0]) is np.int64 and args[0] == total
    assert args[1] is x
    assert type(args[2]) is np.int64 and args[2] == 7
    assert type(args[3]) is np.float32 and args[3] == 0.5


def test_launch_covers_every_item_with_a_bounded_grid(on_the_gpu, monkeypatch):
    """blocks * 256 >= total until the cap, then the grid-stride loop covers the rest."""
    kernel, launch, _ = _recording_kernel(monkeypatch)
    for total in range(1, 2000, 37):
        kernel(np.float64, total)
        (blocks,), (threads,), _ = launch.launches[-1]
        assert (blocks - 1) * threads < total <= blocks * threads


@pytest.mark.parametrize("total", [0, -1, -257])
def test_an_empty_range_launches_nothing(on_the_gpu, monkeypatch, total):
    kernel, launch, dtypes = _recording_kernel(monkeypatch)
    kernel(np.float32, total, np.zeros(1, dtype=np.float32))
    assert launch.launches == [] and dtypes == []


def test_set_runner_replaces_and_none_restores_the_gpu(monkeypatch):
    monkeypatch.setattr(cuda_source, "_runner", cuda_source._run_on_gpu)
    calls = []
    cuda_source.set_runner(lambda kernel, dtype, total, args: calls.append((dtype, total, args)))
    try:
        cuda_source.Kernel("k", "")(np.float64, 5.0, np.int64(2))
    finally:
        cuda_source.set_runner(None)
    assert calls == [(np.dtype(np.float64), 5, (np.int64(2),))] and type(calls[0][1]) is int
    assert cuda_source._runner is cuda_source._run_on_gpu


def test_cupy_kernel_compiles_once_per_dtype(monkeypatch):
    compiled = []

    class RawKernel:
        def __init__(self, code, name, options=()):
            compiled.append((code, name, options))

    monkeypatch.setitem(sys.modules, "cupy", types.SimpleNamespace(RawKernel=RawKernel))
    kernel = cuda_source.Kernel("scale", "extern \"C\" __global__ void scale() {}")
    f32, f64 = np.dtype(np.float32), np.dtype(np.float64)

    first = kernel.cupy_kernel(f32)
    assert isinstance(first, RawKernel)
    assert kernel.cupy_kernel(f32) is first
    second = kernel.cupy_kernel(f64)
    assert second is not first and kernel.cupy_kernel(f64) is second
    assert compiled == [(kernel.code(f32), "scale", ("--fmad=false",)),
                        (kernel.code(f64), "scale", ("--fmad=false",))]
    assert compiled[0][0].startswith("typedef float T;\n")
    assert compiled[1][0].startswith("typedef double T;\n")
