"""Convolution speed: minialex.functional.conv2d vs torch.nn.functional.conv2d.

Times forward + backward (weight, bias and, except for conv1 whose input is
the image, input gradients) of every AlexNet conv layer: the CIFAR-10 net
at batch 128 for the three width presets, and the ImageNet net at batch 32.
Each timing is the median of ``repeats`` runs after ``warmup`` runs; the two
libraries alternate run by run, so load from other processes hits both alike.
torch runs with ``set_num_threads(threads)`` (default 2, the target machine).

    python benchmarks/layers_conv.py                 # everything
    python benchmarks/layers_conv.py small imagenet  # some shape sets
    python benchmarks/layers_conv.py --users-env small   # also as users have the BLAS
    python benchmarks/layers_conv.py --repeats 15 half   # more timings per median

Each table starts with the core type NumPy's OpenBLAS runs (threadpoolctl)
and the two variables that pick it. ``--users-env`` runs the measurement
twice in subprocesses, as this machine sets ``OPENBLAS_CORETYPE`` and
``OPENBLAS_L2_SIZE`` and with both unset (as on a user's machine, where
OpenBLAS picks the CPU's own kernels), and prints the two side by side.

The column "products ms" times only the matrix products that minialex's
conv2d makes (forward, dL/dW and, except for conv1, dL/dX: the same batched
``numpy.matmul`` calls on arrays of the same shapes and orientation), with
no im2col, col2im or layout copies: the floor of the whole-batch im2col
path (``chwn_slices``) on NumPy's BLAS, which splits each product over the
BLAS threads. The chunked path (``chwn_chunks``, the default for stride-1
windows since 2026-12-02) makes the same products a chunk of images at a
time, one chunk per core on one BLAS thread, and can run under it (small
conv2: 31 ms against 29 ms of whole-batch products and 44 ms before). Since
2026-12-03 the layers with 16-96 channels a group (small and half conv2-conv5
below Winograd's) run MEC (``mec_rows``: columns lowered along one axis, one
product per output row), which copies 4x less than im2col on 5x5 layers
(small conv2: 33.8 ms against 57.6 in chunks, 30.7 of products, on a 2-core
Zen 4). PyTorch's CPU
convolutions are oneDNN's direct kernels. Other orientations of the same products were at most 20-25%
faster at the skinniest shapes (C_out/groups = 32) on the 2-core machine,
and need a channels-last im2col that copies runs of only C/groups numbers.

Set ``OPENBLAS_THREAD_TIMEOUT=4`` (done below when this file is run first)
so NumPy's BLAS threads do not spin idle between products.

``benchmarks/layers.py`` imports :func:`bench_conv` and :data:`CONV_SHAPES`.
"""

import os
import sys

# OpenBLAS's idle threads spin for about 2**28 cycles after each product,
# taking a core from the copies that follow (minialex splits its big copies
# across cores). 2**4 cycles makes them sleep at once. This only works when
# set before NumPy is first imported; set it in the shell otherwise.
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import minialex  # noqa: E402  (the repository's copy, installed or not)
from _timing import (ROWS_TAG, alternate_times_ms, blas_env_note, parse_layer_args,  # noqa: E402
                     print_side_by_side, run_in_both_envs, torch_or_none)
from minialex.functions.conv2d import conv2d  # noqa: E402

# name -> list of (layer, N, C_in, H(=W), C_out, kernel, stride, padding, groups)
CIFAR_WIDTHS = {"small": (32, 64, 96, 64), "half": (48, 128, 192, 128),
                "paper": (96, 256, 384, 256)}


def _cifar(widths, n=128):
    c1, c2, c3, c5 = widths
    return [("conv1", n, 3, 28, c1, 5, 1, 2, 1), ("conv2", n, c1, 13, c2, 5, 1, 2, 2),
            ("conv3", n, c2, 6, c3, 3, 1, 1, 1), ("conv4", n, c3, 6, c3, 3, 1, 1, 2),
            ("conv5", n, c3, 6, c5, 3, 1, 1, 2)]


CONV_SHAPES = {name: _cifar(w) for name, w in CIFAR_WIDTHS.items()}
CONV_SHAPES["imagenet"] = [
    ("conv1", 32, 3, 227, 96, 11, 4, 0, 1), ("conv2", 32, 96, 27, 256, 5, 1, 2, 2),
    ("conv3", 32, 256, 13, 384, 3, 1, 1, 1), ("conv4", 32, 384, 13, 384, 3, 1, 1, 2),
    ("conv5", 32, 384, 13, 256, 3, 1, 1, 2)]


def _minialex_step(x, w, b, gy, stride, padding, groups, input_grad):
    X = minialex.Tensor(x, requires_grad=input_grad)
    W = minialex.Tensor(w, requires_grad=True)
    B = minialex.Tensor(b, requires_grad=True)

    def step():
        W.grad = B.grad = X.grad = None
        conv2d(X, W, B, stride, padding, groups).backward(gy)
    return step


