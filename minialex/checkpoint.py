"""Training checkpoints: model, optimizer, scheduler, RNG state and
progress in one ``.npz`` file (no pickle), written atomically.

Layout of the archive: ``model/<param name>`` for the weights,
``optim/<i>/<buffer>`` for the optimizer's per-parameter buffers (i = the
parameter's position), and a JSON document holding everything else (epoch,
step, hyperparameters, scheduler state, minialex's RNG state, the model's
config and any ``extra`` the caller passes, such as metrics).
"""

from . import random as _random
from .serialization import save_npz, load_npz, check_config, CheckpointError

__all__ = ["save_checkpoint", "load_checkpoint", "CheckpointError"]


def save_checkpoint(path, model, optimizer, scheduler=None, epoch=0, step=0, extra=None):
    """Write everything needed to continue training to ``path`` atomically.

    Args:
        epoch: the number of completed epochs. step: batches already done
            in the current epoch (0 at an epoch boundary).
        extra: a JSON-able dict stored alongside (e.g. metrics so far).
    """
    arrays = {f"model/{k}": v for k, v in model.state_dict().items()}
    opt = optimizer.state_dict()
    for i, buffers in opt["state"].items():
        for name, value in buffers.items():
            arrays[f"optim/{i}/{name}"] = value
    meta = {
        "format": "minialex-checkpoint-1",
        "epoch": int(epoch), "step": int(step),
        "config": getattr(model, "config", None),
        "optimizer": {"param_groups": opt["param_groups"]},
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "rng": _random.get_rng_state(),
        "extra": extra or {},
    }
    save_npz(path, arrays, meta)


def load_checkpoint(path, model, optimizer=None, scheduler=None):
    """Restore a checkpoint written by :func:`save_checkpoint` into
    ``model`` (and ``optimizer``/``scheduler`` if given) and reset
    minialex's RNG to the saved state.

    Returns:
        dict with "epoch", "step" and "extra".

    Raises:
        CheckpointError: missing, corrupt, truncated or damaged file (the
            arrays' SHA-256 does not match), metadata that is not a JSON
            object or lacks an entry, not a minialex checkpoint, or saved
            from another model configuration (the message names each
            setting that differs) or layout. Every message names the file.
    """
    arrays, meta = load_npz(path)
    if meta.get("format") != "minialex-checkpoint-1":
        raise CheckpointError(f"{path} is not a minialex training checkpoint "
                              "(for plain weights use minialex.models.load_weights)")
    _check_meta(meta, path)
    check_config(getattr(model, "config", None), meta.get("config"), path)
    weights = {k[len("model/"):]: v for k, v in arrays.items() if k.startswith("model/")}
    try:
        model.load_state_dict(weights)
    except (KeyError, ValueError) as exc:
        raise CheckpointError(f"{path} does not fit this model: {exc}") from exc
    if optimizer is not None:
        state = {}
        for k, v in arrays.items():
            if k.startswith("optim/"):
                _, i, name = k.split("/", 2)
                state.setdefault(int(i), {})[name] = v
        try:
            optimizer.load_state_dict({"param_groups": meta["optimizer"]["param_groups"],
                                       "state": state})
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise CheckpointError(f"{path}: optimizer state does not fit: {exc!r}") from exc
    if scheduler is not None and meta.get("scheduler") is not None:
        try:
            scheduler.load_state_dict(meta["scheduler"])
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise CheckpointError(f"{path}: its scheduler state does not fit "
                                  f"{type(scheduler).__name__} ({type(exc).__name__}: {exc})"
                                  ) from exc
    try:
        _random.set_rng_state(meta["rng"])
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{path}: its RNG state is malformed ({exc})") from exc
    return {"epoch": meta["epoch"], "step": meta["step"], "extra": meta.get("extra", {})}


def _check_meta(meta, path):
    """CheckpointError naming the first missing or mistyped entry of a
    checkpoint's JSON document (a hand-made or damaged file), before
    anything is restored."""
    need = (("epoch", int), ("step", int), ("optimizer", dict), ("rng", dict))
    for key, kind in need:
        if key not in meta:
            raise CheckpointError(f"{path} lacks {key!r} in its metadata: it is damaged or "
                                  "hand-made; use a checkpoint written by save_checkpoint")
        if not isinstance(meta[key], kind) or isinstance(meta[key], bool):
            raise CheckpointError(f"{path}: metadata {key!r} is {meta[key]!r}, expected a "
                                  f"JSON {'integer' if kind is int else 'object'}")
    if not isinstance(meta["optimizer"].get("param_groups"), list):
        raise CheckpointError(f"{path}: metadata 'optimizer' lacks its 'param_groups' list")
