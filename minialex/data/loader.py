"""DataLoader: shuffled, augmented float32 NCHW mini-batches, prepared in a
background thread while the current batch trains.

Repeatability: epoch ``e`` is a deterministic function of ``(seed, e)``.
The permutation comes from ``default_rng([seed, e])``, and the random
transforms of data-set sample ``i`` draw from its own stream
``default_rng([seed, e, i])`` (:class:`~minialex.data.sample_rng.SampleRNG`),
so the batches do not depend on timing, on prefetching, on how many
batches of other epochs were consumed, or on the number of processes.
Each ``iter(loader)`` runs the current epoch and then advances the
counter; ``set_epoch`` / ``state_dict`` / ``load_state_dict`` let a
resumed run repeat exactly.

Data parallelism (``num_replicas`` > 1): every rank draws the same
permutation and takes its contiguous share of every global batch of
``batch_size`` samples (``numpy.array_split``: shares differ by at most one
sample). N ranks together see exactly the samples, the order and the
augmentations that one process sees, which is what makes
:class:`minialex.distributed.DistributedDataParallel` equal to one
process with the global batch.
"""

from __future__ import annotations

import queue
import threading
from typing import Callable

import numpy as np

from .sample_rng import SampleRNG
from .transforms import to_nchw_float32

_DONE = object()


class DataLoader:
    """Iterate over ``(x, y)`` mini-batches.

    Args:
        x: images (N, H, W, C), usually uint8 (the loader indexes it and
            hands each batch to ``transform``).
        y: labels (N,), converted to int64.
        batch_size: images per global batch (default 128, the paper's,
            section 5); with ``num_replicas`` > 1 this rank yields its share.
        shuffle: a new random order every epoch (default True); False keeps
            the data order.
        seed: seed of every random draw (order and augmentation).
        drop_last: drop the last incomplete batch.
        transform: callable ``(x_batch, rng) -> batch``, e.g. a ``Compose``
            ending with ``to_nchw_float32()``. Default: only
            ``to_nchw_float32()``. Its result must be float32 (B, C, h, w),
            or (k, B, C, h, w) for multi-crop evaluation (``ten_crop``).
        prefetch: batches prepared ahead in a background thread (default 2);
            0 prepares each batch in the calling thread.
        num_replicas: processes sharing each batch (default 1); usually
            :func:`minialex.distributed.world_size`.
        rank: this process's index, ``0 <= rank < num_replicas`` (default 0).

    Yields: ``(x, y)``: x float32 (B, C, h, w), y int64 (B,); B is this
    rank's share. A rank whose share of a short last batch is empty skips it.

    Raises (at construction): ValueError for an empty data set, a length
    mismatch between x and y, x not 4-D, a bad batch_size / prefetch, or a
    rank outside ``0..num_replicas-1``.
    Errors raised by ``transform`` in the background thread are re-raised
    in the consumer; stopping early (``break``) stops the thread.
    """

    def __init__(self, x, y, batch_size: int = 128, shuffle: bool = True, seed: int = 0,
                 drop_last: bool = False, transform: Callable | None = None, prefetch: int = 2,
                 num_replicas: int = 1, rank: int = 0):
        x, y = np.asarray(x), np.asarray(y)
        if x.ndim != 4:
            raise ValueError(f"DataLoader x must be images (N, H, W, C), got shape {x.shape}")
        if y.ndim != 1 or len(y) != len(x):
            raise ValueError(f"DataLoader x has {len(x)} images but y has shape {y.shape}; "
                             "they must have the same length N (y of shape (N,))")
        if len(x) == 0:
            raise ValueError("DataLoader got an empty data set (0 images); check the data path")
        if x.shape[1] in (1, 3) and x.shape[-1] not in (1, 3, 4):
            raise ValueError(
                f"DataLoader x of shape {x.shape} looks channels-first (N, C, H, W); it takes "
                "images as stored, (N, H, W, C), and its transforms end in NCHW. Fix: pass "
                "x.transpose(0, 2, 3, 1)")
        if not isinstance(batch_size, (int, np.integer)) or batch_size <= 0:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        if not isinstance(prefetch, (int, np.integer)) or prefetch < 0:
            raise ValueError(f"prefetch must be an int >= 0, got {prefetch!r}")
        if drop_last and len(x) < batch_size:
            raise ValueError(f"drop_last=True with {len(x)} images < batch_size={batch_size} "
                             "gives no batches; lower batch_size or set drop_last=False")
        if not isinstance(num_replicas, (int, np.integer)) or num_replicas < 1:
            raise ValueError(f"num_replicas must be an int >= 1, got {num_replicas!r}")
        if not isinstance(rank, (int, np.integer)) or not 0 <= rank < num_replicas:
            raise ValueError(f"rank must be an int in 0..{num_replicas - 1} "
                             f"(num_replicas={num_replicas}), got {rank!r}")
        if transform is not None and not callable(transform):
            raise TypeError(f"transform must be a callable (x, rng) -> x, got {transform!r}")
        self.x = x
        self.y = y.astype(np.int64, copy=False)
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.seed = int(seed)
        self.drop_last = bool(drop_last)
        self.transform = transform if transform is not None else to_nchw_float32()
        self.prefetch = int(prefetch)
        self.num_replicas = int(num_replicas)
        self.rank = int(rank)
        self.epoch = 0
        self._start_batch = 0

    def __len__(self) -> int:
        """Number of (global) batches per epoch."""
        n, b = len(self.x), self.batch_size
        return n // b if self.drop_last else -(-n // b)

    def set_epoch(self, epoch: int, start_batch: int = 0) -> None:
        """Make the next ``iter(loader)`` run epoch ``epoch``, from batch
        ``start_batch`` on (a run resumed mid-epoch: the batches before it
        are neither loaded nor transformed, and the rest are exactly those
        of an uninterrupted epoch)."""
        if epoch < 0:
            raise ValueError(f"epoch must be >= 0, got {epoch}")
        if not 0 <= start_batch <= len(self):
            raise ValueError(f"start_batch must be in 0..{len(self)}, got {start_batch}")
        self.epoch = int(epoch)
        self._start_batch = int(start_batch)

    def state_dict(self) -> dict:
        """``{"seed", "epoch"}``: enough to resume at the next epoch."""
        return {"seed": self.seed, "epoch": self.epoch}

    def load_state_dict(self, state: dict) -> None:
        """Restore :meth:`state_dict`'s seed and epoch (start of that epoch)."""
        self.seed = int(state["seed"])
        self.set_epoch(state["epoch"])

    def order(self, epoch: int) -> np.ndarray:
        """Sample indices in the order epoch ``epoch`` visits them."""
        n = len(self.x)
        if not self.shuffle:
            return np.arange(n)
        return np.random.default_rng([self.seed, epoch]).permutation(n)

    def _batches(self, epoch: int, start: int = 0):
        """Yield the prepared batches of ``epoch`` from batch ``start`` on,
        in the calling thread."""
        idx = self.order(epoch)
        for b in range(start, len(self)):
            sel = idx[b * self.batch_size:(b + 1) * self.batch_size]
            if self.num_replicas > 1:
                sel = np.array_split(sel, self.num_replicas)[self.rank]
                if len(sel) == 0:
                    continue
            rng = SampleRNG((self.seed, epoch), sel)
            xb = self.transform(self.x[sel], rng)
            self._check_output(xb, len(sel))
            yield xb, self.y[sel]

    def _check_output(self, xb, n: int) -> None:
        c = self.x.shape[-1]
        ok = isinstance(xb, np.ndarray) and xb.dtype == np.float32 and (
            (xb.ndim == 4 and xb.shape[:2] == (n, c)) or (xb.ndim == 5 and xb.shape[1:3] == (n, c)))
        if not ok:
            raise ValueError(
                f"DataLoader transform returned {getattr(xb, 'dtype', type(xb).__name__)} of shape "
                f"{getattr(xb, 'shape', None)}; expected float32 (B={n}, C={c}, h, w) or "
                f"(k, B, C, h, w). Fix: end the transform with to_nchw_float32()."
            )

    def __iter__(self):
        epoch, start = self.epoch, self._start_batch
        self.epoch += 1
        self._start_batch = 0
        if self.prefetch == 0:
            return self._batches(epoch, start)
        return _PrefetchIterator(self._batches(epoch, start), self.prefetch)


