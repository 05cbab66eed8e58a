"""conv2d, im2col, col2im and nn.Conv2d: hand-computed values, adjointness,
numerical gradients, errors, and parity with PyTorch at AlexNet's shapes."""

import numpy as np
import pytest
from hypothesis import example, given, settings, strategies as st

import minialex
from minialex import Tensor
from minialex.functions.conv2d import col2im, conv2d, conv_output_size, im2col
from minialex.nn.conv import Conv2d


def T(a, grad=False):
    return Tensor(np.asarray(a), requires_grad=grad)


# ---------------------------------------------------------------- hand-computed values
X44 = np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4)     # 0..15, row-major


def test_forward_2x2_kernel_by_hand():
    # x = [[ 0  1  2  3]      w = [[1 2]
    #      [ 4  5  6  7]           [3 4]]
    #      [ 8  9 10 11]
    #      [12 13 14 15]]
    # y[0,0] = 0*1 + 1*2 + 4*3 + 5*4 = 34; moving right adds 1*(1+2+3+4) = 10,
    # moving down adds 4*10 = 40.
    w = np.array([[[[1, 2], [3, 4]]]], dtype=np.float32)
    y = conv2d(T(X44), T(w)).data
    expected = np.array([[34, 44, 54], [74, 84, 94], [114, 124, 134]], dtype=np.float32)
    np.testing.assert_array_equal(y[0, 0], expected)
    assert y.dtype == np.float32 and y.shape == (1, 1, 3, 3)
    # stride 2 keeps windows at (0,0), (0,2), (2,0), (2,2); bias adds 0.5
    y2 = conv2d(T(X44), T(w), T(np.array([0.5], np.float32)), stride=2).data
    np.testing.assert_array_equal(y2[0, 0], expected[::2, ::2] + 0.5)


def test_forward_padding_by_hand():
    # 1x1x2x2 input, 3x3 kernel of ones, padding 1: each output is the sum of
    # the pixels in its 3x3 neighbourhood, which here is all four: 1+2+3+4.
    x = np.array([[[[1, 2], [3, 4]]]], dtype=np.float32)
    y = conv2d(T(x), T(np.ones((1, 1, 3, 3), np.float32)), padding=1).data
    np.testing.assert_array_equal(y, np.full((1, 1, 2, 2), 10, np.float32))
    # padding (0, 1) on a 1x3 kernel: row sums of [0, x, 0] windows
    y = conv2d(T(x), T(np.ones((1, 1, 1, 3), np.float32)), padding=(0, 1)).data
    np.testing.assert_array_equal(y[0, 0], [[3, 3], [7, 7]])


def test_groups_by_hand():
    # two channels, two groups, 1x1 kernels: output channel g only sees channel g
    x = np.stack([np.ones((2, 2)), 10 * np.ones((2, 2))])[None].astype(np.float32)
    w = np.array([2, 3], np.float32).reshape(2, 1, 1, 1)
    y = conv2d(T(x), T(w), groups=2).data
    np.testing.assert_array_equal(y[0, 0], np.full((2, 2), 2))
    np.testing.assert_array_equal(y[0, 1], np.full((2, 2), 30))


def test_im2col_by_hand():
    # x (1, 1, 3, 3) = 0..8, kernel 2x2, stride 1: four windows, columns in
    # (row, column) order; rows are the kernel offsets (0,0), (0,1), (1,0), (1,1)
    x = np.arange(9, dtype=np.float32).reshape(1, 1, 3, 3)
    cols = im2col(x, 2)
    expected = np.array([[0, 1, 3, 4],
                         [1, 2, 4, 5],
                         [3, 4, 6, 7],
                         [4, 5, 7, 8]], dtype=np.float32)
    np.testing.assert_array_equal(cols, expected)
    # two images, two channels, padding 1, stride 2, kernel 1: the padded
    # 5x5 grid read at rows/cols 0, 2, 4 -> corners are padding zeros
    x2 = np.arange(2 * 2 * 3 * 3, dtype=np.float32).reshape(2, 2, 3, 3)
    cols2 = im2col(x2, 1, stride=2, padding=1)
    assert cols2.shape == (2, 2 * 3 * 3)
    # columns are (oh, ow, n), the image fastest: image 0 is every other column.
    # Channel 0 of image 0 reads padded (0,0), (0,2), ..., (4,4): only (2,2),
    # which is x[0, 0, 1, 1] = 4, is inside the image.
    np.testing.assert_array_equal(cols2[0, 0::2].reshape(3, 3), [[0, 0, 0], [0, 4, 0], [0, 0, 0]])
    np.testing.assert_array_equal(cols2[1, 1::2].reshape(3, 3), [[0, 0, 0], [0, 31, 0], [0, 0, 0]])


