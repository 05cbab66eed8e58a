"""Export minialex models to ONNX (https://onnx.ai), for other runtimes.

    from minialex.onnx import export
    export(model, "alexnet.onnx", (1, 3, 227, 227))
    # any ONNX runtime, e.g. onnxruntime:
    #   onnxruntime.InferenceSession("alexnet.onnx").run(None, {"input": x})[0]

needs the ``onnx`` package (``pip install "minialex[onnx]"``); nothing else
of minialex imports it. The graph is the model at inference (eval mode,
whatever mode the model is in), in standard ONNX operators (default
opset 17), built with ``onnx.helper`` and checked with ``onnx.checker``:

    minialex                 ONNX
    Conv2d (groups)          Conv (group, pads = [ph, pw, ph, pw])
    ReLU / F.relu            Relu
    Tanh / F.tanh            Tanh
    Identity                 nothing (e.g. AlexNet's lrn=False)
    LocalResponseNorm        LRN, alpha * size (ONNX, like PyTorch and Caffe,
                             divides alpha by size; minialex and the paper do
                             not, docs/paper.md); even sizes (no LRN node
                             runs them) as Conv (window sums), Mul, Add, Pow, Div
    MaxPool2d                MaxPool (pads; ceil mode as more padding at
                             the end, since ONNX's ceil_mode keeps windows
                             that start in the padding, PyTorch's drops them)
    Flatten / F.flatten      Flatten (axis 1), else Reshape
    Linear                   Gemm (transB = 1)
    Dropout                  nothing (the identity at inference)
    the two towers           each tower's nodes apart; one Concat (axis 1)
                             where the towers read each other (the inputs
                             of conv3, fc6, fc7, fc8), read by both

Known models: ``nn.Sequential`` of the layers above (nested too), AlexNet
(ImageNet and CIFAR presets, ``towers=1`` with grouped Conv nodes or
``towers=2`` with two towers and Concat; every ablation switch: lrn,
pool, activation, dropout, one_gpu) and the tutorials' one-tower
AlexNet. Weights become float32 initializers named as in the model's
``state_dict``. Input "input" (N, C, H, W) float32, output "logits".
"""

import os
import tempfile

import numpy

from .nn import (Sequential, Conv2d, Linear, ReLU, Dropout, Flatten, MaxPool2d,
                 LocalResponseNorm, Tanh, Identity)
from .functions.max_pool2d import pool_output_size
from .models.alexnet import AlexNet
from .models.alexnet_onetower import AlexNetOneTower

__all__ = ["export", "UnsupportedModuleError", "DEFAULT_OPSET"]

#: ONNX opset of the exported graphs (supported by onnxruntime >= 1.12).
DEFAULT_OPSET = 17


class UnsupportedModuleError(TypeError):
    """The model holds a module (or is a model) that the exporter has no
    ONNX translation for; the message names it and what is known."""


def export(model, path, input_shape=None, *, dynamic_batch=True, opset=DEFAULT_OPSET,
           input_name="input", output_name="logits"):
    """Write ``model`` as an ONNX graph of its inference forward pass.

    Args:
        model: an :class:`~minialex.models.AlexNet` (any preset, towers 1
            or 2, any devices), an :class:`~minialex.models.AlexNetOneTower`,
            or an ``nn.Sequential`` (or single layer) of Conv2d, ReLU,
            LocalResponseNorm, MaxPool2d, Flatten, Linear, Dropout.
        path: the ``.onnx`` file to write (atomically: temp file + rename).
        input_shape: (N, C, H, W) of the input. Default: (1, 3, S, S) with
            the model's input size S (227 AlexNet, 28 CIFAR, 224 one-tower);
            required for a Sequential.
        dynamic_batch (bool): declare the batch axis as the symbol "N"
            (any batch size). Default True; False keeps input_shape[0].
        opset (int): ONNX operator set, >= 13. Default 17.
        input_name, output_name: the graph's input and output names.

    Returns:
        the ``onnx.ModelProto`` that was written.

    Raises:
        ImportError: the onnx package is missing (with the pip command).
        UnsupportedModuleError: a module without translation (named, with
            its place in the model, e.g. ``"2" (BatchNorm2d)``).
        ValueError: an input_shape that is not (N, C, H, W) or does not fit
            the model (the message says which layer), an opset below 13.
    """
    try:
        import onnx
        from onnx import helper
    except ImportError:
        raise ImportError('minialex.onnx.export needs the onnx package: pip install '
                          '"minialex[onnx]" (or pip install onnx)') from None
    if not isinstance(opset, int) or opset < 13:
        raise ValueError(f"opset must be an int >= 13 (the operator versions this exporter "
                         f"writes), got {opset!r}")
    if input_shape is None:
        size = getattr(model, "input_size", None)
        if size is None:
            raise ValueError(f"export of a {type(model).__name__} needs input_shape=(N, C, H, W)")
        input_shape = (1, 3, size, size)
    input_shape = tuple(int(d) for d in input_shape)
    if len(input_shape) != 4 or min(input_shape) < 1:
        raise ValueError(f"input_shape must be (N, C, H, W) with positive sizes, got {input_shape}")

    g = _Graph(helper, input_name)
    out, shape = _emit(g, model, "", input_name, input_shape[1:])
    g.nodes.append(helper.make_node("Identity", [out], [output_name], name=output_name))
    batch = "N" if dynamic_batch else input_shape[0]
    f32 = onnx.TensorProto.FLOAT
    graph = helper.make_graph(
        g.nodes, type(model).__name__,
        [helper.make_tensor_value_info(input_name, f32, [batch, *input_shape[1:]])],
        [helper.make_tensor_value_info(output_name, f32, [batch, *shape])],
        initializer=g.inits)
    opsets = [helper.make_opsetid("", opset)]
    proto = helper.make_model(graph, opset_imports=opsets, producer_name="minialex",
                              doc_string=f"minialex {type(model).__name__}, inference graph")
    proto.ir_version = helper.find_min_ir_version_for(opsets)
    onnx.checker.check_model(proto, full_check=True)
    _save_atomic(onnx, proto, path)
    return proto


