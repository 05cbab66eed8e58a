"""How the ``cuda_kernels`` paths compile and launch their CUDA kernels.

Every kernel here is one CUDA C function over a flat range of ``total``
work items, written as a grid-stride loop with 64-bit indices::

    for (long long idx = (long long)blockIdx.x * blockDim.x + threadIdx.x;
         idx < total; idx += (long long)blockDim.x * gridDim.x) { ... }

so any size works (sizes past 2^31 included) with a bounded grid, and the
element type is ``T`` (a ``typedef`` for float or double, one compiled
module per dtype, cached). Every integer argument is a ``long long``
(``numpy.int64``); arrays are passed contiguous (the callers force it).
Kernels are compiled with ``--fmad=false`` so that a*b + c rounds twice,
as NumPy does: the CUDA paths then give NumPy's numbers bit for bit where
they only add, multiply and compare (im2col, col2im, max-pooling, LRN's
window sums).

The same source also runs on the CPU, compiled by a C++ compiler with
``blockIdx`` = ``threadIdx`` = 0 and ``blockDim`` = ``gridDim`` = 1 (the
loop then visits every item in order): tests/test_cuda_kernels_on_cpu.py
checks each kernel's indexing against the NumPy paths that way
(:func:`set_runner`). On a real GPU the kernels are exercised by
tests/test_gpu.py, which had not run on hardware when they were written.
"""

import numpy

__all__ = ["Kernel", "set_runner", "BLOCK_THREADS"]

BLOCK_THREADS = 256          # threads per block
MAX_BLOCKS = 1 << 16         # grid size cap (the grid-stride loop covers the rest)

PRELUDE = "typedef {ctype} T;\n"
_CTYPES = {numpy.dtype(numpy.float32): "float", numpy.dtype(numpy.float64): "double"}


class Kernel:
    """A CUDA kernel ``name`` from ``source`` (which uses the element type
    ``T``). Call it as ``kernel(dtype, total, *args)``: arrays (contiguous)
    and NumPy scalars (``numpy.int64`` for ``long long``, ``dtype.type``
    for ``T``), in the order of the C signature, over ``total`` items."""

    def __init__(self, name, source):
        self.name, self.source = name, source
        self._compiled = {}

    def code(self, dtype):
        """The full CUDA C source for one element type."""
        dtype = numpy.dtype(dtype)
        if dtype not in _CTYPES:
            raise TypeError(f"{self.name}: CUDA kernels take float32 or float64, got {dtype}")
        return PRELUDE.format(ctype=_CTYPES[dtype]) + self.source

    def __call__(self, dtype, total, *args):
        if total > 0:
            _runner(self, numpy.dtype(dtype), int(total), args)

    def cupy_kernel(self, dtype):
        """The compiled ``cupy.RawKernel`` for one dtype (compiled once)."""
        if dtype not in self._compiled:
            import cupy
            self._compiled[dtype] = cupy.RawKernel(self.code(dtype), self.name,
                                                   options=("--fmad=false",))
        return self._compiled[dtype]


def _run_on_gpu(kernel, dtype, total, args):
    blocks = min(MAX_BLOCKS, -(-total // BLOCK_THREADS))
    kernel.cupy_kernel(dtype)((blocks,), (BLOCK_THREADS,), (numpy.int64(total),) + tuple(args))


_runner = _run_on_gpu


def set_runner(runner):
    """Replace how kernels run (``runner(kernel, dtype, total, args)``);
    ``None`` restores the GPU. Tests run the kernels on the CPU this way."""
    global _runner
    _runner = _run_on_gpu if runner is None else runner


def i64(*values):
    """Python ints as the kernels' ``long long`` arguments."""
    return tuple(numpy.int64(v) for v in values)
