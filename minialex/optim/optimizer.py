"""The optimizer base class: parameter groups and state (PyTorch's
``torch.optim.Optimizer`` layout, so checkpoints and schedulers see the same
structure for every optimizer)."""

import numpy

__all__ = ["Optimizer"]


class Optimizer:
    """Holds ``param_groups`` (a list of dicts with "params" and
    hyperparameters such as "lr"), PyTorch-style, so schedulers can change
    the learning rate of each group.

    ``params`` is an iterable of Parameters (one group) or of dicts, one
    per group: ``[{"params": decay}, {"params": biases, "weight_decay": 0}]``;
    a key a group leaves out takes the constructor's value (``defaults``).

    Raises:
        ValueError: an empty parameter list, a group without "params", or
            a parameter in two groups. (Other keys of a group are kept, as in
            PyTorch, e.g. a "name".)
    """

    def __init__(self, params, defaults):
        params = list(params)
        if not params:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(params[0], dict):
            params = [{"params": params}]
        self.param_groups = []
        seen = set()
        for i, group in enumerate(params):
            if not isinstance(group, dict) or "params" not in group:
                raise ValueError(f"param group {i} must be a dict with a 'params' entry")
            g = dict(defaults)
            g.update(group)
            g["params"] = list(g["params"]) if not hasattr(g["params"], "data") else [g["params"]]
            for p in g["params"]:
                if id(p) in seen:
                    raise ValueError(f"a parameter of shape {p.shape} is in two param groups")
                seen.add(id(p))
            self.param_groups.append(g)
        self.state = {}  # id(param) -> dict of buffers (arrays, or numbers such as a step count)

    _scalar_state = ()   # names of per-parameter numbers (Adam's "step"), not arrays

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
                state[i] = {k: numpy.array(v) if numpy.ndim(v) == 0 and not hasattr(v, "device")
                            else numpy.array(p.device.xp.asnumpy(v) if p.device.type == "cuda"
                                             else v, copy=True)
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
            g.update({k: tuple(v) if isinstance(v, list) else v     # JSON turns tuples
                      for k, v in saved.items() if k != "params"})  # (betas) into lists
        self.state = {}
        for i, buffers in state.items():
            p = params[i]
            for k, v in buffers.items():
                if k not in self._scalar_state and tuple(numpy.shape(v)) != p.shape:
                    raise ValueError(f"optimizer buffer {k!r} of parameter {i} has shape "
                                     f"{numpy.shape(v)}, the parameter has {p.shape}")
            self.state[id(p)] = {k: numpy.asarray(v).item() if k in self._scalar_state
                                 else p.device.put(numpy.asarray(v, dtype=p.dtype).copy())
                                 for k, v in buffers.items()}
