"""conv2d's CPU paths side by side: im2col (``chwn_slices``) against
Winograd F(2x2, 3x3) (``winograd_f2x2_3x3``) and PyTorch, forward +
backward of every 3x3 stride-1 layer (conv3-conv5), alternating in one
process; plus each path's float32 error against the float64 loop
reference (max |error| / max |reference|, output and both gradients).

    python benchmarks/conv_paths.py                  # small half paper, 7 repeats
    python benchmarks/conv_paths.py --repeats 15 half imagenet
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
from minialex.functions._kernels import paths  # noqa: E402
from minialex.reference import conv as R  # noqa: E402

PATHS = ("chwn_slices", "winograd_f2x2_3x3")


def forced(fn, name):
    def step():
        with paths.use("conv2d", name):
            fn()
    return step


def errors(x, w, gy, p, g):
    """Each path's float32 relative error (y, dL/dx, dL/dW) against float64."""
    x, w, gy = x[:8].astype(np.float64), w.astype(np.float64), gy[:8].astype(np.float64)
    ref = [R.conv2d(x, w, padding=p, groups=g)] + list(R.conv2d_backward(gy, x, w, (1, 1), (p, p), g)[:2])
    out = []
    for name in PATHS:
        X, W = Tensor(x.astype(np.float32), requires_grad=True), Tensor(w.astype(np.float32), requires_grad=True)
        with paths.use("conv2d", name):
            y = L.conv2d(X, W, None, 1, p, g)
            y.backward(gy.astype(np.float32))
        out.append(max(np.abs(a - r).max() / np.abs(r).max() for a, r in zip((y.data, X.grad, W.grad), ref)))
    return out


def main(argv):
    repeats, sets, it = 7, [], iter(argv)
    for arg in it:
        if arg == "--repeats":
            repeats = int(next(it))
        else:
            sets.append(arg)
    torch = torch_or_none(2)
    print(blas_env_note())
    print(f"{'set':7s} {'layer':6s} {'im2col ms':>9s} {'wino ms':>8s} {'torch ms':>8s} {'wino/im2col':>11s} "
          f"{'(min)':>6s} {'im2col/torch':>12s} {'wino/torch':>10s} {'err im2col':>10s} {'err wino':>9s}")
    rng = np.random.default_rng(0)
    for s in sets or ["small", "half", "paper"]:
        for layer, n, c, h, co, k, st, p, g in L.CONV_SHAPES[s]:
            if (k, st) != (3, 1):
                continue
            x = rng.standard_normal((n, c, h, h), dtype=np.float32)
            w = rng.standard_normal((co, c // g, k, k), dtype=np.float32) / np.float32(np.sqrt(c // g * 9))
            b = rng.standard_normal(co, dtype=np.float32)
            gy = rng.standard_normal((n, co, h, h), dtype=np.float32)
            step = L._minialex_step(x, w, b, gy, st, p, g, True)
            fns = [forced(step, name) for name in PATHS] + [L._torch_step(torch, x, w, b, gy, st, p, g, True)]
            (im, im_min), (wi, wi_min), (tt, _) = alternate_times_ms(fns, 2, repeats)
            e = errors(x, w, gy, p, g)
            print(f"{s:7s} {layer:6s} {im:9.1f} {wi:8.1f} {tt:8.1f} {wi / im:11.2f} {wi_min / im_min:6.2f} "
                  f"{im / tt:12.2f} {wi / tt:10.2f} {e[0]:10.1e} {e[1]:9.1e}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
