"""Run under ``mpiexec -n N python tests/dist_worker.py SCENARIO OUT``
by tests/test_distributed.py; each scenario writes its result to OUT."""

import sys

import minialex  # noqa: F401  (before NumPy, as the examples do)
import numpy as np

from minialex import distributed as dist, functional as F, models, optim


def batch(n=128, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 3, 28, 28)).astype(np.float32), rng.integers(0, 10, n)


def equivalence(out, overlap=True, bucket_mb=0.25):
    """3 SGD steps, each rank on its share of the same global batch of 128."""
    r, n = dist.init()
    minialex.manual_seed(100 + r)              # differently initialised: broadcast fixes it
    model = models.alexnet_cifar("small", dropout=0.0)
    ddp = dist.DistributedDataParallel(model, bucket_cap_mb=bucket_mb, overlap=overlap)
    opt = optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    grads = {}
    for step in range(3):
        x, y = batch(seed=step)
        share = np.array_split(np.arange(len(y)), n)[r]
        loss = F.cross_entropy(ddp(minialex.Tensor(x[share])), y[share])
        opt.zero_grad()
        loss.backward()
        if step == 0:
            grads = {f"grad/{k}": p.grad.copy() for k, p in model.named_parameters()}
        opt.step()
    if r == 0:
        np.savez(out, **model.state_dict(), **grads, buckets=len(ddp._reducer.buckets))


def broadcast(out):
    r, n = dist.init()
    minialex.manual_seed(r)
    model = models.alexnet_cifar("small")
    opt = optim.SGD(model.parameters(), lr=0.1 * (r + 1), momentum=0.9)
    x, y = batch(8, seed=r)
    F.cross_entropy(model(minialex.Tensor(x)), y).backward()
    opt.step()                                  # rank-specific weights and velocities
    dist.broadcast_parameters(model)
    dist.broadcast_optimizer_state(opt)
    flat = np.concatenate([p.data.ravel() for p in model.parameters()])
    state = opt.state_dict()["state"]
    vel = np.concatenate([b[k].ravel() for _, b in sorted(state.items()) for k in sorted(b)])
    both = np.stack([flat, vel])
    gathered = np.empty((n,) + both.shape, both.dtype)
    dist._comm().Allgather(both, gathered)
    if r == 0:
        np.savez(out, gathered=gathered, lr=opt.param_groups[0]["lr"])


def fail(out):
    """Rank 1 raises while rank 0 waits in a collective."""
    r, n = dist.init()
    with dist.abort_on_error():
        if r == 1:
            raise RuntimeError("planted failure on rank 1")
        dist.barrier()


def threads(out):
    """Two ranks on this machine: each gets its share of the cores."""
    import os
    import threadpoolctl
    dist.init()
    share = dist.share_cpu_threads()
    blas = [i["num_threads"] for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"]
    if dist.rank() == 0:
        cores = len(os.sched_getaffinity(0))
        np.savez(out, share=share, cores=cores, blas=blas, minialex=minialex.get_num_threads())


if __name__ == "__main__":
    scenario, out = sys.argv[1], sys.argv[2]
    {"equivalence": equivalence,
     "equivalence_no_overlap": lambda o: equivalence(o, overlap=False),
     "equivalence_one_bucket": lambda o: equivalence(o, bucket_mb=64),
     "broadcast": broadcast, "fail": fail, "threads": threads}[scenario](out)
