"""The matrices (AT, G, BT) of Winograd's minimal filtering F(m, r), built
exactly from interpolation points (the Cook-Toom construction; Lavin &
Gray, "Fast Algorithms for Convolutional Neural Networks", CVPR 2016,
section 4). :mod:`.winograd` uses them for F(2, 3), F(3, 3) and F(2, 5)
(:mod:`.winograd_f2x2_5x5`).

Linear convolution first. For polynomials x(t) of degree m-1 and h(t) of
degree r-1, the product s = x h has degree n-1, n = m + r - 1, and its
coefficients are the linear convolution ``s_p = sum_{j+k=p} x_j h_k``.
A polynomial of degree n-1 is fixed by n numbers: its values at n-1
distinct points a_i and its leading coefficient (its "value at infinity",
``s_inf = x_{m-1} h_{r-1}``). With ``M(t) = prod_j (t - a_j)``,
``L_i(t) = prod_{j != i} (t - a_j)`` and ``N_i = L_i(a_i)``,

    s(t) = s_inf M(t) + sum_i s(a_i) L_i(t) / N_i

(Lagrange's formula for ``s - s_inf M``, of degree n-2, which equals s at
every a_i), and ``s(a_i) = x(a_i) h(a_i)``: n products. In matrices,
``s = C [(A x) * (G h)]`` (``*`` element-wise) with

    A[i, j] = a_i^j   (n x m),     G[i, k] = a_i^k / N_i   (n x r),

the infinity rows ``e_{m-1}`` and ``e_{r-1}`` (the leading coefficients),
and column i of C the coefficients of ``L_i`` (of M for infinity).

Correlation, what a conv layer computes, is the transpose of this. The m
outputs of an r-tap correlation of n inputs d, ``y_k = sum_t d_{k+t} g_t``,
satisfy ``sum_k x_k y_k = sum_p d_p s_p`` (h = g: both sides are
``sum_{k,t} x_k g_t d_{k+t}``), so for every x

    x^T y = d^T C [(A x) * (G g)] = x^T A^T [(G g) * (C^T d)],

hence ``y = AT [(G g) * (BT d)]`` with ``AT = A^T`` (m x n) and
``BT = C^T`` (n x n): n products for m outputs instead of m*r. Scaling row
i of G by s and row i of BT by 1/s (or column i of AT) changes nothing.

F(2, 3), points 0, 1, -1 (and infinity): L_0 = t^2 - 1, L_1 = t^2 + t,
L_2 = t^2 - t, M = t^3 - t, N = (-1, 2, 2), so

    BT = [[-1, 0, 1, 0],     G = [[-1,    0,   0  ],     AT = [[1, 1,  1, 0],
          [0,  1, 1, 0],          [1/2,  1/2, 1/2],            [0, 1, -1, 1]]
          [0, -1, 1, 0],          [1/2, -1/2, 1/2],
          [0, -1, 0, 1]]          [0,    0,   1  ]]

(Lavin & Gray print rows 0 and 3 with the other sign, to the same effect).
Check: m0 = -g0 (d2 - d0), m1 = (g0 + g1 + g2)(d1 + d2)/2,
m2 = (g0 - g1 + g2)(d2 - d1)/2, m3 = g2 (d3 - d1);
m0 + m1 + m2 = d0 g0 + d1 g1 + d2 g2 = y0 (the g1 terms: (d1 + d2 - d2 + d1)/2),
m1 - m2 + m3 = d1 g0 + d2 g1 + d3 g2 = y1.

F(3, 3), points 0, -1, 1/2, 2 (n = 5): L_0 = t^3 - 3t^2/2 - 3t/2 + 1,
L_1 = t^3 - 5t^2/2 + t, L_2 = t^3 - t^2 - 2t, L_3 = t^3 + t^2/2 - t/2,
M = t^4 - 3t^3/2 - 3t^2/2 + t, N = (1, -9/2, -9/8, 9), so

    BT = [[1, -3/2, -3/2,  1,   0],    G = [[1,     0,    0   ],
          [0,  1,   -5/2,  1,   0],         [-2/9,  2/9, -2/9 ],
          [0, -2,   -1,    1,   0],         [-8/9, -4/9, -2/9 ],
          [0, -1/2,  1/2,  1,   0],         [1/9,   2/9,  4/9 ],
          [0,  1,   -3/2, -3/2, 1]]         [0,     0,    1   ]]

    AT = [[1,  1,  1,   1,  0],
          [0, -1,  1/2, 2,  0],
          [0,  1,  1/4, 4,  1]]

Check against y0 = d0 g0 + d1 g1 + d2 g2, y1 = d1 g0 + d2 g1 + d3 g2,
y2 = d2 g0 + d3 g1 + d4 g2: d0 is only in row 0 of BT (times 1, G row 0
is g0), and AT[:, 0] = (1, 0, 0): d0 g0 goes to y0 alone; likewise d4 g2
(row 4) to y2 alone. The d1 g0 terms, sum_i AT[k, i] G[i, 0] BT[i, 1]:
for y1, 0 + (-1)(-2/9)(1) + (1/2)(-8/9)(-2) + 2(1/9)(-1/2) = 2/9 + 8/9 - 1/9 = 1;
for y0, -3/2 - 2/9 + 16/9 - 1/18 = 0. (The test checks the identity for
random d, g, both m.)

Which points. Every point is a row of products, and in float32 the
product rows' rounding (the channel sums of :mod:`.winograd`'s matrix
products) dominates: the output transform adds the rows with AT's
weights, so an output's error grows with ``sqrt(sum_i AT[k, i]^2 |G_i|^2
|BT_i|^2 / r)`` (|.| a row's 2-norm), its rms over random d, g relative
to y's (:func:`error_growth`; scaling a row changes nothing). A tile
output's 2-D factor is the product of two, the largest:

    F(2, 3), 0, 1, -1:              1.7
    F(3, 3), 0, 1, -1, 1/2:         11.4   (y0's factor 3.4; with 2: y2's)
    F(3, 3), 0, 1, -1, 2:           11.4
    F(3, 3), 0, -1, 1/2, 2:         4.8    (factors 2.2, 1.2, 2.2)

The two textbook choices are mirror images (t -> 1/t reverses the
coefficients of a polynomial, so a point a serves the first taps as 1/a
serves the last): each leaves one end unbalanced. The set 0, -1, 1/2, 2,
infinity is closed under t -> 1/t (0 and infinity, 1/2 and 2, -1 itself),
so both ends fare alike (M is palindromic: 1, -3/2, -3/2, 1). Measured
on the small preset's conv3-conv5 (batch 4, 10 seeds, max |error| / max
|reference| over y, dL/dx, dL/dW): 3.9e-6 with 1/2, 3.4e-6 with 2, 1.5e-6
with 0, -1, 1/2, 2 (half preset: 4.7e-6, 6.2e-6, 1.9e-6); F(2, 3) 4.3e-7,
im2col 8.4e-7. All entries of BT and AT stay dyadic (exact in binary:
the image-sized transforms round only their sums); G's ninths touch only
the kernel.
"""

