"""OpenBLAS's idle threads, whatever the import order.

After each matrix product OpenBLAS's worker threads keep spinning on their
cores for about 0.1 s (2^28 cycles, ``OPENBLAS_THREAD_TIMEOUT=28``) before
they sleep. That holds the very cores minialex's own threads (im2col,
col2im, ReLU, LRN, max-pooling; ``minialex.set_num_threads``) need right
after a product, so the split gains nothing. With the timeout at its
minimum (``OPENBLAS_THREAD_TIMEOUT=4``: 2^4 cycles) they sleep at once.

OpenBLAS reads the variable when it is loaded, i.e. at NumPy's first
import, and reads it again when it restarts its threads. So:

- minialex imported before NumPy: set the variable (unless the user did);
- NumPy imported first: set the variable, have OpenBLAS read its
  environment again (``openblas_read_env``) and stop its threads
  (``blas_thread_shutdown_``); the next threaded product starts them
  again with the short timeout. The loaded OpenBLAS is found with
  threadpoolctl. Where that is impossible (another BLAS, a build without
  these symbols) a single warning says what to do.

A value the user set (``OPENBLAS_THREAD_TIMEOUT`` in the environment) is
always kept.
"""

import ctypes
import os
import sys
import warnings

__all__ = ["quiet_blas_threads"]

ENV = "OPENBLAS_THREAD_TIMEOUT"
QUIET = "4"


def _openblas_libraries():
    """ctypes handles of the OpenBLAS libraries loaded in this process."""
    from threadpoolctl import threadpool_info
    return [ctypes.CDLL(info["filepath"]) for info in threadpool_info()
            if info.get("internal_api") == "openblas" and info.get("num_threads", 1) > 1]


def quiet_blas_threads():
    """Make OpenBLAS's idle threads sleep at once (see the module's text).

    Returns what was done: "user" (the user's ``OPENBLAS_THREAD_TIMEOUT``
    kept), "env" (set before NumPy's import), "restarted" (NumPy was
    imported first; OpenBLAS re-read its environment and restarted its
    threads), "none" (no multi-threaded OpenBLAS loaded) or "warned"
    (could not be done; a RuntimeWarning says how to fix it)."""
    if ENV in os.environ:
        return "user"
    os.environ[ENV] = QUIET
    if "numpy" not in sys.modules:
        return "env"
    try:
        libs = _openblas_libraries()
        for lib in libs:
            lib.openblas_read_env()        # picks up the new timeout
            lib.blas_thread_shutdown_()    # threads restart on the next product
    except (ImportError, OSError, AttributeError) as exc:
        warnings.warn(
            f"NumPy was imported before minialex and its OpenBLAS threads could not be told to "
            f"sleep after each product ({exc}); minialex's own threads then gain little. Import "
            f"minialex before NumPy, or export {ENV}={QUIET} in the shell.",
            RuntimeWarning, stacklevel=3)
        return "warned"
    return "restarted" if libs else "none"
