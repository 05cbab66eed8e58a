"""Timing helpers shared by the layer benchmarks."""

import time

import numpy as np


def alternate_times_ms(fns, warmup, repeats):
    """Run the callables ``fns`` alternately (so load from other processes
    hits all alike); return ``(median, min)`` milliseconds of each."""
    for _ in range(warmup):
        for f in fns:
            f()
    times = [[] for _ in fns]
    for _ in range(repeats):
        for f, t in zip(fns, times):
            start = time.perf_counter()
            f()
            t.append(time.perf_counter() - start)
    return [(1e3 * float(np.median(t)), 1e3 * min(t)) for t in times]


def torch_or_none(threads):
    """Import torch with ``threads`` CPU threads, or return None if it is
    not installed (the benchmarks then time minialex alone)."""
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(threads)
    return torch
