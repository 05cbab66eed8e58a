"""minialex.nn: layers as Modules with Parameters, PyTorch-style."""

from .module import Parameter, Module, Sequential
from .layers import Linear, ReLU, Dropout, Flatten
from .conv import Conv2d
from .pooling import MaxPool2d
from .normalization import LocalResponseNorm

__all__ = ["Parameter", "Module", "Sequential", "Linear", "ReLU", "Dropout", "Flatten", "Conv2d",
           "MaxPool2d", "LocalResponseNorm"]