class _Graph:
    """Nodes and initializers being collected, with unique tensor names."""

    def __init__(self, helper, input_name):
        self.helper, self.nodes, self.inits, self.names = helper, [], [], {input_name}

    def _unique(self, name):
        new, i = name, 1
        while new in self.names:
            i += 1
            new = f"{name}_{i}"
        self.names.add(new)
        return new

    def const(self, name, array):
        """Add an initializer (float arrays as float32) and return its name."""
        from onnx import numpy_helper
        a = numpy.asarray(array)
        a = a.astype(numpy.float32) if a.dtype.kind == "f" else a
        name = self._unique(name)
        self.inits.append(numpy_helper.from_array(numpy.ascontiguousarray(a), name))
        return name

    def node(self, op, inputs, name, **attrs):
        """Add one node with one output, named ``name`` (made unique)."""
        out = self._unique(name)
        self.nodes.append(self.helper.make_node(op, list(inputs), [out], name=out, **attrs))
        return out


def _join(prefix, name):
    return f"{prefix}.{name}" if prefix else name


def _param(g, module, prefix, kind):
    return g.const(_join(prefix, kind), getattr(module, kind).numpy())


def _emit(g, m, prefix, x, shape):
    """Append the nodes of module ``m`` reading tensor ``x`` of per-image
    ``shape``; return (output name, output shape)."""
    kind = type(m)
    where = f"{prefix!r} ({kind.__name__})" if prefix else kind.__name__
    if kind in _MODELS:
        return _MODELS[kind](g, m, prefix, x, shape)
    if kind is Sequential:
        for name, child in m._modules.items():
            x, shape = _emit(g, child, _join(prefix, name), x, shape)
        return x, shape
    if kind not in _LAYERS:
        known = ", ".join(sorted(c.__name__ for c in (*_LAYERS, *_MODELS, Sequential)))
        raise UnsupportedModuleError(
            f"minialex.onnx.export has no ONNX translation for {where}; it knows {known}. "
            "Fix: build the model from those layers (nn.Sequential), or add a translation "
            "for this module to minialex/onnx.py")
    return _LAYERS[kind](g, m, prefix or kind.__name__.lower(), x, tuple(shape), where)


def _conv(g, m, name, x, shape, where):
    if len(shape) != 3 or shape[0] != m.in_channels:
        raise ValueError(f"{where} expects (C={m.in_channels}, H, W) per image, gets {shape}")
    (kh, kw), (sh, sw), (ph, pw) = m.kernel_size, m.stride, m.padding
    oh, ow = (shape[1] + 2 * ph - kh) // sh + 1, (shape[2] + 2 * pw - kw) // sw + 1
    if oh < 1 or ow < 1:
        raise ValueError(f"{where}: kernel {kh}x{kw} is larger than its padded input {shape}")
    inputs = [x, _param(g, m, name, "weight")]
    if m.bias is not None:
        inputs.append(_param(g, m, name, "bias"))
    out = g.node("Conv", inputs, name, kernel_shape=[kh, kw], strides=[sh, sw],
                 pads=[ph, pw, ph, pw], group=m.groups, dilations=[1, 1])
    return out, (m.out_channels, oh, ow)


def _linear(g, m, name, x, shape, where):
    if shape != (m.in_features,):
        raise ValueError(f"{where} expects ({m.in_features},) per image, gets {shape} "
                         "(a Flatten in front of it?)")
    inputs = [x, _param(g, m, name, "weight")]
    if m.bias is not None:
        inputs.append(_param(g, m, name, "bias"))
    return g.node("Gemm", inputs, name, transB=1), (m.out_features,)