def test_im2col_layout_formula():
    # every entry against the documented formula, by brute force
    rng = np.random.default_rng(1)
    N, C, H, W, (kh, kw), (sh, sw), (ph, pw) = 2, 3, 5, 7, (2, 3), (2, 1), (1, 0)
    x = rng.standard_normal((N, C, H, W))
    cols = im2col(Tensor(x), (kh, kw), (sh, sw), (ph, pw))
    OH, OW = conv_output_size(H, kh, sh, ph), conv_output_size(W, kw, sw, pw)
    assert (OH, OW) == (3, 5) and cols.shape == (C * kh * kw, OH * OW * N)
    assert cols.dtype == np.float64
    xpad = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    expected = np.empty_like(cols)
    for c, i, j, oh, ow, n in np.ndindex(C, kh, kw, OH, OW, N):
        expected[(c * kh + i) * kw + j, (oh * OW + ow) * N + n] = xpad[n, c, sh * oh + i, sw * ow + j]
    np.testing.assert_array_equal(cols, expected)


def test_col2im_counts_windows():
    # col2im(im2col(x)) = x * (number of windows that read each pixel)
    x = np.ones((1, 1, 4, 4), np.float32)
    back = col2im(im2col(x, 2), x.shape, 2)
    np.testing.assert_array_equal(back[0, 0], [[1, 2, 2, 1], [2, 4, 4, 2], [2, 4, 4, 2], [1, 2, 2, 1]])
    # 3x3 kernel, stride 2 on 6x6: (6 - 3) is not a multiple of 2, the last
    # row and column are read by no window and get 0
    x = np.ones((1, 1, 6, 6))
    back = col2im(im2col(x, 3, 2), x.shape, 3, 2)
    np.testing.assert_array_equal(back[0, 0, 5], 0)
    np.testing.assert_array_equal(back[0, 0, :, 5], 0)
    np.testing.assert_array_equal(back[0, 0, 0, :5], [1, 1, 2, 1, 1])
    np.testing.assert_array_equal(back[0, 0, 2, :5], [2, 2, 4, 2, 2])


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 2), c=st.integers(1, 3), h=st.integers(1, 7), w=st.integers(1, 7),
       kh=st.integers(1, 3), kw=st.integers(1, 3), sh=st.integers(1, 3), sw=st.integers(1, 3),
       ph=st.integers(0, 2), pw=st.integers(0, 2), seed=st.integers(0, 2**16))
def test_col2im_is_adjoint_of_im2col(n, c, h, w, kh, kw, sh, sw, ph, pw, seed):
    if kh > h + 2 * ph or kw > w + 2 * pw:
        return
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c, h, w))
    cols = im2col(x, (kh, kw), (sh, sw), (ph, pw))
    cvec = rng.standard_normal(cols.shape)
    back = col2im(cvec, x.shape, (kh, kw), (sh, sw), (ph, pw))
    assert back.shape == x.shape
    np.testing.assert_allclose(np.sum(cols * cvec), np.sum(x * back), rtol=1e-10, atol=1e-10)


# ---------------------------------------------------------------- gradients (float64)
@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 2), cg=st.integers(1, 2), g=st.integers(1, 3), og=st.integers(1, 2),
       h=st.integers(1, 7), w=st.integers(1, 7), kh=st.integers(1, 3), kw=st.integers(1, 3),
       sh=st.integers(1, 3), sw=st.integers(1, 3), ph=st.integers(0, 2), pw=st.integers(0, 2),
       bias=st.booleans(), seed=st.integers(0, 2**16))
