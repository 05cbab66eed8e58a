"""Max-pooling and LRN speed: minialex.functional vs torch.nn.functional.

Times forward + backward (input gradient) of every AlexNet LRN and max-pool
layer (3x3 windows, stride 2; LRN with the paper's size 5, alpha 1e-4,
beta 0.75, k 2, i.e. torch alpha 5e-4): the CIFAR-10 net at batch 128 for
the three width presets, and the ImageNet net at batch 32. Each timing is
the median of ``repeats`` runs after ``warmup`` runs; the two libraries
alternate run by run, so load from other processes hits both alike. torch
runs with ``set_num_threads(threads)`` (default 2, the target machine).
Both sides time the op alone: forward, then the input gradient as for a
hidden layer (no copy into a leaf's ``.grad``, which minialex's engine adds
for leaves and torch avoids).

    python benchmarks/layers_pool_lrn.py                 # everything
    python benchmarks/layers_pool_lrn.py small imagenet  # some shape sets

``benchmarks/layers.py`` can import :func:`bench_pool_lrn` and
:data:`POOL_LRN_SHAPES`.
"""

import os
import sys

# OpenBLAS's idle threads (from any earlier product in the process) spin for
# a long while after each product, taking a core from whatever runs next,
# torch's threads included; make them sleep at once. Only works when set
# before NumPy is first imported.
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import minialex  # noqa: E402  (the repository's copy, installed or not)
from _timing import alternate_times_ms, torch_or_none  # noqa: E402
from minialex.functions.local_response_norm import local_response_norm  # noqa: E402
from minialex.functions.max_pool2d import max_pool2d  # noqa: E402

LRN = dict(size=5, alpha=1e-4, beta=0.75, k=2.0)        # the paper's (section 3.3)
CIFAR_WIDTHS = {"small": (32, 64, 64), "half": (48, 128, 128), "paper": (96, 256, 256)}


def _net(n, c1, c2, c5, h1, h2, h5):
    """(layer, op, N, C, H) after conv1, conv2 (LRN then pool) and conv5 (pool)."""
    return [("lrn1", "lrn", n, c1, h1), ("pool1", "pool", n, c1, h1),
            ("lrn2", "lrn", n, c2, h2), ("pool2", "pool", n, c2, h2),
            ("pool5", "pool", n, c5, h5)]


POOL_LRN_SHAPES = {name: _net(128, *w, 28, 13, 6) for name, w in CIFAR_WIDTHS.items()}
POOL_LRN_SHAPES["imagenet"] = _net(32, 96, 256, 256, 55, 27, 13)


def _minialex_step(op, x, gy):
    X = minialex.Tensor(x, requires_grad=True)

    def step():
        y = local_response_norm(X, **LRN) if op == "lrn" else max_pool2d(X, 3, 2)
        return y.creator.backward(gy)        # the op's dL/dx, as for a hidden layer
    return step


def _torch_step(torch, op, x, gy):
    X = torch.from_numpy(x).requires_grad_(True)
    GY = torch.from_numpy(gy)
    F = torch.nn.functional

    def step():
        if op == "lrn":
            y = F.local_response_norm(X, LRN["size"], alpha=LRN["alpha"] * LRN["size"],
                                      beta=LRN["beta"], k=LRN["k"])
        else:
            y = F.max_pool2d(X, 3, 2)
        return torch.autograd.grad(y, X, GY)  # dL/dx without accumulating into X.grad
    return step


def bench_pool_lrn(shape_sets=None, warmup=2, repeats=15, threads=2, torch=True, out=print):
    """Time LRN and max-pool forward+backward per layer; returns a list of
    dicts ``{"set", "layer", "shape", "ms", "min_ms", "torch_ms",
    "torch_min_ms", "ratio"}`` (ms: medians; ratio: of the medians) and
    prints a table through ``out`` (``out=None``: quiet), the minima too
    (on a busy machine the steadier figure). ``torch=False`` or a missing
    torch leaves the torch entries and ratio None."""
    tch = torch_or_none(threads) if torch else None
    rng = np.random.default_rng(0)
    rows = []
    if out:
        out(f"{'set':9s} {'layer':6s} {'input (N,C,H,W)':20s} {'minialex ms':>11s} {'(min)':>7s} "
            f"{'torch ms':>9s} {'(min)':>7s} {'ratio':>6s} {'(min)':>6s}")
    for set_name in shape_sets or list(POOL_LRN_SHAPES):
        for layer, op, n, c, h in POOL_LRN_SHAPES[set_name]:
            oh = h if op == "lrn" else (h - 3) // 2 + 1
            x = np.abs(rng.standard_normal((n, c, h, h), dtype=np.float32))   # post-ReLU-like
            gy = rng.standard_normal((n, c, oh, oh), dtype=np.float32)
            fns = [_minialex_step(op, x, gy)]
            if tch is not None:
                fns.append(_torch_step(tch, op, x, gy))
            ms = alternate_times_ms(fns, warmup, repeats) + [(None, None)]
            row = {"set": set_name, "layer": layer, "shape": (n, c, h, h),
                   "ms": ms[0][0], "min_ms": ms[0][1], "torch_ms": ms[1][0],
                   "torch_min_ms": ms[1][1]}
            row["ratio"] = row["torch_ms"] and row["ms"] / row["torch_ms"]
            rows.append(row)
            if out:
                t = (f"{row['torch_ms']:9.1f} {row['torch_min_ms']:7.1f} {row['ratio']:6.2f} "
                     f"{row['min_ms'] / row['torch_min_ms']:6.2f}") if row["torch_ms"] else ""
                out(f"{set_name:9s} {layer:6s} {str((n, c, h, h)):20s} {row['ms']:11.1f} "
                    f"{row['min_ms']:7.1f} {t}")
    return rows


if __name__ == "__main__":
    bench_pool_lrn(sys.argv[1:] or None)
