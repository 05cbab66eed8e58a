"""minialex.nn: layers as Modules with Parameters, PyTorch-style."""

from .module import Parameter, Module, Sequential
from .layers import Linear, ReLU, Dropout, Flatten
from .conv import Conv2d
from .pooling import MaxPool2d, AvgPool2d, AdaptiveAvgPool2d
from .normalization import LocalResponseNorm
from .activation import Tanh, Sigmoid, LeakyReLU, Identity
from .container import ModuleList, ModuleDict
from .batchnorm import BatchNorm1d, BatchNorm2d
from .loss import CrossEntropyLoss, MSELoss

__all__ = ["Parameter", "Module", "Sequential", "Linear", "ReLU", "Dropout", "Flatten", "Conv2d",
           "MaxPool2d", "LocalResponseNorm", "AvgPool2d", "AdaptiveAvgPool2d", "Tanh", "Sigmoid",
           "LeakyReLU", "Identity", "ModuleList", "ModuleDict", "BatchNorm1d", "BatchNorm2d",
           "CrossEntropyLoss", "MSELoss"]
