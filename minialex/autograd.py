"""Compatibility module: the autograd engine now lives in two files,
:mod:`minialex.engine` (Function, the backward sweep, no_grad, hooks) and
:mod:`minialex.tensor` (Tensor). Importing from here keeps working."""

from .engine import Function, no_grad, enable_grad, is_grad_enabled, queue_callback
from .tensor import Tensor, as_tensor

__all__ = ["Tensor", "Function", "no_grad", "enable_grad", "is_grad_enabled", "as_tensor",
           "queue_callback"]
