"""conv2d's ``winograd_f2x2_5x5`` path: 5x5 stride-1 convolutions
(AlexNet's conv2, the CIFAR presets' conv1 and conv2) by Winograd's
F(2x2, 5x5); every other window falls back to im2col, as in
:mod:`.winograd`, whose code this runs with r = 5 (the 2-D nesting,
shapes, backward and the transforms' derivation are there, the
construction of the matrices in :mod:`.winograd_matrices`).

F(2, 5): 2 outputs of a 5-tap correlation, ``y_k = sum_t d_{k+t} g_t``,
from a tile of n = m + r - 1 = 6 inputs in 6 products instead of 10,
``y = AT [(G g) * (BT d)]`` with AT (2, 6), G (6, 5), BT (6, 6) from the
5 finite points 0, 1, -1, 2, -1/2 and infinity. Their L_i (the product
of ``t - a_j`` over the other points) have N_i = L_i(a_i) = (1, -3, 3, 15,
-15/16), and M(t) = t (t^2 - 1)(t - 2)(t + 1/2) = t^5 - 3t^4/2 - 2t^3 + 3t^2/2 + t,
so (BT's rows the coefficients of L_i, lowest power first; G's rows
``a_i^k / N_i``; AT's columns ``(1, a_i)``)

    BT = [[1,  3/2, -2,   -3/2,  1,   0],     G = [[1,      0,     0,     0,     0    ],
          [0, -1,   -5/2, -1/2,  1,   0],          [-1/3,  -1/3,  -1/3,  -1/3,  -1/3  ],
          [0,  1,    1/2, -5/2,  1,   0],          [1/3,   -1/3,   1/3,  -1/3,   1/3  ],
          [0, -1/2, -1,    1/2,  1,   0],          [1/15,   2/15,  4/15,  8/15, 16/15 ],
          [0,  2,   -1,   -2,    1,   0],          [-16/15, 8/15, -4/15,  2/15, -1/15 ],
          [0,  1,    3/2, -2,   -3/2, 1]]          [0,      0,     0,     0,     1    ]]

    AT = [[1, 1,  1, 1,  1,   0],
          [0, 1, -1, 2, -1/2, 1]]

Check on y0 = d0 g0 + ... + d4 g4: d0 is only in BT's row 0 (times 1, G's
row 0 is g0), and AT[:, 0] = (1, 0): d0 g0 reaches y0 alone; likewise
d5 g4 (row 5) y1 alone. The d1 g0 terms, sum_i AT[k, i] G[i, 0] BT[i, 1]:
for y0, 3/2 + 1/3 + 1/3 - 1/30 - 32/15 = 0; for y1,
(-1/3)(-1) - (1/3)(1) + 2 (1/15)(-1/2) - (1/2)(-16/15)(2) = 1/3 - 1/3 - 1/15 + 16/15 = 1.
(the test checks ``AT [(G g) * (BT d)] = y`` exactly in rationals). In two
dimensions each 2x2 output tile comes from a 6x6 input tile stepping by 2
(overlapping by 4): 36 products per tile against 4 * 25 = 100, 2.78x fewer
multiplications in the batched matrix products, which are nearly all of the
work. AlexNet's 13x13 (CIFAR) maps take 7x7 tiles, 14x14 outputs of which
the last row and column are dropped (16% waste: 2.4x fewer); the 27x27
ImageNet map likewise 14x14 tiles (7% waste); the CIFAR conv1's 28x28 is
whole tiles. The transformed input V is (6*6) / (2*2) = 9 times the image
(padded), against im2col's 25 times.

Which points. As for F(3, 3) (:mod:`.winograd_matrices`), the rounding
of the products' channel sums, amplified by the output transform, is
the error; :func:`.winograd_matrices.error_growth` per output, and the
2-D tile's worst (its square):

    0, 1, -1, 2, -2:           2.19, 4.45   2-D 19.8
    0, 1, -1, 1/2, -1/2:       4.45, 2.19   2-D 19.8   (the mirror image)
    0, 1, -1, 2, 1/2:          4.50, 4.50   2-D 20.3
    0, -1, 1/2, 2, -2:         2.29, 3.67   2-D 13.5
    0, 2, -2, 1/2, -1/2:       2.84, 2.84   2-D 8.0
    0, 1, -1, 2, -1/2:         2.79, 2.79   2-D 7.8    (chosen)

(the best of all 5-point sets drawn from 0, +-1, +-2, +-3, +-4 and their
inverses). t -> 1/t reverses a polynomial's coefficients, t -> -t flips
the signs of its odd ones, so t -> -1/t maps F(2, 5)'s first output onto
its last with the taps reversed: a set closed under it (0 and infinity,
1 and -1, 2 and -1/2) serves both outputs alike, and with no point pair
a and -a beyond 1, -1 the interpolating polynomials stay small. Every
entry of BT and AT is dyadic (exact in binary: the image-sized transforms
round only their sums); G's fifths, thirds and fifteenths touch only the
kernel.

The weight gradient ``dL/dg = GT [(A gy) * (BT d)]`` (summed over tiles)
weights the rounded products by G's columns instead
(:func:`.winograd_matrices.weight_gradient_growth`): 3.78, 1.94, 1.67,
1.94, 3.78 per tap on the chosen points (a 2-D corner tap 14.3), against
6.72 at one end for 0, +-1, +-2 or 0, +-1, +-1/2 (45.1): the chosen set is
also the best of the table for dL/dW, which is nonetheless the least
exact of the three.

Accuracy (float32 against the float64 loop reference, max |error| / max
|reference| of y, dL/dx, dL/dW, worst over seeds 0-9, batch 4, padding 2;
tests/test_conv2d_paths.py checks it with seeds 0-2):

    layer (N, C -> K, H, groups)        F(2x2, 5x5)        im2col (chwn_slices)
    small conv1 (4, 3 -> 32, 28, 1)     1.4, 1.5, 2.1e-6   3.7, 2.3, 5.7e-7
    small conv2 (4, 32 -> 64, 13, 2)    1.4, 1.3, 2.1e-6   8.2, 2.5, 6.3e-7
    half conv2 (4, 48 -> 128, 13, 2)    1.6, 2.2, 7.2e-6   7.2, 2.8, 7.2e-7

With the textbook points 0, 1, -1, 2, -2 (seeds 0-1) the same layers gave
(2.5, 2.4, 4.9), (3.1, 2.5, 3.6), (2.7, 3.1, 14)e-6; 0, 1, -1, 1/2, -1/2
(2.5, 2.9, 4.5), (2.5, 3.3, 5.0), (3.3, 3.1, 16)e-6; 0, -1, 1/2, 2, -2
(1.6, 1.9, 2.7), (1.7, 1.4, 2.7), (2.2, 2.1, 7.9)e-6; 0, +-2, +-1/2 (1.2,
1.3, 2.6), (1.5, 1.4, 2.3), (1.8, 1.7, 10)e-6; the chosen set (1.1, 1.2, 2.1),
(1.4, 1.0, 1.7), (1.6, 1.4, 6.6)e-6: the most exact, 2-2.5x the textbook
sets, as the growth factors say. F(2x2, 5x5) is 2-10x less exact than
im2col (dL/dW the most; F(3x3, 3x3) on the 3x3 layers about 2x); its
effect on training is not measured.

Speed: not yet measured on an idle machine (``paths`` does not choose it;
benchmarks/conv_paths.py times it on the 5x5 layers).
"""

from . import winograd
from .im2col_cpu import (a_times_b_transposed, col2im, free_columns, im2col,  # noqa: F401
                         new_columns, to_chwn, to_nchw)

__all__ = ["applies", "forward", "backward", "M", "R"]

M, R = 2, 5                              # outputs a tile side, kernel side
backward = winograd.backward             # saved holds m and r


def applies(kernel, stride):
    """True for the windows this path computes by Winograd: 5x5, stride 1."""
    return tuple(kernel) == (R, R) and tuple(stride) == (1, 1)


def forward(x, W, b, stride, padding, groups, out_hw, keep=True):
    """:func:`.winograd.forward` with m = 2 on the 5x5 kernel W (C_out, C/G, 5, 5)."""
    return winograd.forward(x, W, b, stride, padding, groups, out_hw, keep, m=M)
