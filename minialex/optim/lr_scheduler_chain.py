"""Composing schedules: ChainedScheduler (several at once, their factors
multiply) and SequentialLR (one after another, e.g. a linear warm-up then a
cosine), PyTorch's names. They work with every epoch-indexed scheduler of
:mod:`minialex.optim.lr_scheduler` (StepLR, MultiStepLR, LambdaLR,
CosineAnnealingLR, LinearLR), which all define ``lr_at(base, epoch)``."""

import numpy

__all__ = ["ChainedScheduler", "SequentialLR"]


def _check(schedulers, who):
    schedulers = list(schedulers)
    if not schedulers:
        raise ValueError(f"{who} needs at least one scheduler")
    opt = schedulers[0].optimizer
    for s in schedulers:
        if not hasattr(s, "lr_at"):
            raise TypeError(f"{who}: {type(s).__name__} has no closed form lr_at(base, epoch); "
                            "ReduceLROnPlateau cannot be chained (call it on its own)")
        if s.optimizer is not opt:
            raise ValueError(f"{who}: all schedulers must drive the same optimizer")
    return schedulers, opt


class ChainedScheduler:
    """Apply several schedules at once: after e steps,
    ``lr = base_lr * prod_i (lr_i(e) / base_lr)``, each scheduler's factor
    multiplied in (PyTorch's chaining: e.g. a LinearLR warm-up times a
    StepLR decay). Call ``step()`` instead of the schedulers' own.

    Raises ValueError / TypeError: no schedulers, schedulers of different
    optimizers, or one without a closed form (ReduceLROnPlateau)."""

    def __init__(self, schedulers):
        self.schedulers, self.optimizer = _check(schedulers, type(self).__name__)
        self.base_lrs = list(self.schedulers[0].base_lrs)
        self.last_epoch = 0
        self._apply()

    def _apply(self):
        for k, g in enumerate(self.optimizer.param_groups):
            base = self.base_lrs[k]
            lr = base
            for s in self.schedulers:
                lr *= s.lr_at(base, self.last_epoch) / base if base else 1.0
            g["lr"] = lr

    def step(self):
        """Count one step for every scheduler and set the product."""
        self.last_epoch += 1
        for s in self.schedulers:
            s.last_epoch = self.last_epoch
        self._apply()

    def get_last_lr(self):
        """The lr of every group now."""
        return [g["lr"] for g in self.optimizer.param_groups]

    def state_dict(self):
        """The schedulers' states and the step count."""
        return {"last_epoch": self.last_epoch, "base_lrs": list(self.base_lrs),
                "schedulers": [s.state_dict() for s in self.schedulers]}

    def load_state_dict(self, state):
        """Restore what :meth:`state_dict` returned."""
        self.last_epoch, self.base_lrs = state["last_epoch"], list(state["base_lrs"])
        for s, st in zip(self.schedulers, state["schedulers"]):
            s.load_state_dict(st)


class SequentialLR(ChainedScheduler):
    """Run ``schedulers[0]`` until ``milestones[0]`` steps, then
    ``schedulers[1]`` counting its steps from 0, and so on (PyTorch's
    ``SequentialLR``): ``SequentialLR(opt, [LinearLR(opt, 0.1, total_iters=5),
    CosineAnnealingLR(opt, T_max=45)], milestones=[5])`` warms up for 5
    epochs then anneals over 45.

    Raises ValueError: ``len(milestones) != len(schedulers) - 1``,
    milestones not increasing, or a milestone that is not a whole number
    >= 1 (nothing is rounded for you, as in MultiStepLR); and what
    ChainedScheduler raises.
    ``schedulers`` may be any iterable (a generator is read once)."""

    def __init__(self, optimizer, schedulers, milestones):
        schedulers, milestones = list(schedulers), list(milestones)
        for m in milestones:
            if isinstance(m, bool) or not isinstance(m, (int, numpy.integer)) or m < 1:
                raise ValueError(f"SequentialLR milestones must be whole numbers >= 1, "
                                 f"got {milestones}")
        milestones = [int(m) for m in milestones]
        if len(milestones) != len(schedulers) - 1:
            raise ValueError(f"SequentialLR needs {len(schedulers) - 1} milestones for "
                             f"{len(schedulers)} schedulers, got {milestones}")
        if milestones != sorted(milestones):
            raise ValueError(f"SequentialLR milestones must increase, got {milestones}")
        self.milestones = milestones
        super().__init__(schedulers)
        if self.optimizer is not optimizer:
            raise ValueError("SequentialLR: the schedulers drive another optimizer")

    def _apply(self):
        i = sum(m <= self.last_epoch for m in self.milestones)
        start = self.milestones[i - 1] if i else 0
        s = self.schedulers[i]
        for k, g in enumerate(self.optimizer.param_groups):
            g["lr"] = s.lr_at(self.base_lrs[k], self.last_epoch - start)

    def step(self):
        """Count one step and set the lr of the scheduler now in charge."""
        self.last_epoch += 1
        self._apply()

    def state_dict(self):
        """As ChainedScheduler's, with the milestones."""
        return dict(super().state_dict(), milestones=list(self.milestones))

    def load_state_dict(self, state):
        """Restore what :meth:`state_dict` returned."""
        super().load_state_dict(state)
        self.milestones = list(state["milestones"])
