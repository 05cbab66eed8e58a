"""minialex.set_num_threads and the thread helper that splits conv2d's
big copies across the CPU's cores (tests/test_conv2d.py checks that many
threads give exactly the numbers of one thread)."""

import numpy as np
import pytest

import minialex
from minialex.functions import _threads


@pytest.fixture
def restore_threads():
    before = minialex.get_num_threads()
    yield
    minialex.set_num_threads(before)


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "2"])
def test_set_num_threads_rejects_bad_values(bad, restore_threads):
    with pytest.raises(ValueError, match="n="):
        minialex.set_num_threads(bad)


def test_set_num_threads_round_trip(restore_threads):
    minialex.set_num_threads(3)
    assert minialex.get_num_threads() == 3
    minialex.set_num_threads(1)
    assert minialex.get_num_threads() == 1


def test_env_variable_sets_the_default(monkeypatch):
    monkeypatch.setenv("MINIALEX_NUM_THREADS", "5")
    assert _threads._default_threads() == 5
    monkeypatch.setenv("MINIALEX_NUM_THREADS", "two")
    with pytest.raises(ValueError, match="MINIALEX_NUM_THREADS='two'"):
        _threads._default_threads()
    monkeypatch.setenv("MINIALEX_NUM_THREADS", "0")
    with pytest.raises(ValueError, match=">= 1"):
        _threads._default_threads()


def test_parallel_covers_every_part_once(restore_threads):
    minialex.set_num_threads(3)
    seen = np.zeros(10, dtype=int)

    def work(lo, hi):
        seen[lo:hi] += 1
    _threads.parallel(work, 10, np.empty(1 << 19, dtype=np.float32))
    np.testing.assert_array_equal(seen, 1)
    assert _threads._pool is not None


def _forward_backward(op, x, gy_seed=1):
    """(y, gx) of ``op`` on a float32 copy of x, with a fixed output gradient."""
    t = minialex.Tensor(x.copy(), requires_grad=True)
    y = op(t)
    gy = np.random.default_rng(gy_seed).standard_normal(y.shape).astype(np.float32)
    y.backward(gy)
    return y.data, t.grad


def _op(name):
    """(op, its input's per-image shape (C, H, W)). max_pool on 45x45 maps
    takes the phase path, on 13x13 maps the planes-last one."""
    from minialex import functional as F
    return {"relu": (F.relu, (20, 45, 45)), "lrn": (F.local_response_norm, (20, 45, 45)),
            "max_pool": (lambda t: F.max_pool2d(t, 3, 2), (20, 45, 45)),
            # 7 x 1100 x 6 x 6 outputs: over pool_planes_last.SPLIT_OUTPUTS, so split
            "max_pool_small_maps": (lambda t: F.max_pool2d(t, 3, 2), (1100, 13, 13))}[name]


OPS = ["relu", "lrn", "max_pool", "max_pool_small_maps"]


@pytest.mark.parametrize("name", OPS)
@pytest.mark.parametrize("threads", [2, 3])
def test_element_wise_passes_give_the_numbers_of_one_thread(name, threads, restore_threads):
    # big enough to be split (over _threads._MIN_SIZE numbers), 7 images so
    # the parts are uneven; ties in max-pooling must resolve the same way
    op, shape = _op(name)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((7,) + shape).astype(np.float32)
    x[:, :, :-1:3, :-1:3] = x[:, :, 1::3, 1::3]      # ties inside pooling windows
    assert x.size > _threads._MIN_SIZE
    if name == "max_pool_small_maps":
        from minialex.functions._kernels import pool_planes_last
        assert 7 * shape[0] * 6 * 6 >= pool_planes_last.SPLIT_OUTPUTS
    minialex.set_num_threads(1)
    y1, g1 = _forward_backward(op, x)
    minialex.set_num_threads(threads)
    y2, g2 = _forward_backward(op, x)
    np.testing.assert_array_equal(y1, y2)
    np.testing.assert_array_equal(g1, g2)


def test_import_sets_openblas_thread_timeout_unless_the_user_did():
    import os
    import subprocess
    import sys
    code = "import minialex, os; print(os.environ['OPENBLAS_THREAD_TIMEOUT'])"
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_THREAD_TIMEOUT"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "4"
    env["OPENBLAS_THREAD_TIMEOUT"] = "12"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "12"
    # NumPy already loaded: minialex sets it and has OpenBLAS read it again
    # (tests/test_blas_threads.py checks that the threads restart)
    env.pop("OPENBLAS_THREAD_TIMEOUT")
    code = "import numpy, minialex, os; print(os.environ.get('OPENBLAS_THREAD_TIMEOUT'))"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "4"


