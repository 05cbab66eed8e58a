"""Per-layer speed of AlexNet's layers, minialex against PyTorch (same
thread count, same run, alternating). Issue 3's table.

    python benchmarks/layers.py                  # every shape set
    python benchmarks/layers.py small imagenet   # some of them
    python benchmarks/layers.py --users-env small    # also as users have the BLAS
    python benchmarks/layers.py --repeats 15 small   # more timings per median

Shape sets: the CIFAR-10 net at batch 128 for the presets small, half and
paper, and the ImageNet net at batch 32. Each row: forward + backward of
one layer, median ms of minialex and of torch, and their ratio. The
convolution part lives in ``layers_conv.py``, pooling and LRN in
``layers_pool_lrn.py``; each can also run on its own.

The output starts with the core type NumPy's OpenBLAS runs (threadpoolctl)
and the variables ``OPENBLAS_CORETYPE`` and ``OPENBLAS_L2_SIZE``, which
some machines (these among them) set and users' machines do not.
``--users-env`` runs everything twice in subprocesses, as set and with both
variables unset, and prints the two tables side by side.
"""

import importlib.util
import json
import os
import sys

os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")   # see layers_conv.py
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _timing import (ROWS_TAG, blas_env_note, parse_layer_args, print_side_by_side,  # noqa: E402
                     run_in_both_envs)
from layers_conv import CONV_SHAPES, bench_conv  # noqa: E402
from layers_pool_lrn import bench_pool_lrn  # noqa: E402


def main(argv):
    sets, repeats, users_env, rows_json = parse_layer_args(argv, choices=CONV_SHAPES, usage=__doc__)
    if users_env:
        args = sets + (["--repeats", str(repeats)] if repeats else []) + ["--rows-json"]
        runs = run_in_both_envs(os.path.abspath(__file__), args)
        print_side_by_side(runs, ("set", "layer"), [("ms", 8, "{:.1f}"), ("torch_ms", 8, "{:.1f}"),
                                                   ("ratio", 5, "{:.2f}")])
        return
    have_torch = importlib.util.find_spec("torch") is not None
    if not have_torch:
        print("torch is not installed: minialex times only")
    print(blas_env_note())
    print("== convolution (forward + backward) ==")
    kw = {"repeats": repeats} if repeats else {}
    rows = bench_conv(sets or None, torch=have_torch, **kw)
    print("\n== max-pooling and local response normalization (forward + backward) ==")
    rows += bench_pool_lrn(sets or None, torch=have_torch, **kw)
    if rows_json:
        print(ROWS_TAG + json.dumps({"note": blas_env_note(), "rows": rows}))


if __name__ == "__main__":
    main(sys.argv[1:])
