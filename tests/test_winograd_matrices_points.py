"""winograd_matrices.exact_matrices takes exactly n - 1 = m + r - 2
distinct finite points for F(m, r) (infinity is the n-th): fewer or more
are refused, and the message counts the points it needs."""

import pytest

from minialex.functions._kernels import winograd_matrices


@pytest.mark.parametrize("m, r, points, needs", [
    (2, 3, (0, 1), 3),                       # too few (n = 4: n - 1 = 3)
    (2, 3, (0, 1, -1, 2), 3),                # too many
    (3, 3, (0, -1, 2), 4),                   # too few (n = 5)
    (2, 5, (0, 1, -1, 2, 3, -2), 5),         # too many (n = 6)
])
def test_exact_matrices_refuse_a_wrong_number_of_points(m, r, points, needs):
    with pytest.raises(ValueError, match=rf"F\({m}, {r}\) needs {needs} distinct finite points"):
        winograd_matrices.exact_matrices(m, r, points)


def test_exact_matrices_take_exactly_n_minus_1_points():
    AT, G, BT = winograd_matrices.exact_matrices(2, 3, (0, 1, -1))
    assert (len(AT), len(AT[0]), len(G), len(G[0]), len(BT), len(BT[0])) == (2, 4, 4, 3, 4, 4)
