"""The window geometry and argument checks shared by conv2d, max_pool2d and
local_response_norm (minialex/functions/_geometry.py), each at its boundary
and with its message: what the op-level tests do not pin down."""

import numpy as np
import pytest

from minialex import Tensor
from minialex import functional as F
from minialex.functions._geometry import check_conv2d, check_conv_window, check_lrn, check_pool


# ------------------------------------------------------------ check_conv_window
@pytest.mark.parametrize("shape,kernel,padding,padded", [
    ((1, 1, 2, 5), (5, 1), (1, 0), (4, 5)),       # H + 2p = 4 < 5, but H << 2p = 8 is not
    ((1, 1, 3, 5), (4, 1), (0, 0), (3, 5)),       # H + 2*0 = 3 < 4 (2 ** 0 = 1 would let 4 pass)
    ((1, 1, 3, 5), (1, 6), (0, 0), (3, 5)),       # W + 2*0 = 5 < 6 (2 | 0 = 2 would not)
    ((1, 1, 3, 5), (1, 8), (0, 1), (3, 7)),       # W + 2*1 = 7 < 8 (3 * 1 = 3 would not)
    ((1, 1, 2, 2), (9, 1), (3, 0), (8, 2)),       # H + 2*3 = 8 < 9 (2 ** 3 = 8 would not)
])
def test_conv_window_kernel_larger_than_the_padded_input(shape, kernel, padding, padded):
    with pytest.raises(ValueError) as info:
        check_conv_window(shape, kernel, 1, padding, "conv2d")
    assert str(info.value).startswith(f"conv2d: kernel {kernel} is larger than the padded input "
                                      f"{padded} (input {shape[2:]}, padding {padding})")


@pytest.mark.parametrize("shape,kernel,padding,out", [
    ((1, 1, 2, 5), (4, 1), (1, 0), (1, 5)),       # kernel exactly the padded size: fits
    ((1, 1, 3, 5), (3, 7), (0, 1), (1, 1)),
    ((1, 1, 2, 2), (8, 2), (3, 0), (1, 1)),
])
def test_conv_window_kernel_as_large_as_the_padded_input_fits(shape, kernel, padding, out):
    got = check_conv_window(shape, kernel, 1, padding, "conv2d")
    assert got == (kernel, (1, 1), padding, out)


@pytest.mark.parametrize("kernel,stride,padding,words", [
    ((0, 3), 1, 0, "conv2d: kernel_size must be >= 1, got (0, 3)"),
    ((3, 0), 1, 0, "conv2d: kernel_size must be >= 1, got (3, 0)"),
    ((3, 3), (0, 1), 0, "conv2d: stride must be >= 1, got (0, 1)"),
    ((3, 3), (1, 0), 0, "conv2d: stride must be >= 1, got (1, 0)"),
    ((3, 3), 1, (-1, 0), "conv2d: padding must be >= 0, got (-1, 0)"),
    ((3, 3), 1, (0, -1), "conv2d: padding must be >= 0, got (0, -1)"),
])
def test_conv_window_bad_values(kernel, stride, padding, words):
    with pytest.raises(ValueError) as info:
        check_conv_window((1, 1, 5, 5), kernel, stride, padding, "conv2d")
    assert str(info.value) == words


# ------------------------------------------------------------ check_conv2d
def _conv_inputs(x_shape, w_shape, dtype=np.float64, wdtype=None, bdtype=None, bias=True):
    x = Tensor(np.zeros(x_shape, dtype=dtype))
    w = Tensor(np.zeros(w_shape, dtype=wdtype or dtype))
    b = Tensor(np.zeros(w_shape[0], dtype=bdtype or dtype)) if bias else None
    return x, w, b


@pytest.mark.parametrize("x_dtype,w_dtype,b_dtype", [
    (np.float64, np.float32, np.float64),       # float32 < float64: not '>'
    (np.float32, np.float64, np.float32),
    (np.float32, np.float32, np.float64),       # float64 > float32: not '<'
    (np.float64, np.float64, np.float32),
])
def test_conv2d_refuses_mixed_float_dtypes(x_dtype, w_dtype, b_dtype):
    x, w, b = _conv_inputs((1, 2, 3, 3), (1, 2, 1, 1), x_dtype, w_dtype, b_dtype)
    with pytest.raises(TypeError) as info:
        check_conv2d(x, w, b, 1)
    assert str(info.value).startswith(f"conv2d: x is {np.dtype(x_dtype)} but weight is "
                                      f"{np.dtype(w_dtype)} and bias is {np.dtype(b_dtype)}")


