"""Does the import order of NumPy and minialex still matter? Times the small
AlexNet-CIFAR training step (batch 128, one tower, as the main job runs it)
in fresh processes, alternating the cases round by round, and prints the
median wall ms/step of each and the CPU time the process used per step
(all its threads: OpenBLAS's spinning shows here even when the machine is
busy with other work).

    python benchmarks/import_order.py --rounds 3 --steps 8

Cases (each with 1 and with 2 of minialex's own threads,
``MINIALEX_NUM_THREADS``; OpenBLAS keeps its default threads):

- ``minialex first``: ``import minialex`` before NumPy (sets
  ``OPENBLAS_THREAD_TIMEOUT=4`` before OpenBLAS loads);
- ``numpy first``: ``import numpy`` first; minialex makes the loaded
  OpenBLAS re-read its environment and restart its threads
  (minialex/_blas.py);
- ``numpy first, spinning``: as before that fix: the user's
  ``OPENBLAS_THREAD_TIMEOUT=28`` (OpenBLAS's default, about 0.1 s of
  spinning after each product) is kept.
"""

import argparse
import os
import statistics
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

CHILD = r"""
import statistics, sys, time
if sys.argv[1] == "minialex":
    import minialex, numpy
else:
    import numpy, minialex
from minialex import functional as F, models, optim
steps = int(sys.argv[2])
rng = numpy.random.default_rng(0)
x = minialex.Tensor(rng.standard_normal((128, 3, 28, 28)).astype("float32"))
y = rng.integers(0, 10, 128)
model = models.alexnet_cifar("small", towers=1)
opt = optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
times, cpu = [], []
for i in range(steps + 2):
    t0, c0 = time.perf_counter(), time.process_time()
    loss = F.cross_entropy(model(x), y)
    opt.zero_grad(); loss.backward(); opt.step()
    times.append(time.perf_counter() - t0)
    cpu.append(time.process_time() - c0)
print(statistics.median(times[2:]) * 1000, statistics.median(cpu[2:]) * 1000)
"""

CASES = {"minialex first": ("minialex", {}),
         "numpy first": ("numpy", {}),
         "numpy first, spinning": ("numpy", {"OPENBLAS_THREAD_TIMEOUT": "28"})}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--steps", type=int, default=8)
    args = p.parse_args()
    results, cpu_results = {}, {}
    for r in range(args.rounds):
        for threads in (1, 2):
            for name, (first, extra) in CASES.items():
                env = {**os.environ, "PYTHONPATH": ROOT, "MINIALEX_NUM_THREADS": str(threads),
                       **extra}
                if not extra:
                    env.pop("OPENBLAS_THREAD_TIMEOUT", None)
                out = subprocess.run([sys.executable, "-c", CHILD, first, str(args.steps)],
                                     env=env, check=True, capture_output=True, text=True)
                wall, cpu = map(float, out.stdout.split())
                results.setdefault((name, threads), []).append(wall)
                cpu_results.setdefault((name, threads), []).append(cpu)
        print(f"round {r + 1}/{args.rounds} done", file=sys.stderr)
    print(f"{'case':24s} {'threads':>7s} {'ms/step':>8s} {'CPU ms/step':>12s}  "
          "(wall ms/step of each round)")
    for (name, threads), ms in results.items():
        print(f"{name:24s} {threads:7d} {statistics.median(ms):8.0f} "
              f"{statistics.median(cpu_results[name, threads]):12.0f}  "
              + " ".join(f"{m:.0f}" for m in ms))


if __name__ == "__main__":
    main()