# always try: H != W with (H + 2p - k) not a multiple of the stride, and three groups
@example(n=2, cg=2, g=3, og=1, h=8, w=6, kh=3, kw=2, sh=2, sw=3, ph=1, pw=0, bias=True, seed=1)
@example(n=1, cg=1, g=2, og=2, h=7, w=4, kh=3, kw=3, sh=3, sw=2, ph=0, pw=2, bias=False, seed=2)
def test_gradcheck(n, cg, g, og, h, w, kh, kw, sh, sw, ph, pw, bias, seed):
    if kh > h + 2 * ph or kw > w + 2 * pw:
        return
    rng = np.random.default_rng(seed)
    x = Tensor(rng.standard_normal((n, cg * g, h, w)), requires_grad=True)
    wt = Tensor(rng.standard_normal((og * g, cg, kh, kw)), requires_grad=True)
    inputs = [x, wt]
    if bias:
        inputs.append(Tensor(rng.standard_normal(og * g), requires_grad=True))

    def f(*ts):
        return conv2d(*ts, stride=(sh, sw), padding=(ph, pw), groups=g)

    assert minialex.gradcheck(f, inputs, atol=1e-6, rtol=1e-5)


def test_gradient_of_unread_pixels_is_zero():
    # H - k = 6 - 3 and W - k = 8 - 3 are odd, stride 2: row 5 and column 7
    # are read by no window
    rng = np.random.default_rng(0)
    x = Tensor(rng.standard_normal((1, 2, 6, 8)), requires_grad=True)
    w = Tensor(rng.standard_normal((3, 2, 3, 3)), requires_grad=True)
    y = conv2d(x, w, stride=2)
    assert y.shape == (1, 3, 2, 3)
    y.backward(np.ones(y.shape))
    assert np.all(x.grad[:, :, 5, :] == 0) and np.all(x.grad[:, :, :, 7] == 0)
    assert np.all(x.grad[:, :, :5, :7] != 0)


def test_input_grad_skipped_when_not_needed():
    rng = np.random.default_rng(0)
    x = Tensor(rng.standard_normal((2, 3, 5, 5)).astype(np.float32))      # the image
    w = Tensor(rng.standard_normal((4, 3, 3, 3)).astype(np.float32), requires_grad=True)
    b = Tensor(np.zeros(4, np.float32), requires_grad=True)
    conv2d(x, w, b).backward(np.ones((2, 4, 3, 3), np.float32))
    assert x.grad is None and w.grad.dtype == np.float32 and b.grad.dtype == np.float32
    np.testing.assert_allclose(b.grad, np.full(4, 18.0))                   # 2 * 3 * 3 ones
    # weight gradient of an all-ones gy = sum of every window's pixels
    np.testing.assert_allclose(w.grad[0, 0, 0, 0], x.data[:, 0, :3, :3].sum(), rtol=1e-5)


def test_float32_stays_float32():
    rng = np.random.default_rng(0)
    x = Tensor(rng.standard_normal((2, 4, 6, 6)).astype(np.float32), requires_grad=True)
    w = Tensor(rng.standard_normal((4, 2, 3, 3)).astype(np.float32), requires_grad=True)
    b = Tensor(np.zeros(4, np.float32), requires_grad=True)
    y = conv2d(x, w, b, padding=1, groups=2)
    y.backward(np.ones(y.shape, np.float32))
    assert y.dtype == x.grad.dtype == w.grad.dtype == b.grad.dtype == np.float32


# ---------------------------------------------------------------- errors
def _ok():
    return T(np.zeros((1, 4, 5, 5), np.float32)), T(np.zeros((6, 2, 3, 3), np.float32))


