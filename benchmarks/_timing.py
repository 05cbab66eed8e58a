"""Timing helpers shared by the layer benchmarks."""

import os
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


# ------------------------------------------------------------ the BLAS as users have it
# Some machines (these CI/agent machines among them) set these two variables,
# which hold NumPy's OpenBLAS to older kernels (e.g. Haswell's on an AVX-512
# CPU); a user's machine normally has neither. ``--users-env`` reruns a
# benchmark with both removed, in that benchmark's own subprocess only.
USERS_UNSET = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
ROWS_TAG = "ROWS_JSON "          # the line a child benchmark prints its rows on


def blas_core_type():
    """The core type NumPy's BLAS runs, e.g. "openblas Haswell", from
    threadpoolctl's ``threadpool_info()`` ("architecture"); NumPy must
    be imported already. "unknown" without threadpoolctl."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "unknown (threadpoolctl not installed)"
    blas = [f"{i.get('internal_api')} {i.get('architecture', '?')}" for i in threadpool_info()
            if i.get("user_api") == "blas"]
    return ", ".join(blas) or "no BLAS found"


def blas_env_note():
    """One line: the core type and the two variables as this process has them."""
    env = ", ".join(f"{k}={os.environ.get(k, '(unset)')}" for k in USERS_UNSET)
    return f"BLAS core type: {blas_core_type()} ({env})"


def parse_layer_args(argv, repeats=None, choices=None, usage=""):
    """The layer benchmarks' command line: shape-set names (from
    ``choices``), ``--repeats N``, ``--users-env`` and the internal
    ``--rows-json``. ``-h``/``--help`` prints ``usage`` and exits; an
    unknown name exits with the names there are. Returns
    ``(sets, repeats, users_env, rows_json)``."""
    import sys
    users_env, rows_json, sets = False, False, []
    it = iter(argv)
    for arg in it:
        if arg in ("-h", "--help"):
            print(usage.strip() or "usage: [SET ...] [--repeats N] [--users-env]")
            sys.exit(0)
        if choices is not None and not arg.startswith("--") and arg not in choices:
            sys.exit(f"unknown shape set {arg!r}; choose from {', '.join(choices)} "
                     "(or none for all), with --repeats N and --users-env")
        if arg == "--repeats":
            repeats = int(next(it))
        elif arg == "--users-env":
            users_env = True
        elif arg == "--rows-json":
            rows_json = True
        else:
            sets.append(arg)
    return sets, repeats, users_env, rows_json


def run_in_both_envs(script, args):
    """Run ``python script args`` twice in subprocesses, first with this
    environment, then with :data:`USERS_UNSET` removed (as users have it),
    each printing its table and a last ``ROWS_JSON`` line. Returns
    ``[(label, note, rows), ...]`` for the two; a failed child raises
    RuntimeError with its last stderr line."""
    import json
    import subprocess
    import sys
    runs = []
    for label, env in (("as set here", dict(os.environ)),
                       ("as users have it", {k: v for k, v in os.environ.items()
                                             if k not in USERS_UNSET})):
        out = subprocess.run([sys.executable, script] + list(args), env=env,
                             capture_output=True, text=True)
        if out.returncode != 0:
            raise RuntimeError(f"{script} ({label}) failed: "
                               f"{(out.stderr.strip().splitlines() or ['?'])[-1]}")
        lines = out.stdout.splitlines()
        data = json.loads([ln for ln in lines if ln.startswith(ROWS_TAG)][-1][len(ROWS_TAG):])
        runs.append((label, data["note"], data["rows"]))
    return runs


def print_side_by_side(runs, key_cols, value_cols, out=print):
    """One table of both runs of :func:`run_in_both_envs`: the rows matched
    on ``key_cols`` (names), each run's ``value_cols`` (name, width, format)
    side by side."""
    for label, note, _ in runs:
        out(f"[{label}] {note}")
    keys = [r for r in runs[0][2]]
    width = sum(w + 1 for _, w, _ in value_cols)
    head = " ".join(f"{k:9s}" for k in key_cols)
    out(head + "".join(f" | {label[:width - 1]:{width - 1}s}" for label, _, _ in runs))
    out(" " * len(head) + " |".join(
        "".join(f" {name:>{w}s}" for name, w, _ in value_cols) for _ in runs))
    index = [{tuple(r[k] for k in key_cols): r for r in rows} for _, _, rows in runs]
    for r in keys:
        k = tuple(r[c] for c in key_cols)
        line = " ".join(f"{str(v):9s}" for v in k)
        for table in index:
            row = table.get(k, {})
            line += " |" + "".join(
                f" {(fmt.format(row[name]) if row.get(name) is not None else '-'):>{w}s}"
                for name, w, fmt in value_cols)
        out(line)
