"""Fully connected layer, ReLU, dropout given its mask, and softmax
cross-entropy from their formulas: read these before
:mod:`minialex.functions.linear`, ``relu``, ``dropout`` and
``softmax_cross_entropy`` (same conventions, same results)."""

import numpy as np


def linear(x, W, b=None):
    """y[n, j] = sum_i x[n, i] W[j, i] + b[j], output by output.

    Args: x (N, in); W (out, in), PyTorch's layout; b (out,) or None.
    Returns: (N, out) array of x's dtype.
    """
    y = np.zeros((x.shape[0], W.shape[0]), dtype=x.dtype)
    for n, j in np.ndindex(y.shape):
        y[n, j] = np.sum(x[n] * W[j]) + (0 if b is None else b[j])
    return y


def linear_backward(dy, x, W):
    """(dx, dW, db) given dy = dL/dy (N, out) of :func:`linear`.

    y[n, j] has the partial derivatives dy[n,j]/dx[n, i] = W[j, i],
    dy[n,j]/dW[j, i] = x[n, i], dy[n,j]/db[j] = 1 (and no others), so each
    output adds dy[n, j] times W[j] to dx[n], times x[n] to dW[j], and
    dy[n, j] to db[j]. In matrix form: dx = dy @ W, dW = dy^T @ x,
    db = dy summed over the batch.
    """
    dx, dW, db = np.zeros_like(x), np.zeros_like(W), np.zeros(W.shape[0], dtype=dy.dtype)
    for n, j in np.ndindex(dy.shape):
        dx[n] += dy[n, j] * W[j]
        dW[j] += dy[n, j] * x[n]
        db[j] += dy[n, j]
    return dx, dW, db


def relu(x):
    """y = max(0, x) element by element (paper section 3.1); NaN stays NaN.
    Any shape."""
    return np.maximum(x, 0)


def relu_backward(dy, x):
    """dL/dx = dy * [not x <= 0]: dy/dx is 1 where x > 0 and 0 where x < 0;
    at x = 0 we take 0 (a subgradient); at x = NaN the gradient passes on,
    as in PyTorch (threshold_backward zeroes only where x <= 0)."""
    return dy * ~(x <= 0)


def dropout(x, mask, p):
    """Inverted dropout with a given mask (paper section 4.2):
    y = x * mask / (1 - p), mask 1 (True) for the kept units, 0 for the
    dropped ones (drawn elsewhere with P(keep) = 1 - p, so E[y] = x).
    Any shape; mask broadcasts against x."""
    return x * mask * x.dtype.type(1.0 / (1.0 - p))


def dropout_backward(dy, mask, p):
    """dL/dx = dy * mask / (1 - p): y is x times a constant, mask / (1 - p)."""
    return dy * mask * dy.dtype.type(1.0 / (1.0 - p))


def _softmax(z_row):
    """p_k = exp(z_k - m) / sum_j exp(z_j - m), m = max_j z_j (the same
    softmax; subtracting m keeps every exp <= 1, so nothing overflows)."""
    e = np.exp(z_row - z_row.max())
    return e / e.sum()


def cross_entropy(z, t):
    """L = (1/N) sum_n [ log sum_j exp(z[n, j]) - z[n, t[n]] ], row by row:
    the mean negative log-likelihood of the labels under softmax(z)
    (paper section 3.5's 1000-way softmax, trained by multinomial logistic
    regression). log sum exp is taken as m + log sum exp(z - m).

    Args: z (N, K) float logits; t (N,) integer labels in [0, K).
    Returns: the loss, a scalar of z's dtype.
    """
    total = 0.0
    for n in range(z.shape[0]):
        m = z[n].max()
        total += m + np.log(np.sum(np.exp(z[n] - m))) - z[n, t[n]]
    return z.dtype.type(total / z.shape[0])


def cross_entropy_backward(z, t, dloss=1.0):
    """dL/dz given dloss = dL_total/dL (1 for the loss itself).

    Per row, l_n = log sum_j exp(z_nj) - z_n,t_n has
    dl_n/dz_nk = exp(z_nk) / sum_j exp(z_nj) - [k = t_n] = p_nk - [k = t_n],
    and L = (1/N) sum_n l_n, so dL/dz_nk = (p_nk - [k = t_n]) / N.
    Returns: (N, K) array of z's dtype.
    """
    dz = np.empty_like(z)
    for n in range(z.shape[0]):
        onehot = np.zeros(z.shape[1], dtype=z.dtype)
        onehot[t[n]] = 1
        dz[n] = dloss * (_softmax(z[n]) - onehot) / z.shape[0]
    return dz
