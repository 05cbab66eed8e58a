"""Constant padding (PyTorch's ``F.pad`` with mode="constant")."""

from ..engine import Function


class Pad(Function):
    """y = x surrounded by ``value``: ``widths[d] = (before, after)`` entries
    added on each side of axis d.

    Derivation: every y element is either an x element (slope 1) or the
    constant (no dependence on x), so dL/dx is dL/dy with the border cut
    off, the inverse layout of padding:
        dL/dx = dL/dy[before_0 : before_0 + n_0, before_1 : before_1 + n_1, ...],
    with n_d = x.shape[d]. The border's gradient goes nowhere: ``value`` is
    a constant, not a parameter.
    """

    def __init__(self, widths, value):
        self.widths, self.value = widths, value

    def forward(self, x):
        """y = x inside a border of ``value``."""
        self.in_shape = x.shape
        return self.device.xp.pad(x, self.widths, mode="constant", constant_values=self.value)

    def backward(self, gy):
        """dL/dy of the padded shape -> dL/dx of x's shape (a copy, not a view)."""
        index = tuple(slice(b, b + n) for (b, _), n in zip(self.widths, self.in_shape))
        return gy[index].copy()


def pad(x, pad, mode="constant", value=0.0):
    """Pad the last ``len(pad) // 2`` axes of ``x`` with ``value``.

    Args:
        pad: (left, right) for the last axis, then (top, bottom) for the one
            before, and so on, PyTorch's order: ``F.pad(x, (1, 1, 2, 2))``
            pads W by 1 and H by 2 on each side of an (N, C, H, W) tensor.
        mode: only "constant".
        value: the fill value (default 0).

    Raises:
        ValueError: an odd-length or too-long ``pad``, negative widths, or
            another mode.
    """
    if mode != "constant":
        raise ValueError(f"pad supports mode='constant' only, got {mode!r}")
    pad = tuple(int(p) for p in pad)
    if len(pad) % 2 or len(pad) // 2 > x.ndim:
        raise ValueError(f"pad needs (before, after) pairs for at most {x.ndim} axes, got {pad}")
    if any(p < 0 for p in pad):
        raise ValueError(f"pad widths must be >= 0 (cropping is not supported), got {pad}")
    pairs = [(pad[2 * i], pad[2 * i + 1]) for i in range(len(pad) // 2)]
    widths = [(0, 0)] * (x.ndim - len(pairs)) + pairs[::-1]
    return Pad(tuple(widths), value)(x)
