"""More of the geometry and argument checks of minialex/functions/_geometry.py,
each at the value where a one-character slip would change it: the padded
buffer's width, groups in the channel counts and their messages, bias
shapes, dtypes that are equal but not the same object, max_pool2d's
defaults and bounds, and local_response_norm's lower bounds."""

import numpy as np
import pytest

from minialex import Tensor
from minialex.functions._geometry import (PoolWindow, check_conv2d, check_conv_window,
                                          check_image_batch, check_lrn, check_pool, pair)


# ------------------------------------------------------------ pair, PoolWindow
@pytest.mark.parametrize("value", [(3,), (), (3, 3, 3)])
def test_pair_of_other_than_two_ints_is_a_type_error(value):
    """A 1-tuple or an empty one is the TypeError naming the op and argument
    (not an IndexError from reading both[1])."""
    with pytest.raises(TypeError) as info:
        pair(value, "kernel_size", "max_pool2d")
    assert str(info.value) == (f"max_pool2d: kernel_size={value!r} is invalid; give an int or "
                               "a pair (h, w) of ints")


def test_padded_size_covers_the_input_and_its_padding_when_windows_stop_short():
    """9 columns, kernel 3, stride 3, padding 1: 3 windows reach column 9 of
    the padded row, but xpad must hold the padding and all 9 inputs, 10
    columns (9 | 1 = 9 and 9 ^ 1 = 8 would be too few); rows likewise."""
    win = PoolWindow((3, 3), (3, 3), (1, 1), (3, 3))
    assert win.padded_size(9, 9) == (10, 10)
    assert PoolWindow((3, 3), (3, 3), (1, 1), (3, 3)).padded_size(9, 6) == (10, 9)


# ------------------------------------------------------------ check_image_batch
def test_image_batch_of_five_axes_is_refused():
    """ndim != 4, not only ndim < 4: a 5-D x is named with its shape."""
    with pytest.raises(ValueError) as info:
        check_image_batch(np.zeros((1, 1, 2, 3, 3)), "max_pool2d")
    assert str(info.value) == ("max_pool2d expects x of shape (N, C, H, W), got shape "
                               "(1, 1, 2, 3, 3); add the missing axes with reshape")


# ------------------------------------------------------------ check_conv_window
def test_conv_window_refuses_a_five_axis_shape():
    """len(x_shape) != 4, not only < 4: a 5-D shape is named."""
    with pytest.raises(ValueError) as info:
        check_conv_window((1, 1, 2, 5, 5), 3, 1, 0, "conv2d")
    assert str(info.value) == ("conv2d expects a 4-D input (N, C, H, W), got shape "
                               "(1, 1, 2, 5, 5); add the batch axis with x.reshape(1, *x.shape) "
                               "for a single image")


def test_conv_window_message_gives_the_padded_width():
    """Width 2 and padding 1 make 4 padded columns (2 | 2 would say 2)."""
    with pytest.raises(ValueError) as info:
        check_conv_window((1, 1, 3, 2), (1, 5), 1, (0, 1), "conv2d")
    assert str(info.value) == ("conv2d: kernel (1, 5) is larger than the padded input (3, 4) "
                               "(input (3, 2), padding (0, 1)); use a smaller kernel or more "
                               "padding")


# ------------------------------------------------------------ check_conv2d
def _conv(x_shape, w_shape, b_shape=None, dtype=np.float64):
    x = Tensor(np.zeros(x_shape, dtype=dtype))
    w = Tensor(np.zeros(w_shape, dtype=dtype))
    b = Tensor(np.zeros(b_shape, dtype=dtype)) if b_shape is not None else None
    return x, w, b


def test_conv2d_refuses_an_x_that_is_not_4d():
    """A 5-D x is refused like a 3-D one (ndim != 4, not only ndim < 4)."""
    x, w, _ = _conv((1, 1, 2, 3, 3), (1, 2, 1, 1))
    with pytest.raises(ValueError) as info:
        check_conv2d(x, w, None, 1)
    assert str(info.value) == ("conv2d expects a 4-D x (N, C_in, H, W), got shape "
                               "(1, 1, 2, 3, 3); add the batch axis with x.reshape(1, *x.shape) "
                               "for a single image")


@pytest.mark.parametrize("x_shape,w_shape,groups", [
    ((1, 4, 3, 3), (4, 2, 1, 1), 2),      # C_out 4 != groups 2
    ((1, 6, 3, 3), (6, 2, 1, 1), 3),      # C_out 6 != groups 3
    ((1, 4, 5, 4), (2, 2, 1, 1), 2),      # W = C_in = weight.shape[1] * groups, not channels-last
    ((1, 6, 5, 2), (3, 2, 1, 1), 3),
])
def test_conv2d_accepts_grouped_shapes_that_fit(x_shape, w_shape, groups):
    """Valid grouped convolutions pass: C_out divisible by groups (not equal
    to it), weight.shape[1] == C_in // groups (not C_in * groups or
    C_in ** groups), whatever the width."""
    x, w, b = _conv(x_shape, w_shape, (w_shape[0],))
    assert check_conv2d(x, w, b, groups) is None