def _relu(g, m, name, x, shape, where=None):
    return g.node("Relu", [x], name if name.endswith("relu") else name + ".relu"), shape


def _tanh(g, m, name, x, shape, where=None):
    return g.node("Tanh", [x], name if name.endswith("tanh") else name + ".tanh"), shape


def _dropout(g, m, name, x, shape, where=None):
    return x, shape            # the identity at inference: no node


def _identity(g, m, name, x, shape, where=None):
    return x, shape            # no node


def _flatten(g, m, name, x, shape, where, start_dim=None):
    start = m.start_dim if start_dim is None else start_dim
    if not 1 <= start <= len(shape):
        raise ValueError(f"{where}: start_dim={start} must keep the batch axis and lie within "
                         f"the input's {len(shape) + 1} axes")
    flat = shape[:start - 1] + (int(numpy.prod(shape[start - 1:])),)
    if start == 1:
        return g.node("Flatten", [x], name, axis=1), flat
    target = g.const(name + ".shape", numpy.array([0] * start + [-1], numpy.int64))
    return g.node("Reshape", [x, target], name), flat


def _maxpool(g, m, name, x, shape, where):
    """MaxPool in floor mode; ``ceil_mode`` becomes extra end padding
    (-inf, as all MaxPool padding) of ``(n - 1) * s + k - L - p`` so that
    floor mode finds exactly minialex's n windows. ONNX's own ceil_mode
    would keep a last window starting in the right padding (e.g. L = 6,
    k = 1, s = 2: 4 windows, minialex and PyTorch 3)."""
    (kh, kw), (sh, sw), (ph, pw) = m.kernel_size, m.stride, m.padding
    if len(shape) != 3:
        raise ValueError(f"{where} expects (C, H, W) per image, gets {shape}")
    if kh > shape[1] + 2 * ph or kw > shape[2] + 2 * pw:
        raise ValueError(f"{where}: window {kh}x{kw} is larger than its padded input {shape}")
    oh = pool_output_size(shape[1], kh, sh, ph, m.ceil_mode)
    ow = pool_output_size(shape[2], kw, sw, pw, m.ceil_mode)
    end_h = max(ph, (oh - 1) * sh + kh - shape[1] - ph)
    end_w = max(pw, (ow - 1) * sw + kw - shape[2] - pw)
    out = g.node("MaxPool", [x], name, kernel_shape=[kh, kw], strides=[sh, sw],
                 pads=[ph, pw, end_h, end_w])
    return out, (shape[0], oh, ow)


def _lrn(g, m, name, x, shape, where):
    """ONNX: b_c = a_c / (bias + alpha / size * sum a_j^2) ** beta over
    j in [c - floor((size-1)/2), c + ceil((size-1)/2)]; minialex over
    [c - size//2, c + (size-1)//2]: the same window for odd sizes (AlexNet's
    5), so one LRN node with alpha * size. ONNX runtimes refuse even sizes
    (onnxruntime: "size_ % 2 == 1"), and ONNX's even window would reach one
    channel further up where ours reaches one further down; an even size is
    built from its definition instead: the window sums of a^2 as a 1x1 Conv
    with a fixed (C, C) 0/1 band matrix (rows = output channel c, ones at
    our window's j, clipped at the edges), then Mul, Add, Pow, Div."""
    if len(shape) != 3:
        raise ValueError(f"{where} expects (C, H, W) per image, gets {shape}")
    if m.size % 2:
        return g.node("LRN", [x], name, size=m.size, alpha=m.alpha * m.size, beta=m.beta,
                      bias=m.k), shape
    c = numpy.arange(shape[0])
    lo, hi = c - m.size // 2, c + (m.size - 1) // 2
    band = ((c[None, :] >= lo[:, None]) & (c[None, :] <= hi[:, None])).astype(numpy.float32)
    sq = g.node("Mul", [x, x], name + ".square")
    win = g.node("Conv", [sq, g.const(name + ".window", band[:, :, None, None])],
                 name + ".window_sum", kernel_shape=[1, 1])
    alpha, k, beta = (g.const(f"{name}.{n}", numpy.float32(v))
                      for n, v in (("alpha", m.alpha), ("k", m.k), ("beta", m.beta)))
    scaled = g.node("Mul", [win, alpha], name + ".scaled")
    den = g.node("Pow", [g.node("Add", [scaled, k], name + ".base"), beta], name + ".denominator")
    return g.node("Div", [x, den], name), shape


_LAYERS = {Conv2d: _conv, Linear: _linear, ReLU: _relu, Tanh: _tanh, Dropout: _dropout,
           Identity: _identity, Flatten: _flatten, MaxPool2d: _maxpool, LocalResponseNorm: _lrn}


