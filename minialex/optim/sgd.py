"""Stochastic gradient descent with the paper's update rule (section 5)."""

import numpy

from ..engine import no_grad
from .optimizer import Optimizer

__all__ = ["Optimizer", "SGD"]

# Numbers per piece of the CPU update: its one temporary then stays in the
# cache instead of being a fresh weight-sized array, and each piece of w, v
# and grad is read from memory once (ImageNet's fc6 alone is 151 MB).
_CHUNK = 1 << 15


class SGD(Optimizer):
    """SGD with momentum and weight decay, exactly as the paper writes it
    (section 5):

        v <- momentum * v - weight_decay * lr * w - lr * dL/dw
        w <- w + v

    Args:
        params: iterable of Parameters, or of dicts with "params" and
            per-group options ("lr", "momentum", "weight_decay",
            "nesterov"; a key left out takes the constructor's value).
        lr (float): learning rate (the paper starts at 0.01).
        momentum (float): default 0.9 (the paper's).
        weight_decay (float): default 5e-4 (the paper's).
        nesterov (bool): default False (the paper's rule above). True:
            PyTorch's Nesterov momentum, with PyTorch's own buffer and lr
            placement (Sutskever et al. 2013 as PyTorch writes it):

                g <- dL/dw + weight_decay * w
                b <- momentum * b + g          (b <- g at the first step)
                w <- w - lr * (g + momentum * b)

            ``momentum_buffer`` then holds b, not the paper's v; switching
            ``nesterov`` in the middle of training is not supported.

    Weight decay applies to every parameter given, biases included: the
    paper's rule (section 5) decays "w", every weight, and names no
    exception, so that is the default here. Caffe's AlexNet recipe does not
    decay biases (``decay_mult: 0`` on them); to follow it, give the biases
    their own group with ``"weight_decay": 0`` (PyTorch's param-group form)::

        decay = [p for n, p in model.named_parameters() if not n.endswith("bias")]
        no_decay = [p for n, p in model.named_parameters() if n.endswith("bias")]
        opt = SGD([{"params": decay}, {"params": no_decay, "weight_decay": 0}], lr=0.01)

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

    def __init__(self, params, lr, momentum=0.9, weight_decay=5e-4, nesterov=False):
        if lr <= 0:
            raise ValueError(f"learning rate must be positive, got lr={lr}")
        if not 0 <= momentum < 1:
            raise ValueError(f"momentum must be in [0, 1), got {momentum}")
        if weight_decay < 0:
            raise ValueError(f"weight_decay must be >= 0, got {weight_decay}")
        if nesterov and momentum <= 0:
            raise ValueError("nesterov=True needs momentum > 0")
        super().__init__(params, {"lr": lr, "momentum": momentum, "weight_decay": weight_decay,
                                  "nesterov": bool(nesterov)})

    def step(self):
        """Apply one update to every parameter that has a gradient."""
        with no_grad():
            for g in self.param_groups:
                lr, m, wd = g["lr"], g["momentum"], g["weight_decay"]
                nesterov = g.get("nesterov", False)
                for p in g["params"]:
                    if p.grad is None:
                        continue
                    w = p.data
                    with p.device:  # CuPy allocates on the current GPU
                        st = self.state.get(id(p))
                        if nesterov:
                            self._nesterov_step(p, st, lr, m, wd)
                            continue
                        if st is None:
                            st = self.state[id(p)] = {"momentum_buffer": p.device.xp.zeros_like(w)}
                        # the velocity follows its parameter after a model.to(device)
                        # (put() returns an array already on the device as it is)
                        v = st["momentum_buffer"] = p.device.put(st["momentum_buffer"])
                        _update(p.device.xp, w, v, p.grad, lr, m, wd)

    def _nesterov_step(self, p, st, lr, m, wd):
        """PyTorch's Nesterov update of one parameter (see the class doc)."""
        w = p.data
        t = w.dtype.type
        g = p.grad + t(wd) * w if wd else p.grad
        if st is None:
            b = g.copy()
            self.state[id(p)] = {"momentum_buffer": b}
        else:
            b = st["momentum_buffer"] = p.device.put(st["momentum_buffer"])
            b *= t(m)
            b += g
        w -= t(lr) * (g + t(m) * b)


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
