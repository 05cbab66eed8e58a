"""How DistributedDataParallel moves gradients: buckets and their transport.

Why buckets: one ``Allreduce`` per parameter would pay MPI's latency 16
times a step for AlexNet (two per layer), and ``Allreduce`` of a few MB
runs near the link's bandwidth. So gradients are copied into a few
contiguous buffers of about ``bucket_cap_mb`` each, filled in reverse
parameter order (the order in which the backward sweep finishes them),
and each buffer is reduced as one message as soon as its last gradient is
final, while the sweep computes the gradients of earlier layers.

Transports (``Reducer.backend``):
- "mpi": NumPy gradients, ``Iallreduce`` on host buffers.
- "mpi-host": CuPy gradients staged through host buffers (no NCCL, or
  more ranks than GPUs on a machine, or parameters on several GPUs).
- "nccl": CuPy gradients reduced on the GPU with NCCL
  (``cupy.cuda.nccl``), the communicator set up over MPI. Written for
  CuPy's NCCL API; not yet run on hardware in this project's CI.

MPI only makes progress on a non-blocking operation inside MPI calls, so
:meth:`Reducer.ready` pokes the outstanding requests (``Testall``) each
time a gradient arrives; without an asynchronous progress thread
(``MPIR_CVAR_ASYNC_PROGRESS=1`` for MPICH) most of the transfer still
happens in the final ``Waitall``.
"""

import logging
import time

import numpy

log = logging.getLogger("minialex.distributed")


class _Bucket:
    """Parameters whose gradients travel as one contiguous message."""

    def __init__(self, params, xp, dtype):
        self.params = params
        self.sizes = [p.data.size for p in params]
        self.offsets = numpy.cumsum([0] + self.sizes)
        self.buffer = xp.zeros(int(self.offsets[-1]), dtype=dtype)
        self.pending = len(params)
        self.request = None

    def slices(self):
        """Yield ``(param, flat)``: each parameter with its 1-D view of the
        buffer (its ``size`` numbers, in bucket order)."""
        for p, a, b in zip(self.params, self.offsets[:-1], self.offsets[1:]):
            yield p, self.buffer[a:b]


def _buckets(params, cap_bytes, xp):
    """Group parameters (reversed) into buckets of about ``cap_bytes``, one
    dtype per bucket."""
    buckets, current, size = [], [], 0
    for p in reversed(params):
        if current and (size >= cap_bytes or p.dtype != current[0].dtype):
            buckets.append(current)
            current, size = [], 0
        current.append(p)
        size += p.data.nbytes
    if current:
        buckets.append(current)
    return [_Bucket(ps, xp, ps[0].dtype) for ps in buckets]


class Reducer:
    """Averages the gradients of ``params`` over the ranks of ``comm``
    through host buffers and MPI (backends "mpi" and "mpi-host")."""

    backend = "mpi"

    def __init__(self, params, comm, size, bucket_cap_mb):
        self.comm, self.size, self.overlap = comm, size, True
        self.blocking_seconds = 0.0   # time spent in finish(): the part not hidden by the sweep
        self.buckets = _buckets(params, bucket_cap_mb * 2 ** 20, self.buffer_module())
        self.bucket_of = {id(p): b for b in self.buckets for p in b.params}

    def buffer_module(self):
        """The array module the bucket buffers live in: NumPy (host memory)."""
        return numpy

    # --- the sweep calls ready() per final gradient, then finish() once
    def ready(self, p):
        """Called once the gradient of ``p`` is final in this sweep: count it
        in its bucket, start the bucket's reduction when it is the last one
        (if ``overlap``), and let MPI progress the outstanding ones."""
        bucket = self.bucket_of[id(p)]
        bucket.pending -= 1
        if self.overlap and bucket.pending == 0:
            self.launch(bucket)
        self.poke()

    def finish(self):
        """End of the sweep: launch the buckets not yet started, wait for all,
        and write the averaged gradients back into each ``p.grad`` (a
        parameter with no local gradient counts as zeros and gets one)."""
        start = time.perf_counter()
        for bucket in self.buckets:           # unused parameters, or overlap off
            if bucket.request is None:
                self.launch(bucket)
        self.wait()
        for bucket in self.buckets:
            for p, flat in bucket.slices():
                self.write_back(p, flat)
            bucket.pending, bucket.request = len(bucket.params), None
        self.blocking_seconds += time.perf_counter() - start

    # --- transport: host buffers and MPI
    def launch(self, bucket):
        """Copy the bucket's gradients into its buffer, divide by the number
        of ranks and start a non-blocking in-place ``Iallreduce`` (sum)."""
        from mpi4py import MPI
        for p, flat in bucket.slices():
            self.read(p, flat)
        bucket.buffer *= 1.0 / self.size
        bucket.request = self.comm.Iallreduce(MPI.IN_PLACE, bucket.buffer, op=MPI.SUM)

    def poke(self):
        """``Testall`` on the outstanding requests, so MPI makes progress."""
        from mpi4py import MPI
        requests = [b.request for b in self.buckets if b.request is not None]
        if requests:
            MPI.Request.Testall(requests)

    def wait(self):
        """Block until every bucket's reduction has completed (``Waitall``)."""
        from mpi4py import MPI
        MPI.Request.Waitall([b.request for b in self.buckets])

    def read(self, p, flat):
        """Copy ``p.grad`` (zeros if None; from the GPU if there) into ``flat``."""
        if p.grad is None:
            flat[...] = 0
        elif p.device.type == "cuda":
            with p.device:
                flat[...] = p.device.xp.asnumpy(p.grad).ravel()
        else:
            flat[...] = p.grad.ravel()

    def write_back(self, p, flat):
        """Copy the averaged ``flat`` back into ``p.grad`` on p's device."""
        value = flat.reshape(p.shape)
        if p.grad is None:
            p.grad = p.device.put(value.copy())
        elif p.device.type == "cuda":
            with p.device:
                p.grad[...] = p.device.xp.asarray(value)
        else:
            p.grad[...] = value


