"""conv2d's CPU paths side by side: every path of the table that runs on
NumPy (im2col on the whole batch, ``chwn_slices``; Winograd F(2x2, 3x3)
and F(3x3, 3x3), ``winograd_f2x2_3x3`` and ``winograd_f3x3_3x3``, 3x3
stride-1 layers only, and F(2x2, 5x5), ``winograd_f2x2_5x5``, 5x5 stride-1
layers only; im2col a cache-sized chunk of images at a time,
``chwn_chunks``; MEC's one product per output row, ``mec_rows``, stride-1
layers only) and PyTorch, forward + backward of every AlexNet
conv layer, alternating in one process; plus each path's float32 error
against the float64 loop reference (max |error| / max |reference| over the
output and both gradients).

    python benchmarks/conv_paths.py                  # small half paper, 7 repeats
    python benchmarks/conv_paths.py --repeats 15 half imagenet
    python benchmarks/conv_paths.py --chunk-numbers 262144,524288,1048576 small

``--chunk-numbers`` times ``chwn_chunks`` once per chunk size (numbers in a
chunk's column array, ``im2col_chunks.CHUNK_NUMBERS``).
"""

import os
import sys

os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")   # see layers_conv.py

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import layers_conv as L  # noqa: E402
from _timing import alternate_times_ms, blas_env_note, torch_or_none  # noqa: E402
from minialex import Tensor  # noqa: E402
from minialex.functions._kernels import im2col_chunks, paths  # noqa: E402
from minialex.reference import conv as R  # noqa: E402

# every NumPy path of conv2d in the table (a new one is timed with no change here)
PATHS = tuple(p.name for p in paths.TABLE["conv2d"] if not p.cupy_only)


def applies(name, k, st):
    """Whether path ``name`` runs a k x k, stride-st layer by its own method
    (the Winograd paths: 3x3 or 5x5 stride 1 only; MEC: stride 1 only; the im2col
    paths: every window)."""
    module = paths._load(paths._path("conv2d", name).module)
    return getattr(module, "applies", lambda kernel, stride: True)((k, k), (st, st))


def forced(fn, name, chunk_numbers=None):
    def step():
        old = im2col_chunks.CHUNK_NUMBERS
        if chunk_numbers:
            im2col_chunks.CHUNK_NUMBERS = chunk_numbers
        try:
            with paths.use("conv2d", name):
                fn()
        finally:
            im2col_chunks.CHUNK_NUMBERS = old
    return step


def errors(x, w, gy, st, p, g, names, input_grad):
    """Each path's float32 relative error (y, dL/dx, dL/dW) against float64."""
    x, w, gy = x[:8].astype(np.float64), w.astype(np.float64), gy[:8].astype(np.float64)
    ref = [R.conv2d(x, w, stride=st, padding=p, groups=g)]
    ref += list(R.conv2d_backward(gy, x, w, (st, st), (p, p), g)[:2])
    out = []
    for name in names:
        X = Tensor(x.astype(np.float32), requires_grad=input_grad)
        W = Tensor(w.astype(np.float32), requires_grad=True)
        with paths.use("conv2d", name):
            y = L.conv2d(X, W, None, st, p, g)
            y.backward(gy.astype(np.float32))
        got = (y.data, X.grad, W.grad) if input_grad else (y.data, None, W.grad)
        out.append(max(np.abs(a - r).max() / np.abs(r).max() for a, r in zip(got, ref) if a is not None))
    return out


def main(argv):
    repeats, sets, chunk_numbers, it = 7, [], [None], iter(argv)
    for arg in it:
        if arg in ("-h", "--help"):
            print(__doc__.strip() + f"\n\npaths: {', '.join(PATHS)}; shape sets: {sorted(L.CONV_SHAPES)}")
            return
        if arg == "--repeats":
            repeats = int(next(it))
        elif arg == "--chunk-numbers":
            chunk_numbers = [int(v) for v in next(it).split(",")]
        elif arg in L.CONV_SHAPES:
            sets.append(arg)
        else:
            sys.exit(f"conv_paths.py: unknown argument {arg!r}; shape sets: {sorted(L.CONV_SHAPES)}")
    torch = torch_or_none(2)
    print(blas_env_note())
    variants = [(n, c) for n in PATHS for c in (chunk_numbers if n == "chwn_chunks" else [None])]
    names = [n if c is None else f"chunks@{c}" for n, c in variants]
    print(f"{'set':7s} {'layer':6s} " + " ".join(f"{n[:14]:>14s}" for n in names)
          + f" {'torch ms':>8s}   ratios to torch (min)   errors")
    rng = np.random.default_rng(0)
    for s in sets or ["small", "half", "paper"]:
        for layer, n, c, h, co, k, st, p, g in L.CONV_SHAPES[s]:
            oh = (h + 2 * p - k) // st + 1
            x = rng.standard_normal((n, c, h, h), dtype=np.float32)
            w = rng.standard_normal((co, c // g, k, k), dtype=np.float32) / np.float32(np.sqrt(c // g * k * k))
            b = rng.standard_normal(co, dtype=np.float32)
            gy = rng.standard_normal((n, co, oh, oh), dtype=np.float32)
            input_grad = layer != "conv1"
            step = L._minialex_step(x, w, b, gy, st, p, g, input_grad)
            mine = [(name, cn) for name, cn in variants if applies(name, k, st)]
            fns = [forced(step, name, cn) for name, cn in mine]
            fns.append(L._torch_step(torch, x, w, b, gy, st, p, g, input_grad))
            times = alternate_times_ms(fns, 2, repeats)
            (tt, tt_min), times = times[-1], iter(times[:-1])
            cells, ratios = [], []
            for name, cn in variants:
                if applies(name, k, st):
                    ms, ms_min = next(times)
                    cells.append(f"{ms:14.1f}")
                    ratios.append(f"{ms / tt:.2f} ({ms_min / tt_min:.2f})")
                else:
                    cells.append(f"{'-':>14s}")
                    ratios.append("-")
            e = errors(x, w, gy, st, p, g, [name for name, _ in dict.fromkeys(mine)], input_grad)
            print(f"{s:7s} {layer:6s} " + " ".join(cells) + f" {tt:8.1f}   " + "  ".join(ratios)
                  + "   " + " ".join(f"{v:.1e}" for v in e), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
