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