@pytest.mark.parametrize("call, exc, words", [
    (lambda x, w: conv2d(T(np.zeros((4, 5, 5), np.float32)), w), ValueError, ["4-D", "(4, 5, 5)"]),
    (lambda x, w: conv2d(x, T(np.zeros((6, 2, 3), np.float32))), ValueError, ["(6, 2, 3)"]),
    (lambda x, w: conv2d(T(np.zeros((1, 5, 5, 5), np.float32)), T(np.zeros((6, 2, 3, 3), np.float32)), groups=2),
     ValueError, ["C_in=5", "groups=2"]),
    (lambda x, w: conv2d(x, T(np.zeros((5, 2, 3, 3), np.float32)), groups=2), ValueError, ["C_out=5"]),
    (lambda x, w: conv2d(x, T(np.zeros((6, 3, 3, 3), np.float32)), groups=2), ValueError, ["C_in=4"]),
    (lambda x, w: conv2d(x, w, groups=0), ValueError, ["groups", "0"]),
    (lambda x, w: conv2d(x, T(np.zeros((6, 2, 7, 7), np.float32)), groups=2), ValueError,
     ["(7, 7)", "(5, 5)"]),
    (lambda x, w: conv2d(x, T(np.zeros((6, 2, 8, 8), np.float32)), padding=1, groups=2),
     ValueError, ["(8, 8)", "(7, 7)"]),
    (lambda x, w: conv2d(T(np.zeros((1, 4, 5, 5), np.uint8)), w, groups=2), TypeError, ["uint8"]),
    (lambda x, w: conv2d(x, T(np.zeros((6, 2, 3, 3), np.float64)), groups=2), TypeError, ["float64"]),
    (lambda x, w: conv2d(x, w, T(np.zeros(5, np.float32)), groups=2), ValueError, ["(5,)", "(6,)"]),
    (lambda x, w: conv2d(x, w, stride=0, groups=2), ValueError, ["stride", "(0, 0)"]),
    (lambda x, w: conv2d(x, w, padding=-1, groups=2), ValueError, ["padding", "(-1, -1)"]),
    (lambda x, w: conv2d(x, w, stride=1.5, groups=2), TypeError, ["1.5"]),
    (lambda x, w: im2col(np.zeros((5, 5)), 3), ValueError, ["4-D", "(5, 5)"]),
    (lambda x, w: im2col(np.zeros((1, 1, 2, 2)), 3), ValueError, ["(3, 3)", "(2, 2)"]),
    (lambda x, w: col2im(np.zeros((9, 5)), (1, 1, 3, 3), 2), ValueError, ["(9, 5)", "(4, 4)"]),
    # shapes that sort before the expected one, and one of the same size
    (lambda x, w: col2im(np.zeros((4, 3)), (1, 1, 3, 3), 2), ValueError, ["(4, 3)", "(4, 4)"]),
    (lambda x, w: col2im(np.zeros((2, 8)), (1, 1, 3, 3), 2), ValueError, ["(2, 8)", "(4, 4)"]),
])
def test_errors_name_the_bad_value(call, exc, words):
    x, w = _ok()
    with pytest.raises(exc) as info:
        call(x, w)
    for word in words:
        assert word in str(info.value), (word, str(info.value))


def test_good_arguments_pass():
    x, w = _ok()
    assert conv2d(x, w, groups=2).shape == (1, 6, 3, 3)


# ---------------------------------------------------------------- nn.Conv2d
def test_module_shapes_init_repr():
    minialex.manual_seed(0)
    m = Conv2d(4, 6, (3, 5), stride=2, padding=(1, 2), groups=2)
    assert m.weight.shape == (6, 2, 3, 5) and m.bias.shape == (6,)
    assert m.weight.dtype == np.float32 and m.weight.requires_grad
    bound = 1 / np.sqrt(2 * 3 * 5)
    assert np.abs(m.weight.data).max() <= bound and np.abs(m.weight.data).max() > 0.8 * bound
    assert np.abs(m.bias.data).max() <= bound
    assert [n for n, _ in m.named_parameters()] == ["weight", "bias"]
    assert repr(m) == "Conv2d(4, 6, kernel_size=(3, 5), stride=(2, 2), padding=(1, 2), groups=2)"
    y = m(T(np.ones((2, 4, 7, 9), np.float32)))
    assert y.shape == (2, 6, 4, 5)
    np.testing.assert_allclose(
        y.data, conv2d(T(np.ones((2, 4, 7, 9), np.float32)), m.weight, m.bias, 2, (1, 2), 2).data)
    m2 = Conv2d(3, 8, 5, bias=False)
    assert m2.bias is None and repr(m2) == "Conv2d(3, 8, kernel_size=(5, 5), stride=(1, 1), bias=False)"
    # the same seed gives the same weights
    minialex.manual_seed(0)
    np.testing.assert_array_equal(Conv2d(4, 6, (3, 5), 2, (1, 2), 2).weight.data, m.weight.data)


