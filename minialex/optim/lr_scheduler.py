"""Learning-rate schedules: the paper divided the rate by 10 by hand
"when the validation error rate stopped improving" (section 5);
:class:`ReduceLROnPlateau` does that automatically, :class:`StepLR` on a
fixed schedule."""

import math
import numbers

__all__ = ["StepLR", "MultiStepLR", "ReduceLROnPlateau", "LambdaLR", "CosineAnnealingLR",
           "LinearLR"]

# Every epoch-indexed scheduler here sets lr = lr_at(base_lr, last_epoch), a
# closed form of the epoch count (so a restored state_dict continues
# exactly). They compose through ChainedScheduler and SequentialLR
# (minialex.optim.lr_scheduler_chain), which read lr_at.


def _int_arg(cls, name, value, minimum, where=""):
    """``value`` as an int >= ``minimum``; TypeError for a non-integer (2.7,
    "a", True), ValueError below the minimum. Epochs and counts are whole."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{cls}: {name} must be a whole number of epochs (an int >= {minimum}), "
                        f"got {value!r}{where}; nothing is rounded for you")
    if value < minimum:
        raise ValueError(f"{cls}: {name} must be >= {minimum}, got {value}{where}")
    return int(value)


def _real_arg(cls, name, value, ok, rule):
    """``value`` as a float satisfying ``ok``; TypeError for a non-number."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{cls}: {name} must be a number {rule}, got {value!r}")
    if not ok(value):
        raise ValueError(f"{cls}: {name} must be {rule}, got {value}")
    return float(value)


def _positive(v):
    return 0 < v < math.inf


