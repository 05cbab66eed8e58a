"""minialex: a from-scratch deep-learning framework for learning and
reproducing AlexNet (Krizhevsky, Sutskever & Hinton, NeurIPS 2012) on NumPy
and CuPy.

    import minialex
    from minialex import nn, functional as F, optim

Map: :mod:`minialex.engine` (Function, the backward sweep, no_grad),
:mod:`minialex.tensor` (Tensor; :mod:`minialex.autograd` re-exports both),
:mod:`minialex.backend` (devices), :mod:`minialex.functions` (one op per
file with its backward), :mod:`minialex.functional` (``F``),
:mod:`minialex.nn` (modules), :mod:`minialex.optim` (SGD, Adam, AdamW, schedulers),
:mod:`minialex.data`, :mod:`minialex.models` (AlexNet).
"""

# OpenBLAS's idle threads spin on a core for about 0.1 s after each matrix
# product, holding the core minialex's own threads need next; ask them to
# sleep at once, whether NumPy was imported before minialex or not (unless
# the user set OPENBLAS_THREAD_TIMEOUT). See minialex/_blas.py.
from ._blas import quiet_blas_threads as _quiet_blas_threads

_blas_status = _quiet_blas_threads()    # "env", "restarted", "user", ...

from .engine import Function, no_grad, enable_grad, is_grad_enabled
from .tensor import Tensor
from .backend import Device, DeviceMismatchError, CudaUnavailableError, record_transfers
from .gradcheck import gradcheck, GradcheckError
from .random import manual_seed
from .functions._threads import set_num_threads, get_num_threads
from . import functional, nn, optim

__version__ = "0.1.0"

__all__ = [
    "Tensor", "Function", "no_grad", "enable_grad", "is_grad_enabled", "Device",
    "DeviceMismatchError", "CudaUnavailableError", "record_transfers", "gradcheck",
    "GradcheckError", "manual_seed", "set_num_threads", "get_num_threads", "functional", "nn",
    "optim",
]
