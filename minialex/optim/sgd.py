"""Stochastic gradient descent with the paper's update rule (section 5)."""

import numpy

from ..autograd import no_grad

__all__ = ["Optimizer", "SGD"]


class Optimizer:
    """Holds ``param_groups`` (a list of dicts with "params" and
    hyperparameters such as "lr"), PyTorch-style, so schedulers can change
    the learning rate of each group."""

    def __init__(self, params, defaults):
        params = list(params)
        if not params:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(params[0], dict):
            params = [{"params": params}]
        self.param_groups = []
        for group in params:
            g = dict(defaults)
            g.update(group)
            g["params"] = list(g["params"])
            self.param_groups.append(g)
        self.state = {}  # id(param) -> dict of buffers

    def _params(self):
        return [p for g in self.param_groups for p in g["params"]]

    def zero_grad(self):
        """Clear every parameter's ``.grad`` (set it to None)."""
        for p in self._params():
            p.grad = None

    def state_dict(self):
        """Hyperparameters per group and the buffers per parameter (NumPy
        copies, keyed by the parameter's position)."""
        groups = [{k: v for k, v in g.items() if k != "params"} for g in self.param_groups]
        state = {}
        for i, p in enumerate(self._params()):
            if id(p) in self.state:
                state[i] = {k: numpy.array(p.device.xp.asnumpy(v) if p.device.type == "cuda" else v,
                                           copy=True)
                            for k, v in self.state[id(p)].items()}
        return {"param_groups": groups, "state": state}

    def load_state_dict(self, state_dict):
        """Restore what :meth:`state_dict` returned.

        Raises:
            ValueError: the number of groups or parameters, or a buffer's
                shape, differs from this optimizer's.
        """
        groups = state_dict["param_groups"]
        if len(groups) != len(self.param_groups):
            raise ValueError(f"optimizer state has {len(groups)} param groups, "
                             f"this optimizer has {len(self.param_groups)}")
        params = self._params()
        state = {int(k): v for k, v in state_dict["state"].items()}
        if state and max(state) >= len(params):
            raise ValueError(f"optimizer state names parameter {max(state)} but this "
                             f"optimizer has {len(params)} parameters")
        for g, saved in zip(self.param_groups, groups):
            g.update({k: v for k, v in saved.items() if k != "params"})
        self.state = {}
        for i, buffers in state.items():
            p = params[i]
            for k, v in buffers.items():
                if tuple(numpy.shape(v)) != p.shape:
                    raise ValueError(f"optimizer buffer {k!r} of parameter {i} has shape "
                                     f"{numpy.shape(v)}, the parameter has {p.shape}")
            self.state[id(p)] = {k: p.device.put(numpy.asarray(v, dtype=p.dtype).copy())
                                 for k, v in buffers.items()}


class SGD(Optimizer):
    """SGD with momentum and weight decay, exactly as the paper writes it
    (section 5):

        v <- momentum * v - weight_decay * lr * w - lr * dL/dw
        w <- w + v

    Args:
        params: iterable of Parameters (or of dicts with "params" and
            per-group options).
        lr (float): learning rate (the paper starts at 0.01).
        momentum (float): default 0.9 (the paper's).
        weight_decay (float): default 5e-4 (the paper's).

    Note the learning rate multiplies the gradient when it enters v, so a
    lower lr changes only future contributions; the velocity already built
    up decays at the momentum rate. (PyTorch's SGD applies lr after the
    momentum, ``v <- m v + g; w <- w - lr v``: the same with a fixed lr,
    different just after the lr changes.)

    Updates are in place, inside ``no_grad``; parameters with
    ``grad=None`` are skipped (their velocity is left as it is).
    """

    def __init__(self, params, lr, momentum=0.9, weight_decay=5e-4):
        if lr <= 0:
            raise ValueError(f"learning rate must be positive, got lr={lr}")
        if not 0 <= momentum < 1:
            raise ValueError(f"momentum must be in [0, 1), got {momentum}")
        if weight_decay < 0:
            raise ValueError(f"weight_decay must be >= 0, got {weight_decay}")
        super().__init__(params, {"lr": lr, "momentum": momentum, "weight_decay": weight_decay})

    def step(self):
        """Apply one update to every parameter that has a gradient."""
        with no_grad():
            for g in self.param_groups:
                lr, m, wd = g["lr"], g["momentum"], g["weight_decay"]
                for p in g["params"]:
                    if p.grad is None:
                        continue
                    w = p.data
                    with p.device:  # CuPy allocates on the current GPU
                        st = self.state.get(id(p))
                        if st is None:
                            st = self.state[id(p)] = {"momentum_buffer": p.device.xp.zeros_like(w)}
                        v = st["momentum_buffer"]
                        v *= w.dtype.type(m)
                        v -= w.dtype.type(wd * lr) * w
                        v -= w.dtype.type(lr) * p.grad
                        w += v
