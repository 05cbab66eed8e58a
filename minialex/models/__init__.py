"""minialex.models: AlexNet, for ImageNet and for CIFAR-10, one or two towers;
the PyTorch tutorials' one-tower AlexNet and its weights converter."""

from .alexnet import AlexNet, alexnet_cifar, CIFAR_PRESETS, towers_to_one, one_to_towers
from .alexnet_onetower import AlexNetOneTower, alexnet_onetower
from .convnet4 import ConvNet4, convnet4
from .convert import (onetower_state_dict_from_torch, alexnet_onetower_from_torch,
                      convert_torch_onetower)
from ..serialization import save_weights, load_weights

__all__ = ["AlexNet", "alexnet_cifar", "CIFAR_PRESETS", "towers_to_one", "one_to_towers",
           "AlexNetOneTower", "alexnet_onetower", "ConvNet4", "convnet4",
           "onetower_state_dict_from_torch",
           "alexnet_onetower_from_torch", "convert_torch_onetower",
           "save_weights", "load_weights"]