@pytest.mark.parametrize("name", OPS)
def test_split_passes_accept_non_contiguous_input(name, restore_threads):
    # a transposed view (not C-contiguous) must give the numbers of its copy
    op, (c, h, w) = _op(name)
    minialex.set_num_threads(2)
    base = np.random.default_rng(5).standard_normal((c, 7, h, w)).astype(np.float32)
    view = base.transpose(1, 0, 2, 3)                  # (7, C, H, W), not contiguous
    assert not view.flags.c_contiguous and view.size > _threads._MIN_SIZE
    y1, g1 = _forward_backward(op, np.ascontiguousarray(view))
    t = minialex.Tensor(view, requires_grad=True)
    y2 = op(t)
    y2.backward(np.random.default_rng(1).standard_normal(y2.shape).astype(np.float32))
    np.testing.assert_array_equal(y1, y2.data)
    np.testing.assert_array_equal(g1, t.grad)


# ------------------------------------------------ how parallel splits (recorded)
def _record(parts, size, threads):
    """The (lo, hi) ranges ``parallel`` hands to ``work``, sorted, and
    whether the calling thread ran the first one."""
    import threading
    minialex.set_num_threads(threads)
    calls, caller = [], threading.current_thread()
    _threads.parallel(lambda lo, hi: calls.append((lo, hi, threading.current_thread() is caller)),
                      parts, np.empty(size, dtype=np.uint8))
    return sorted(calls)


@pytest.mark.parametrize("parts,threads,want", [
    (10, 3, [(0, 3), (3, 6), (6, 10)]),
    (7, 2, [(0, 3), (3, 7)]),
    (3, 4, [(0, 1), (1, 2), (2, 3)]),          # never more threads than parts
    (9, 5, [(0, 1), (1, 3), (3, 5), (5, 7), (7, 9)]),
    (5, 1, [(0, 5)]),
])
def test_parallel_splits_into_n_nearly_equal_ranges(parts, threads, want, restore_threads):
    """n = min(threads, parts) ranges [parts*t//n, parts*(t+1)//n), the first
    one in the calling thread, the others in the pool."""
    calls = _record(parts, 1 << 19, threads)
    assert [(lo, hi) for lo, hi, _ in calls] == want
    assert [mine for _, _, mine in calls] == [True] + [False] * (len(want) - 1)


def test_parallel_splits_from_two_to_the_18_numbers(restore_threads):
    """Arrays under 2**18 numbers run in one call (starting threads costs
    more); from 2**18 on they are split. One thread never makes a pool."""
    assert _record(10, (1 << 18) - 1, 3) == [(0, 10, True)]
    assert _record(10, 1 << 18, 3) == [(0, 3, True), (3, 6, False), (6, 10, False)]
    assert _record(10, 10, 3) == [(0, 10, True)]
    minialex.set_num_threads(1)
    assert _threads._pool is None
    assert _record(10, 1 << 19, 1) == [(0, 10, True)]
    assert _threads._pool is None


def test_parallel_runs_the_parts_at_the_same_time(restore_threads):
    """With n threads all n parts run at once (each waits at a barrier for
    the others: a pool of fewer than n - 1 workers would break it)."""
    import threading
    minialex.set_num_threads(4)
    barrier = threading.Barrier(4, timeout=30)
    done = []

    def work(lo, hi):
        barrier.wait()
        done.append(lo)
    for _ in range(2):
        done.clear()
        _threads.parallel(work, 8, np.empty(1 << 19, dtype=np.uint8))
        assert sorted(done) == [0, 2, 4, 6]


def test_parallel_waits_for_every_part_and_passes_on_its_error(restore_threads):
    minialex.set_num_threads(3)
    big = np.empty(1 << 19, dtype=np.uint8)

    def work(lo, hi):
        if lo == 6:
            raise KeyError("part 6..10")
    with pytest.raises(KeyError, match="part 6..10"):
        _threads.parallel(work, 10, big)


def test_parallel_leaves_cupy_arrays_whole(monkeypatch, restore_threads):
    """An array of another module (CuPy's) is never split."""
    minialex.set_num_threads(3)
    monkeypatch.setattr(_threads, "get_array_module", lambda a: object())
    assert _record(10, 1 << 19, 3) == [(0, 10, True)]


class _FakePool:
    def __init__(self):
        self.shutdowns = []

    def shutdown(self, wait):
        self.shutdowns.append(wait)


def test_set_num_threads_replaces_the_pool_only_for_a_new_count(monkeypatch, restore_threads):
    """A new count shuts the old pool down, waiting for its threads, and the
    next split makes a new one; the same count (also an equal int that is
    another object) keeps it; no pool yet: nothing to shut down."""
    minialex.set_num_threads(int("1000"))
    fake = _FakePool()
    monkeypatch.setattr(_threads, "_pool", fake)
    minialex.set_num_threads(int("1000"))
    assert _threads._pool is fake and fake.shutdowns == []
    for n in (1001, 3):                         # larger, then smaller
        minialex.set_num_threads(n)
        assert _threads._pool is None and fake.shutdowns == [True]
        fake.shutdowns.clear()
        monkeypatch.setattr(_threads, "_pool", fake)
    monkeypatch.setattr(_threads, "_pool", None)
    minialex.set_num_threads(2)
    assert _threads._pool is None and minialex.get_num_threads() == 2