@pytest.mark.parametrize("args, words", [
    ((5, 6, 3, 1, 0, 2), ["in_channels=5", "groups=2"]),
    ((4, 5, 3, 1, 0, 2), ["out_channels=5", "groups=2"]),
    ((4, 6, 0), ["kernel_size=(0, 0)"]),
    ((4, 6, 3, 1, -1), ["padding=(-1, -1)"]),
    ((4, 6, 3, 1, 0, 0), ["groups", "0"]),
])
def test_module_errors(args, words):
    with pytest.raises(ValueError) as info:
        Conv2d(*args)
    for word in words:
        assert word in str(info.value)


# ---------------------------------------------------------------- parity with PyTorch
CIFAR = {"small": (32, 64, 96, 64), "half": (48, 128, 192, 128), "paper": (96, 256, 384, 256)}


def _cifar_layers(preset):
    c1, c2, c3, c5 = CIFAR[preset]
    return [(3, 28, c1, 5, 1, 2, 1), (c1, 13, c2, 5, 1, 2, 2), (c2, 6, c3, 3, 1, 1, 1),
            (c3, 6, c3, 3, 1, 1, 2), (c3, 6, c5, 3, 1, 1, 2)]


PARITY = [(preset, 8) + layer for preset in CIFAR for layer in _cifar_layers(preset)]
PARITY.append(("imagenet", 2, 3, 227, 96, 11, 4, 0, 1))
PARITY.append(("odd", 3, 6, 11, 4, (3, 2), (2, 3), (1, 0), 2))


def _close(a, b, scale):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5 * scale)


@pytest.mark.parametrize("name, n, c, h, co, k, s, p, g", PARITY)
def test_matches_torch(name, n, c, h, co, k, s, p, g):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(abs(hash((name, c, h, co))) % 2**32)
    kh, kw = (k, k) if isinstance(k, int) else k
    x = rng.standard_normal((n, c, h, h + 1 if name == "odd" else h), dtype=np.float32)
    w = rng.standard_normal((co, c // g, kh, kw), dtype=np.float32) / float(np.sqrt(c // g * kh * kw))
    b = rng.standard_normal(co, dtype=np.float32)
    X, W, B = (Tensor(a, requires_grad=True) for a in (x, w, b))
    y = conv2d(X, W, B, s, p, g)
    gy = rng.standard_normal(y.shape, dtype=np.float32)
    y.backward(gy)
    tx, tw, tb = (torch.from_numpy(a).requires_grad_(True) for a in (x, w, b))
    ty = torch.nn.functional.conv2d(tx, tw, tb, s, p, 1, g)
    ty.backward(torch.from_numpy(gy))
    assert y.shape == tuple(ty.shape) and y.dtype == np.float32
    ref = ty.detach().numpy()
    _close(y.data, ref, np.abs(ref).max())
    for mine, theirs in ((X.grad, tx.grad), (W.grad, tw.grad), (B.grad, tb.grad)):
        theirs = theirs.numpy()
        assert mine.dtype == np.float32
        _close(mine, theirs, np.abs(theirs).max())


def test_threaded_copies_match_one_thread(monkeypatch):
    # big enough that im2col, col2im and both transposes split across threads
    from minialex.functions import _threads
    rng = np.random.default_rng(3)
    x = rng.standard_normal((16, 32, 24, 24), dtype=np.float32)
    w = rng.standard_normal((144, 16, 5, 5), dtype=np.float32)
    b = rng.standard_normal(144, dtype=np.float32)
    gy = rng.standard_normal((16, 144, 11, 11), dtype=np.float32)
    assert min(x.size, gy.size, 32 * 25 * 11 * 11 * 16) > 2 ** 18   # the threading threshold
    results = []
    for threads in (1, 3):
        monkeypatch.setattr(_threads, "_threads", threads)
        X, W, B = (Tensor(a, requires_grad=True) for a in (x, w, b))
        y = conv2d(X, W, B, stride=2, padding=1, groups=2)
        y.backward(gy)
        results.append((y.data, X.grad, W.grad, B.grad))
    assert _threads._pool is not None
    for one, many in zip(*results):
        np.testing.assert_array_equal(one, many)
    # and the numbers are right: against a direct sum over one window
    xpad = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1))).astype(np.float64)
    n, o, oh, ow = 5, 100, 4, 8                    # output channel 100 is in group 1
    window = xpad[n, 16:32, 2 * oh:2 * oh + 5, 2 * ow:2 * ow + 5]
    np.testing.assert_allclose(results[0][0][n, o, oh, ow], (window * w[o]).sum() + b[o], rtol=1e-4)