def _produce(batches, q: queue.Queue, stop: threading.Event) -> None:
    """Background thread body: put each batch (then _DONE, or the exception
    raised) on ``q`` until done or ``stop`` is set. A module-level function,
    so the thread holds no reference to the iterator and ``break`` lets the
    iterator be collected and closed."""

    def put(item) -> bool:
        """Put ``item`` on ``q``, retrying while full; False once ``stop`` is set."""
        while not stop.is_set():
            try:
                q.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    try:
        for item in batches:
            if not put(item):
                return
        put(_DONE)
    except BaseException as exc:  # handed to the consumer, re-raised there
        put(exc)
    finally:
        batches.close()


class _PrefetchIterator:
    """Runs a batch generator in a daemon thread, ``prefetch`` batches ahead.

    ``close()`` tells the thread to stop and joins it; it runs at the end of
    the epoch, when the transform raised, when the iterator is garbage
    collected (``break`` out of a ``for`` loop), or on ``with`` exit.
    """

    def __init__(self, batches, prefetch: int):
        self._queue: queue.Queue = queue.Queue(maxsize=prefetch)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=_produce, args=(batches, self._queue, self._stop),
                                        name="minialex-DataLoader", daemon=True)
        self._thread.start()

    def __iter__(self):
        return self

    def __next__(self):
        if self._thread is None:
            raise StopIteration
        item = self._queue.get()
        if item is _DONE:
            self.close()
            raise StopIteration
        if isinstance(item, BaseException):
            self.close()
            raise item
        return item

    def close(self) -> None:
        """Stop the background thread and wait for it."""
        if self._thread is None:
            return
        self._stop.set()
        while True:  # unblock a producer waiting on a full queue
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        self._thread.join()
        self._thread = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass
