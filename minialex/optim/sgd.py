"""Stochastic gradient descent with the paper's update rule (section 5)."""

import numpy

from ..autograd import no_grad

__all__ = ["Optimizer", "SGD"]

# Numbers per piece of the CPU update: its one temporary then stays in the
# cache instead of being a fresh weight-sized array, and each piece of w, v
# and grad is read from memory once (ImageNet's fc6 alone is 151 MB).
_CHUNK = 1 << 15


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

    Weight decay applies to every parameter given, biases included: the
    paper's rule (section 5) decays "w", every weight, and names no
    exception, so that is the default here. Caffe's AlexNet recipe does not
    decay biases (``decay_mult: 0`` on them); to follow it, give the biases
    their own group with ``"weight_decay": 0`` (PyTorch's param-group form).

    Note the learning rate multiplies the gradient when it enters v, so a
    lower lr changes only future contributions; the velocity already built
    up decays at the momentum rate. (PyTorch's SGD applies lr after the
    momentum, ``v <- m v + g; w <- w - lr v``: the same with a fixed lr,
    different just after the lr changes.)

    Updates are in place, inside ``no_grad``; parameters with
    ``grad=None`` are skipped (their velocity is left as it is). A model
    moved with ``model.to(device)`` after the optimizer was made keeps its
    velocities: each follows its parameter at the next step.
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
                        # the velocity follows its parameter after a model.to(device)
                        # (put() returns an array already on the device as it is)
                        v = st["momentum_buffer"] = p.device.put(st["momentum_buffer"])
                        _update(p.device.xp, w, v, p.grad, lr, m, wd)


def _update(xp, w, v, grad, lr, m, wd):
    """The paper's rule in place: ``v <- m*v - (wd*lr)*w - lr*grad; w <- w + v``.

    On the CPU it runs over pieces of the flattened arrays, one after the
    other; each piece does the same four operations in the same order as the
    whole-array version, so the numbers are identical. The pass is bound by
    memory traffic (read w, v, grad; write w, v), so it stays on one thread:
    split across two cores it was slower (145 vs 115 ms for ImageNet
    AlexNet's 61M parameters; the whole-array version took about 340 ms).
    CuPy arrays (and, rarely, non-contiguous ones) are updated whole."""
    m, wd_lr, lr = (w.dtype.type(c) for c in (m, wd * lr, lr))
    if xp is not numpy or not all(a.flags.c_contiguous for a in (w, v, grad)):
        v *= m
        v -= wd_lr * w
        v -= lr * grad
        w += v
        return
    wf, vf, gf = w.reshape(-1), v.reshape(-1), grad.reshape(-1)   # views
    tmp = numpy.empty(min(_CHUNK, wf.size), dtype=w.dtype)
    for i in range(0, wf.size, _CHUNK):
        j = min(wf.size, i + _CHUNK)
        wc, vc, t = wf[i:j], vf[i:j], tmp[:j - i]
        vc *= m
        vc -= numpy.multiply(wc, wd_lr, out=t)
        vc -= numpy.multiply(gf[i:j], lr, out=t)
        wc += vc