@pytest.mark.parametrize("groups", [True, 2.0, 0])
def test_conv2d_groups_must_be_a_positive_int(groups):
    """A bool or a float is refused even where its value would do."""
    x, w, _ = _conv((1, 2, 3, 3), (2, 2, 1, 1))
    with pytest.raises(ValueError) as info:
        check_conv2d(x, w, None, groups)
    assert str(info.value) == f"conv2d: groups must be a positive int, got {groups!r}"


def test_conv2d_output_channels_not_divisible_by_groups():
    """C_out = 3 with groups = 2: the exact message naming both."""
    x, w, _ = _conv((1, 4, 3, 3), (3, 2, 1, 1))
    with pytest.raises(ValueError) as info:
        check_conv2d(x, w, None, 2)
    assert str(info.value) == ("conv2d: output channels C_out=3 (weight.shape[0]) are not "
                               "divisible by groups=2")


def test_conv2d_channel_mismatch_message_counts_weight_channels_times_groups():
    """weight.shape[1] = 3 with groups=2 wants 6 channels (3 / 2, 3 // 2 or
    3 ** 2 would say 1.5, 1 or 9), in both messages."""
    x, w, _ = _conv((1, 4, 5, 5), (2, 3, 1, 1))
    with pytest.raises(ValueError) as info:
        check_conv2d(x, w, None, 2)
    assert str(info.value) == ("conv2d: expected 6 input channels, got 4: x (1, 4, 5, 5) has "
                               "C_in=4, weight (2, 3, 1, 1) with groups=2 needs "
                               "weight.shape[1] * groups = 6")
    x, w, _ = _conv((1, 4, 5, 6), (2, 3, 1, 1))
    with pytest.raises(ValueError) as info:
        check_conv2d(x, w, None, 2)
    assert str(info.value) == ("conv2d: expected 6 input channels, got 4: x (1, 4, 5, 6) looks "
                               "channels-last (N, H, W, C); conv2d needs NCHW (N, C, H, W): use "
                               "x.transpose(0, 3, 1, 2)")


@pytest.mark.parametrize("x_shape", [(1, 2, 5, 2), (1, 2, 5, 4), (1, 5, 4, 4)])
def test_conv2d_channel_mismatch_without_the_wanted_width_gets_no_hint(x_shape):
    """The weight wants 3 channels; a last axis of 2 or 4 (not 3) is no
    channels-last sign, and C_in = 5 > 3 is refused too: the plain message."""
    x, w, _ = _conv(x_shape, (1, 3, 1, 1))
    with pytest.raises(ValueError) as info:
        check_conv2d(x, w, None, 1)
    assert str(info.value).startswith(f"conv2d: expected 3 input channels, got {x_shape[1]}: "
                                      f"x {x_shape} has C_in={x_shape[1]}, weight (1, 3, 1, 1)")


@pytest.mark.parametrize("x_shape,want", [((1, 2, 2, 3), 3), ((1, 2, 4, 300), 300)])
def test_conv2d_channels_last_hint_when_height_is_below_the_channels(x_shape, want):
    """A last axis equal to the wanted channels gets the hint whenever H
    differs, also H < W (not only H > W), and for counts above 256 (distinct
    int objects in CPython: compared by value, not identity)."""
    x, w, _ = _conv(x_shape, (1, want, 1, 1))
    with pytest.raises(ValueError) as info:
        check_conv2d(x, w, None, 1)
    assert str(info.value) == (f"conv2d: expected {want} input channels, got 2: x {x_shape} "
                               "looks channels-last (N, H, W, C); conv2d needs NCHW (N, C, H, W): "
                               "use x.transpose(0, 3, 1, 2)")


@pytest.mark.parametrize("b_shape", [(3,), (1,), (2, 1), ()])
def test_conv2d_refuses_a_bias_of_another_shape(b_shape):
    """C_out = 2: a bias of shape (3,), (1,), (2, 1) or () is refused
    (tuples that order above and below (2,), and none is the same object)."""
    x, w, b = _conv((1, 2, 3, 3), (2, 2, 1, 1), b_shape)
    with pytest.raises(ValueError) as info:
        check_conv2d(x, w, b, 1)
    assert str(info.value) == f"conv2d: bias has shape {b_shape}, expected (2,)"


