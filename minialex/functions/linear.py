"""Fully connected layer y = x W^T + b (PyTorch's weight layout)."""

from ..autograd import Function
from ._utils import check_float


class Linear(Function):
    """y = x @ W^T + b with x (N, in), W (out, in), b (out,), y (N, out).

    y_nj = sum_i x_ni W_ji + b_j, hence
      gx = gy @ W            (dL/dx_ni = sum_j gy_nj W_ji)
      gW = gy^T @ x          (dL/dW_ji = sum_n gy_nj x_ni)
      gb = sum_n gy          (dL/db_j  = sum_n gy_nj)
    """

    returns_new_arrays = True    # three fresh products/sums: weights take them as .grad

    def forward(self, x, W, b=None):
        """x (N, in), W (out, in), b (out,) or None -> y (N, out); saves x, W."""
        self.x, self.W = x, W
        y = x @ W.T
        if b is not None:
            y += b
        return y

    def backward(self, gy):
        """gy (N, out) -> (gx (N, in), gW (out, in)[, gb (out,)]), None for
        x or W where not needed; gb only when a bias was given."""
        gx = gy @ self.W if self.needs_input_grad[0] else None
        gW = gy.T @ self.x if self.needs_input_grad[1] else None
        if len(self.needs_input_grad) == 3:
            return gx, gW, gy.sum(axis=0)
        return gx, gW


def linear(x, weight, bias=None):
    """``x @ weight.T + bias``.

    Args:
        x: (N, in_features) float Tensor.
        weight: (out_features, in_features). bias: (out_features,) or None.

    Raises:
        ValueError: x is not 2-D, or its last axis does not match
            ``in_features``, or the bias has the wrong length.
        TypeError: x, weight or bias not floating point.
    """
    check_float("linear", x=x, weight=weight, bias=bias)
    if x.ndim != 2:
        raise ValueError(f"linear expects x of shape (N, in_features), got {x.shape}; "
                         "flatten it first (minialex.functional.flatten)")
    if x.shape[1] != weight.shape[1]:
        raise ValueError(f"linear: x has {x.shape[1]} features but weight {weight.shape} "
                         f"expects {weight.shape[1]}")
    if bias is None:
        return Linear()(x, weight)
    if bias.shape != (weight.shape[0],):
        raise ValueError(f"linear: bias shape {bias.shape} != ({weight.shape[0]},)")
    return Linear()(x, weight, bias)
