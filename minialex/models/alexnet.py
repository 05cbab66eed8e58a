"""AlexNet (Krizhevsky, Sutskever & Hinton, 2012), one tower or two.

The paper's net (section 3.5, figure 2) is split into two towers, one per
GPU. Each tower owns half of every layer's kernels (or neurons). conv2,
conv4 and conv5 read only their own tower's activations; conv3, fc6, fc7
and fc8 read both towers, so only there do activations cross between GPUs:

    image -> conv1 -> ReLU -> LRN -> pool            (each tower: half the kernels)
          -> conv2 -> ReLU -> LRN -> pool            (own tower only)
          -> conv3 -> ReLU                           (reads BOTH towers)
          -> conv4 -> ReLU                           (own tower only)
          -> conv5 -> ReLU -> pool                   (own tower only)
          -> fc6 -> ReLU -> dropout                  (reads BOTH towers)
          -> fc7 -> ReLU -> dropout                  (reads BOTH towers)
          -> fc8 -> softmax (in the loss)            (reads BOTH towers)

``towers=2`` builds exactly that: tower i's parameters and activations live
on ``devices[i]`` and the cross-tower layers fetch the other tower's
activations with explicit, differentiable ``Tensor.to`` copies (tagged
"conv3", "fc6", "fc7", "fc8"; the image itself is copied to each tower
with the tag "input"). fc8 lives on tower 0.

``towers=1`` is the same function on one device: "own tower only" is a
grouped convolution with ``groups=2`` and the cross-tower layers are
ordinary layers over all channels. :func:`towers_to_one` and
:func:`one_to_towers` convert weights between the two layouts (every split
layer's one-tower weight is the two towers' weights stacked along the
output axis, tower 0 first).
"""

import math

import numpy

from .. import functional as F
from ..backend import get_device
from ..functions.max_pool2d import pool_output_size
from ..nn import Module, Conv2d, Linear, LocalResponseNorm, MaxPool2d, Identity
from ..random import default_generator

__all__ = ["AlexNet", "alexnet_cifar", "CIFAR_PRESETS", "towers_to_one", "one_to_towers"]

#: channel widths (conv1, conv2, conv3 = conv4, conv5, fc6 = fc7) of the
#: CIFAR-10 presets (docs/paper.md, "The CIFAR-10 net").
CIFAR_PRESETS = {
    "small": (32, 64, 96, 64, 512),
    "half": (48, 128, 192, 128, 2048),
    "paper": (96, 256, 384, 256, 4096),
}

_SPLIT_LAYERS = ("conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7")
_BIAS_ONE = ("conv2", "conv4", "conv5", "fc6", "fc7")   # paper section 5
_INITS = ("paper", "kaiming", "kaiming_in")
_ACTIVATIONS = {"relu": F.relu, "tanh": F.tanh}


class _Trunk(Module):
    """The layers of one tower (``groups=1``, half widths, ``cross=True``)
    or of the whole one-tower net (``groups=2`` on the own-tower convs)."""

    def __init__(self, cfg, share, groups):
        super().__init__()
        c1, c2, c3, c5, fc = (w // share for w in cfg["widths"])
        c2_in = cfg["widths"][1]            # conv3 reads both towers
        fc_in = cfg["widths"][3] * cfg["fc_spatial"] ** 2
        self.activation = cfg["activation"]
        k1, s1, p1 = cfg["conv1"]
        self.conv1 = Conv2d(3, c1, k1, stride=s1, padding=p1)
        self.conv2 = Conv2d(c1, c2, 5, padding=2, groups=groups)
        self.conv3 = Conv2d(c2_in, c3, 3, padding=1)
        self.conv4 = Conv2d(c3, c3, 3, padding=1, groups=groups)
        self.conv5 = Conv2d(c3, c5, 3, padding=1, groups=groups)
        self.fc6 = Linear(fc_in, fc)
        self.fc7 = Linear(cfg["widths"][4], fc)
        # lrn=False: the identity in LRN's place (section 3.3's ablation)
        self.lrn = LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=2.0) if cfg["lrn"] else Identity()
        self.pool = MaxPool2d(cfg["pool"][0], stride=cfg["pool"][1])

    def act(self, x):
        """The nonlinearity after every conv and fc layer (ReLU or tanh)."""
        return _ACTIVATIONS[self.activation](x)

    def block12(self, x):
        """conv1 and conv2 with their activation, LRN and pooling."""
        x = self.pool(self.lrn(self.act(self.conv1(x))))
        return self.pool(self.lrn(self.act(self.conv2(x))))

    def block345(self, x):
        """conv3 (x holds both towers' channels), conv4, conv5, pool, flatten."""
        x = self.act(self.conv4(self.act(self.conv3(x))))
        return F.flatten(self.pool(self.act(self.conv5(x))))


