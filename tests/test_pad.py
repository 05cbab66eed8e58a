"""F.pad (minialex/functions/pad.py): values by hand, PyTorch's order of the
widths, the gradient (the border cut off, a copy) and the argument errors."""

import numpy as np
import pytest

from minialex import Tensor
from minialex import functional as F


def test_values_and_gradient_by_hand():
    """(1, 2, 3) padded W by (2, 1) and H by (1, 0) with 7."""
    x = Tensor(np.arange(6.0).reshape(1, 2, 3), requires_grad=True)
    y = F.pad(x, (2, 1, 1, 0), value=7.0)
    np.testing.assert_array_equal(y.data, [[[7, 7, 7, 7, 7, 7],
                                            [7, 7, 0, 1, 2, 7],
                                            [7, 7, 3, 4, 5, 7]]])
    gy = np.arange(18.0).reshape(1, 3, 6)
    y.backward(gy)
    np.testing.assert_array_equal(x.grad, gy[:, 1:3, 2:5])
    assert x.grad.flags.c_contiguous and not np.shares_memory(x.grad, gy)


def test_default_value_zero_and_every_axis():
    x = Tensor(np.ones((1, 1, 1), dtype=np.float32), requires_grad=True)
    y = F.pad(x, (1, 0, 0, 1, 1, 1))
    assert y.shape == (3, 2, 2) and y.dtype == np.float32
    want = np.zeros((3, 2, 2))
    want[1, 0, 1] = 1.0
    np.testing.assert_array_equal(y.data, want)
    assert F.pad(x, ()).shape == (1, 1, 1)
    y.backward(np.arange(12.0).reshape(3, 2, 2))
    np.testing.assert_array_equal(x.grad, [[[5.0]]])


def test_parity_with_torch():
    torch = pytest.importorskip("torch")
    xs = np.random.default_rng(0).standard_normal((2, 3, 4, 5))
    for widths in [(1, 2), (0, 3, 2, 1), (1, 0, 0, 2, 3, 1), (2, 1, 1, 0, 0, 1, 1, 2)]:
        x, tx = Tensor(xs, requires_grad=True), torch.tensor(xs, requires_grad=True)
        y, ty = F.pad(x, widths, value=-0.5), torch.nn.functional.pad(tx, widths, value=-0.5)
        np.testing.assert_array_equal(y.data, ty.detach().numpy())
        g = np.random.default_rng(1).standard_normal(y.shape)
        y.backward(g)
        ty.backward(torch.tensor(g))
        np.testing.assert_array_equal(x.grad, tx.grad.numpy())


def test_errors():
    x = Tensor(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="pad supports mode='constant' only, got 'reflect'"):
        F.pad(x, (1, 1), mode="reflect")
    with pytest.raises(ValueError, match=r"pad needs \(before, after\) pairs for at most 2 axes, "
                                         r"got \(1, 1, 1\)"):
        F.pad(x, (1, 1, 1))
    with pytest.raises(ValueError, match=r"at most 2 axes, got \(1, 1, 1, 1, 1, 1\)"):
        F.pad(x, (1, 1, 1, 1, 1, 1))
    assert F.pad(x, (1, 1, 1, 1)).shape == (4, 5)          # one pair per axis is fine
    with pytest.raises(ValueError, match=r"pad widths must be >= 0 \(cropping is not "
                                         r"supported\), got \(0, 0, 0, -1\)"):
        F.pad(x, (0, 0, 0, -1))
    assert F.pad(x, [0, 0]).shape == (2, 3)


def test_mode_is_compared_by_value():
    """Every mode but 'constant' is refused, whether it sorts before it
    ('circular') or after ('reflect', 'replicate'); a 'constant' built at
    run time (a distinct str object, not the interned literal) is accepted."""
    x = Tensor(np.zeros((2, 3)))
    for mode in ("circular", "reflect", "replicate"):
        with pytest.raises(ValueError, match=f"mode='constant' only, got '{mode}'"):
            F.pad(x, (1, 1), mode=mode)
    built = "".join(["con", "stant"])
    assert built == "constant"
    np.testing.assert_array_equal(F.pad(x, (1, 0), mode=built).data, np.zeros((2, 4)))
