"""max_pool2d with padding 3 and strides 2 and 3, on both CPU paths,
against the loop reference of tests/test_max_pool2d.py. The Hypothesis test
there draws paddings up to 2; where a stride phase r > 0 meets a padding of
3, the phase split's start ceil((pad - r) / s) is the only place that tells
pad - r from other combinations of pad and r (e.g. pad >> r: 3 >> 1 = 1,
3 - 1 = 2)."""

import numpy as np
import pytest

from test_max_pool2d import PATHS, assert_matches_the_loop_reference


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("kernel, stride, size", [(7, 2, 9), (7, 3, 10), (6, 2, 8), (7, (3, 2), 11)])
def test_padding_three_matches_the_loop_reference(path, kernel, stride, size):
    rng = np.random.default_rng(kernel * 100 + size)
    x = rng.integers(-1, 2, (2, 2, size, size + 1)).astype(np.float32)    # ties everywhere
    args = ((kernel, kernel), stride if isinstance(stride, tuple) else (stride, stride), (3, 3), False)
    assert_matches_the_loop_reference(path, x, args, rng)
