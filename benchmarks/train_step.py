"""One full AlexNet training step, minialex against PyTorch on the same CPU or GPU.

    python benchmarks/train_step.py                    # all presets + ImageNet
    python benchmarks/train_step.py --presets small --steps 10
    python benchmarks/train_step.py --device cuda:0    # the same table on a GPU
    python benchmarks/train_step.py --device cuda:0 --tf32   # TF32 on both sides

A step is forward, softmax cross-entropy, backward and the SGD update
(momentum 0.9, weight decay 5e-4), dropout on, float32, batch 128 for the
CIFAR presets (input 3x28x28) and for the ImageNet net (3x227x227) on a
GPU; on the CPU the ImageNet net runs at batch 16 (a batch of 128 takes
minutes a step there); ``--imagenet-batch`` sets it.
Both frameworks run the same layers (PyTorch's LRN with alpha * size, the
same grouped convolutions), with the same number of threads, alternating
step by step so machine noise hits both. Reported: median ms/step and
images/s of each, the ratio minialex/torch, achieved GFLOP/s (training =
3 x the forward FLOPs of the conv and fc layers), the machine's float32
matmul rate, and the peak resident memory each framework's steps added
(measured in a fresh subprocess per framework and preset).

With ``--device cuda:<i>`` minialex runs on CuPy (the model built with
``devices=device``, the batch and labels put on the GPU once, as a data
pipeline that prefetches would) and PyTorch on the same GPU where it is
installed with CUDA (skipped otherwise). Each timed step ends with a device
synchronize, so the clock reads finished work. By default both compute in
full float32: PyTorch's TF32 is turned off (``torch.backends.cudnn.
allow_tf32`` and ``torch.backends.cuda.matmul.allow_tf32`` False; its cuDNN
convolutions default to TF32) and CuPy's is off (its default). ``--tf32``
turns TF32 on on both sides: ``CUPY_TF32=1`` in the environment of the
minialex process before CuPy loads, and both torch flags True. The matmul
rate is CuPy's float32 4096^3 product (in the same mode). On a GPU, MB is the
GPU memory each framework's allocator held at its peak: CuPy's default
memory pool ``total_bytes()`` after the steps (the pool only grows while
the process lives, so this is its high-water mark) and PyTorch's
``torch.cuda.max_memory_reserved()``; both count cached blocks, neither
counts the CUDA context.

On the CPU the output starts with the core type NumPy's OpenBLAS runs
(threadpoolctl) and the variables ``OPENBLAS_CORETYPE`` and
``OPENBLAS_L2_SIZE``, which some machines (these among them) set and users'
machines do not. ``--users-env`` runs the whole measurement twice in
subprocesses, as set and with both variables unset (in this command only),
and prints the two tables side by side.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))
import minialex  # noqa: E402,F401  before NumPy, as a user's script would (README, "Threads")
import numpy  # noqa: E402
from _timing import ROWS_TAG, blas_env_note, print_side_by_side, run_in_both_envs  # noqa: E402

CIFAR = {"small": (32, 64, 96, 64, 512), "half": (48, 128, 192, 128, 2048),
         "paper": (96, 256, 384, 256, 4096)}


IMAGENET_BATCH = {"cpu": 16, "gpu": 128}
_imagenet_batch = None       # --imagenet-batch, passed on to the child processes


def spec(name):
    """Layer sizes: (conv list [(cin, cout, k, stride, pad, groups, out_hw)], fc list, input, batch)."""
    if name == "imagenet":
        c1, c2, c3, c5, fc = 96, 256, 384, 256, 4096
        convs = [(3, c1, 11, 4, 0, 1, 55), (c1, c2, 5, 1, 2, 2, 27), (c2, c3, 3, 1, 1, 1, 13),
                 (c3, c3, 3, 1, 1, 2, 13), (c3, c5, 3, 1, 1, 2, 13)]
        return convs, [(c5 * 36, fc), (fc, fc), (fc, 1000)], 227, _imagenet_batch or 16, 1000
    c1, c2, c3, c5, fc = CIFAR[name]
    convs = [(3, c1, 5, 1, 2, 1, 28), (c1, c2, 5, 1, 2, 2, 13), (c2, c3, 3, 1, 1, 1, 6),
             (c3, c3, 3, 1, 1, 2, 6), (c3, c5, 3, 1, 1, 2, 6)]
    return convs, [(c5 * 4, fc), (fc, fc), (fc, 10)], 28, 128, 10


def train_flops(name):
    convs, fcs, _, batch, _ = spec(name)
    fwd = sum(2 * cout * (cin // g) * k * k * hw * hw for cin, cout, k, s, p, g, hw in convs)
    fwd += sum(2 * i * o for i, o in fcs)
    return 3 * fwd * batch


def is_gpu(device):
    return device.startswith("cuda")


def gpu_index(device):
    return int(device.split(":")[1]) if ":" in device else 0


# ------------------------------------------------------------------ minialex
def minialex_step_fn(name, device="cpu"):
    import minialex
    from minialex import functional as F
    from minialex.models import AlexNet, alexnet_cifar
    from minialex.optim import SGD
    _, _, size, batch, classes = spec(name)
    model = AlexNet(towers=1, init="kaiming", devices=device) if name == "imagenet" else \
        alexnet_cifar(name, towers=1, devices=device)
    opt = SGD(model.parameters(), lr=1e-3)
    rng = numpy.random.default_rng(0)
    x = rng.standard_normal((batch, 3, size, size)).astype(numpy.float32)
    y = rng.integers(0, classes, batch)
    if is_gpu(device):    # the batch waits on the GPU, as a prefetching loader leaves it
        x, y = minialex.Tensor(x, device=device), minialex.Tensor(y, device=device)

    def step():
        loss = F.cross_entropy(model(minialex.Tensor(x)), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss.item()
    return step


# ------------------------------------------------------------------ torch
def torch_step_fn(name, threads, device="cpu", tf32=False):
    import torch
    import torch.nn as nn
    torch.set_num_threads(threads)
    if is_gpu(device):    # TF32 as minialex's CuPy (cuDNN convolutions default to TF32)
        torch.backends.cudnn.allow_tf32 = tf32
        torch.backends.cuda.matmul.allow_tf32 = tf32
    convs, fcs, size, batch, classes = spec(name)
    layers = []
    for i, (cin, cout, k, s, p, g, _) in enumerate(convs):
        layers += [nn.Conv2d(cin, cout, k, s, p, groups=g), nn.ReLU()]
        if i < 2:
            layers += [nn.LocalResponseNorm(5, alpha=1e-4 * 5, beta=0.75, k=2.0),
                       nn.MaxPool2d(3, 2)]
        if i == 4:
            layers += [nn.MaxPool2d(3, 2)]
    layers += [nn.Flatten()]
    for j, (i, o) in enumerate(fcs):
        layers += [nn.Linear(i, o)]
        if j < 2:
            layers += [nn.ReLU(), nn.Dropout(0.5)]
    model = nn.Sequential(*layers).to(device)
    opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9, weight_decay=5e-4)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(batch, 3, size, size, generator=g)
    y = torch.randint(0, classes, (batch,), generator=g)
    if is_gpu(device):
        x, y = x.to(device), y.to(device)

    def step():
        loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss.item()
    return step


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def gpu_sync_and_memory(framework, device):
    """(synchronize(), peak_mb()) for a GPU run of ``framework``."""
    if framework == "minialex":
        import cupy
        dev, pool = cupy.cuda.Device(gpu_index(device)), cupy.get_default_memory_pool()
        return dev.synchronize, lambda: pool.total_bytes() / 2**20
    import torch
    return (lambda: torch.cuda.synchronize(device),
            lambda: torch.cuda.max_memory_reserved(device) / 2**20)


def child(framework, name, steps, threads, device="cpu", tf32=False):
    """Run in a fresh process: time steps of one framework, report JSON."""
    base = peak_rss_mb()
    step = minialex_step_fn(name, device) if framework == "minialex" else \
        torch_step_fn(name, threads, device, tf32)
    sync, peak_mb = (lambda: None), peak_rss_mb
    if is_gpu(device):
        sync, peak_mb = gpu_sync_and_memory(framework, device)
        base = 0.0
    for _ in range(3):
        step()
    sync()
    times = []
    for _ in range(steps):
        t = time.perf_counter()
        step()
        sync()
        times.append(time.perf_counter() - t)
    print(json.dumps({"times": times, "peak_mb": peak_mb(), "base_mb": base}))


def matmul_gflops(device="cpu"):
    if is_gpu(device):
        return gpu_matmul_gflops(device)
    a = numpy.random.default_rng(0).standard_normal((1024, 2304)).astype(numpy.float32)
    b = numpy.random.default_rng(1).standard_normal((2304, 1024)).astype(numpy.float32)
    a @ b
    best = min(_time(lambda: a @ b) for _ in range(10))
    return 2 * 1024 * 2304 * 1024 / best / 1e9


def gpu_matmul_gflops(device, n=4096):
    """CuPy's float32 n x n x n matrix product, best of 10 (synchronized)."""
    import cupy
    dev = cupy.cuda.Device(gpu_index(device))
    with dev:
        a = cupy.asarray(numpy.random.default_rng(0).standard_normal((n, n), numpy.float32))
        b = cupy.asarray(numpy.random.default_rng(1).standard_normal((n, n), numpy.float32))
        a @ b
        dev.synchronize()

        def product():
            a @ b
            dev.synchronize()
        best = min(_time(product) for _ in range(10))
        a = b = None  # let the pool free them
        cupy.get_default_memory_pool().free_all_blocks()
    return 2 * n ** 3 / best / 1e9


