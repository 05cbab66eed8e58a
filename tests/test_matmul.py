"""matmul's shape check with batched operands (issue 20: mutants of
matmul.py that tests/test_ops.py lets live; the rest of matmul's tests are
in tests/test_ops.py)."""

import re

import numpy as np
import pytest

from minialex import Tensor
from minialex import functional as F


@pytest.mark.parametrize("sa, sb, k_a, k_b", [
    ((2, 3, 4), (2, 5, 6), 4, 5),      # batched a and b: B, n, k, rows of b all differ
    ((2, 3, 4), (5, 6), 4, 5),         # batched a, 2-D b
    ((3, 2, 5, 4), (6,), 4, 6),        # 4-D a, 1-D b
])
def test_the_message_names_a_last_axis_for_batched_a(sa, sb, k_a, k_b):
    # a (..., n, k): the size that must match is a's LAST axis (k), never
    # its rows n or batch axes; b's is its second-to-last (rows) or, 1-D, its only one
    with pytest.raises(ValueError, match="^" + re.escape(
            f"matmul shapes {sa} and {sb} do not align: {k_a} != {k_b}") + "$"):
        F.matmul(Tensor(np.ones(sa)), Tensor(np.ones(sb)))


@pytest.mark.parametrize("sa, sb", [((4,), (4, 3)), ((4,), (4,)), ((2, 4), (4,)),
                                    ((4,), (2, 4, 3))])
def test_one_d_operands_get_the_gradients_of_their_own_shape(sa, sb):
    # 1-D a is a row (1, k) and 1-D b a column (k, 1) for the product, then
    # the axis is dropped: ga = gy @ b^T and gb = a^T @ gy with those axes
    # put back, summed over broadcast batch axes, in a's and b's own shapes
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal(sa), rng.standard_normal(sb)
    y_ref = a @ b
    gy = rng.standard_normal(np.shape(y_ref))
    ta, tb = Tensor(a, requires_grad=True), Tensor(b, requires_grad=True)
    y = F.matmul(ta, tb)
    np.testing.assert_allclose(y.data, y_ref, rtol=1e-12)
    y.backward(gy)
    a2 = a[None, :] if a.ndim == 1 else a
    b2 = b[:, None] if b.ndim == 1 else b
    g2 = np.asarray(gy)
    if b.ndim == 1:
        g2 = g2[..., None]
    if a.ndim == 1:
        g2 = g2[..., None, :]
    ga = (g2 @ np.swapaxes(b2, -1, -2)).reshape(-1, *a2.shape).sum(axis=0).reshape(a.shape)
    gb = (np.swapaxes(a2, -1, -2) @ g2).reshape(-1, *b2.shape).sum(axis=0).reshape(b.shape)
    np.testing.assert_allclose(ta.grad, ga, rtol=1e-12)
    np.testing.assert_allclose(tb.grad, gb, rtol=1e-12)
    torch = pytest.importorskip("torch")
    xa = torch.tensor(a, requires_grad=True)
    xb = torch.tensor(b, requires_grad=True)
    torch.matmul(xa, xb).backward(torch.tensor(gy))
    np.testing.assert_allclose(ta.grad, xa.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(tb.grad, xb.grad.numpy(), rtol=1e-12)