@pytest.mark.parametrize("w_shape", [(1, 2, 1, 1, 1), (1, 2, 1)])
def test_conv2d_refuses_a_weight_that_is_not_4d(w_shape):
    x, w, _ = _conv_inputs((1, 2, 3, 3), w_shape)
    with pytest.raises(ValueError, match=r"conv2d expects a 4-D weight \(C_out, C_in // groups, "
                                         r"kh, kw\), got shape"):
        check_conv2d(x, w, None, 1)


def test_conv2d_refuses_zero_input_channels_by_name():
    """No input channels is the library's ValueError (it was a bare reshape
    error inside the im2col kernels), through F.conv2d too."""
    x, w, _ = _conv_inputs((4, 0, 4, 4), (2, 0, 3, 3))
    msg = r"conv2d needs at least one input channel, got x of shape \(4, 0, 4, 4\)"
    with pytest.raises(ValueError, match=msg):
        check_conv2d(x, w, None, 1)
    with pytest.raises(ValueError, match=msg):
        F.conv2d(x, w)


def test_conv2d_channels_last_hint_also_when_the_weight_wants_more_channels():
    """x (1, 2, 4, 3) looks like NHWC with 3 channels, which the weight
    (C_in = 3) wants: the message says so (weight.shape[1] > C_in here)."""
    x, w, b = _conv_inputs((1, 2, 4, 3), (1, 3, 1, 1))
    with pytest.raises(ValueError, match="looks channels-last"):
        check_conv2d(x, w, b, 1)
    x, w, b = _conv_inputs((1, 5, 4, 3), (1, 3, 1, 1))      # C_in 5 > 3
    with pytest.raises(ValueError, match="looks channels-last"):
        check_conv2d(x, w, b, 1)


def test_conv2d_checks_compare_channel_counts_by_value_not_identity():
    """Counts above 256 are distinct int objects in CPython: equal counts
    must pass, and a square map of that size is no channels-last sign."""
    x, w, b = _conv_inputs((1, 300, 5, 300), (1, 300, 1, 1))
    check_conv2d(x, w, b, 1)                                 # C_in 300 = weight's
    x, w, b = _conv_inputs((1, 600, 1, 1), (2, 300, 1, 1))
    check_conv2d(x, w, b, 2)                                 # 600 // 2 = 300
    x, w, b = _conv_inputs((1, 2, 300, 300), (1, 300, 1, 1))
    with pytest.raises(ValueError) as info:
        check_conv2d(x, w, b, 1)
    assert "channels-last" not in str(info.value) and "has C_in=2" in str(info.value)
    y = F.conv2d(Tensor(np.ones((1, 300, 1, 2))), Tensor(np.ones((1, 300, 1, 1))))
    np.testing.assert_array_equal(y.data, [[[[300.0, 300.0]]]])


# ------------------------------------------------------------ check_pool
@pytest.mark.parametrize("kernel,padding,most", [
    (3, (2, 0), (1, 1)), (3, (0, 2), (1, 1)), (2, (2, 0), (1, 1)), (5, (3, 0), (2, 2)),
    ((5, 2), (0, 2), (2, 1)), ((2, 5), (2, 0), (1, 2)),
])
def test_pool_padding_over_half_the_kernel(kernel, padding, most):
    with pytest.raises(ValueError) as info:
        check_pool(kernel, None, padding)
    assert f"i.e. at most {most}, so every window holds at least one input" in str(info.value)


def test_pool_padding_of_exactly_half_the_kernel_is_allowed():
    assert check_pool((5, 3), 1, (2, 1)) == ((5, 3), (1, 1), (2, 1))
    assert check_pool(3, None, 1) == ((3, 3), (3, 3), (1, 1))


# ------------------------------------------------------------ check_lrn
@pytest.mark.parametrize("name", ["alpha", "beta", "k"])
@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_lrn_refuses_nan_and_infinities(name, bad):
    args = dict(size=5, alpha=1e-4, beta=0.75, k=2.0)
    args[name] = bad
    with pytest.raises(ValueError, match=f"local_response_norm: {name}={bad!r} is invalid"):
        check_lrn(**args)
    with pytest.raises(ValueError, match=f"{name}="):
        F.local_response_norm(Tensor(np.ones((1, 3, 2, 2))), **args)


def test_lrn_accepts_the_finite_edges():
    check_lrn(1, 0.0, -3.0, 1e-300)
    check_lrn(5, 1e300, 1e300, 1e300)
