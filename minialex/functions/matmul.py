"""Matrix product ``a @ b`` (2-D, or batched over leading axes)."""

from ..autograd import Function
from ._utils import check_float, sum_to


def _swap(x):
    return x.swapaxes(-1, -2)


class MatMul(Function):
    """y = a @ b, with a (..., n, k), b (..., k, m), y (..., n, m).

    y_ij = sum_k a_ik b_kj, so dL/da_ik = sum_j gy_ij b_kj, i.e.
    ga = gy @ b^T, and dL/db_kj = sum_i a_ik gy_ij, i.e. gb = a^T @ gy.
    Leading (batch) axes broadcast, so their gradients are summed back.
    1-D operands are treated as a row (a) or a column (b) vector.
    """

    def forward(self, a, b):
        """a (..., n, k), b (..., k, m) -> a @ b (..., n, m); saves a, b.
        Raises ValueError for a 0-d operand or inner sizes that differ."""
        if a.ndim == 0 or b.ndim == 0:
            raise ValueError("matmul needs operands of at least 1 dimension; "
                             f"got shapes {a.shape} and {b.shape} (use * for scalars)")
        if a.shape[-1] != b.shape[-2 if b.ndim > 1 else 0]:
            raise ValueError(f"matmul shapes {a.shape} and {b.shape} do not align: "
                             f"{a.shape[-1]} != {b.shape[-2 if b.ndim > 1 else 0]}")
        self.a, self.b = a, b
        return a @ b

    def backward(self, gy):
        """gy of y's shape -> (ga, gb) of a's and b's shapes (None where not
        needed); 1-D operands get their dropped axis back first."""
        a, b = self.a, self.b
        a2 = a[None, :] if a.ndim == 1 else a          # (1, k)
        b2 = b[:, None] if b.ndim == 1 else b          # (k, 1)
        g2 = gy                                        # put back the axes matmul dropped:
        if b.ndim == 1:
            g2 = g2[..., None]                         # ... the column of b2 (last axis),
        if a.ndim == 1:
            g2 = g2[..., None, :]                      # ... then the row of a2
        ga = gb = None
        if self.needs_input_grad[0]:
            ga = sum_to(g2 @ _swap(b2), a2.shape).reshape(a.shape)
        if self.needs_input_grad[1]:
            gb = sum_to(_swap(a2) @ g2, b2.shape).reshape(b.shape)
        return ga, gb


def matmul(a, b):
    """Matrix product ``a @ b`` (NumPy's matmul rules). Tensors of float dtype."""
    check_float("matmul", a=a, b=b)
    return MatMul()(a, b)
