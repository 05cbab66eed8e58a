"""minialex.models: AlexNet, for ImageNet and for CIFAR-10, one or two towers."""

from .alexnet import AlexNet, alexnet_cifar, CIFAR_PRESETS, towers_to_one, one_to_towers
from ..serialization import save_weights, load_weights

__all__ = ["AlexNet", "alexnet_cifar", "CIFAR_PRESETS", "towers_to_one", "one_to_towers",
           "save_weights", "load_weights"]
