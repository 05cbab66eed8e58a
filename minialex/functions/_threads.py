"""Worker threads for the CPU's big copies and element-wise passes.

NumPy runs each array operation on one core, but lets go of Python's lock
(the GIL) while it loops over the numbers. So a pass over a big array can be
split into independent parts (parts never write the same numbers; e.g. the
images of a batch, or blocks of channels) that run at the same time on the
CPU's cores. Matrix products need none of this: BLAS has its own threads.

How many threads: the cores this process may use (at most 8), or the
environment variable ``MINIALEX_NUM_THREADS`` read at import, or
``minialex.set_num_threads(n)`` at any time. ``n = 1`` runs everything in
the calling thread. CuPy arrays are never split (the GPU is parallel
already).
"""

import os
import threading
from concurrent.futures import ThreadPoolExecutor, wait

import numpy

from ..backend import get_array_module

__all__ = ["set_num_threads", "get_num_threads", "parallel"]

# Smaller arrays than this (numbers) run in one call: starting threads costs
# more than the pass itself.
_MIN_SIZE = 1 << 18


def _default_threads():
    env = os.environ.get("MINIALEX_NUM_THREADS")
    if env:
        try:
            n = int(env)
        except ValueError:
            raise ValueError(f"MINIALEX_NUM_THREADS={env!r} is not an integer; set it to the "
                             "number of CPU threads minialex may use, e.g. 2") from None
        if n < 1:
            raise ValueError(f"MINIALEX_NUM_THREADS={env!r} must be >= 1")
        return n
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return min(8, cores or 1)


_threads = _default_threads()
_pool = None


def set_num_threads(n):
    """Use ``n`` threads (>= 1) for minialex's own CPU passes: the big
    copies of conv2d (layout transposes, im2col, col2im) and the element-wise
    passes of ReLU, local_response_norm and max_pool2d, each split over
    images or blocks of numbers. Raises ValueError for n < 1 or a
    non-integer. BLAS threads are set separately (e.g. OPENBLAS_NUM_THREADS).

    The split pays only while BLAS's idle threads sleep: OpenBLAS's spin on
    a core for about 0.1 s after each product unless OPENBLAS_THREAD_TIMEOUT
    is small, which ``import minialex`` sets (to 4) when it comes before
    NumPy's first import. Measured on 2 cores (small AlexNet-CIFAR step):
    330 ms on one thread of ours, about 260-280 ms on two."""
    global _threads, _pool
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"set_num_threads: n={n!r} must be an integer >= 1")
    if n != _threads and _pool is not None:
        _pool.shutdown(wait=True)
        _pool = None
    _threads = n


def get_num_threads():
    """The number of threads minialex's own CPU passes use."""
    return _threads


def parallel(work, parts, a):
    """Run ``work(lo, hi)`` on ranges that together cover ``range(parts)``:
    split across the threads for big NumPy arrays ``a``, else in one call.
    ``work`` must write disjoint memory for disjoint ranges. A ``parallel``
    called from inside another one's ``work`` runs in one call (its thread
    is already one of the split: e.g. conv2d's chunks of images, each
    running the same copies a whole batch would split)."""
    global _pool
    n = min(_threads, parts)
    if (n < 2 or get_array_module(a) is not numpy or a.size < _MIN_SIZE
            or getattr(_inside, "split", False)):
        work(0, parts)
        return
    if _pool is None:
        _pool = ThreadPoolExecutor(_threads - 1, thread_name_prefix="minialex")
    bounds = [parts * t // n for t in range(n + 1)]
    jobs = [_pool.submit(_marked, work, lo, hi) for lo, hi in zip(bounds[1:-1], bounds[2:])]
    try:
        _marked(work, bounds[0], bounds[1])     # this thread does the first part
    finally:
        wait(jobs)                              # no part still writes once this returns
    for job in jobs:
        job.result()


_inside = threading.local()          # .split: this thread runs one part of a split


def _marked(work, lo, hi):
    """``work(lo, hi)`` with this thread marked as inside a split, so that a
    nested :func:`parallel` does not wait on the pool it is running in
    (with every pool thread waiting, that would never return)."""
    _inside.split = True
    try:
        work(lo, hi)
    finally:
        _inside.split = False


def _forget_pool():
    global _pool
    _pool = None


if hasattr(os, "register_at_fork"):     # a forked child has no pool threads: make a new pool
    os.register_at_fork(after_in_child=_forget_pool)
