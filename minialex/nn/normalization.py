"""Local response normalization layer (paper section 3.3)."""

from ..functions.local_response_norm import local_response_norm, lrn_arguments
from .module import Module

__all__ = ["LocalResponseNorm"]


class LocalResponseNorm(Module):
    """Local response normalization across channels, the paper's formula:

        b_i = a_i / (k + alpha * sum_{j=i-size//2}^{i+(size-1)//2} a_j^2) ** beta

    (the sum clipped to the existing channels), at every (n, y, x).

    Args:
        size (int): channels in the window (n in the paper). Default 5.
        alpha (float): NOT divided by size. Default 1e-4.
        beta (float): Default 0.75.
        k (float): > 0. Default 2.0.
        (Defaults are the paper's: k = 2, n = 5, alpha = 1e-4, beta = 0.75.)

    Shapes: x (N, C, H, W) float32 (or float64) -> same shape and dtype.
    No parameters.

    PyTorch and Caffe divide alpha by size: this layer equals
    ``torch.nn.LocalResponseNorm(size, alpha=alpha * size, beta=beta, k=k)``;
    a torch or Caffe layer with ``alpha_t`` is ``LocalResponseNorm(size,
    alpha=alpha_t / size, ...)`` here. Even sizes use PyTorch's window
    (one more channel before i than after).

    Raises:
        TypeError / ValueError: at construction, for arguments
            :func:`minialex.functional.local_response_norm` would reject
            (size not an int >= 1, alpha < 0, k <= 0, non-finite values); on
            call, a non-4-D or non-float input.

    Source: paper section 3.3 ("Local Response Normalization").
    """

    def __init__(self, size=5, alpha=1e-4, beta=0.75, k=2.0):
        super().__init__()
        lrn_arguments(size, alpha, beta, k)
        self.size, self.alpha, self.beta, self.k = int(size), float(alpha), float(beta), float(k)

    def forward(self, x):
        """x (N, C, H, W) -> normalized across channels, same shape and dtype."""
        return local_response_norm(x, self.size, self.alpha, self.beta, self.k)

    def extra_repr(self):
        """The arguments as they appear inside ``repr(module)``."""
        return f"size={self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}"
