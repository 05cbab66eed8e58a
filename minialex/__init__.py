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

import os as _os
import sys as _sys

# OpenBLAS's idle threads keep spinning for about 0.1 s after each matrix
# product, holding the very core that minialex's own threads (ReLU, LRN,
# max-pooling, im2col) need next. Unless the user chose a value, ask them to
# sleep at once. OpenBLAS reads this when NumPy first loads it, so it only
# takes effect when minialex is imported before NumPy (README, "Threads").
if "numpy" not in _sys.modules:
    _os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")

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
