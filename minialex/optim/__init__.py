"""minialex.optim: the paper's SGD, Adam and AdamW, and learning-rate
schedules."""

from .optimizer import Optimizer
from .sgd import SGD
from .adam import Adam, AdamW
from .lr_scheduler import (StepLR, MultiStepLR, ReduceLROnPlateau, LambdaLR, CosineAnnealingLR,
                           LinearLR)
from .lr_scheduler_chain import ChainedScheduler, SequentialLR

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "StepLR", "MultiStepLR", "ReduceLROnPlateau",
           "LambdaLR", "CosineAnnealingLR", "LinearLR", "ChainedScheduler", "SequentialLR"]
