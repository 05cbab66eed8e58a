"""minialex.optim: the paper's SGD and learning-rate schedules."""

from .sgd import Optimizer, SGD
from .lr_scheduler import StepLR, MultiStepLR, ReduceLROnPlateau

__all__ = ["Optimizer", "SGD", "StepLR", "MultiStepLR", "ReduceLROnPlateau"]
