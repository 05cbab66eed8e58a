"""minialex.nn: layers as Modules with Parameters, PyTorch-style."""

from .module import Parameter, Module, Sequential
from .layers import Linear, ReLU, Dropout, Flatten

__all__ = ["Parameter", "Module", "Sequential", "Linear", "ReLU", "Dropout", "Flatten"]

try:  # AlexNet's layers
    from .conv import Conv2d  # noqa: F401
    from .pooling import MaxPool2d  # noqa: F401
    from .normalization import LocalResponseNorm  # noqa: F401
    __all__ += ["Conv2d", "MaxPool2d", "LocalResponseNorm"]
except ImportError:  # pragma: no cover - only while the layers are being written
    pass
