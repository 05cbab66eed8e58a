"""Adam and AdamW, as PyTorch defines them (``torch.optim.Adam`` /
``torch.optim.AdamW``): the popular PyTorch AlexNet tutorial trains with
Adam at lr 2e-4."""

import math

from ..engine import no_grad
from .optimizer import Optimizer

__all__ = ["Adam", "AdamW"]


class Adam(Optimizer):
    """Adam (Kingma & Ba 2015), PyTorch's form. For each parameter w with
    gradient g, at step t = 1, 2, ...:

        g  <- g + weight_decay * w                (L2 penalty; Adam only)
        m  <- beta1 * m + (1 - beta1) * g
        v  <- beta2 * v + (1 - beta2) * g^2
        w  <- w - (lr / (1 - beta1^t)) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)

    i.e. ``lr * m_hat / (sqrt(v_hat) + eps)`` with the bias-corrected
    m_hat = m / (1 - beta1^t), v_hat = v / (1 - beta2^t): eps is added
    outside the square root, as in the paper and PyTorch.

    Args:
        params: Parameters, or param-group dicts (see :class:`Optimizer`).
        lr (float): default 1e-3. betas (pair): default (0.9, 0.999).
        eps (float): default 1e-8. weight_decay (float): default 0.

    State per parameter (``state_dict()["state"][i]``): "step" (a number),
    "exp_avg" (m) and "exp_avg_sq" (v), arrays of the parameter's shape.
    Parameters with ``grad=None`` are skipped (their step count too).

    Raises ValueError: lr <= 0, betas outside [0, 1), eps < 0 or
    weight_decay < 0.
    """

    _scalar_state = ("step",)
    _decoupled = False

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        if lr <= 0:
            raise ValueError(f"learning rate must be positive, got lr={lr}")
        if len(betas) != 2 or not all(0.0 <= b < 1.0 for b in betas):
            raise ValueError(f"betas must be two numbers in [0, 1), got {betas}")
        if eps < 0:
            raise ValueError(f"eps must be >= 0, got {eps}")
        if weight_decay < 0:
            raise ValueError(f"weight_decay must be >= 0, got {weight_decay}")
        super().__init__(params, {"lr": lr, "betas": tuple(betas), "eps": eps,
                                  "weight_decay": weight_decay})

    def step(self):
        """Apply one update to every parameter that has a gradient."""
        with no_grad():
            for group in self.param_groups:
                for p in group["params"]:
                    if p.grad is not None:
                        with p.device:
                            self._update(p, group)

    def _update(self, p, group):
        xp, w, t = p.device.xp, p.data, p.data.dtype.type
        lr, (beta1, beta2), eps, wd = (group["lr"], group["betas"], group["eps"],
                                       group["weight_decay"])
        st = self.state.get(id(p))
        if st is None:
            st = self.state[id(p)] = {"step": 0, "exp_avg": xp.zeros_like(w),
                                      "exp_avg_sq": xp.zeros_like(w)}
        m = st["exp_avg"] = p.device.put(st["exp_avg"])       # follow a model.to(device)
        v = st["exp_avg_sq"] = p.device.put(st["exp_avg_sq"])
        st["step"] += 1
        step = st["step"]
        g = p.grad
        if self._decoupled:
            w *= t(1 - lr * wd)                                # AdamW: w <- w - lr*wd*w
        elif wd:
            g = g + t(wd) * w                                  # Adam: L2 in the gradient
        m *= t(beta1)
        m += t(1 - beta1) * g
        v *= t(beta2)
        v += t(1 - beta2) * (g * g)
        step_size = lr / (1 - beta1 ** step)
        denom = xp.sqrt(v) / t(math.sqrt(1 - beta2 ** step))
        denom += t(eps)
        w -= t(step_size) * (m / denom)


class AdamW(Adam):
    """AdamW (Loshchilov & Hutter 2019), PyTorch's form: Adam without the
    L2 term in the gradient, and the weight decay applied to the weights
    directly, before the Adam step:

        w <- w - lr * weight_decay * w
        (then the Adam update above with weight_decay = 0)

    Args: as :class:`Adam`, but ``weight_decay`` defaults to 0.01
    (PyTorch's). Raises ValueError as Adam.
    """

    _decoupled = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01):
        super().__init__(params, lr, betas, eps, weight_decay)
