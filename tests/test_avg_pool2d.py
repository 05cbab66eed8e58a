"""avg_pool2d (minialex/functions/avg_pool2d.py): PyTorch parity on windows
that differ along H and W (so no H/W slip can hide), paddings up to
kernel // 2 (also 2, where 2 * p and 2 ** p differ), and every argument
check at its boundary, with its message. The toolkit's shared cases are in
tests/test_toolkit_ops.py."""

import numpy as np
import pytest

from conftest import assert_matches_torch
from minialex import Tensor, gradcheck
from minialex import functional as F

# (kernel, stride, padding, ceil_mode, count_include_pad, (H, W)): every
# number differs between H and W; paddings 0..kernel // 2
CASES = [
    ((5, 3), (2, 1), (2, 1), True, True, (7, 6)),
    ((5, 3), (2, 1), (2, 1), True, False, (7, 6)),
    ((3, 5), (1, 3), (1, 2), False, True, (6, 9)),
    ((3, 5), (1, 3), (1, 2), False, False, (6, 9)),
    ((4, 2), (3, 2), (2, 0), True, False, (9, 5)),
    ((4, 2), (3, 2), (2, 0), True, True, (9, 5)),
    ((2, 4), (2, 3), (0, 2), True, True, (5, 8)),
    ((1, 3), (2, 2), (0, 1), True, False, (5, 4)),
    ((5, 5), (3, 3), (2, 2), True, False, (8, 8)),
    # the last window ends at 5 + 2 = 7, before the input's end p + W = 8:
    # the padded array must still hold the whole input
    ((2, 2), (5, 5), (1, 1), False, True, (7, 7)),
    ((2, 1), (5, 1), (1, 0), False, False, (7, 3)),
    ((1, 2), (1, 5), (0, 1), False, False, (3, 7)),
]


@pytest.mark.parametrize("k,s,p,ceil,include,hw", CASES)
def test_parity_with_torch_on_unequal_windows(k, s, p, ceil, include, hw):
    """Values and gradients equal PyTorch's F.avg_pool2d (float64)."""
    torch = pytest.importorskip("torch")
    assert_matches_torch(lambda x: F.avg_pool2d(x, k, s, p, ceil, include),
                         lambda t: torch.nn.functional.avg_pool2d(t, k, s, p, ceil, include),
                         np.random.default_rng(0).standard_normal((2, 3) + hw))


@pytest.mark.parametrize("k,s,p,ceil,include,hw", CASES[:5])
def test_gradcheck_on_unequal_windows(k, s, p, ceil, include, hw):
    x = Tensor(np.random.default_rng(2).uniform(-2, 2, (1, 2) + hw), requires_grad=True)
    assert gradcheck(lambda t: F.avg_pool2d(t, k, s, p, ceil, include), [x])


def test_by_hand_padding_two_without_the_padding_counted():
    """kernel 5, padding 2, stride 5 on a 1x3 row 1, 2, 3 (x 1 row): one
    window covering all 3 inputs, 25 places of which 3 are inputs."""
    x = Tensor(np.array([[[[1.0, 2.0, 3.0]]]]), requires_grad=True)
    y = F.avg_pool2d(x, (1, 5), (1, 5), (0, 2), count_include_pad=False)
    np.testing.assert_array_equal(y.data, [[[[2.0]]]])
    y.backward(np.array([[[[6.0]]]]))
    np.testing.assert_array_equal(x.grad, [[[[2.0, 2.0, 2.0]]]])
    y = F.avg_pool2d(x, (1, 5), (1, 5), (0, 2))
    np.testing.assert_array_equal(y.data, [[[[6.0 / 5]]]])


def test_output_dtype_and_shape_float32():
    x = Tensor(np.ones((1, 1, 4, 6), dtype=np.float32))
    y = F.avg_pool2d(x, (2, 3))
    assert y.dtype == np.float32 and y.shape == (1, 1, 2, 2)
    np.testing.assert_array_equal(y.data, np.ones((1, 1, 2, 2)))


