"""Data parallelism on MPI (mpi4py), with NCCL between GPUs.

Each process (rank) holds a full replica of the model and trains on its
share of every global batch; after ``backward()`` the gradients are
averaged over all ranks, so every replica takes the same SGD step. With
``N`` ranks each given ``B/N`` samples of a global batch of ``B``, the
averaged gradient is exactly the gradient of the mean loss over the ``B``
samples, because the mean over the batch is the mean of the ranks' means:

    dL/dw = (1/B) sum_i dl_i/dw = (1/N) sum_r [ (N/B) sum_{i in rank r} dl_i/dw ]

So N processes compute what one process with batch ``B`` computes, up to
the order of float32 additions. Launch with MPI's own launcher:

    mpiexec -n 4 python examples/train_cifar.py --distributed

Pieces: :func:`init` (``MPI.COMM_WORLD``; a world of one when the program
was not started by ``mpiexec``), :func:`rank`, :func:`world_size`,
:func:`broadcast_parameters`, :func:`broadcast_optimizer_state`,
:func:`all_reduce` and :class:`DistributedDataParallel`, which averages
gradients in a few contiguous buckets with MPI's buffer-based
``Iallreduce`` (never the pickling lower-case calls), starting each bucket
as soon as its gradients are final during the backward sweep (as PyTorch's
DDP and ChainerMN do) and waiting for all of them before ``backward()``
returns. CuPy gradients go through NCCL when every rank on a machine has a
GPU of its own and ``cupy.cuda.nccl`` is available; otherwise through
host memory and MPI. :func:`abort_on_error` makes one rank's exception stop
every rank instead of leaving them waiting.
"""

import contextlib
import json
import logging
import sys
import time
import traceback

import numpy

from .autograd import queue_callback
from .nn.module import Module

__all__ = ["DistributedError", "init", "is_initialized", "rank", "world_size", "local_rank",
           "share_cpu_threads", "barrier", "all_reduce", "broadcast_parameters", "broadcast_optimizer_state",
           "broadcast_object", "DistributedDataParallel", "abort_on_error"]

log = logging.getLogger("minialex.distributed")


class DistributedError(RuntimeError):
    """MPI is missing, not initialised, or used inconsistently across ranks."""


_world = None   # set by init(): {"comm", "rank", "size", "local_rank", "local_size"}


def _mpi():
    try:
        from mpi4py import MPI
    except ImportError as exc:
        raise DistributedError(
            "distributed training needs mpi4py and an MPI library: pip install "
            "'minialex[dist]' (mpi4py + the mpich wheel, which puts mpiexec in the "
            "environment's bin/); on a cluster build mpi4py against the site's MPI "
            "(pip install --no-binary mpi4py mpi4py)") from exc
    return MPI


def init():
    """Join ``MPI.COMM_WORLD`` (idempotent). Returns ``(rank, world_size)``.

    A program not started by ``mpiexec`` is a world of one (rank 0).
    Raises DistributedError when mpi4py is not installed."""
    global _world
    if _world is None:
        MPI = _mpi()
        comm = MPI.COMM_WORLD
        local = comm.Split_type(MPI.COMM_TYPE_SHARED)   # the ranks on this machine
        _world = {"comm": comm, "rank": comm.Get_rank(), "size": comm.Get_size(),
                  "local_rank": local.Get_rank(), "local_size": local.Get_size()}
        local.Free()
    return _world["rank"], _world["size"]


def is_initialized():
    """True once :func:`init` has run in this process."""
    return _world is not None


def rank():
    """This process's index, 0..world_size()-1 (0 before :func:`init`)."""
    return _world["rank"] if _world else 0


def world_size():
    """Number of processes (1 before :func:`init`)."""
    return _world["size"] if _world else 1


def local_rank():
    """Index among the ranks on this machine: the GPU a rank should use."""
    return _world["local_rank"] if _world else 0