class AlexNet(Module):
    """AlexNet for ImageNet: input (N, 3, 227, 227) float32, output logits
    (N, num_classes). Paper section 3.5 and figure 2.

    Args:
        num_classes (int): default 1000.
        towers (1 | 2): the paper's two-tower layout (default) or one
            tower with grouped convolutions (the same function).
        devices: one device for everything, or a pair (tower 0, tower 1),
            e.g. ``("cuda:0", "cuda:1")`` or ``("cpu:0", "cpu:1")``.
            Default ``"cpu"``. Only ``towers=2`` can use two devices.
        init: "paper" (weights N(0, 0.01^2); biases 1 in conv2, conv4,
            conv5, fc6, fc7 and 0 elsewhere, section 5), "kaiming" (He
            normal: fan-out for convolutions, fan-in for fc layers; biases 0)
            or "kaiming_in" (He normal, fan-in everywhere; biases 0).
        dropout (float): drop probability after fc6 and fc7 (section 4.2),
            in [0, 1); 0 turns dropout off.
        lrn (bool): local response normalization after conv1 and conv2
            (section 3.3). Default True; False puts ``nn.Identity`` there.
        pool ((kernel, stride)): every max-pooling layer's window and
            stride. Default (3, 2), the paper's overlapping pooling (3.4);
            (2, 2) is the non-overlapping comparison. fc6's input size
            follows from the shapes (CIFAR: C5 * 2 * 2 with (3, 2), C5 * 3 * 3
            with (2, 2); ImageNet: 6 x 6 with both).
        activation ("relu" | "tanh"): the nonlinearity after every conv and
            hidden fc layer. Default "relu" (3.1); "tanh" is the saturating
            comparison of figure 1.
        one_gpu (bool): the paper's one-GPU comparison net (section 3.2 and
            its footnote): half the kernels of conv1, conv2, conv3 and conv4,
            conv5 and the fc layers kept at full size ("to make the two nets
            have approximately the same number of parameters, we did not
            halve the size of the final convolutional layer (nor the
            fully-connected layers which follow)"), one tower, no grouped
            convolutions (every conv reads all channels of the layer below).
            Needs ``towers=1``. Default False.

    Every setting is recorded in ``model.config`` (and so in checkpoints).

    With 1000 classes the net has 60,965,224 parameters (the paper's
    "60 million").

    Raises:
        ValueError: towers not 1 or 2, two devices for one tower, an
            unknown init or activation, dropout outside [0, 1), a pool that
            is not two positive ints or leaves no pixel for fc6, one_gpu
            with towers=2, or an input of the wrong shape (in forward).
    """

    _config = {"conv1": (11, 4, 0), "fc_spatial": 6, "widths": (96, 256, 384, 256, 4096),
               "input_size": 227}

    def __init__(self, num_classes=1000, towers=2, devices=None, init="paper", dropout=0.5,
                 _config=None, *, lrn=True, pool=(3, 2), activation="relu", one_gpu=False):
        super().__init__()
        cfg = dict(_config or self._config)
        if towers not in (1, 2):
            raise ValueError(f"towers must be 1 or 2, got {towers}")
        pool = _check_switches(dropout, pool, activation, one_gpu, towers)
        devs = _device_pair(devices, towers)
        cfg.update(lrn=bool(lrn), pool=pool, activation=activation, one_gpu=bool(one_gpu))
        cfg["fc_spatial"] = _fc_spatial(cfg)
        self.config = {**cfg, "num_classes": num_classes, "towers": towers,
                       "dropout": dropout, "init": init}
        self.towers, self.devices, self.p = towers, devs, dropout
        self.input_size = cfg["input_size"]
        if one_gpu:       # half of conv1-conv4; conv5 and the fc layers kept (3.2, footnote)
            w = cfg["widths"]
            cfg["widths"] = (w[0] // 2, w[1] // 2, w[2] // 2, w[3], w[4])
            self.trunk = _Trunk(cfg, 1, groups=1)
        elif towers == 1:
            self.trunk = _Trunk(cfg, 1, groups=2)
        else:
            self.tower0 = _Trunk(cfg, 2, groups=1)
            self.tower1 = _Trunk(cfg, 2, groups=1)
        self.fc8 = Linear(cfg["widths"][4], num_classes)
        self.reset_parameters(init)
        if towers == 1:
            self.to(devs[0])
        else:
            self.tower0.to(devs[0])
            self.tower1.to(devs[1])
            self.fc8.to(devs[0])

    # ---------------------------------------------------------------- init
    def reset_parameters(self, init="paper"):
        """(Re)initialise every weight: "paper" or "kaiming" (see class doc)."""
        if init not in _INITS:
            raise ValueError(f"unknown init {init!r}: use one of {', '.join(_INITS)}")
        rng = default_generator()
        for name, p in self.named_parameters():
            layer = name.split(".")[-2]
            if name.endswith("bias"):
                value = 1.0 if (init == "paper" and layer in _BIAS_ONE) else 0.0
                new = numpy.full(p.shape, value, dtype=numpy.float32)
            elif init == "paper":
                new = rng.normal(0.0, 0.01, p.shape).astype(numpy.float32)
            else:
                # He et al. 2015: std = sqrt(2 / fan). fan-in = the inputs
                # each output reads (C_in/groups * kH * kW, or in_features);
                # conv fan-out = the outputs each input feeds (C_out * kH * kW).
                fan = p.data[0].size if p.ndim == 4 and init == "kaiming_in" else \
                    p.shape[0] * p.shape[2] * p.shape[3] if p.ndim == 4 else p.shape[1]
                new = rng.normal(0.0, math.sqrt(2.0 / fan), p.shape).astype(numpy.float32)
            p.data = p.device.put(new)

    # ---------------------------------------------------------------- forward
    def forward(self, x):
        """x: (N, 3, S, S) float32 Tensor (S = 227, or 28 for CIFAR) on
        tower 0's device (or the CPU). Returns logits (N, num_classes) on
        tower 0's device."""
        if x.ndim != 4 or x.shape[1:] != (3, self.input_size, self.input_size):
            raise ValueError(f"{type(self).__name__} expects input (N, 3, {self.input_size}, "
                             f"{self.input_size}), got {x.shape}")
        if self.towers == 1:
            h = self.trunk.block345(self.trunk.block12(x.to(self.devices[0], tag="input")))
            h = F.dropout(self.trunk.act(self.trunk.fc6(h)), self.p, self.training)
            h = F.dropout(self.trunk.act(self.trunk.fc7(h)), self.p, self.training)
            return self.fc8(h)
        towers, devs = (self.tower0, self.tower1), self.devices
        h = [t.block12(x.to(d, tag="input")) for t, d in zip(towers, devs)]
        h = [t.block345(_gather(h, d, "conv3")) for t, d in zip(towers, devs)]
        for layer in ("fc6", "fc7"):
            h = [F.dropout(t.act(getattr(t, layer)(_gather(h, d, layer))), self.p, self.training)
                 for t, d in zip(towers, devs)]
        return self.fc8(_gather(h, devs[0], "fc8"))

    def extra_repr(self):
        """The configuration shown inside ``repr(model)``."""
        return (f"towers={self.towers}, devices={tuple(str(d) for d in self.devices)}, "
                f"num_classes={self.config['num_classes']}")


def _gather(parts, device, tag):
    """Concatenate both towers' activations along the channel/feature axis
    (tower 0 first) on ``device``: the only place towers communicate."""
    return F.concatenate([p.to(device, tag=tag) for p in parts], axis=1)


def _check_switches(dropout, pool, activation, one_gpu, towers):
    """Validate the ablation switches; returns pool as a (kernel, stride) tuple."""
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1) (0 turns it off), got {dropout}")
    if activation not in _ACTIVATIONS:
        raise ValueError(f"unknown activation {activation!r}: use one of "
                         f"{', '.join(_ACTIVATIONS)}")
    try:
        pool = tuple(int(v) for v in pool)
    except (TypeError, ValueError):
        pool = ()
    if len(pool) != 2 or min(pool) < 1:
        raise ValueError(f"pool must be (kernel, stride), two positive ints, e.g. (3, 2) "
                         f"overlapping or (2, 2) not; got {pool!r}")
    if one_gpu and towers != 1:
        raise ValueError("one_gpu=True is a one-tower net: use towers=1")
    return pool