def test_the_smallest_legal_arguments_work():
    """kernel 1, stride 1, padding exactly kernel // 2, a kernel exactly as
    large as the padded input: all allowed (boundaries of the checks)."""
    x = Tensor(np.arange(6.0).reshape(1, 1, 2, 3))
    np.testing.assert_array_equal(F.avg_pool2d(x, 1, 1).data, x.data)
    y = F.avg_pool2d(x, (2, 3), 1, 0)                  # kernel == input
    np.testing.assert_array_equal(y.data, [[[[2.5]]]])
    y = F.avg_pool2d(x, (2, 3), 1, (1, 1), count_include_pad=False)  # padding == k // 2
    assert y.shape == (1, 1, 3, 3)
    np.testing.assert_allclose(y.data[0, 0, 0, 0], (0.0 + 1.0) / 2)   # x[0, 0:2]
    y = F.avg_pool2d(x, (4, 5), 1, (1, 1))             # kernel == padded input (4, 5)
    np.testing.assert_allclose(y.data, [[[[15.0 / 20]]]])


@pytest.mark.parametrize("kwargs,error,words", [
    (dict(kernel_size=0), ValueError, "kernel_size=(0, 0) and stride=(0, 0) must be >= 1"),
    (dict(kernel_size=(2, 0)), ValueError, "must be >= 1"),
    (dict(kernel_size=(2, 0), stride=1), ValueError, "kernel_size=(2, 0) and stride=(1, 1) must"),
    (dict(kernel_size=(0, 2), stride=(1, 2)), ValueError, "kernel_size=(0, 2) and stride=(1, 2)"),
    (dict(kernel_size=2, stride=0), ValueError, "stride=(0, 0) must be >= 1"),
    (dict(kernel_size=2, stride=(1, 0)), ValueError, "must be >= 1"),
    (dict(kernel_size=2, padding=-1), ValueError, "padding=(-1, -1) must be between 0 and half"),
    (dict(kernel_size=2, padding=(0, -1)), ValueError, "must be between 0 and half the kernel"),
    (dict(kernel_size=3, padding=(2, 1)), ValueError, "padding=(2, 1) must be between 0"),
    (dict(kernel_size=3, padding=(1, 2)), ValueError, "padding=(1, 2) must be between 0"),
    (dict(kernel_size=(5, 2)), ValueError, "kernel_size=(5, 2) is larger than the padded input (4, 5)"),
    (dict(kernel_size=(2, 6)), ValueError, "kernel_size=(2, 6) is larger than the padded input (4, 5)"),
    (dict(kernel_size=(5, 2), padding=(1, 0)), None, (1, 1, 1, 2)),
    (dict(kernel_size=(7, 2), padding=(1, 0)), ValueError, "larger than the padded input (6, 5)"),
    (dict(kernel_size=(2, 7), padding=(0, 1)), None, (1, 1, 2, 1)),
    (dict(kernel_size=(2, 8), padding=(0, 1)), ValueError, "larger than the padded input (4, 7)"),
    (dict(kernel_size=2.0), TypeError, "avg_pool2d: kernel_size=2.0 is invalid"),
    (dict(kernel_size=2, stride=(1, 2, 3)), TypeError, "avg_pool2d: stride=(1, 2, 3) is invalid"),
    (dict(kernel_size=2, padding=True), TypeError, "avg_pool2d: padding=True is invalid"),
])
def test_argument_errors_name_the_bad_value(kwargs, error, words):
    x = Tensor(np.zeros((1, 1, 4, 5)))
    if error is None:
        assert F.avg_pool2d(x, **kwargs).shape == words     # allowed: the output shape
        return
    with pytest.raises(error) as info:
        F.avg_pool2d(x, **kwargs)
    assert words in str(info.value)


def test_input_errors():
    with pytest.raises(ValueError, match=r"avg_pool2d expects x of shape \(N, C, H, W\), got "
                                         r"shape \(4, 5\); add the missing axes with reshape"):
        F.avg_pool2d(Tensor(np.zeros((4, 5))), 2)
    with pytest.raises(ValueError, match=r"got shape \(3, 4, 5\); add the missing axes"):
        F.avg_pool2d(Tensor(np.zeros((3, 4, 5))), 2)      # (C, H, W): one axis short
    with pytest.raises(ValueError, match=r"expects x of shape \(N, C, H, W\), got shape "
                                         r"\(1, 1, 1, 4, 4\); merge the extra axes into N"):
        F.avg_pool2d(Tensor(np.zeros((1, 1, 1, 4, 4))), 2)
    with pytest.raises(TypeError, match="avg_pool2d needs floating-point input"):
        F.avg_pool2d(Tensor(np.zeros((1, 1, 4, 4), dtype=np.int64)), 2)