from fractions import Fraction

import numpy

__all__ = ["POINTS", "polynomial", "exact_matrices", "winograd_matrices", "error_growth",
           "weight_gradient_growth"]

# (m, r) -> the finite interpolation points of F(m, r) (infinity is always
# the last): m + r - 2 of them. F(3, 3)'s set is closed under t -> 1/t:
# 2.3-2.6x more exact in float32 than 0, 1, -1 with 2 or with 1/2 (module
# doc); F(2, 5)'s under t -> -1/t, 2.2x more exact than 0, +-1, +-2 or
# 0, +-1, +-1/2 (:mod:`.winograd_f2x2_5x5`).
POINTS = {(2, 3): (0, 1, -1), (3, 3): (0, -1, Fraction(1, 2), 2),
          (2, 5): (0, 1, -1, 2, Fraction(-1, 2))}


def polynomial(roots):
    """The coefficients of ``prod_j (t - roots[j])``, lowest power first."""
    c = [Fraction(1)]
    for a in roots:                      # times (t - a): shift up, minus a times c
        c = [(c[k - 1] if k else 0) - a * (c[k] if k < len(c) else 0) for k in range(len(c) + 1)]
    return c


def exact_matrices(m, r, points):
    """(AT, G, BT) of F(m, r) as lists of rows of Fractions, from the
    ``m + r - 2`` distinct finite ``points`` (infinity is the last point):
    ``A[i, j] = a_i^j``, ``G[i, k] = a_i^k / N_i``, ``BT[i]`` the
    coefficients of ``L_i`` (module doc)."""
    a = [Fraction(p) for p in points]
    n = m + r - 1
    if len(a) != n - 1 or len(set(a)) != len(a):
        raise ValueError(f"F({m}, {r}) needs {n - 1} distinct finite points, got {points!r}")
    A, G, BT = [], [], []
    for i, ai in enumerate(a):
        others = a[:i] + a[i + 1:]
        N = 1
        for aj in others:
            N *= ai - aj
        A.append([ai ** j for j in range(m)])
        G.append([ai ** k / N for k in range(r)])
        BT.append(polynomial(others) + [Fraction(0)])       # L_i has degree n-2
    A.append([Fraction(int(j == m - 1)) for j in range(m)])  # infinity: leading coefficients
    G.append([Fraction(int(k == r - 1)) for k in range(r)])
    BT.append(polynomial(a))
    return [list(col) for col in zip(*A)], G, BT


def winograd_matrices(m, r=3, points=None):
    """(AT (m, n), G (n, r), BT (n, n)) of F(m, r) as float64 arrays,
    n = m + r - 1, from ``points`` (default :data:`POINTS`)."""
    points = POINTS[(m, r)] if points is None else points
    return tuple(numpy.array([[float(v) for v in row] for row in mat], dtype=numpy.float64)
                 for mat in exact_matrices(m, r, points))


def error_growth(AT, G, BT):
    """Per output k of F(m, r): the rms of ``sum_i AT[k, i] m_i`` over iid
    standard normal d and g, over the rms of y_k (= sqrt(r)), where
    ``m_i = (G g)_i (BT d)_i``: how much an output's error from rounding
    the products grows past its size (module doc)."""
    rows = (G ** 2).sum(axis=1) * (BT ** 2).sum(axis=1)              # E[m_i^2]
    return numpy.sqrt((AT ** 2 * rows).sum(axis=1) / G.shape[1])


def weight_gradient_growth(AT, G, BT):
    """Per kernel tap t of F(m, r): :func:`error_growth` of the weight
    gradient. Its backward pass computes ``dL/dg = GT [(A gy) * (BT d)]``
    (summed over tiles), so G's columns weight the rounded product rows as
    AT's rows do forward: the rms of ``sum_i G[i, t] (A gy)_i (BT d)_i``
    over iid standard normal gy and d, over that of the tile's exact share
    ``sum_k gy_k d_{k+t}`` (= sqrt(m))."""
    rows = (AT ** 2).sum(axis=0) * (BT ** 2).sum(axis=1)             # E[p_i^2]
    return numpy.sqrt((G ** 2 * rows[:, None]).sum(axis=0) / AT.shape[0])