class StepLR:
    """Multiply every group's lr by ``gamma`` each ``step_size`` epochs.

    Call ``step()`` once at the end of each epoch. After epoch e (counting
    calls), lr = base_lr * gamma ** (e // step_size).

    Raises:
        TypeError: step_size not an int, gamma not a number.
        ValueError: step_size < 1, gamma not finite and > 0.
    """

    def __init__(self, optimizer, step_size, gamma=0.1):
        step_size = _int_arg("StepLR", "step_size", step_size, 1)
        gamma = _real_arg("StepLR", "gamma", gamma, _positive, "> 0 and finite")
        self.optimizer, self.step_size, self.gamma = optimizer, step_size, gamma
        self.base_lrs = [g["lr"] for g in optimizer.param_groups]
        self.last_epoch = 0

    def lr_at(self, base, epoch):
        """The lr after ``epoch`` steps for a group starting at ``base``."""
        return base * self.gamma ** (epoch // self.step_size)

    def step(self):
        """End of an epoch: set every group's lr for the next one."""
        self.last_epoch += 1
        for g, base in zip(self.optimizer.param_groups, self.base_lrs):
            g["lr"] = self.lr_at(base, self.last_epoch)

    def get_last_lr(self):
        """The current lr of each param group, a list of floats (PyTorch's name)."""
        return [g["lr"] for g in self.optimizer.param_groups]

    def state_dict(self):
        """The schedule's settings and progress as a plain dict (no optimizer,
        no tensors), for checkpoints; :meth:`load_state_dict` restores it."""
        return {"step_size": self.step_size, "gamma": self.gamma,
                "base_lrs": list(self.base_lrs), "last_epoch": self.last_epoch}

    def load_state_dict(self, state):
        """Restore what :meth:`state_dict` returned (the lrs themselves live in
        the optimizer\'s param groups and come back with its state)."""
        self.step_size, self.gamma = state["step_size"], state["gamma"]
        self.base_lrs, self.last_epoch = list(state["base_lrs"]), state["last_epoch"]


class ReduceLROnPlateau:
    """Multiply the lr by ``factor`` when a metric stops improving.

    Args:
        optimizer: the optimizer whose groups' "lr" is changed.
        mode: "max" (e.g. validation accuracy) or "min" (e.g. loss).
        factor (float): default 0.1, the paper's "divide by 10".
        patience (int): epochs without improvement tolerated before the cut.
        threshold (float): relative improvement needed to count as better:
            more than ``threshold * |best|`` (default 1e-4).
        min_lr (float): the lr never goes below this.
        cooldown (int): epochs to wait after a cut before counting again.

    Call ``step(metric)`` once per epoch. ``num_reductions`` counts cuts.

    Raises:
        TypeError: a number argument that is not a number, patience or
            cooldown not an int. ValueError: one out of its range.
    """

    def __init__(self, optimizer, mode="max", factor=0.1, patience=2, threshold=1e-4,
                 min_lr=0.0, cooldown=0):
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
        name = "ReduceLROnPlateau"
        factor = _real_arg(name, "factor", factor, lambda v: 0 < v < 1, "in (0, 1)")
        patience = _int_arg(name, "patience", patience, 0)
        cooldown = _int_arg(name, "cooldown", cooldown, 0)
        threshold = _real_arg(name, "threshold", threshold, lambda v: 0 <= v < math.inf,
                              ">= 0 and finite")
        min_lr = _real_arg(name, "min_lr", min_lr, lambda v: 0 <= v < math.inf, ">= 0 and finite")
        self.optimizer, self.mode, self.factor = optimizer, mode, factor
        self.patience, self.threshold, self.min_lr, self.cooldown = patience, threshold, min_lr, cooldown
        self.best = -math.inf if mode == "max" else math.inf
        self.num_bad_epochs = 0
        self.cooldown_counter = 0
        self.num_reductions = 0

    def _is_better(self, metric):
        """Better than ``best`` by more than ``threshold * |best|`` (so the
        threshold also holds for negative metrics)."""
        margin = 0.0 if math.isinf(self.best) else self.threshold * abs(self.best)
        if self.mode == "max":
            return metric > self.best + margin
        return metric < self.best - margin

    def step(self, metric):
        """Record this epoch's ``metric``; cut the lr if it has not improved
        for more than ``patience`` epochs. Returns True if the lr was cut."""
        metric = float(metric)
        if math.isnan(metric):
            raise ValueError("ReduceLROnPlateau.step got NaN")
        if self._is_better(metric):
            self.best, self.num_bad_epochs = metric, 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0
        if self.num_bad_epochs > self.patience:
            for g in self.optimizer.param_groups:
                g["lr"] = max(g["lr"] * self.factor, self.min_lr)
            self.num_reductions += 1
            self.cooldown_counter, self.num_bad_epochs = self.cooldown, 0
            return True
        return False

    def get_last_lr(self):
        """The current lr of each param group, a list of floats (PyTorch's name)."""
        return [g["lr"] for g in self.optimizer.param_groups]

    def state_dict(self):
        """The schedule's settings and progress as a plain dict (no optimizer,
        no tensors), for checkpoints; :meth:`load_state_dict` restores it."""
        return {k: getattr(self, k) for k in (
            "mode", "factor", "patience", "threshold", "min_lr", "cooldown", "best",
            "num_bad_epochs", "cooldown_counter", "num_reductions")}

    def load_state_dict(self, state):
        """Restore what :meth:`state_dict` returned (the lrs themselves live in
        the optimizer\'s param groups and come back with its state)."""
        for k, v in state.items():
            setattr(self, k, v)


class MultiStepLR:
    """Multiply every group's lr by ``gamma`` at each epoch in ``milestones``.

    Call ``step()`` once at the end of each epoch; after ``e`` calls,
    lr = base_lr * gamma ** (number of milestones <= e). This is the
    paper's hand schedule written down in advance: with a fixed time budget
    the cuts can be placed where the plateau is known to come.

    Args:
        milestones: epoch numbers (ints >= 1), e.g. ``[10, 13]``; a repeated
            one cuts twice. gamma (float > 0): the factor, default 0.1.

    Raises:
        TypeError: milestones not a list of ints (``[2.7]`` and ``["a"]`` are
            refused, not rounded or converted), gamma not a number.
        ValueError: a milestone < 1, gamma not finite and > 0.
    """

    def __init__(self, optimizer, milestones, gamma=0.1):
        if isinstance(milestones, (str, bytes)) or not hasattr(milestones, "__iter__"):
            raise TypeError(f"MultiStepLR: milestones must be a list of epoch numbers, e.g. "
                            f"[10, 13], got {milestones!r}")
        milestones = list(milestones)
        self.milestones = sorted(_int_arg("MultiStepLR", "each milestone", m, 1,
                                          f" in {milestones!r}") for m in milestones)
        gamma = _real_arg("MultiStepLR", "gamma", gamma, _positive, "> 0 and finite")
        self.optimizer, self.gamma = optimizer, gamma
        self.base_lrs = [g["lr"] for g in optimizer.param_groups]
        self.last_epoch = 0

    def lr_at(self, base, epoch):
        """The lr after ``epoch`` steps for a group starting at ``base``."""
        return base * self.gamma ** sum(m <= epoch for m in self.milestones)

    def step(self):
        """End of an epoch: set every group's lr for the next one."""
        self.last_epoch += 1
        for g, base in zip(self.optimizer.param_groups, self.base_lrs):
            g["lr"] = self.lr_at(base, self.last_epoch)

    def get_last_lr(self):
        """The current lr of each param group, a list of floats (PyTorch's name)."""
        return [g["lr"] for g in self.optimizer.param_groups]

    def state_dict(self):
        """The schedule's settings and progress as a plain dict (no optimizer,
        no tensors), for checkpoints; :meth:`load_state_dict` restores it."""
        return {"milestones": list(self.milestones), "gamma": self.gamma,
                "base_lrs": list(self.base_lrs), "last_epoch": self.last_epoch}

    def load_state_dict(self, state):
        """Restore what :meth:`state_dict` returned (the lrs themselves live in
        the optimizer\'s param groups and come back with its state)."""
        self.milestones, self.gamma = list(state["milestones"]), state["gamma"]
        self.base_lrs, self.last_epoch = list(state["base_lrs"]), state["last_epoch"]


class _ClosedForm:
    """Shared by LambdaLR, CosineAnnealingLR and LinearLR: ``step()`` sets
    each group's lr to ``lr_at(base_lr, epochs so far)``."""

    _state_keys = ()

    def __init__(self, optimizer):
        self.optimizer = optimizer
        self.base_lrs = [g["lr"] for g in optimizer.param_groups]
        self.last_epoch = 0
        self._apply()

    def _apply(self):
        for g, base in zip(self.optimizer.param_groups, self.base_lrs):
            g["lr"] = self.lr_at(base, self.last_epoch)

    def step(self):
        """Count one epoch (or one batch, if the schedule is in batches)
        and set every group's lr."""
        self.last_epoch += 1
        self._apply()

    def get_last_lr(self):
        """The lr of every group now."""
        return [g["lr"] for g in self.optimizer.param_groups]

    def state_dict(self):
        """The schedule's numbers (JSON-able; LambdaLR's function is code, not state)."""
        out = {k: getattr(self, k) for k in self._state_keys}
        out.update(base_lrs=list(self.base_lrs), last_epoch=self.last_epoch)
        return out

    def load_state_dict(self, state):
        """Restore what :meth:`state_dict` returned."""
        for k, v in state.items():
            setattr(self, k, list(v) if k == "base_lrs" else v)


class LambdaLR(_ClosedForm):
    """lr = base_lr * lr_lambda(epoch), ``epoch`` the number of ``step()``
    calls so far (PyTorch's ``LambdaLR``; applied at construction with 0).

    Args:
        lr_lambda: a function of the int epoch, or one per param group.

    Raises ValueError: a list of functions whose length is not the number
    of groups."""

    def __init__(self, optimizer, lr_lambda):
        n = len(optimizer.param_groups)
        self.lr_lambdas = list(lr_lambda) if isinstance(lr_lambda, (list, tuple)) else [lr_lambda] * n
        if len(self.lr_lambdas) != n:
            raise ValueError(f"LambdaLR got {len(self.lr_lambdas)} functions for {n} param groups")
        super().__init__(optimizer)

    def _apply(self):
        for g, base, f in zip(self.optimizer.param_groups, self.base_lrs, self.lr_lambdas):
            g["lr"] = base * f(self.last_epoch)

    def lr_at(self, base, epoch):
        """``base * lr_lambda(epoch)`` (the first group's function)."""
        return base * self.lr_lambdas[0](epoch)


class CosineAnnealingLR(_ClosedForm):
    """lr = eta_min + (base_lr - eta_min) * (1 + cos(pi * e / T_max)) / 2
    after e steps (SGDR without restarts, Loshchilov & Hutter 2017; the
    closed form of PyTorch's ``CosineAnnealingLR``): from base_lr at e = 0
    down to eta_min at e = T_max. Past T_max the cosine comes back up, as
    PyTorch's does.

    Args:
        T_max (int): steps of the half cosine (>= 1). eta_min: default 0.

    Raises:
        TypeError: T_max not an int, eta_min not a number.
        ValueError: T_max < 1, eta_min negative or infinite."""

    _state_keys = ("T_max", "eta_min")

    def __init__(self, optimizer, T_max, eta_min=0.0):
        self.T_max = _int_arg("CosineAnnealingLR", "T_max", T_max, 1)
        self.eta_min = _real_arg("CosineAnnealingLR", "eta_min", eta_min,
                                 lambda v: 0 <= v < math.inf, ">= 0 and finite")
        super().__init__(optimizer)

    def lr_at(self, base, epoch):
        """The lr after ``epoch`` steps for a group starting at ``base``."""
        return self.eta_min + (base - self.eta_min) * (1 + math.cos(math.pi * epoch / self.T_max)) / 2


class LinearLR(_ClosedForm):
    """Linear warm-up (PyTorch's ``LinearLR``): lr = base_lr * factor with
    factor going linearly from ``start_factor`` (e = 0) to ``end_factor``
    (e >= total_iters), then held.

    Args:
        start_factor: in (0, 1], default 1/3. end_factor: in [0, 1],
            default 1. total_iters (int): default 5.

    Raises:
        TypeError: a factor not a number, total_iters not an int.
        ValueError: factors out of range or total_iters < 1."""

    _state_keys = ("start_factor", "end_factor", "total_iters")

    def __init__(self, optimizer, start_factor=1.0 / 3, end_factor=1.0, total_iters=5):
        self.start_factor = _real_arg("LinearLR", "start_factor", start_factor,
                                      lambda v: 0 < v <= 1, "in (0, 1]")
        self.end_factor = _real_arg("LinearLR", "end_factor", end_factor,
                                    lambda v: 0 <= v <= 1, "in [0, 1]")
        self.total_iters = _int_arg("LinearLR", "total_iters", total_iters, 1)
        super().__init__(optimizer)

    def lr_at(self, base, epoch):
        """The lr after ``epoch`` steps for a group starting at ``base``."""
        t = min(epoch, self.total_iters) / self.total_iters
        return base * (self.start_factor + (self.end_factor - self.start_factor) * t)
