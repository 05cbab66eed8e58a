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
