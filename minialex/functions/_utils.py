"""Small helpers shared by the Functions."""


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
