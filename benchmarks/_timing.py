"""Timing helpers shared by the layer benchmarks."""

import time

import numpy as np


def alternate_times_ms(fns, warmup, repeats, block=3):
    """Time the callables ``fns`` in alternating blocks; return ``(median,
    min)`` milliseconds of each.

    Each callable first runs ``warmup`` times. Then, round after round,
    each callable in turn runs once untimed and ``block`` times timed,
    until it has ``repeats`` timings (the last block may be shorter).
    Alternating spreads load from other processes over all alike. The
    untimed run after each switch keeps one library's idle threads from
    stealing time from the next one's first run: PyTorch's OpenMP threads
    spin for a few milliseconds after each operation (libgomp's default
    ``GOMP_SPINCOUNT``), so a short minialex op timed right after a torch
    op shares the second core with a spinning thread, as it never does in
    a training loop of its own."""
    for _ in range(warmup):
        for f in fns:
            f()
    times = [[] for _ in fns]
    while len(times[0]) < repeats:
        for f, t in zip(fns, times):
            f()                                   # untimed: the switch from the last library
            for _ in range(min(block, repeats - len(t))):
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