@pytest.mark.parametrize("good", [1, 2, 8])
def test_set_num_threads_accepts_every_count_from_one(good, restore_threads):
    minialex.set_num_threads(good)
    assert minialex.get_num_threads() == good


def test_default_threads_from_the_environment_and_the_cores(monkeypatch):
    """MINIALEX_NUM_THREADS n >= 1 wins; else the cores this process may use
    (sched_getaffinity(0)), at most 8; without sched_getaffinity
    os.cpu_count(), 1 when that is unknown."""
    import os
    for env, want in (("1", 1), ("2", 2), ("12", 12)):
        monkeypatch.setenv("MINIALEX_NUM_THREADS", env)
        assert _threads._default_threads() == want
    for env in ("-3", "0"):
        monkeypatch.setenv("MINIALEX_NUM_THREADS", env)
        with pytest.raises(ValueError, match=f"MINIALEX_NUM_THREADS='{env}' must be >= 1"):
            _threads._default_threads()
    monkeypatch.setenv("MINIALEX_NUM_THREADS", "two")
    with pytest.raises(ValueError, match="is not an integer; set it to the number of CPU"):
        _threads._default_threads()
    monkeypatch.delenv("MINIALEX_NUM_THREADS")
    asked = []
    for cores, want in ((1, 1), (3, 3), (8, 8), (9, 8), (16, 8)):
        monkeypatch.setattr(os, "sched_getaffinity",
                            lambda pid, c=cores: asked.append(pid) or set(range(c)), raising=False)
        monkeypatch.setattr(os, "cpu_count", lambda: 64)
        assert _threads._default_threads() == want
    assert set(asked) == {0}
    monkeypatch.delattr(os, "sched_getaffinity", raising=False)
    for count, want in ((None, 1), (2, 2), (32, 8)):
        monkeypatch.setattr(os, "cpu_count", lambda c=count: c)
        assert _threads._default_threads() == want


def test_a_forked_child_makes_its_own_pool(restore_threads):
    """After fork the child has none of the parent's pool threads: it forgets
    the pool (os.register_at_fork) and splits with a new one instead of
    waiting forever on the parent's."""
    import multiprocessing
    import threading
    minialex.set_num_threads(3)
    barrier = threading.Barrier(3, timeout=30)     # so that both pool threads start
    _threads.parallel(lambda lo, hi: barrier.wait(), 3, np.empty(1 << 19, dtype=np.uint8))
    assert _threads._pool is not None
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(1) as pool:
        got = pool.apply_async(_split_in_child).get(timeout=30)
    assert got == [(0, 3), (3, 6), (6, 10)]


def _split_in_child():
    calls = []
    _threads.parallel(lambda lo, hi: calls.append((lo, hi)), 10, np.empty(1 << 19, dtype=np.uint8))
    return sorted(calls)


def test_a_parallel_inside_a_part_runs_in_one_call_and_returns(restore_threads):
    """conv2d's chunks call the same split copies from inside a part: a
    nested parallel runs in its part's thread (submitted to the pool it
    runs in, it would wait forever), the mark ends with the part, and a
    part's error still clears it."""
    import threading
    minialex.set_num_threads(2)
    big = np.empty(1 << 19, dtype=np.uint8)
    inner = []

    def part(lo, hi):
        mine = threading.get_ident()
        _threads.parallel(lambda a, b: inner.append((lo, a, b, threading.get_ident() == mine)),
                          6, big)
    finished = []
    runner = threading.Thread(target=lambda: finished.append(_threads.parallel(part, 2, big)),
                              daemon=True)
    runner.start()
    runner.join(30)
    assert finished == [None], "a nested parallel deadlocked"
    assert sorted(inner) == [(0, 0, 6, True), (1, 0, 6, True)]
    assert not getattr(_threads._inside, "split", False)
    calls = _record(10, 1 << 19, 2)                  # and the next split splits again
    assert [(lo, hi) for lo, hi, _ in calls] == [(0, 5), (5, 10)]

    import time
    late = []

    def failing(lo, hi):            # the caller's part fails at once, the other finishes later
        if lo == 0:
            raise KeyError("inside")
        time.sleep(0.2)
        late.append(lo)
    with pytest.raises(KeyError, match="inside"):
        _threads.parallel(failing, 2, big)
    assert late == [1], "parallel returned while a part was still running"
    assert _record(4, 1 << 19, 2) == [(0, 2, True), (2, 4, False)]
