"""minialex.set_num_threads and the ops that split their CPU passes across
threads (LRN over the batch, max-pooling over channel blocks, conv2d's
copies): many threads must give exactly the numbers of one thread."""

import numpy as np
import pytest

import minialex
from minialex import Tensor, functional as F
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


@pytest.mark.parametrize("op", [
    lambda t: F.local_response_norm(t, 5, 1e-4, 0.75, 2.0),
    lambda t: F.local_response_norm(t, 4, 1e-2, 0.6, 1.5),
    lambda t: F.max_pool2d(t, 3, 2),
    lambda t: F.max_pool2d(t, 3, 2, padding=1, ceil_mode=True),
])
def test_threads_give_the_numbers_of_one_thread(op, restore_threads):
    rng = np.random.default_rng(7)
    x = rng.standard_normal((24, 40, 19, 17), dtype=np.float32) * 10   # > 2**18: threaded
    assert x.size >= _threads._MIN_SIZE
    results = []
    for n in (1, 2, 3):
        minialex.set_num_threads(n)
        t = Tensor(x, requires_grad=True)
        y = op(t)
        gy = np.random.default_rng(8).standard_normal(y.shape).astype(np.float32)
        y.backward(gy)
        results.append((y.data, t.grad))
    for y, g in results[1:]:
        np.testing.assert_array_equal(y, results[0][0])
        np.testing.assert_array_equal(g, results[0][1])
