"""Data parallelism on one machine, and a model of it across machines.

    python benchmarks/data_parallel.py                      # small and half
    python benchmarks/data_parallel.py --presets small --steps 10

Part 1, measured: one AlexNet-CIFAR training step (forward, loss, backward,
SGD) at a global batch of 128, as 1 process x 2 threads against 2 MPI
processes x 1 thread (``mpiexec -n 2``, batch 64 each, gradients averaged
by DistributedDataParallel), with the reduction overlapped with the
backward sweep and deferred to its end. Reported: images/s of the whole
step, the ratio against 1 process, and the milliseconds per step that
backward() spent blocked on the reduction after its sweep, beside a bare
``Allreduce`` of the same gradient bytes.

Part 2, a model: ring allreduce time ``2(N-1)/N * bytes / bandwidth +
2(N-1) * latency`` for each preset's gradient bytes at 10, 25 and 100 Gb/s,
against the measured compute time of one step at a per-rank batch of 128
(weak scaling: N machines train on N x 128 images a step). Without overlap
a step takes ``compute + allreduce``; with overlap ``forward + max(backward,
allreduce)``. Efficiency is compute time over step time.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def worker(args):
    """One configuration; rank 0 prints a JSON line."""
    import minialex
    import numpy as np
    from minialex import distributed as dist, functional as F, models, optim
    rank, world = dist.init() if args.mpi else (0, 1)
    minialex.manual_seed(0)
    model = models.alexnet_cifar(args.preset)
    net = dist.DistributedDataParallel(model, overlap=args.overlap) if args.mpi else model
    opt = optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    rng = np.random.default_rng(rank)
    per_rank = args.batch // world
    x = rng.standard_normal((per_rank, 3, 28, 28)).astype(np.float32)
    y = rng.integers(0, 10, per_rank)
    steps, fwd, bwd = [], [], []
    for i in range(args.warmup + args.steps):
        if i == args.warmup and args.mpi:
            net._reducer.blocking_seconds = 0.0
        dist.barrier()
        t0 = time.perf_counter()
        loss = F.cross_entropy(net(minialex.Tensor(x)), y)
        t1 = time.perf_counter()
        opt.zero_grad()
        loss.backward()
        opt.step()
        t3 = time.perf_counter()
        if i >= args.warmup:
            steps.append(t3 - t0), fwd.append(t1 - t0), bwd.append(t3 - t1)
    grad_bytes = sum(p.data.nbytes for p in model.parameters())
    bare = None
    if args.mpi:
        buf = np.ones(grad_bytes // 4, np.float32)
        times = []
        for _ in range(10):
            dist.barrier()
            t0 = time.perf_counter()
            dist.all_reduce(buf)
            times.append(time.perf_counter() - t0)
        bare = 1e3 * statistics.median(times)
    if rank == 0:
        print(json.dumps({
            "step_ms": 1e3 * statistics.median(steps), "fwd_ms": 1e3 * statistics.median(fwd),
            "bwd_ms": 1e3 * statistics.median(bwd), "grad_bytes": grad_bytes,
            "blocked_ms": (1e3 * net._reducer.blocking_seconds / args.steps) if args.mpi else 0.0,
            "allreduce_ms": bare, "buckets": len(net._reducer.buckets) if args.mpi else 0}))


def run_config(preset, procs, threads, overlap, steps, warmup, batch):
    env = {**os.environ, "OPENBLAS_NUM_THREADS": str(threads),
           "MINIALEX_NUM_THREADS": str(threads), "PYTHONPATH": ROOT}
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", "--preset", preset,
           "--steps", str(steps), "--warmup", str(warmup), "--batch", str(batch)]
    if procs > 1:
        exe = os.path.join(os.path.dirname(sys.executable), "mpiexec")
        cmd = [exe if os.path.exists(exe) else "mpiexec", "-n", str(procs)] + cmd + ["--mpi"]
        if overlap:
            cmd.append("--overlap")
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def ring_ms(nbytes, machines, gbit_s, latency_us):
    if machines == 1:
        return 0.0
    bandwidth = gbit_s * 1e9 / 8
    return 1e3 * (2 * (machines - 1) / machines * nbytes / bandwidth
                  + 2 * (machines - 1) * latency_us * 1e-6)


def model_table(preset, compute, latency_us):
    """Predicted step time and efficiency for N = 2..64 machines."""
    lines = [f"\n{preset}: gradients {compute['grad_bytes'] / 1e6:.1f} MB, compute "
             f"{compute['step_ms']:.0f} ms a step at batch 128 (forward {compute['fwd_ms']:.0f}, "
             f"backward+update {compute['bwd_ms']:.0f}), latency {latency_us:.0f} us"]
    lines.append(f"{'N':>4} " + " ".join(f"{f'{g} Gb/s: ms  eff  ovl ms  eff':>32}"
                                         for g in (10, 25, 100)))
    largest = {}
    for n in (2, 4, 8, 16, 32, 64):
        cells = []
        for g in (10, 25, 100):
            comm = ring_ms(compute["grad_bytes"], n, g, latency_us)
            plain = compute["step_ms"] + comm
            overlapped = compute["fwd_ms"] + max(compute["bwd_ms"], comm)
            e1, e2 = compute["step_ms"] / plain, compute["step_ms"] / overlapped
            for key, eff in (((g, "plain"), e1), ((g, "overlap"), e2)):
                if eff >= 0.9:
                    largest[key] = n
            cells.append(f"{plain:9.0f} {e1:5.2f} {overlapped:9.0f} {e2:5.2f}")
        lines.append(f"{n:>4} " + " ".join(f"{c:>32}" for c in cells))
    lines.append("largest N at >= 90% efficiency: " + ", ".join(
        f"{g} Gb/s {largest.get((g, 'plain'), 1)} plain / {largest.get((g, 'overlap'), 1)} "
        f"overlapped" for g in (10, 25, 100)) + " (64 = the largest tried)")
    return "\n".join(lines)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--presets", default="small,half")
    p.add_argument("--steps", type=int, default=8)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--rounds", type=int, default=2, help="alternating rounds per configuration")
    p.add_argument("--latency-us", type=float, default=None,
                   help="per-message network latency for the model (default: 5 us, a typical "
                        "cluster interconnect's; 50 for TCP over Ethernet)")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--mpi", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--overlap", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--preset", default="small", help=argparse.SUPPRESS)
    p.add_argument("--batch", type=int, default=128, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        return worker(args)
    import minialex  # noqa: F401  before NumPy (README, "Threads")
    import numpy  # noqa: F401  loaded, so threadpoolctl sees its BLAS
    try:
        import threadpoolctl
        blas = [i.get("internal_api") + " " + str(i.get("architecture"))
                for i in threadpoolctl.threadpool_info() if i.get("user_api") == "blas"]
    except Exception:
        blas = ["?"]
    print(f"# {time.strftime('%Y-%m-%d %H:%M')}  BLAS {blas}  OPENBLAS_CORETYPE="
          f"{os.environ.get('OPENBLAS_CORETYPE', '(unset)')}  steps {args.steps} x "
          f"{args.rounds} rounds, median")
    configs = [("1 proc x 2 threads", 1, 2, False), ("2 procs x 1 thread, overlap", 2, 1, True),
               ("2 procs x 1 thread, no overlap", 2, 1, False)]
    print(f"{'preset':8} {'configuration':32} {'ms/step':>8} {'img/s':>7} {'vs 1 proc':>9} "
          f"{'blocked ms':>10} {'allreduce ms':>12}")
    measured = {}
    for preset in args.presets.split(","):
        results = {c[0]: [] for c in configs}
        for _ in range(args.rounds):            # alternate so machine noise hits all alike
            for name, procs, threads, overlap in configs:
                results[name].append(run_config(preset, procs, threads, overlap, args.steps,
                                                args.warmup, 128))
        base = None
        for name, *_ in configs:
            rows = results[name]
            r = {k: statistics.median([row[k] for row in rows if row[k] is not None] or [0])
                 for k in rows[0]}
            ips = 128 / (r["step_ms"] / 1e3)
            base = base or ips
            print(f"{preset:8} {name:32} {r['step_ms']:8.1f} {ips:7.0f} {ips / base:9.2f} "
                  f"{r['blocked_ms']:10.2f} "
                  + (f"{r['allreduce_ms']:12.2f}" if r["allreduce_ms"] else f"{'-':>12}"))
            if name.startswith("1 proc"):
                # the parts as the model uses them: backward+update = step - forward
                measured[preset] = {**r, "bwd_ms": r["step_ms"] - r["fwd_ms"]}
    latency = args.latency_us if args.latency_us is not None else 5.0
    print("\nAcross machines (model; step ms and efficiency, plain = reduce after the sweep, "
          "ovl = overlapped with the backward pass):")
    for preset, r in measured.items():
        print(model_table(preset, r, latency))


if __name__ == "__main__":
    main()