class NcclReducer(Reducer):
    """Backend "nccl": bucket buffers on the rank's GPU, ``allReduce`` on a
    CUDA stream (asynchronous, so it overlaps the sweep by itself)."""

    backend = "nccl"

    def __init__(self, params, comm, size, bucket_cap_mb):
        import cupy
        from cupy.cuda import nccl
        self.cupy, self.nccl = cupy, nccl
        self.device = params[0].device
        with self.device:
            uid = nccl.get_unique_id() if comm.Get_rank() == 0 else None
            uid = comm.bcast(uid, root=0)      # a tuple of small ints, once at start-up
            self.nccl_comm = nccl.NcclCommunicator(size, uid, comm.Get_rank())
            self.stream = cupy.cuda.Stream(non_blocking=True)
            super().__init__(params, comm, size, bucket_cap_mb)

    def buffer_module(self):
        """CuPy: the buffers live on the rank's GPU."""
        return self.cupy

    def launch(self, bucket):
        """Fill and scale the GPU buffer, then queue NCCL's in-place
        ``allReduce`` (sum) on the side stream, after the current stream's work."""
        nccl = self.nccl
        with self.device:
            for p, flat in bucket.slices():
                self.read(p, flat)
            bucket.buffer *= 1.0 / self.size
            self.stream.wait_event(self.cupy.cuda.get_current_stream().record())
            dtype = {numpy.dtype("float32"): nccl.NCCL_FLOAT32,
                     numpy.dtype("float64"): nccl.NCCL_FLOAT64}[bucket.buffer.dtype]
            self.nccl_comm.allReduce(bucket.buffer.data.ptr, bucket.buffer.data.ptr,
                                     bucket.buffer.size, dtype, nccl.NCCL_SUM, self.stream.ptr)
            bucket.request = True

    def poke(self):
        """Nothing to do: the CUDA stream progresses by itself."""
        pass

    def wait(self):
        """Block until the NCCL stream has finished every bucket."""
        with self.device:
            self.stream.synchronize()

    def read(self, p, flat):
        """Copy ``p.grad`` (zeros if None) into ``flat``, GPU to GPU."""
        if p.grad is None:
            flat[...] = 0
        else:
            flat[...] = p.grad.ravel()

    def write_back(self, p, flat):
        """Copy the averaged ``flat`` back into ``p.grad`` (a new array if None)."""
        value = flat.reshape(p.shape)
        if p.grad is None:
            p.grad = value.copy()
        else:
            p.grad[...] = value


def make_reducer(params, comm, size, bucket_cap_mb, ranks_on_machine):
    """Choose the transport for ``params`` (logged): NCCL where every
    parameter is on one GPU, each rank of a machine has its own GPU and
    ``cupy.cuda.nccl`` imports; else MPI through host memory."""
    if not params:
        raise ValueError("DistributedDataParallel got a module without trainable parameters")
    devices = {p.device for p in params}
    if all(d.type != "cuda" for d in devices):
        return Reducer(params, comm, size, bucket_cap_mb)
    why = None
    if len(devices) > 1:
        why = "parameters on several devices (two towers on two GPUs per rank)"
    else:
        try:
            import cupy
            from cupy.cuda import nccl  # noqa: F401
            gpus = cupy.cuda.runtime.getDeviceCount()
            if ranks_on_machine > gpus:
                why = f"{ranks_on_machine} ranks share {gpus} GPU(s) on this machine"
        except Exception as exc:  # ImportError, or NCCL missing from the CuPy build
            why = f"NCCL unavailable ({exc})"
    if why is None:
        return NcclReducer(params, comm, size, bucket_cap_mb)
    log.info("DistributedDataParallel: gradients go through host memory and MPI: %s", why)
    reducer = Reducer(params, comm, size, bucket_cap_mb)
    reducer.backend = "mpi-host"
    return reducer