def test_backward_twice_with_retain_graph():
    # the first backward writes dL/dX over the saved columns; a second one
    # (retain_graph=True) must rebuild them and give the same gradients again
    rng = np.random.default_rng(4)
    x = Tensor(rng.standard_normal((3, 4, 7, 6)), requires_grad=True)
    w = Tensor(rng.standard_normal((6, 2, 3, 3)), requires_grad=True)
    b = Tensor(rng.standard_normal(6), requires_grad=True)
    y = conv2d(x, w, b, stride=(1, 2), padding=1, groups=2)
    gy = rng.standard_normal(y.shape)
    y.backward(gy, retain_graph=True)
    first = [t.grad.copy() for t in (x, w, b)]
    y.backward(gy)
    for t, g in zip((x, w, b), first):
        np.testing.assert_allclose(t.grad, 2 * g, rtol=1e-12, atol=1e-12)
    assert np.abs(first[1]).max() > 0


def test_no_grad_forward_matches():
    rng = np.random.default_rng(5)
    x = Tensor(rng.standard_normal((2, 4, 9, 9)).astype(np.float32))
    w = Tensor(rng.standard_normal((8, 4, 3, 3)).astype(np.float32), requires_grad=True)
    y1 = conv2d(x, w, stride=2)
    with minialex.no_grad():
        y2 = conv2d(x, w, stride=2)
        y3 = conv2d(x, w, stride=2)          # reuses the spare columns of y2's call
    assert not y2.requires_grad and y2.creator is None
    np.testing.assert_array_equal(y1.data, y2.data)
    np.testing.assert_array_equal(y2.data, y3.data)


def test_channels_last_input_gets_a_hint():
    w = minialex.Tensor(np.zeros((4, 3, 3, 3), np.float32))
    nhwc = minialex.Tensor(np.zeros((2, 8, 8, 3), np.float32))
    with pytest.raises(ValueError, match=r"channels-last.*transpose\(0, 3, 1, 2\)"):
        conv2d(nhwc, w)


def test_plain_arrays_are_constants():
    # as in every functional: an ndarray is a constant input (no gradient)
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 3, 8, 8)).astype(np.float32)
    w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    b = rng.standard_normal(4).astype(np.float32)
    W = minialex.Tensor(w, requires_grad=True)
    y = conv2d(x, W, b, padding=1)
    ref = conv2d(minialex.Tensor(x), minialex.Tensor(w), minialex.Tensor(b), padding=1)
    np.testing.assert_array_equal(y.data, ref.data)
    y.sum().backward()
    assert W.grad is not None and W.grad.shape == w.shape
    np.testing.assert_array_equal(conv2d(x, w).data, conv2d(minialex.Tensor(x), W).data)
    with pytest.raises(TypeError, match="int64"):
        conv2d(np.zeros((1, 3, 5, 5), np.int64), w)
    with pytest.raises(TypeError, match=r"got list; wrap it: minialex\.Tensor\(x\)"):
        conv2d(x.tolist(), W)


# ---------------------------------------------------------------- the Winograd path (3x3, stride 1)
def _winograd(path="winograd_f2x2_3x3"):
    from minialex.functions._kernels import paths
    return paths.use("conv2d", path)


WINOGRAD_KERNEL = {"winograd_f2x2_3x3": 3, "winograd_f3x3_3x3": 3, "winograd_f2x2_5x5": 5}


@pytest.mark.parametrize("path", sorted(WINOGRAD_KERNEL))
@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 2), cg=st.integers(1, 3), g=st.integers(1, 2), og=st.integers(1, 2),
       h=st.integers(1, 9), w=st.integers(1, 9), ph=st.integers(0, 2), pw=st.integers(0, 2),
       bias=st.booleans(), seed=st.integers(0, 2**16))
