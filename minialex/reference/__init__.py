"""minialex.reference: the slow, obviously right version of every layer op.

Read these first. Each op is written from its formula with plain Python
loops over output positions (or windows), and its backward pass is the
chain rule applied to those same loops, one line per term. Nothing is
clever: no layouts, no buffers, no thread splits, so a reader can check
every line with pen and paper (the derivations are in the docstrings and,
with worked examples, in docs/backprop/).

They are also the test suite's oracle: tests/test_reference.py checks
every fast path of :mod:`minialex.functions` (CPU paths, thread counts,
CuPy) against them, forward and backward.

Everything here takes and returns NumPy arrays (no Tensor, no autograd)
and imports NumPy only, never minialex's fast code. The conventions
(argument names, shapes, window and tie rules) are those of the fast ops
in :mod:`minialex.functional`:

    op                      forward                       backward
    ----------------------  ----------------------------  ---------------------------------
    fully connected         linear(x, W, b)               linear_backward(dy, x, W)
    ReLU                    relu(x)                       relu_backward(dy, x)
    dropout (given a mask)  dropout(x, mask, p)           dropout_backward(dy, mask, p)
    softmax cross-entropy   cross_entropy(z, t)           cross_entropy_backward(z, t, dloss)
    im2col / col2im         im2col(x, k, s, p)            col2im(cols, x_shape, k, s, p)
    convolution             conv2d(x, W, b, s, p, groups) conv2d_backward(dy, x, W, s, p, groups)
    max-pooling             max_pool2d(x, k, s, p, ceil)  max_pool2d_backward(dy, x, k, s, p, ceil)
    LRN (paper section 3.3) local_response_norm(x, ...)   local_response_norm_backward(dy, x, ...)

Slow: a loop body runs once per output element (or window), so keep the
shapes tiny (a few thousand outputs).
"""

from .layers import (linear, linear_backward, relu, relu_backward, dropout, dropout_backward,
                     cross_entropy, cross_entropy_backward)
from .conv import im2col, col2im, conv2d, conv2d_backward, output_size
from .pooling import max_pool2d, max_pool2d_backward, pool_output_size
from .normalization import local_response_norm, local_response_norm_backward

#: the same as :func:`cross_entropy` (the fused softmax + negative log-likelihood)
softmax_cross_entropy = cross_entropy
softmax_cross_entropy_backward = cross_entropy_backward

__all__ = [
    "linear", "linear_backward", "relu", "relu_backward", "dropout", "dropout_backward",
    "cross_entropy", "cross_entropy_backward", "softmax_cross_entropy",
    "softmax_cross_entropy_backward", "im2col", "col2im", "conv2d", "conv2d_backward",
    "output_size", "max_pool2d", "max_pool2d_backward", "pool_output_size",
    "local_response_norm", "local_response_norm_backward",
]
