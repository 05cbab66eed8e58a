"""minialex.optim: the paper's SGD and learning-rate schedules."""

from .sgd import Optimizer, SGD
from .lr_scheduler import StepLR, ReduceLROnPlateau

__all__ = ["Optimizer", "SGD", "StepLR", "ReduceLROnPlateau"]