@example(n=2, cg=2, g=2, og=1, h=5, w=6, ph=1, pw=1, bias=True, seed=3)   # odd output rows
@example(n=2, cg=1, g=2, og=2, h=7, w=5, ph=1, pw=1, bias=True, seed=4)   # 7x5: 1 and 2 past 3
@example(n=1, cg=2, g=1, og=1, h=6, w=6, ph=1, pw=1, bias=False, seed=5)  # whole 3x3 tiles
def test_winograd_gradcheck(path, n, cg, g, og, h, w, ph, pw, bias, seed):
    r = WINOGRAD_KERNEL[path]
    if r > h + 2 * ph or r > w + 2 * pw:
        return
    rng = np.random.default_rng(seed)
    x = Tensor(rng.standard_normal((n, cg * g, h, w)), requires_grad=True)
    wt = Tensor(rng.standard_normal((og * g, cg, r, r)), requires_grad=True)
    inputs = [x, wt] + ([Tensor(rng.standard_normal(og * g), requires_grad=True)] if bias else [])
    with _winograd(path):
        assert minialex.gradcheck(lambda *ts: conv2d(*ts, padding=(ph, pw), groups=g), inputs,
                                  atol=1e-6, rtol=1e-5)


def test_winograd_float32_error_against_float64_reference():
    # F(2x2, 3x3) adds a few roundings per output (transforms of +-1, 1/2):
    # at AlexNet-like sizes its float32 error stays at im2col's order;
    # F(3x3, 3x3) within 3x F(2x2)'s bound (measured 1.5e-6 against 4.3e-7
    # on conv3-5: tests/test_conv2d_paths.py)
    from minialex.reference import conv as R
    rng = np.random.default_rng(5)
    x = rng.standard_normal((4, 64, 13, 13))
    w = rng.standard_normal((48, 32, 3, 3)) / np.sqrt(32 * 9)
    gy = rng.standard_normal((4, 48, 13, 13))
    ref = [R.conv2d(x, w, padding=1, groups=2)] + \
        list(R.conv2d_backward(gy, x, w, (1, 1), (1, 1), 2)[:2])
    errors = {}
    for path in ("winograd_f2x2_3x3", "winograd_f3x3_3x3", "chwn_slices"):
        from minialex.functions._kernels import paths
        X, W = Tensor(x.astype(np.float32), requires_grad=True), \
            Tensor(w.astype(np.float32), requires_grad=True)
        with paths.use("conv2d", path):
            y = conv2d(X, W, padding=1, groups=2)
            y.backward(gy.astype(np.float32))
        errors[path] = [np.abs(a - r).max() / np.abs(r).max()
                        for a, r in zip((y.data, X.grad, W.grad), ref)]
    for wino, f3, cols in zip(errors["winograd_f2x2_3x3"], errors["winograd_f3x3_3x3"],
                              errors["chwn_slices"]):
        assert wino < 1e-6 and wino < 4 * cols + 1e-7, errors
        assert f3 < 3e-6 and f3 < 12 * cols + 3e-7, errors


def test_winograd_is_the_default_for_3x3_stride_1_with_128_channels_a_group_only():
    from minialex.functions._kernels import paths
    assert paths.choose("conv2d", np, window=((3, 3), (1, 1)),
                        group_channels=128).__name__.endswith("winograd")
    assert paths.choose("conv2d", np, window=((3, 3), (1, 1)),
                        group_channels=127).__name__.endswith("mec")
    for window in (((3, 3), (2, 2)), ((5, 5), (1, 1)), ((3, 2), (1, 1)), None):
        assert not paths.choose("conv2d", np, window=window,
                                group_channels=384).__name__.endswith("winograd")


@pytest.mark.parametrize("path", sorted(WINOGRAD_KERNEL))
def test_winograd_backward_twice_with_retain_graph(path):
    # the first backward writes dL/dV over the saved V; a second one rebuilds V
    rng = np.random.default_rng(6)
    r = WINOGRAD_KERNEL[path]
    x = Tensor(rng.standard_normal((3, 4, 7, 6)), requires_grad=True)
    w = Tensor(rng.standard_normal((6, 2, r, r)), requires_grad=True)
    with _winograd(path):
        y = conv2d(x, w, padding=r // 2, groups=2)
        assert y.creator.winograd
        gy = rng.standard_normal(y.shape)
        y.backward(gy, retain_graph=True)
        first = [t.grad.copy() for t in (x, w)]
        y.backward(gy)
    for t, g in zip((x, w), first):
        np.testing.assert_allclose(t.grad, 2 * g, rtol=1e-12, atol=1e-12)
    assert np.abs(first[1]).max() > 0