@pytest.mark.parametrize("which", ["x", "weight", "bias"])
def test_conv2d_dtypes_are_compared_by_value(which):
    """float32 with byte order '=' equals float32 but is another dtype
    object (as np.dtype reads from some files can be): accepted wherever it is."""
    x, w, b = _conv((1, 2, 3, 3), (2, 2, 1, 1), (2,), dtype=np.float32)
    same = np.dtype(np.float32).newbyteorder("=")
    assert same == np.float32 and same is not np.dtype(np.float32)
    arrays = dict(x=x, weight=w, bias=b)
    arrays[which] = Tensor(np.zeros(arrays[which].shape, dtype=same))
    assert check_conv2d(arrays["x"], arrays["weight"], arrays["bias"], 1) is None


# ------------------------------------------------------------ check_pool
def test_pool_defaults_are_no_padding_and_a_stride_of_the_kernel():
    """Padding 0 (the default or given) is valid on both axes, whatever the
    kernel: 0 is neither below 0 nor over kernel // 2."""
    assert check_pool(3) == ((3, 3), (3, 3), (0, 0))
    assert check_pool((3, 2), 1) == ((3, 2), (1, 1), (0, 0))
    assert check_pool(2, 1, 0) == ((2, 2), (1, 1), (0, 0))


def test_pool_padding_of_half_an_even_kernel_is_allowed():
    """Kernel 2 allows padding 2 // 2 = 1 on each axis (2 - 2, 2 % 2,
    2 ^ 2 would all allow 0)."""
    assert check_pool(2, None, 1) == ((2, 2), (2, 2), (1, 1))
    assert check_pool((3, 2), 1, (1, 1)) == ((3, 2), (1, 1), (1, 1))
    assert check_pool((4, 4), 2, (2, 2)) == ((4, 4), (2, 2), (2, 2))


@pytest.mark.parametrize("kernel,stride,words", [
    (0, None, "max_pool2d: kernel_size=0 must be >= 1"),
    ((3, 0), 1, "max_pool2d: kernel_size=(3, 0) must be >= 1"),
    (3, 0, "max_pool2d: stride=(0, 0) must be >= 1"),
    (3, (1, 0), "max_pool2d: stride=(1, 0) must be >= 1"),
])
def test_pool_kernel_and_stride_of_zero(kernel, stride, words):
    """0 is refused (>= 1, not only >= 0), the kernel by its own message."""
    with pytest.raises(ValueError) as info:
        check_pool(kernel, stride)
    assert str(info.value) == words


# ------------------------------------------------------------ check_lrn
@pytest.mark.parametrize("size", [2.5, True, 5.0])
def test_lrn_size_must_be_an_int_not_a_float_or_bool(size):
    """A float (even 5.0) or a bool is the TypeError, not a window size."""
    with pytest.raises(TypeError) as info:
        check_lrn(size, 1e-4, 0.75, 2.0)
    assert str(info.value) == (f"local_response_norm: size={size!r} is not an int; size must be "
                               "an integer >= 1 (the paper uses 5)")


@pytest.mark.parametrize("size", [0, -1])
def test_lrn_size_below_one(size):
    """0 and -1 are refused (>= 1, not only >= 0)."""
    with pytest.raises(ValueError) as info:
        check_lrn(size, 1e-4, 0.75, 2.0)
    assert str(info.value) == (f"local_response_norm: size={size!r} is invalid; size must be an "
                               "integer >= 1 (the paper uses 5)")


@pytest.mark.parametrize("name,bad,rule", [
    ("alpha", -1e-4, "a finite real number >= 0 (the paper uses 1e-4)"),
    ("alpha", -1, "a finite real number >= 0 (the paper uses 1e-4)"),
    ("k", 0, "a finite real number > 0 so k + alpha*sum stays positive (the paper uses 2)"),
    ("k", -0.5, "a finite real number > 0 so k + alpha*sum stays positive (the paper uses 2)"),
])
def test_lrn_alpha_below_zero_and_k_at_or_below_zero(name, bad, rule):
    """alpha must be >= 0 and k > 0: just below each bound (and k at 0) is
    the exact ValueError."""
    args = dict(size=5, alpha=1e-4, beta=0.75, k=2.0)
    args[name] = bad
    with pytest.raises(ValueError) as info:
        check_lrn(**args)
    assert str(info.value) == f"local_response_norm: {name}={bad!r} is invalid; {name} must be {rule}"


def test_lrn_accepts_small_sizes_and_k_between_zero_and_one():
    """size 1 and 2, k = 0.5 (above 0, below 1) and alpha 0 are valid."""
    assert check_lrn(1, 0.0, 0.75, 0.5) is None
    assert check_lrn(2, 1e-4, 0.0, 1e-3) is None