def share_cpu_threads():
    """Give each rank on this machine its share of the cores, so N ranks
    do not run N x (all cores) threads: minialex's own passes
    (``set_num_threads``) and, through threadpoolctl, the BLAS. A setting
    the user made (``MINIALEX_NUM_THREADS``, ``OPENBLAS_NUM_THREADS`` or
    ``OMP_NUM_THREADS``) is kept. Returns the threads per rank."""
    import os
    from .functions._threads import set_num_threads, get_num_threads
    if _world is None or _world["local_size"] == 1:
        return get_num_threads()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    share = max(1, (cores or 1) // _world["local_size"])
    if not os.environ.get("MINIALEX_NUM_THREADS"):
        set_num_threads(share)
    if not (os.environ.get("OPENBLAS_NUM_THREADS") or os.environ.get("OMP_NUM_THREADS")):
        try:
            from threadpoolctl import threadpool_limits
            threadpool_limits(share, user_api="blas")
        except ImportError:
            log.info("threadpoolctl not installed: BLAS keeps its own thread count; set "
                     "OPENBLAS_NUM_THREADS=%d", share)
    return share


def _comm():
    if _world is None:
        raise DistributedError("call minialex.distributed.init() first")
    return _world["comm"]


def barrier():
    """Wait until every rank gets here."""
    if world_size() > 1:
        _comm().Barrier()


def all_reduce(array, op="sum"):
    """Reduce a NumPy array over all ranks, in place (``op`` "sum", "max"
    or "min"); returns it. A world of one leaves it as it is."""
    if world_size() > 1:
        MPI = _mpi()
        _comm().Allreduce(MPI.IN_PLACE, array, op={"sum": MPI.SUM, "max": MPI.MAX,
                                                    "min": MPI.MIN}[op])
    return array


def broadcast_object(obj, root=0):
    """Send a JSON-able object from ``root`` to every rank (sent as JSON
    text, not a pickle); returns it on every rank."""
    if world_size() == 1:
        return obj
    text = json.dumps(obj) if rank() == root else None
    return json.loads(_comm().bcast(text, root=root))


def _broadcast_arrays(arrays, root):
    """Broadcast a list of host arrays in place (all ranks pass arrays of
    the same shapes and dtypes)."""
    comm = _comm()
    for a in arrays:
        comm.Bcast(a, root=root)


def broadcast_parameters(module, root=0):
    """Make every rank's parameters (and buffers in ``state_dict``) equal
    to ``root``'s, e.g. after differently seeded initialisation."""
    if world_size() == 1:
        return
    state = module.state_dict()            # host copies
    shapes = broadcast_object({k: [list(v.shape), str(v.dtype)] for k, v in state.items()}, root)
    mine = {k: [list(v.shape), str(v.dtype)] for k, v in state.items()}
    if shapes != mine:
        raise DistributedError("broadcast_parameters: the ranks' models differ in names, shapes "
                               "or dtypes; build the same model on every rank")
    arrays = [numpy.ascontiguousarray(v) for v in state.values()]
    _broadcast_arrays(arrays, root)
    module.load_state_dict(dict(zip(state.keys(), arrays)))


def broadcast_optimizer_state(optimizer, root=0):
    """Make every rank's optimizer state (hyperparameters and buffers such
    as SGD's velocity) equal to ``root``'s, e.g. after ``root`` alone
    loaded a checkpoint. The ranks' optimizers must hold the same
    parameters in the same order."""
    if world_size() == 1:
        return
    state = optimizer.state_dict()
    meta = broadcast_object({"param_groups": state["param_groups"],
                             "buffers": {str(i): {k: [list(v.shape), str(v.dtype)]
                                                  for k, v in b.items()}
                                         for i, b in state["state"].items()}}, root)
    buffers = {int(i): {k: (state["state"][int(i)][k] if rank() == root
                            else numpy.empty(shape, dtype))
                        for k, (shape, dtype) in b.items()}
               for i, b in meta["buffers"].items()}
    _broadcast_arrays([numpy.ascontiguousarray(a) if rank() != root else a
                       for b in buffers.values() for a in b.values()], root)
    optimizer.load_state_dict({"param_groups": meta["param_groups"], "state": buffers})


@contextlib.contextmanager
def abort_on_error():
    """Inside this block an exception, or ``sys.exit("message")``, on any
    rank prints the error and aborts every rank (``MPI_Abort``) instead of
    leaving the others waiting forever in their next collective. An integer
    ``sys.exit(code)`` passes through: every rank is expected to reach it
    (e.g. all stopping together after a Ctrl-C). A world of one just lets
    the exception propagate."""
    try:
        yield
    except SystemExit as exc:
        if world_size() > 1 and isinstance(exc.code, str):
            _abort_all(f"[rank {rank()}] {exc.code}\n")
        raise
    except BaseException:
        if world_size() > 1:
            _abort_all(traceback.format_exc()
                       + f"[rank {rank()}] aborting all {world_size()} ranks\n")
        raise


def _abort_all(message):
    """Write ``message`` to stderr in one piece, then ``MPI_Abort`` every rank.
    Why one write and a short pause: mpiexec forwards a rank's stderr as it
    reads it and stops reading once the job aborts, so a traceback printed
    line by line could reach the user cut after its first line."""
    sys.stderr.write(message)
    sys.stderr.flush()
    time.sleep(0.2)
    _comm().Abort(1)


from ._reducers import make_reducer  # noqa: E402  (needs the helpers above)


class DistributedDataParallel(Module):
    """Wrap ``module`` so that ``loss.backward()`` leaves every parameter's
    ``.grad`` averaged over all ranks (PyTorch's name and meaning).

    Args:
        module: the model (its parameters first broadcast from rank 0
            unless ``broadcast=False``).
        bucket_cap_mb: gradients are reduced in buckets of about this many
            MB (default 1: the small CIFAR preset's 2.2 MB of gradients make
            3 buckets, so the first can travel while conv1-conv5's gradients
            are computed), filled in reverse parameter order, the order in
            which the backward sweep finishes them.
        overlap: start each bucket's reduction as soon as its gradients are
            final, during the backward sweep (default True); False reduces
            all buckets after the sweep (for comparison).

    Attributes: ``module``; ``backend`` ("mpi", "mpi-host" or "nccl"): how
    gradients travel, chosen from the parameters' device and logged.

    A parameter that received no gradient on a rank counts as zeros there.
    Inside ``with ddp.no_sync():`` gradients accumulate locally (e.g. for
    gradient accumulation) and are reduced at the next backward outside it.
    """

    def __init__(self, module, bucket_cap_mb=1.0, overlap=True, broadcast=True):
        super().__init__()
        if not isinstance(module, Module):
            raise TypeError(f"DistributedDataParallel wraps a minialex Module, got "
                            f"{type(module).__name__}")
        init()
        self.module = module
        self.overlap = bool(overlap)
        self._sync = True
        if broadcast:
            broadcast_parameters(module)
        params = [p for p in module.parameters() if p.requires_grad]
        self._reducer = make_reducer(params, _comm(), world_size(), bucket_cap_mb,
                                     _world["local_size"])
        self.backend = self._reducer.backend
        self._reducer.overlap = self.overlap
        self._queued = False
        for p in params:
            p.register_post_accumulate_grad_hook(self._grad_ready)
        if rank() == 0:
            log.info("DistributedDataParallel: %d ranks, %d buckets, backend %s",
                     world_size(), len(self._reducer.buckets), self.backend)

    def forward(self, *args, **kwargs):
        """Call the wrapped module; the gradients are averaged over the ranks
        during the following backward (unless inside :meth:`no_sync`)."""
        return self.module(*args, **kwargs)

    def _grad_ready(self, p):
        if not self._sync or world_size() == 1:
            return
        if not self._queued:
            self._queued = True
            queue_callback(self._finish)
        self._reducer.ready(p)

    def _finish(self):
        self._queued = False
        self._reducer.finish()

    @contextlib.contextmanager
    def no_sync(self):
        """Accumulate gradients locally: no reduction for backward passes
        run inside this block."""
        old, self._sync = self._sync, False
        try:
            yield
        finally:
            self._sync = old

    # the wrapper's state is the wrapped module's (checkpoints stay loadable
    # into a plain model)
    def state_dict(self):
        """The wrapped module's state dict (same keys, no ``module.`` prefix)."""
        return self.module.state_dict()

    def load_state_dict(self, state_dict):
        """Load into the wrapped module (see :meth:`Module.load_state_dict`)."""
        return self.module.load_state_dict(state_dict)

    @property
    def config(self):
        """The wrapped model's ``config`` dict, or None if it has none."""
        return getattr(self.module, "config", None)
