"""Local response normalization from the formula (paper section 3.3):
read this before :mod:`minialex.functions.local_response_norm` (same
arguments, same results).

    b_i = a_i / d_i ** beta,    d_i = k + alpha * sum_{j in W(i)} a_j ** 2

at every position (n, y, x), over the channels i = 0..C-1, with the window
W(i) = i - size//2 .. i + (size-1)//2 clipped to 0..C-1. For odd sizes
(the paper's n = 5) that is i - n//2 .. i + n//2; alpha is NOT divided by
the size (docs/paper.md; PyTorch's and Caffe's LRN divide it).

Each channel's window is summed on its own, so a non-finite input a_m
(inf, NaN, or 1e20 whose square overflows float32) changes only the
outputs b_i whose window holds m: i = m - (size-1)//2 .. m + size//2
(m - n//2 .. m + n//2 for odd n), and only the input gradients within
twice that distance.
"""

import numpy as np


def _window(i, channels, size):
    """W(i): the channels whose squares channel i sums, clipped to 0..C-1."""
    return range(max(0, i - size // 2), min(channels, i + (size - 1) // 2 + 1))


def _denominator(x, i, size, alpha, k):
    """d_i = k + alpha * sum_{j in W(i)} a_j^2 at every (n, y, x): (N, H, W)."""
    return k + alpha * sum(x[:, j] ** 2 for j in _window(i, x.shape[1], size))


def local_response_norm(x, size=5, alpha=1e-4, beta=0.75, k=2.0):
    """b_i = a_i / (k + alpha * sum_{j in W(i)} a_j^2) ** beta, channel by channel.

    Args:
        x: (N, C, H, W) float array (the activations a). size: window
            length n (default 5). alpha, beta, k: the paper's 1e-4, 0.75, 2.
    Returns:
        (N, C, H, W) array of x's dtype.
    """
    b = np.empty_like(x)
    for i in range(x.shape[1]):
        b[:, i] = x[:, i] / _denominator(x, i, size, alpha, k) ** beta
    return b


def local_response_norm_backward(dy, x, size=5, alpha=1e-4, beta=0.75, k=2.0):
    """dL/da given dy = dL/db of :func:`local_response_norm`.

    Derivation. b_i = a_i * d_i^-beta depends on a_i directly and on every
    a_j, j in W(i), through d_i (dd_i/da_j = 2 alpha a_j). The product and
    chain rules give the only nonzero partial derivatives of b_i:

        db_i/da_i (through the numerator) = d_i^-beta
        db_i/da_j (through d_i)           = a_i * (-beta) d_i^(-beta-1) * 2 alpha a_j,  j in W(i)

    and dL/da_j = sum_i dy_i db_i/da_j. The loop below visits each output
    channel i and adds its two terms where they belong; a_j thereby
    collects from every i whose window holds j, i.e. from the transposed
    window W'(j) = j - (size-1)//2 .. j + size//2, clipped (W(j) mirrored;
    the same as W(j) for odd sizes). In closed form:

        dL/da_j = dy_j d_j^-beta - 2 alpha beta a_j sum_{i: j in W(i)} dy_i b_i / d_i

    Returns: an array shaped like x.
    """
    dx = np.zeros_like(x)
    for i in range(x.shape[1]):
        d = _denominator(x, i, size, alpha, k)
        dx[:, i] += dy[:, i] * d ** -beta                        # through the numerator a_i
        for j in _window(i, x.shape[1], size):                   # through d_i, via a_j
            dx[:, j] += dy[:, i] * x[:, i] * (-beta) * d ** (-beta - 1) * 2 * alpha * x[:, j]
    return dx
