"""Per-layer speed of AlexNet's layers, minialex against PyTorch (same
thread count, same run, alternating). Issue 3's table.

    python benchmarks/layers.py                  # every shape set
    python benchmarks/layers.py small imagenet   # some of them

Shape sets: the CIFAR-10 net at batch 128 for the presets small, half and
paper, and the ImageNet net at batch 32. Each row: forward + backward of
one layer, median ms of minialex and of torch, and their ratio. The
convolution part lives in ``layers_conv.py``, pooling and LRN in
``layers_pool_lrn.py``; each can also run on its own.
"""

import importlib.util
import os
import sys

os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")   # see layers_conv.py
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from layers_conv import bench_conv  # noqa: E402
from layers_pool_lrn import bench_pool_lrn  # noqa: E402


def main(argv):
    sets = argv or None
    have_torch = importlib.util.find_spec("torch") is not None
    if not have_torch:
        print("torch is not installed: minialex times only")
    print("== convolution (forward + backward) ==")
    bench_conv(sets, torch=have_torch)
    print("\n== max-pooling and local response normalization (forward + backward) ==")
    bench_pool_lrn(sets, torch=have_torch)


if __name__ == "__main__":
    main(sys.argv[1:])
