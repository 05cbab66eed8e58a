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