def _fc_spatial(cfg):
    """Side of conv5's pooled output: conv1, then three poolings (conv2-5
    keep the size: 'same' padding)."""
    k, s, p = cfg["conv1"]
    side = (cfg["input_size"] + 2 * p - k) // s + 1
    for _ in range(3):
        if side < cfg["pool"][0]:
            raise ValueError(f"pool {cfg['pool']} leaves no pixel for fc6 at input size "
                             f"{cfg['input_size']}; use a smaller window")
        side = pool_output_size(side, *cfg["pool"], 0, False)
    return side


def _device_pair(devices, towers):
    if devices is None or isinstance(devices, str) or not hasattr(devices, "__len__"):
        d = get_device(devices)
        return (d, d)
    devices = tuple(get_device(d) for d in devices)
    if len(devices) == 1:
        return devices * 2
    if len(devices) != 2:
        raise ValueError(f"devices must be one device or a pair, got {len(devices)}")
    if towers == 1 and devices[0] != devices[1]:
        raise ValueError(f"towers=1 runs on one device, got two: {devices[0]}, {devices[1]}; "
                         "use towers=2 to place the towers on two devices")
    return devices


def alexnet_cifar(preset="small", num_classes=10, towers=2, devices=None, init="kaiming",
                  dropout=0.5, *, lrn=True, pool=(3, 2), activation="relu", one_gpu=False):
    """AlexNet adapted to CIFAR-10 (docs/paper.md, "The CIFAR-10 net"):
    input (N, 3, 28, 28) (28x28 crops of the 32x32 images), conv1 5x5
    stride 1 padding 2, the paper's topology otherwise (pools 28 -> 13 ->
    6 -> 2), fc input C5 * 2 * 2.

    Args:
        preset: "small" (fits a CPU), "half" (one tower's width of the
            paper), "paper" (the paper's widths); see ``CIFAR_PRESETS``.
        init: default "kaiming" (He normal, fan-out for the convolutions,
            fan-in for the fc layers, biases 0); "kaiming_in" uses fan-in
            everywhere; "paper" is N(0, 0.01^2) with biases of 1. The
            paper's init stays at chance on these nets: with std 0.01 the
            signal shrinks many-fold per layer, the logits start near 0 and
            their gradients vanish (PyTorch, same net: loss 2.303 through the
            first epoch at lr 0.01). He init keeps the activations' scale from
            layer to layer and learns at once. Measured here (16,384 real
            images, standardized input, lr 0.02, 2 epochs): test top-1 40.4%
            with "kaiming" against 35.7% with "kaiming_in".
        towers, devices, dropout, num_classes: as for :class:`AlexNet`.
        lrn, pool, activation, one_gpu: the paper's ablation switches, as
            for :class:`AlexNet` (defaults: the paper's net). With
            ``pool=(2, 2)`` the pools go 28 -> 14 -> 7 -> 3 and fc6 reads
            C5 * 3 * 3 inputs.
    """
    if preset not in CIFAR_PRESETS:
        raise ValueError(f"unknown preset {preset!r}: choose one of {sorted(CIFAR_PRESETS)}")
    cfg = {"conv1": (5, 1, 2), "fc_spatial": 2, "widths": CIFAR_PRESETS[preset],
           "input_size": 28}
    model = AlexNet(num_classes, towers, devices, init, dropout, _config=cfg, lrn=lrn, pool=pool,
                    activation=activation, one_gpu=one_gpu)
    model.config["preset"] = preset
    return model


# ------------------------------------------------------------------ layouts
def towers_to_one(state_dict):
    """Convert a two-tower state dict (``tower0.*``, ``tower1.*``, ``fc8.*``)
    to the one-tower layout (``trunk.*``, ``fc8.*``): each split layer's
    weights and biases are stacked along the output axis, tower 0 first."""
    out = {}
    for key, value in state_dict.items():
        if key.startswith("tower0."):
            rest = key[len("tower0."):]
            out["trunk." + rest] = numpy.concatenate([value, state_dict["tower1." + rest]], axis=0)
        elif not key.startswith("tower1."):
            out[key] = value
    return out


def one_to_towers(state_dict):
    """Inverse of :func:`towers_to_one`: split every ``trunk.*`` entry in
    half along its output axis into ``tower0.*`` and ``tower1.*``."""
    out = {}
    for key, value in state_dict.items():
        if key.startswith("trunk."):
            rest = key[len("trunk."):]
            half = value.shape[0] // 2
            out["tower0." + rest], out["tower1." + rest] = value[:half], value[half:]
        else:
            out[key] = value
    return out
