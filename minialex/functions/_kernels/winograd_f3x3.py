"""conv2d's ``winograd_f3x3_3x3`` path: 3x3 stride-1 convolutions by
Winograd's F(3x3, 3x3), 5x5 input tiles stepping by 3 (the maths, shapes
and backward of F(m x m, 3x3) are in :mod:`.winograd`, the matrices in
:mod:`.winograd_matrices`); every other window falls back to im2col, as
there."""

from . import winograd
from .im2col_cpu import (a_times_b_transposed, col2im, free_columns, im2col,  # noqa: F401
                         new_columns, to_chwn, to_nchw)

__all__ = ["applies", "forward", "backward", "M"]

M = 3                                    # outputs a tile side
applies = winograd.applies
backward = winograd.backward             # saved holds m


def forward(x, W, b, stride, padding, groups, out_hw, keep=True):
    """:func:`.winograd.forward` with m = 3."""
    return winograd.forward(x, W, b, stride, padding, groups, out_hw, keep, m=M)
