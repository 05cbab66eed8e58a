"""Weights from PyTorch: the tutorials' one-tower AlexNet's ``state_dict``
to a minialex model or weights file.

minialex never imports torch. The converter takes any mapping of names to
arrays: NumPy arrays, or torch tensors, which it reads duck-typed with
``.detach().cpu().numpy()``. A typical use, in a script that has torch::

    import torch
    from minialex.models import convert_torch_onetower
    sd = torch.load("AlexNet.pth", map_location="cpu")      # a state_dict
    model = convert_torch_onetower(sd, "alexnet_flowers.npz")
    # later, without torch:
    model = alexnet_onetower(num_classes=5)
    load_weights(model, "alexnet_flowers.npz")

PyTorch's names (``nn.Sequential`` positions of the tutorials' ``features``
and ``classifier``) map to the paper's layer names; the layouts are the
same (conv weights (C_out, C_in, kH, kW), linear (out, in)), so the arrays
are copied unchanged. A ``module.`` prefix (``nn.DataParallel``) is removed.
"""

import numpy

from ..serialization import save_weights
from .alexnet_onetower import AlexNetOneTower

__all__ = ["TORCH_ONETOWER_NAMES", "onetower_state_dict_from_torch", "alexnet_onetower_from_torch",
           "convert_torch_onetower"]

#: PyTorch tutorial layer name -> minialex layer name (the ``.weight`` and
#: ``.bias`` of each).
TORCH_ONETOWER_NAMES = {
    "features.0": "conv1", "features.3": "conv2", "features.6": "conv3", "features.8": "conv4",
    "features.10": "conv5", "classifier.1": "fc6", "classifier.4": "fc7", "classifier.6": "fc8",
}


def _to_numpy(value, key):
    """A torch tensor (duck-typed: ``.detach().cpu().numpy()``) or anything
    NumPy can read, as a float32 NumPy array."""
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    try:
        arr = numpy.asarray(value, dtype=numpy.float32)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"state_dict entry {key!r} is {type(value).__name__}, not an array or "
                        f"tensor of numbers ({exc})") from None
    return arr


def onetower_state_dict_from_torch(state_dict):
    """Rename a PyTorch one-tower AlexNet ``state_dict`` to minialex's names.

    Args:
        state_dict: mapping name -> tensor or array, PyTorch's names
            (``features.0.weight`` ... ``classifier.6.bias``, optionally
            prefixed ``module.``). Entries that are not weights or biases of
            those layers (none in the tutorials' net) are an error.

    Returns:
        dict minialex name (``conv1.weight`` ... ``fc8.bias``) -> float32
        NumPy array, same shapes: conv weights (C_out, C_in, kH, kW), linear
        weights (out_features, in_features), biases (C,).

    Raises:
        KeyError: entries missing or unexpected (the message names each and
            the expected names).
        TypeError: an entry that is not an array or tensor of numbers.
    """
    src = {}
    for key, value in state_dict.items():
        src[key[len("module."):] if key.startswith("module.") else key] = value
    wanted = {f"{t}.{kind}": f"{m}.{kind}" for t, m in TORCH_ONETOWER_NAMES.items()
              for kind in ("weight", "bias")}
    missing = [k for k in wanted if k not in src]
    unexpected = [k for k in src if k not in wanted]
    if missing or unexpected:
        parts = ([f"missing {', '.join(missing)}"] if missing else []) + \
            ([f"unexpected {', '.join(unexpected)}"] if unexpected else [])
        raise KeyError("not a state_dict of the tutorials' one-tower AlexNet (features.0/3/6/8/10 "
                       "convolutions, classifier.1/4/6 linear layers): " + "; ".join(parts))
    return {wanted[k]: _to_numpy(src[k], k) for k in wanted}


def alexnet_onetower_from_torch(state_dict, dropout=0.5):
    """A minialex :class:`AlexNetOneTower` holding the weights of a PyTorch
    one-tower AlexNet's ``state_dict``; ``num_classes`` is read from
    ``classifier.6.weight`` (num_classes, 2048).

    Raises:
        KeyError / TypeError: as :func:`onetower_state_dict_from_torch`.
        ValueError: an entry whose shape is not the net's (names it, both
            shapes), e.g. a state_dict of torchvision's 64-192-384-256-256
            AlexNet.
    """
    sd = onetower_state_dict_from_torch(state_dict)
    model = AlexNetOneTower(num_classes=int(sd["fc8.weight"].shape[0]), dropout=dropout)
    model.load_state_dict(sd)
    return model


def convert_torch_onetower(state_dict, path, dropout=0.5):
    """Write a PyTorch one-tower AlexNet ``state_dict`` as a minialex
    weights file (``.npz``, no pickle; :func:`minialex.models.save_weights`)
    at ``path``, atomically. Read it back with
    ``load_weights(alexnet_onetower(num_classes), path)``.

    Returns the minialex model. Raises as :func:`alexnet_onetower_from_torch`.
    """
    model = alexnet_onetower_from_torch(state_dict, dropout)
    save_weights(model, path)
    return model
