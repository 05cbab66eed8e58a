"""minialex/_blas.py: OpenBLAS's idle threads are told to sleep at once
whether NumPy or minialex is imported first, and a user's own
OPENBLAS_THREAD_TIMEOUT is kept. Each case runs in a fresh process (the
import order is the point)."""

import json
import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

CHILD = """
import json, os, sys
if sys.argv[1] == "numpy":
    import numpy, minialex
else:
    import minialex, numpy
import ctypes
from threadpoolctl import threadpool_info
libs = [ctypes.CDLL(i["filepath"]) for i in threadpool_info() if i["internal_api"] == "openblas"]
def servers():     # OpenBLAS's flag: its worker threads are running
    return [ctypes.c_int.in_dll(lib, "blas_server_avail").value for lib in libs]
before = servers()
a = numpy.random.default_rng(0).standard_normal((300, 300))
product = a @ a                       # threads (re)started after the change
exact = numpy.einsum("ij,jk->ik", a, a)
print(json.dumps({"status": minialex._blas_status, "servers": [before, servers()],
                  "timeout": os.environ.get("OPENBLAS_THREAD_TIMEOUT"),
                  "max_error": float(abs(product - exact).max())}))
"""


def _child(first, **env):
    environ = {k: v for k, v in os.environ.items() if k != "OPENBLAS_THREAD_TIMEOUT"}
    environ.update(PYTHONPATH=REPO, OPENBLAS_NUM_THREADS="2", **env)
    out = subprocess.run([sys.executable, "-c", CHILD, first], env=environ, check=True,
                         capture_output=True, text=True, timeout=120)
    return json.loads(out.stdout), out.stderr


def _openblas():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    import numpy  # noqa: F401
    if not any(i.get("internal_api") == "openblas" for i in threadpoolctl.threadpool_info()):
        pytest.skip("NumPy here does not use OpenBLAS")


def test_minialex_first_sets_the_variable_before_openblas_loads():
    got, _ = _child("minialex")
    assert got["status"] == "env" and got["timeout"] == "4"
    assert got["max_error"] < 1e-9


def test_numpy_first_restarts_openblas_threads_with_the_short_timeout():
    _openblas()
    got, err = _child("numpy")
    assert got["status"] == "restarted" and got["timeout"] == "4"
    # stopped at import, started again (reading the new timeout) by the product
    assert got["servers"][0] and not any(got["servers"][0]) and all(got["servers"][1])
    assert got["max_error"] < 1e-9                # products still right after the restart
    assert "RuntimeWarning" not in err


def test_a_users_timeout_is_kept_in_either_order():
    for first in ("numpy", "minialex"):
        got, _ = _child(first, OPENBLAS_THREAD_TIMEOUT="12")
        assert got["status"] == "user" and got["timeout"] == "12"


def test_without_threadpoolctl_it_warns_once_with_the_fix(tmp_path):
    blocker = tmp_path / "threadpoolctl.py"
    blocker.write_text("raise ImportError('threadpoolctl hidden by the test')\n")
    child = CHILD.split("import ctypes")[0] + 'print(json.dumps({"status": minialex._blas_status}))\n'

    environ = {k: v for k, v in os.environ.items() if k != "OPENBLAS_THREAD_TIMEOUT"}
    environ["PYTHONPATH"] = f"{tmp_path}{os.pathsep}{REPO}"
    out = subprocess.run([sys.executable, "-W", "always", "-c", child, "numpy"], env=environ,
                         check=True, capture_output=True, text=True, timeout=120)
    assert json.loads(out.stdout)["status"] == "warned"
    assert out.stderr.count("RuntimeWarning") == 1
    assert "Import minialex before NumPy, or export OPENBLAS_THREAD_TIMEOUT=4" in out.stderr