def _reference_1d(x, k, s, p, ceil, include):
    """PyTorch's average pooling of one row, window by window (naive)."""
    w = len(x)
    n = (w + 2 * p - k + ((s - 1) if ceil else 0)) // s + 1
    if ceil and (n - 1) * s >= w + p:
        n -= 1
    y = []
    for o in range(n):
        start, end = o * s - p, min(o * s - p + k, w + p)
        lo, hi = max(start, 0), min(end, w)
        y.append(sum(x[lo:hi]) / ((end - start) if include else (hi - lo)))
    return np.array(y)


def test_every_small_window_along_each_axis_matches_the_window_by_window_reference():
    """All kernels 1..4, strides 1..4, paddings 0..k // 2, both modes, both
    divisors, on 1..7 columns (and the same along rows): y and dL/dx (with
    gy = 1 the gradient of x[j] is the sum of 1/d over its windows)."""
    for w in range(1, 8):
        x = np.random.default_rng(w).standard_normal(w)
        for k in range(1, min(w, 4) + 1):
            for s in range(1, 5):
                for p in range(0, k // 2 + 1):
                    for ceil in (False, True):
                        for include in (False, True):
                            want = _reference_1d(list(x), k, s, p, ceil, include)
                            gwant = np.array([
                                (_reference_1d(list(np.eye(w)[j]), k, s, p, ceil, include)).sum()
                                for j in range(w)])
                            for axis in (2, 3):
                                shape = [1, 1, 1, 1]
                                shape[axis] = w
                                win = [(v, other) if axis == 2 else (other, v)
                                       for v, other in ((k, 1), (s, 1), (p, 0))]
                                t = Tensor(x.reshape(shape), requires_grad=True)
                                y = F.avg_pool2d(t, *win, ceil, include)
                                np.testing.assert_allclose(y.data.ravel(), want, rtol=1e-12,
                                                           err_msg=str((w, k, s, p, ceil, include)))
                                y.backward(np.ones(y.shape))
                                np.testing.assert_allclose(t.grad.ravel(), gwant, rtol=1e-12,
                                                           err_msg=str((w, k, s, p, ceil, include)))


def test_the_size_message_adds_the_padding_on_both_sides():
    """A 2x3 input with padding 1 is 4x5 padded (2 + 2 and 3 + 2, where
    2 | 2 = 2, 2 ^ 2 = 0, 3 | 2 = 3 and 3 ^ 2 = 1 would print something
    else), too small for a 6x6 kernel."""
    with pytest.raises(ValueError) as info:
        F.avg_pool2d(Tensor(np.zeros((1, 1, 2, 3))), 6, padding=1)
    assert str(info.value).endswith("larger than the padded input (4, 5); use a smaller kernel")


@pytest.mark.parametrize("size, kernel, padding, why", [
    (4, 5, 2, "a buffer of (H + 2) ^ 2 = 4 rows cannot take the input at rows 2..5"),
    (5, 6, 3, "a buffer of (H + 2) | 3 = 7 rows cannot take the input at rows 3..7"),
])
def test_a_window_ending_before_the_input_copy_by_hand(size, kernel, padding, why):
    """One window (stride = kernel) over padded rows and columns 0..k-1,
    i.e. input rows and columns 0..k-p-1: y = x[:k-p, :k-p].sum() / k^2
    (padding counted), the gradient 1/k^2 there and 0 elsewhere. The padded
    buffer must still hold ph + H rows, past the window's end (the why column)."""
    x = Tensor(np.arange(1.0, size * size + 1).reshape(1, 1, size, size), requires_grad=True)
    y = F.avg_pool2d(x, kernel, stride=kernel, padding=padding)
    inner = kernel - padding
    np.testing.assert_allclose(y.data, [[[[x.data[0, 0, :inner, :inner].sum() / kernel**2]]]],
                               rtol=1e-15)
    y.backward(np.ones((1, 1, 1, 1)))
    want = np.zeros((size, size))
    want[:inner, :inner] = 1 / kernel**2
    np.testing.assert_allclose(x.grad[0, 0], want, rtol=1e-15)