def _time(fn):
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def child_env(tf32):
    """The environment of a child process: CUPY_TF32 set to 1 or 0 (CuPy
    reads it when it loads, so it must be set before the child starts)."""
    return dict(os.environ, CUPY_TF32="1" if tf32 else "0")


def run_child(framework, name, steps, threads, device="cpu", tf32=False):
    out = subprocess.run([sys.executable, __file__, "--child", framework, name, str(steps),
                          str(threads), device, str(int(tf32)), str(spec("imagenet")[3])],
                         capture_output=True, text=True, env=child_env(tf32))
    if out.returncode != 0:
        return None, out.stderr.strip().splitlines()[-1:] or ["failed"]
    return json.loads(out.stdout.strip().splitlines()[-1]), None


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--presets", default="small,half,paper,imagenet")
    p.add_argument("--steps", type=int, default=10, help="timed steps per round (median)")
    p.add_argument("--rounds", type=int, default=2,
                   help="alternating rounds of minialex then torch processes")
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--device", default="cpu",
                   help="cpu (default) or cuda:<i> (minialex on CuPy, PyTorch on CUDA)")
    p.add_argument("--tf32", action="store_true",
                   help="GPU only: TF32 on both sides (CUPY_TF32=1; torch's cudnn and matmul "
                        "allow_tf32) instead of full float32")
    p.add_argument("--imagenet-batch", type=int, default=None,
                   help="batch of the ImageNet net (default 128 on a GPU, 16 on the CPU)")
    p.add_argument("--users-env", action="store_true",
                   help="CPU: run twice, as set here and with OPENBLAS_CORETYPE and "
                        "OPENBLAS_L2_SIZE unset (as users have it), tables side by side")
    p.add_argument("--rows-json", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--child", nargs=7, help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.users_env:
        argv = [x for x in sys.argv[1:] if x != "--users-env"] + ["--rows-json"]
        runs = run_in_both_envs(os.path.abspath(__file__), argv)
        print_side_by_side(runs, ("net",), [("ms", 8, "{:.1f}"), ("torch_ms", 8, "{:.1f}"),
                                            ("ratio", 5, "{:.2f}"), ("gflops", 7, "{:.1f}")])
        return
    global _imagenet_batch
    if a.child:
        fw, name, steps, threads, device, tf32, _imagenet_batch = a.child
        _imagenet_batch = int(_imagenet_batch)
        return child(fw, name, int(steps), int(threads), device, tf32 == "1")
    device = a.device
    if a.tf32 and not is_gpu(device):
        sys.exit("--tf32 is for --device cuda:<i> (TF32 is a GPU number format)")
    if a.imagenet_batch is not None and a.imagenet_batch < 1:
        sys.exit(f"--imagenet-batch {a.imagenet_batch}: must be >= 1")
    _imagenet_batch = a.imagenet_batch or IMAGENET_BATCH["gpu" if is_gpu(device) else "cpu"]
    if a.tf32:            # this process's CuPy (the matmul rate) too, before it loads
        os.environ["CUPY_TF32"] = "1"
    if is_gpu(device):
        from minialex.backend import CudaUnavailableError, get_device
        try:
            device = str(get_device(device))        # "cuda" -> "cuda:0"; checks CuPy and the GPU
        except (CudaUnavailableError, ValueError) as exc:
            sys.exit(f"--device {a.device}: {exc}")
    elif device != "cpu":
        sys.exit(f"--device {device!r}: use 'cpu' or 'cuda:<i>'")
    try:
        import torch
        have_torch, torch_note = True, "installed"
        if is_gpu(device) and not torch.cuda.is_available():
            have_torch, torch_note = False, "installed without CUDA: not run"
    except ImportError:
        have_torch, torch_note = False, "not installed"
    rate = matmul_gflops(device)
    if is_gpu(device):
        mode = "TF32 on both sides" if a.tf32 else "fp32, TF32 off on both sides"
        print(f"device {device} ({mode}): float32 matmul (4096^3, CuPy): {rate:.0f} GFLOP/s; "
              f"torch {torch_note}; MB = GPU memory pool at its peak")
    else:
        print(f"float32 matmul (1024x2304 @ 2304x1024): {rate:.0f} GFLOP/s; threads={a.threads}; "
              f"torch {torch_note}")
        print(blas_env_note())
    hdr = (f"{'net':9s} {'batch':>5s} {'minialex ms':>11s} {'img/s':>7s} {'GFLOP/s':>8s} "
           f"{'%mm':>4s} {'MB':>6s} | {'torch ms':>9s} {'img/s':>7s} {'GFLOP/s':>8s} {'MB':>6s} "
           f"| {'ratio':>5s}")
    print(hdr)
    print("-" * len(hdr))
    rows = []
    for name in a.presets.split(","):
        batch = spec(name)[3]
        res = {"minialex": [], "torch": []}
        mem = {}
        for _ in range(a.rounds):
            for fw in (["minialex", "torch"] if have_torch else ["minialex"]):
                r, err = run_child(fw, name, a.steps, a.threads, device, a.tf32)
                if r is None:
                    print(f"{name}: {fw} failed: {err}")
                    continue
                res[fw] += r["times"]
                mem[fw] = max(mem.get(fw, 0), r["peak_mb"])
        row = f"{name:9s} {batch:5d}"
        med = {}
        for fw in ("minialex", "torch"):
            if res[fw]:
                med[fw] = float(numpy.median(res[fw]))
                gf = train_flops(name) / med[fw] / 1e9
                row += (f" {med[fw] * 1e3:11.1f} {batch / med[fw]:7.0f} {gf:8.1f}"
                        + (f" {100 * gf / rate:3.0f}%" if fw == "minialex" else "")
                        + f" {mem[fw]:6.0f}" + (" |" if fw == "minialex" else ""))
            else:
                row += " " * 30 + " |" if fw == "minialex" else "    (torch not run)"
        if len(med) == 2:
            row += f" | {med['minialex'] / med['torch']:5.2f}"
        print(row, flush=True)
        ms = med.get("minialex")
        rows.append({"net": name, "ms": ms and ms * 1e3,
                     "torch_ms": med.get("torch") and med["torch"] * 1e3,
                     "ratio": med["minialex"] / med["torch"] if len(med) == 2 else None,
                     "gflops": ms and train_flops(name) / ms / 1e9})
    if a.rows_json:
        print(ROWS_TAG + json.dumps({"note": f"{blas_env_note()}; matmul {rate:.0f} GFLOP/s",
                                     "rows": rows}))


if __name__ == "__main__":
    main()
