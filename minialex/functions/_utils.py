"""Small helpers shared by the Functions."""

import numpy


def sum_to(g, shape):
    """Sum ``g`` down to ``shape``: the adjoint of NumPy broadcasting.

    If ``x`` of ``shape`` was broadcast to ``g.shape`` in the forward pass,
    every element of ``x`` was copied to several outputs, so its gradient is
    the sum of theirs: sum over the leading axes broadcasting added, and over
    the axes where ``x`` had length 1 (keeping them).
    """
    if g.shape == tuple(shape):
        return g
    lead = g.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, n in enumerate(shape) if n == 1 and g.shape[lead + i] != 1)
    g = g.sum(axis=axes, keepdims=True)
    if lead:
        g = g.reshape(g.shape[lead:])
    return g


def check_float(op, **inputs):
    """The dtype rule of every computing op: inputs are floating point.

    minialex never changes a dtype behind your back: an op given float32
    returns float32, and an op given integers (uint8 images, int64 labels)
    or booleans refuses them instead of silently computing in float64 or
    keeping uint8 (where ReLU's gradient and a mean are meaningless). Layout
    ops (reshape, transpose, indexing, concatenate, split, to_device) and
    ``astype`` move values without computing and accept any dtype.

    ``inputs`` are the op's arguments by name: Tensors, arrays (constants)
    or Python/NumPy scalars. Scalars are skipped: they take the dtype of the
    op's float tensors (see ``engine._constant``).

    Raises:
        TypeError: naming the op, the argument, its dtype and the fix.
    """
    for name, x in inputs.items():
        dtype = getattr(x, "dtype", None)
        if dtype is None or isinstance(x, numpy.generic) or dtype.kind == "f":
            continue
        raise TypeError(f"{op} needs floating-point input, got {name} of dtype {dtype}; "
                        f"minialex does not convert silently: convert first, e.g. "
                        f"{name}.astype('float32')")