def _products_step(x_shape, w_shape, gy_shape, groups, input_grad):
    """The matrix products of conv2d's forward and backward alone (see the
    module doc), on preallocated random arrays of conv2d's shapes."""
    rng = np.random.default_rng(1)
    (_, c, _, _), (co, _, kh, kw), (n, _, oh, ow) = x_shape, w_shape, gy_shape
    G, K, P = groups, c // groups * kh * kw, oh * ow * n
    w3 = rng.standard_normal((G, co // G, K), dtype=np.float32)
    cols = rng.standard_normal((G, K, P), dtype=np.float32)
    gY = rng.standard_normal((G, co // G, P), dtype=np.float32)
    gcols = np.empty_like(cols)

    def step():
        np.matmul(w3, cols)                                  # forward
        np.matmul(cols, gY.transpose(0, 2, 1))               # dL/dW
        if input_grad:
            np.matmul(w3.transpose(0, 2, 1), gY, out=gcols)  # dL/dX
    return step


def _torch_step(torch, x, w, b, gy, stride, padding, groups, input_grad):
    X = torch.from_numpy(x).requires_grad_(input_grad)
    W = torch.from_numpy(w).requires_grad_(True)
    B = torch.from_numpy(b).requires_grad_(True)
    GY = torch.from_numpy(gy)

    def step():
        W.grad = B.grad = X.grad = None
        torch.nn.functional.conv2d(X, W, B, stride, padding, 1, groups).backward(GY)
    return step


def bench_conv(shape_sets=None, warmup=2, repeats=7, threads=2, torch=True, out=print):
    """Time conv forward+backward per layer.

    Returns a list of dicts ``{"set", "layer", "shape", "ms", "min_ms",
    "torch_ms", "torch_min_ms", "ratio"}`` (ms: medians; ratio: of the
    medians) and prints a table through ``out`` (``out=None``: quiet).
    ``torch=False`` or a missing torch leaves the torch entries None. The
    minimum is shown too: on a busy machine it is the steadier figure.
    ``"mm_ms"`` is the median of the matrix products alone (module doc)
    and ``"mm_ratio"`` its ratio to torch's whole layer."""
    tch = torch_or_none(threads) if torch else None
    rng = np.random.default_rng(0)
    rows = []
    if out:
        out(f"{'set':9s} {'layer':6s} {'N,Cin,H->Cout,k/s,p,g':25s} {'minialex ms':>11s} "
            f"{'(min)':>7s} {'torch ms':>9s} {'(min)':>7s} {'ratio':>6s} {'(min)':>6s} "
            f"{'products ms':>11s} {'/torch':>6s}")
    for set_name in shape_sets or list(CONV_SHAPES):
        for layer, n, c, h, co, k, s, p, g in CONV_SHAPES[set_name]:
            oh = (h + 2 * p - k) // s + 1
            x = rng.standard_normal((n, c, h, h), dtype=np.float32)
            w = rng.standard_normal((co, c // g, k, k), dtype=np.float32) * 0.05
            b = rng.standard_normal(co, dtype=np.float32)
            gy = rng.standard_normal((n, co, oh, oh), dtype=np.float32)
            input_grad = layer != "conv1"
            fns = [_minialex_step(x, w, b, gy, s, p, g, input_grad),
                   _products_step(x.shape, w.shape, gy.shape, g, input_grad)]
            if tch is not None:
                fns.append(_torch_step(tch, x, w, b, gy, s, p, g, input_grad))
            ms = alternate_times_ms(fns, warmup, repeats) + [(None, None)]
            row = {"set": set_name, "layer": layer, "shape": (n, c, h, co, k, s, p, g),
                   "ms": ms[0][0], "min_ms": ms[0][1], "torch_ms": ms[2][0],
                   "torch_min_ms": ms[2][1], "mm_ms": ms[1][0]}
            row["ratio"] = row["torch_ms"] and row["ms"] / row["torch_ms"]
            row["mm_ratio"] = row["torch_ms"] and row["mm_ms"] / row["torch_ms"]
            rows.append(row)
            if out:
                desc = f"{n},{c},{h}->{co},{k}/{s},p{p},g{g}"
                line = f"{set_name:9s} {layer:6s} {desc:25s} {row['ms']:11.1f} {row['min_ms']:7.1f}"
                if row["torch_ms"]:
                    line += (f" {row['torch_ms']:9.1f} {row['torch_min_ms']:7.1f} {row['ratio']:6.2f}"
                             f" {row['min_ms'] / row['torch_min_ms']:6.2f}"
                             f" {row['mm_ms']:11.1f} {row['mm_ratio']:6.2f}")
                else:
                    line += f" {'':9s} {'':7s} {'':6s} {'':6s} {row['mm_ms']:11.1f}"
                out(line)
    return rows


def main(argv):
    """The command line (module doc): shape sets, ``--repeats N``,
    ``--users-env`` (both environments side by side), ``--rows-json``
    (internal: print the rows as one JSON line for the parent)."""
    import json
    sets, repeats, users_env, rows_json = parse_layer_args(argv, repeats=7, choices=CONV_SHAPES,
                                                           usage=__doc__)
    if users_env:
        runs = run_in_both_envs(os.path.abspath(__file__),
                                sets + ["--repeats", str(repeats), "--rows-json"])
        print_side_by_side(runs, ("set", "layer"), [("ms", 8, "{:.1f}"), ("torch_ms", 8, "{:.1f}"),
                                                   ("ratio", 5, "{:.2f}"), ("mm_ms", 8, "{:.1f}")])
        return
    print(blas_env_note())
    rows = bench_conv(sets or None, repeats=repeats)
    if rows_json:
        print(ROWS_TAG + json.dumps({"note": blas_env_note(), "rows": rows}))


if __name__ == "__main__":
    main(sys.argv[1:])