# ------------------------------------------------------------------ models
def _check_input(m, shape):
    s = m.input_size
    if tuple(shape) != (3, s, s):
        raise ValueError(f"{type(m).__name__} takes input (N, 3, {s}, {s}), "
                         f"got input_shape (N, {', '.join(map(str, shape))})")


def _seq(g, layers, x, shape):
    """Emit ``(module, name)`` pairs one after another; a string module
    is "relu", "tanh" or "flatten" (the model's F.relu / F.tanh / F.flatten
    calls)."""
    for m, name in layers:
        where = f"{name!r}"
        if m == "relu":
            x, shape = _relu(g, None, name, x, shape)
        elif m == "tanh":
            x, shape = _tanh(g, None, name, x, shape)
        elif m == "flatten":
            x, shape = _flatten(g, None, name, x, shape, where, start_dim=1)
        else:
            x, shape = _LAYERS[type(m)](g, m, name, x, shape, where)
    return x, shape


def _trunk_blocks(t, p):
    """AlexNet's _Trunk layers as (module, node name): block12, block345
    (its activation, "relu" or "tanh"; an Identity LRN emits nothing)."""
    a = t.activation
    b12 = [(t.conv1, f"{p}conv1"), (a, f"{p}conv1.{a}"), (t.lrn, f"{p}lrn1"),
           (t.pool, f"{p}pool1"), (t.conv2, f"{p}conv2"), (a, f"{p}conv2.{a}"),
           (t.lrn, f"{p}lrn2"), (t.pool, f"{p}pool2")]
    b345 = [(t.conv3, f"{p}conv3"), (a, f"{p}conv3.{a}"), (t.conv4, f"{p}conv4"),
            (a, f"{p}conv4.{a}"), (t.conv5, f"{p}conv5"), (a, f"{p}conv5.{a}"),
            (t.pool, f"{p}pool5"), ("flatten", f"{p}flatten")]
    return b12, b345


def _alexnet(g, m, prefix, x, shape):
    """AlexNet.forward: one trunk (grouped convs) or two towers + Concat."""
    _check_input(m, shape)
    pre = prefix + "." if prefix else ""
    if m.towers == 1:
        b12, b345 = _trunk_blocks(m.trunk, pre + "trunk.")
        t = m.trunk
        a = t.activation
        head = [(t.fc6, pre + "trunk.fc6"), (a, f"{pre}trunk.fc6.{a}"),
                (t.fc7, pre + "trunk.fc7"), (a, f"{pre}trunk.fc7.{a}")]
        x, shape = _seq(g, b12 + b345 + head, x, shape)
        return _seq(g, [(m.fc8, pre + "fc8")], x, shape)
    towers = [(m.tower0, pre + "tower0."), (m.tower1, pre + "tower1.")]
    blocks = [_trunk_blocks(t, p) for t, p in towers]
    h = [_seq(g, b12, x, shape) for b12, _ in blocks]
    both = _concat(g, h, pre + "conv3.input")         # one Concat, read by both towers
    h = [_seq(g, b345, *both) for _, b345 in blocks]
    for layer in ("fc6", "fc7"):
        both = _concat(g, h, f"{pre}{layer}.input")
        h = [_seq(g, [(getattr(t, layer), p + layer), (t.activation, f"{p}{layer}.{t.activation}")],
                  *both) for t, p in towers]
    return _seq(g, [(m.fc8, pre + "fc8")], *_concat(g, h, pre + "fc8.input"))


def _concat(g, parts, name):
    """Both towers' outputs along the channel/feature axis, tower 0 first
    (AlexNet's _gather): the only place the towers meet."""
    (x0, s0), (x1, s1) = parts
    return g.node("Concat", [x0, x1], name, axis=1), (s0[0] + s1[0], *s0[1:])


def _onetower(g, m, prefix, x, shape):
    """AlexNetOneTower.forward (dropout in front of fc6/fc7 is dropped)."""
    _check_input(m, shape)
    p = prefix + "." if prefix else ""
    layers = []
    for i in range(1, 6):
        layers += [(getattr(m, f"conv{i}"), f"{p}conv{i}"), ("relu", f"{p}conv{i}.relu")]
        if i in (1, 2, 5):
            layers.append((m.pool, f"{p}pool{i}"))
    layers += [("flatten", p + "flatten"), (m.fc6, p + "fc6"), ("relu", p + "fc6.relu"),
               (m.fc7, p + "fc7"), ("relu", p + "fc7.relu"), (m.fc8, p + "fc8")]
    return _seq(g, layers, x, shape)


_MODELS = {AlexNet: _alexnet, AlexNetOneTower: _onetower}


def _save_atomic(onnx, proto, path):
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".onnx", dir=folder)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)       # mkstemp makes it private (0600)
    try:
        onnx.save(proto, tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
