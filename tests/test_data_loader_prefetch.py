"""DataLoader's background thread: which thread prepares the batches, how far
ahead it runs, that a slow consumer still gets every batch, that stopping
early stops the work, that a script may exit with an unfinished iterator,
and that a failed thread start is not reported twice. Written for the
mutation survivors of minialex/data/loader.py (issue 20). Each wait here
has a deadline, so a producer that stopped or hangs fails the test rather
than hanging it."""

import gc
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from minialex.data import DataLoader, to_nchw_float32

REPO = Path(__file__).resolve().parent.parent


def dataset(n):
    x = np.arange(n, dtype=np.uint8).reshape(n, 1, 1, 1) * np.ones((1, 2, 2, 3), np.uint8)
    return x, np.arange(n)


def counting():
    """A transform that counts its calls and notes the thread it ran in."""
    calls, threads = [], []

    def tf(xb, rng):
        calls.append(len(xb))
        threads.append(threading.current_thread().name)
        return to_nchw_float32()(xb)
    return tf, calls, threads


def settle(calls, at_least, deadline=10.0):
    """Wait until len(calls) >= at_least, then a little longer, so that a
    producer which would go further has had the time to."""
    end = time.time() + deadline
    while len(calls) < at_least and time.time() < end:
        time.sleep(0.01)
    time.sleep(0.3)
    return len(calls)


def test_prefetch_0_prepares_in_the_calling_thread_else_in_the_loader_thread():
    """prefetch=0: the transform runs in the consumer's thread, only when a
    batch is asked for; prefetch 1, 2 and 3: in the thread minialex-DataLoader."""
    x, y = dataset(12)
    tf, calls, threads = counting()
    it = iter(DataLoader(x, y, batch_size=4, transform=tf, prefetch=0))
    time.sleep(0.1)
    assert calls == []
    assert len(list(it)) == 3
    assert threads == [threading.current_thread().name] * 3
    for prefetch in [1, 2, 3]:
        tf, calls, threads = counting()
        assert len(list(DataLoader(x, y, batch_size=4, transform=tf, prefetch=prefetch))) == 3
        assert threads == ["minialex-DataLoader"] * 3


@pytest.mark.parametrize("prefetch", [None, 1, 3])
def test_the_thread_runs_prefetch_batches_ahead(prefetch):
    """After the first batch is taken, the thread fills the queue (prefetch
    batches, 2 by default) and prepares one more, then waits: 2 + prefetch
    transform calls, and no more however long the consumer pauses."""
    x, y = dataset(40)
    tf, calls, _ = counting()
    kw = {} if prefetch is None else {"prefetch": prefetch}
    it = iter(DataLoader(x, y, batch_size=2, transform=tf, **kw))
    next(it)
    expected = 2 + (2 if prefetch is None else prefetch)
    assert settle(calls, expected) == expected
    it.close()


def consume_slowly(loader, pause, deadline=30.0):
    """Iterate ``loader`` in a helper thread, pausing ``pause`` s per batch;
    the labels seen, or an AssertionError if it did not end by ``deadline``."""
    got, errors = [], []

    def run():
        try:
            for _, yb in loader:
                got.append(yb.tolist())
                time.sleep(pause)
        except BaseException as exc:
            errors.append(exc)
    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(deadline)
    assert not t.is_alive(), f"the consumer still waits after {deadline} s (got {len(got)} batches)"
    assert errors == []
    return got


def test_a_slow_consumer_gets_every_batch():
    """A consumer slower than the thread (0.15 s per batch, the queue full
    for longer than the thread's 0.05 s put timeout) still gets all 6
    batches in order and the end of the epoch: a full queue only makes the
    thread wait and retry."""
    x, y = dataset(12)
    got = consume_slowly(DataLoader(x, y, batch_size=2, shuffle=False, prefetch=1), 0.15)
    assert got == [[0, 1], [2, 3], [4, 5], [6, 7], [8, 9], [10, 11]]


def test_close_stops_the_work_of_the_thread():
    """After 3 of 250 batches, close() returns with at most a few more
    prepared (the queue's 2, the one waiting and one started): the thread
    does not go on transforming the rest of the epoch."""
    x, y = dataset(2000)
    tf, calls, _ = counting()
    it = iter(DataLoader(x, y, batch_size=8, transform=tf, prefetch=2))
    for _ in range(3):
        next(it)
    settle(calls, 6)
    it.close()
    done = len(calls)
    assert 6 <= done <= 7
    time.sleep(0.2)
    assert len(calls) == done
    assert not [t for t in threading.enumerate() if t.name == "minialex-DataLoader"]


def test_a_script_can_exit_in_the_middle_of_an_epoch():
    """A script that takes one batch and exits with the iterator still alive
    (a module global) ends at once: the loader thread is a daemon, so the
    interpreter does not wait for it."""
    code = ("import numpy as np\n"
            "from minialex.data import DataLoader\n"
            "x = np.zeros((400, 2, 2, 3), np.uint8)\n"
            "it = iter(DataLoader(x, np.zeros(400), batch_size=4))\n"
            "next(it)\n"
            "print('one batch')\n")
    path = os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])
    env = {**os.environ, "PYTHONPATH": path}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         timeout=60)
    assert (out.returncode, out.stdout) == (0, "one batch\n"), out.stderr


def test_a_thread_that_cannot_start_is_reported_once(monkeypatch):
    """When the loader thread cannot start, iter() raises that RuntimeError,
    and the half-built iterator is then collected silently (its close()
    cannot join a thread never started; __del__ swallows that)."""
    start = threading.Thread.start

    def failing_start(self):
        if self.name == "minialex-DataLoader":
            raise RuntimeError("can't start new thread")
        start(self)
    unraisable = []
    monkeypatch.setattr(threading.Thread, "start", failing_start)
    monkeypatch.setattr(sys, "unraisablehook", unraisable.append)
    x, y = dataset(8)
    with pytest.raises(RuntimeError, match="^can't start new thread$"):
        iter(DataLoader(x, y, batch_size=4))
    gc.collect()
    assert unraisable == []


class EqualsAnything(Exception):
    """An exception whose == says True to any object (as matcher objects do)."""

    def __eq__(self, other):
        return True

    __hash__ = Exception.__hash__


def test_the_end_of_the_epoch_is_told_by_identity():
    """The thread's end-of-epoch marker is recognised by identity: a
    transform error whose == is True for everything is still re-raised in the
    consumer, not taken for the end of the epoch."""
    x, y = dataset(8)

    def failing(xb, rng):
        raise EqualsAnything("transform failed")
    with pytest.raises(EqualsAnything, match="^transform failed$"):
        list(DataLoader(x, y, batch_size=4, transform=failing))
