"""max_pool2d and nn.MaxPool2d: hand-computed values (floor, ceil, -inf
padding), the tie rule, a loop-by-loop reference with many ties, numerical
gradients, errors, and parity with PyTorch at AlexNet's shapes."""

import itertools
import re

import numpy as np
import pytest
from hypothesis import assume, given, settings, strategies as st

import minialex
from minialex import Tensor, nn
from minialex.backend import cupy_available
from minialex.functions._geometry import PoolWindow
from minialex.functions._kernels import paths, pool_phases, pool_planes_last, pool_scatter
from minialex.functions.max_pool2d import max_pool2d, pool_output_size


def forced_path(path):
    """Run max_pool2d's CPU forward on one path whatever the map size:
    "phases" (the phase split) or "planes_last" (the small-map path)."""
    return paths.use("max_pool2d", path)


PATHS = ["phases", "planes_last"]


def T(a, grad=False):
    return Tensor(np.asarray(a), requires_grad=grad)


def pool_grad(x, gy, *args, **kw):
    """Run max_pool2d forward and backward; return (y, gx) as arrays."""
    t = T(x, grad=True)
    y = max_pool2d(t, *args, **kw)
    y.backward(np.asarray(gy, dtype=x.dtype))
    return y.data, t.grad


def reference_pool(x, k, s, p, ceil_mode, gy=None):
    """Loop-by-loop max-pooling (tests only): scan each window in row-major
    order, keep the first maximum; padding is -inf. Returns (y, gx)."""
    n, c, h, w = x.shape
    (kh, kw), (sh, sw), (ph, pw) = k, s, p
    oh = pool_output_size(h, kh, sh, ph, ceil_mode)
    ow = pool_output_size(w, kw, sw, pw, ceil_mode)
    y = np.empty((n, c, oh, ow), x.dtype)
    gx = np.zeros_like(x)
    for b, ch, oy, ox in itertools.product(range(n), range(c), range(oh), range(ow)):
        best, where = -np.inf, None
        for i, j in itertools.product(range(kh), range(kw)):
            r, col = oy * sh + i - ph, ox * sw + j - pw
            if 0 <= r < h and 0 <= col < w and (where is None or x[b, ch, r, col] > best):
                best, where = x[b, ch, r, col], (r, col)
        y[b, ch, oy, ox] = best
        if gy is not None:
            gx[b, ch][where] += gy[b, ch, oy, ox]
    return y, gx


# ---------------------------------------------------------------- hand-computed values
X55 = np.arange(25, dtype=np.float32).reshape(1, 1, 5, 5)        # 0..24, row-major


def assert_matches_the_loop_reference(path, x, args, rng):
    """``path``'s values and gradient (for whole-number gy drawn from rng,
    exact in float32) equal the loop reference's exactly."""
    y_ref, _ = reference_pool(x, *args)
    gy = rng.integers(1, 10, y_ref.shape).astype(np.float32)
    _, gx_ref = reference_pool(x, *args, gy=gy)
    with forced_path(path):
        y, gx = pool_grad(x, gy, *args)
    np.testing.assert_array_equal(y, y_ref)
    np.testing.assert_array_equal(gx, gx_ref)


def test_3x3_stride2_by_hand_floor_and_ceil():
    # windows start at rows/cols 0 and 2; the maximum is each window's
    # bottom-right element: (2,2)=12, (2,4)=14, (4,2)=22, (4,4)=24.
    # (5 - 3)/2 is exact, so ceil_mode gives the same 2x2.
    for ceil_mode in (False, True):
        y = max_pool2d(T(X55), 3, 2, ceil_mode=ceil_mode).data
        np.testing.assert_array_equal(y[0, 0], [[12, 14], [22, 24]])
        assert y.dtype == np.float32


def test_ceil_mode_adds_the_partial_window_by_hand():
    # 6x6 = 0..35, 3x3 stride 2: floor keeps windows at 0, 2 (2x2 output);
    # ceil adds the windows starting at 4, which hold rows/cols 4..5 only.
    x = np.arange(36, dtype=np.float32).reshape(1, 1, 6, 6)
    np.testing.assert_array_equal(max_pool2d(T(x), 3, 2).data[0, 0], [[14, 16], [26, 28]])
    np.testing.assert_array_equal(max_pool2d(T(x), 3, 2, ceil_mode=True).data[0, 0],
                                  [[14, 16, 17], [26, 28, 29], [32, 34, 35]])


def test_padding_is_minus_infinity_by_hand():
    # all-negative input -1..-25, padding 1: if padding were 0 every border
    # window would answer 0. Windows start at rows/cols -1, 1, 3 and each
    # answers its first real element (the least negative one).
    x = -(X55 + 1)
    y = max_pool2d(T(x), 3, 2, padding=1).data[0, 0]
    np.testing.assert_array_equal(y, [[-1, -2, -4], [-6, -7, -9], [-16, -17, -19]])
    # ceil mode beyond the padding reads -inf too: 2x2 stride 2 on 5x5
    # gives a third window holding only row/col 4
    y = max_pool2d(T(x), 2, 2, ceil_mode=True).data[0, 0]
    np.testing.assert_array_equal(y, [[-1, -3, -5], [-11, -13, -15], [-21, -23, -25]])


def test_output_sizes_and_the_drop_rule():
    assert pool_output_size(55, 3, 2, 0, False) == 27     # AlexNet ImageNet 55->27->13->6
    assert pool_output_size(27, 3, 2, 0, False) == 13
    assert pool_output_size(13, 3, 2, 0, False) == 6
    assert pool_output_size(28, 3, 2, 0, False) == 13     # CIFAR 28->13->6->2
    assert pool_output_size(6, 3, 2, 0, False) == 2
    assert pool_output_size(28, 3, 2, 0, True) == 14
    # H=5, k=2, s=2, p=1: ceil would give 4 windows, but the 4th starts at
    # padded index 6 = H + p (in the padding only), so it is dropped
    assert pool_output_size(5, 2, 2, 1, True) == 3
    assert max_pool2d(T(X55), 2, 2, padding=1, ceil_mode=True).shape == (1, 1, 3, 3)
    assert pool_output_size(5, 2, 2, 0, True) == 3 and pool_output_size(5, 2, 2, 0, False) == 2
    # rectangular kernel/stride/padding pairs
    x = np.zeros((2, 3, 7, 10), np.float32)
    assert max_pool2d(T(x), (3, 2), (1, 3), (1, 0)).shape == (2, 3, 7, 3)
    assert max_pool2d(T(x), 4).shape == (2, 3, 1, 2)          # stride defaults to kernel


# ---------------------------------------------------------------- the tie rule
def test_ties_go_to_the_first_element_in_row_major_order():
    # constant input: every element of a window is a maximum; the gradient
    # goes to its top-left element, the first in row-major order
    _, gx = pool_grad(np.ones((1, 1, 5, 5)), np.ones((1, 1, 2, 2)), 3, 2)
    expected = np.zeros((5, 5))
    expected[0, 0] = expected[0, 2] = expected[2, 0] = expected[2, 2] = 1
    np.testing.assert_array_equal(gx[0, 0], expected)
    # with padding the padded elements come first in the window but are -inf:
    # the first *real* element wins
    _, gx = pool_grad(np.ones((1, 1, 5, 5)), np.ones((1, 1, 3, 3)), 3, 2, padding=1)
    expected = np.zeros((5, 5))
    for r, c in itertools.product((0, 1, 3), (0, 1, 3)):
        expected[r, c] = 1
    np.testing.assert_array_equal(gx[0, 0], expected)


def test_overlapping_windows_add_their_gradients():
    # 3x5 input, 3x3 windows at columns 0 and 2 share column 2; the maximum
    # (9 at (1, 2)) lies in the overlap, so it gets both gradients 2 + 3.
    x = np.zeros((1, 1, 3, 5))
    x[0, 0, 1, 2] = 9
    y, gx = pool_grad(x, np.array([[[[2.0, 3.0]]]]), 3, 2)
    np.testing.assert_array_equal(y[0, 0], [[9, 9]])
    expected = np.zeros((3, 5))
    expected[1, 2] = 5
    np.testing.assert_array_equal(gx[0, 0], expected)
    # stride 1: 2x2 windows at columns 0 and 1 both hold the 5 at (0, 1)
    x = np.array([[[[0, 5, 0], [0, 0, 0]]]], dtype=np.float64)
    _, gx = pool_grad(x, np.array([[[[1.0, 10.0]]]]), 2, 1)
    np.testing.assert_array_equal(gx[0, 0], [[0, 11, 0], [0, 0, 0]])


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 2), c=st.integers(1, 3), h=st.integers(1, 8), w=st.integers(1, 8),
       kh=st.integers(1, 4), kw=st.integers(1, 4), sh=st.integers(1, 3), sw=st.integers(1, 3),
       ph=st.integers(0, 2), pw=st.integers(0, 2), ceil_mode=st.booleans(),
       seed=st.integers(0, 2**31 - 1))
@pytest.mark.parametrize("path", PATHS)
def test_matches_a_loop_reference_with_many_ties(path, n, c, h, w, kh, kw, sh, sw, ph, pw,
                                                 ceil_mode, seed):
    # values in {-1, 0, 1} (ties everywhere, like ReLU zeros); forward values
    # and the gradient routing must match the loop-by-loop reference exactly
    assume(ph <= kh // 2 and pw <= kw // 2 and h + 2 * ph >= kh and w + 2 * pw >= kw)
    rng = np.random.default_rng(seed)
    x = rng.integers(-1, 2, (n, c, h, w)).astype(np.float32)
    args = ((kh, kw), (sh, sw), (ph, pw), ceil_mode)
    y_ref, _ = reference_pool(x, *args)
    gy = rng.integers(1, 10, y_ref.shape).astype(np.float32)   # exact in float32
    with forced_path(path):
        y, gx = pool_grad(x, gy, *args)
    _, gx_ref = reference_pool(x, *args, gy=gy)
    np.testing.assert_array_equal(y, y_ref)
    np.testing.assert_array_equal(gx, gx_ref)
    assert gx.dtype == np.float32


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("points", [1, 50, 300])
def test_channel_blocks_give_the_same_result(monkeypatch, points, path):
    # on the CPU the forward runs over blocks of channels (phases) or of
    # planes (planes last) sized for the cache, the planes copied in pieces;
    # force tiny blocks and pieces (one channel or plane, or a few with a
    # shorter last one) and compare with the loop reference, ties and
    # padding included
    monkeypatch.setattr(pool_phases, "CACHE_POINTS", points)
    monkeypatch.setattr(pool_planes_last, "BLOCK_POINTS", points * 4)
    monkeypatch.setattr(pool_planes_last, "TRANSPOSE_PLANES", 3)   # copies in pieces of 3 planes
    rng = np.random.default_rng(points)
    for k, s, p, ceil_mode in [(3, 2, 0, False), (3, 2, 1, True), ((2, 3), (1, 2), (1, 1), True)]:
        x = rng.integers(-1, 2, (2, 7, 9, 8)).astype(np.float32)
        args = (k if isinstance(k, tuple) else (k, k), s if isinstance(s, tuple) else (s, s),
                p if isinstance(p, tuple) else (p, p), ceil_mode)
        assert_matches_the_loop_reference(path, x, args, rng)


def test_the_path_table_refuses_unknown_paths_and_restores_the_choice():
    with pytest.raises(ValueError, match="'fast'.*phases"):
        with paths.use("max_pool2d", "fast"):
            pass
    with pytest.raises(ValueError, match="unknown op 'pool'"):
        with paths.use("pool", "phases"):
            pass
    xp = np
    assert paths.choose("max_pool2d", xp, padded_pixels=13 * 13) is pool_planes_last
    assert paths.choose("max_pool2d", xp, padded_pixels=27 * 27) is pool_phases
    with paths.use("max_pool2d", "phases"):
        assert paths.choose("max_pool2d", xp, padded_pixels=13 * 13) is pool_phases
        with paths.use("max_pool2d", "planes_last"):
            assert paths.choose("max_pool2d", xp, padded_pixels=27 * 27) is pool_planes_last
        assert paths.choose("max_pool2d", xp, padded_pixels=27 * 27) is pool_phases
    assert paths.choose("max_pool2d", xp, padded_pixels=13 * 13) is pool_planes_last


# ---------------------------------------------------------------- numerical gradients
@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 2), c=st.integers(1, 3), h=st.integers(1, 9), w=st.integers(1, 9),
       kh=st.integers(1, 4), kw=st.integers(1, 4), sh=st.integers(1, 3), sw=st.integers(1, 3),
       ph=st.integers(0, 2), pw=st.integers(0, 2), ceil_mode=st.booleans(),
       seed=st.integers(0, 2**31 - 1))
@pytest.mark.parametrize("path", PATHS)
def test_gradcheck(path, n, c, h, w, kh, kw, sh, sw, ph, pw, ceil_mode, seed):
    # tie-free input: a random permutation of distinct values 0.1 apart, so
    # a step of 1e-6 never changes which element is the maximum
    assume(ph <= kh // 2 and pw <= kw // 2 and h + 2 * ph >= kh and w + 2 * pw >= kw)
    rng = np.random.default_rng(seed)
    x = T(rng.permutation(n * c * h * w).reshape(n, c, h, w) * 0.1 - 1.0, grad=True)
    f = lambda t: max_pool2d(t, (kh, kw), (sh, sw), (ph, pw), ceil_mode)
    with forced_path(path):
        assert minialex.gradcheck(f, [x], atol=1e-6, rtol=1e-5)   # wrong routing: off by O(1)


# ---------------------------------------------------------------- dtypes, modes, module
def test_keeps_the_dtype_and_no_grad_gives_the_same_values():
    rng = np.random.default_rng(0)
    for dtype in (np.float32, np.float64):
        x = rng.standard_normal((2, 3, 9, 7)).astype(dtype)
        t = T(x, grad=True)
        y = max_pool2d(t, 3, 2, 1, True)
        y.backward(np.ones(y.shape, dtype))
        assert y.dtype == dtype and t.grad.dtype == dtype
        with minialex.no_grad():
            y0 = max_pool2d(T(x), 3, 2, 1, True)
        np.testing.assert_array_equal(y0.data, y.data)
        assert y0.creator is None


def test_empty_batch_or_channels():
    for shape in [(0, 3, 5, 5), (2, 0, 5, 5)]:
        y, gx = pool_grad(np.zeros(shape, np.float32), np.zeros(shape[:2] + (2, 2), np.float32),
                          3, 2)
        assert y.shape == shape[:2] + (2, 2) and gx.shape == shape


def test_module_matches_the_function_and_has_no_parameters():
    pool = nn.MaxPool2d(3, 2)
    assert pool.parameters() == [] and "kernel_size=(3, 3), stride=(2, 2)" in repr(pool)
    x = T(np.random.default_rng(1).standard_normal((2, 4, 13, 13)).astype(np.float32))
    np.testing.assert_array_equal(pool(x).data, max_pool2d(x, 3, 2).data)
    assert pool(x).shape == (2, 4, 6, 6)
    assert nn.MaxPool2d(2).stride == (2, 2)
    y = nn.MaxPool2d((3, 1), (2, 1), padding=(1, 0), ceil_mode=True)(x)
    np.testing.assert_array_equal(y.data, max_pool2d(x, (3, 1), (2, 1), (1, 0), True).data)


# ---------------------------------------------------------------- errors
def Z(shape=(1, 1, 5, 5), dtype=np.float32):
    return T(np.zeros(shape, dtype))


@pytest.mark.parametrize("call, error, words", [
    (lambda: max_pool2d(Z((3, 5, 5)), 3, 2), ValueError, ["(3, 5, 5)", "(N, C, H, W)"]),
    (lambda: max_pool2d(Z(dtype=np.int64), 3, 2), TypeError, ["int64", "float32"]),
    (lambda: max_pool2d(Z(), 3, 2, 2), ValueError, ["padding=(2, 2)", "(1, 1)"]),
    (lambda: max_pool2d(Z(), 3, 2, -1), ValueError, ["padding=(-1, -1)"]),
    (lambda: max_pool2d(Z((1, 1, 2, 5)), 3, 2), ValueError, ["(3, 3)", "larger", "(2, 5)"]),
    (lambda: max_pool2d(Z(), 0), ValueError, ["kernel_size=0"]),
    (lambda: max_pool2d(Z(), 3, 0), ValueError, ["stride=(0, 0)"]),
    (lambda: max_pool2d(Z(), 2.5), TypeError, ["kernel_size=2.5"]),
    (lambda: max_pool2d(Z(), (3, 3, 3)), TypeError, ["(3, 3, 3)"]),
    (lambda: max_pool2d(Z(), 3, "2"), TypeError, ["stride='2'"]),
    (lambda: nn.MaxPool2d(3, 2, padding=2), ValueError, ["padding=(2, 2)"]),
    (lambda: nn.MaxPool2d(3, True), TypeError, ["stride=True"]),
])
def test_errors_name_the_bad_value(call, error, words):
    with pytest.raises(error) as info:
        call()
    for word in words:
        assert word in str(info.value)


# ---------------------------------------------------------------- PyTorch parity
ALEXNET_POOLS = [  # (C, H) of every pooled map: CIFAR presets small/half/paper, ImageNet
    (32, 28), (64, 13), (64, 6), (48, 28), (128, 13), (128, 6), (96, 28), (256, 13), (256, 6),
    (96, 55), (256, 27), (256, 13)]


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("c, h", ALEXNET_POOLS)
def test_matches_torch_at_alexnet_shapes(c, h, path):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(c * h)
    x = rng.standard_normal((2, c, h, h)).astype(np.float32)
    x[x < 0] = 0                           # ReLU output: many tied zeros
    for ceil_mode in (False, True):
        t = T(x, grad=True)
        with forced_path(path):
            y = max_pool2d(t, 3, 2, ceil_mode=ceil_mode)
        gy = rng.standard_normal(y.shape).astype(np.float32)
        y.backward(gy)
        tx = torch.tensor(x, requires_grad=True)
        ty = torch.nn.functional.max_pool2d(tx, 3, 2, ceil_mode=ceil_mode)
        ty.backward(torch.tensor(gy))
        assert y.shape == tuple(ty.shape)
        np.testing.assert_allclose(y.data, ty.detach().numpy(), rtol=1e-4, atol=0)
        np.testing.assert_allclose(t.grad, tx.grad.numpy(), rtol=1e-4, atol=1e-6)


def test_matches_torch_with_padding_and_rectangles():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(7)
    x = rng.standard_normal((2, 3, 11, 8)).astype(np.float32)
    for k, s, p, ceil_mode in [((3, 2), (2, 1), (1, 1), True), (3, 2, 1, False), (4, 3, 2, True),
                               ((2, 5), (3, 2), (0, 2), True)]:
        t = T(x, grad=True)
        y = max_pool2d(t, k, s, p, ceil_mode)
        gy = rng.standard_normal(y.shape).astype(np.float32)
        y.backward(gy)
        tx = torch.tensor(x, requires_grad=True)
        ty = torch.nn.functional.max_pool2d(tx, k, s, p, ceil_mode=ceil_mode)
        ty.backward(torch.tensor(gy))
        np.testing.assert_array_equal(y.data, ty.detach().numpy())
        np.testing.assert_allclose(t.grad, tx.grad.numpy(), rtol=1e-6, atol=1e-7)


# ---------------------------------------------------------------- GPU
@pytest.mark.gpu
@pytest.mark.skipif(not cupy_available(), reason="needs CuPy and a GPU")
def test_cuda_matches_cpu():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((4, 8, 28, 28)).astype(np.float32)
    x[x < 0] = 0
    for args in [(3, 2, 0, False), (3, 2, 1, True), ((3, 2), (2, 1), (1, 0), True)]:
        t_cpu, t_gpu = T(x, grad=True), Tensor(x, requires_grad=True, device="cuda:0")
        y_cpu, y_gpu = max_pool2d(t_cpu, *args), max_pool2d(t_gpu, *args)
        gy = rng.standard_normal(y_cpu.shape).astype(np.float32)
        y_cpu.backward(gy)
        y_gpu.backward(gy)
        assert y_gpu.device == t_gpu.device and y_gpu.dtype == np.float32
        np.testing.assert_array_equal(y_gpu.numpy(), y_cpu.data)
        np.testing.assert_allclose(t_gpu.grad.get(), t_cpu.grad, rtol=1e-6, atol=1e-6)


# ---------------------------------------------------------------- the path rule
@pytest.mark.parametrize("shape, k, s, p, pixels, planes_last", [
    ((6, 6), 3, 2, 0, 36, True),        # AlexNet's CIFAR pool3 input
    ((13, 13), 3, 2, 0, 169, True),     # AlexNet's ImageNet pool3 input
    ((20, 20), 3, 2, 0, 400, True),     # = PLANES_LAST_MAX_PIXELS: still planes last
    ((10, 40), 1, 1, 0, 400, True),     # 400 again, not square
    ((21, 21), 3, 2, 0, 441, False),    # 441: the phase split
    ((10, 41), 1, 1, 0, 410, False),    # 410 (Hp + Wp = 51 would say planes last)
    ((19, 19), 3, 2, 1, 441, False),    # padding 1: Hp = Wp = 21
    ((27, 27), 3, 2, 0, 729, False),    # AlexNet's ImageNet pool2 input
])
def test_the_cpu_path_follows_the_padded_map_pixels(shape, k, s, p, pixels, planes_last):
    # the default CPU path is chosen by Hp*Wp, the padded map's pixels:
    # planes last up to 400, the phase split above; which one ran is the
    # kernel module the Function keeps for its backward
    assert paths.PLANES_LAST_MAX_PIXELS == 400
    rng = np.random.default_rng(sum(shape))
    x = rng.integers(-1, 2, (1, 2) + shape).astype(np.float32)
    args = ((k, k), (s, s), (p, p), False)
    y = max_pool2d(T(x, grad=True), *args)
    fn = y.creator
    hp, wp = fn.window.padded_size(*shape)
    assert hp * wp == pixels
    assert fn.kern is (pool_planes_last if planes_last else pool_phases)
    y_ref, _ = reference_pool(x, *args)
    np.testing.assert_array_equal(y.data, y_ref)


# ---------------------------------------------------------------- the size check
def _too_large(h, w, kernel, padding):
    return re.escape(
        f"max_pool2d: kernel_size={kernel} is larger than the padded input "
        f"({h + 2 * padding[0]}, {w + 2 * padding[1]}) (H, W = {h}, {w}, "
        f"padding={padding}); use a smaller kernel or a larger input")


@pytest.mark.parametrize("h, w, kernel, padding", [
    (2, 9, (5, 3), (1, 1)),     # rows: 2 + 2*1 = 4 < 5
    (9, 2, (3, 5), (1, 1)),     # columns: 2 + 2*1 = 4 < 5
    (2, 5, (3, 3), (0, 0)),     # rows, no padding: 2 < 3
    (5, 2, (3, 3), (0, 0)),     # columns, no padding: 2 < 3
    (1, 9, (8, 3), (3, 1)),     # rows: 1 + 2*3 = 7 < 8
    (9, 1, (3, 8), (1, 3)),     # columns: 1 + 2*3 = 7 < 8
])
def test_a_kernel_one_larger_than_the_padded_input_is_refused(h, w, kernel, padding):
    # one row or column short of the kernel: refused, the message giving
    # the padded size H + 2p, W + 2p; one more row or column and it fits
    # (a single window along that axis)
    with pytest.raises(ValueError, match="^" + _too_large(h, w, kernel, padding) + "$"):
        max_pool2d(Z((1, 1, h, w)), kernel, 1, padding)
    h1, w1 = (h + 1, w) if h + 2 * padding[0] < kernel[0] else (h, w + 1)
    x = np.random.default_rng(h * w).standard_normal((1, 1, h1, w1)).astype(np.float32)
    y = max_pool2d(T(x), kernel, 1, padding)
    np.testing.assert_array_equal(y.data, reference_pool(x, kernel, (1, 1), padding, False)[0])
    assert 1 in y.shape[2:]


def test_the_size_message_gives_the_padded_size_of_each_axis():
    # padding (1, 2) on a 2x4 input, kernel (5, 9): padded (2+2, 4+4) = (4, 8);
    # paddings that differ, and sizes sharing bits with 2p, so that no other
    # formula gives the same two numbers
    with pytest.raises(ValueError, match="^" + _too_large(2, 4, (5, 9), (1, 2)) + "$") as info:
        max_pool2d(Z((1, 1, 2, 4)), (5, 9), 1, (1, 2))
    assert "padded input (4, 8) (H, W = 2, 4, padding=(1, 2))" in str(info.value)


# ---------------------------------------------------------------- array-path edge cases
@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("shape", [(0, 3, 21, 21), (2, 0, 21, 21), (0, 3, 5, 5), (2, 0, 5, 5)])
def test_each_path_pools_an_empty_batch_or_no_channels(path, shape):
    # no images or no channels: empty results of the right shapes, on both
    # array paths, small (5x5) and large (21x21: the phase split's) maps
    x = np.zeros(shape, np.float32)
    oh = (shape[2] - 3) // 2 + 1
    with forced_path(path):
        y, gx = pool_grad(x, np.zeros(shape[:2] + (oh, oh), np.float32), 3, 2)
    assert y.shape == shape[:2] + (oh, oh) and gx.shape == shape and gx.dtype == np.float32


@pytest.mark.parametrize("kernel, wp, code_type", [
    ((2, 2), 254, np.uint8), ((2, 2), 255, np.uint16),         # last code 255, 256
    ((4, 4), 84, np.uint8), ((4, 5), 84, np.uint16),           # 3*84 + 3 = 255, + 4 = 256
    ((3, 6), 125, np.uint8), ((3, 7), 125, np.uint16),         # 2*125 + 5 = 255, + 6 = 256
    ((4, 4), 21844, np.uint16), ((4, 5), 21844, np.int32),     # 3*21844 + 3 = 65535, 65536
    ((1, 256), 256, np.uint8), ((1, 257), 257, np.uint16),     # one row: the code is j
    ((3, 3), 40000, np.int32),                                 # 80002: well past uint16
])
def test_the_code_type_is_the_smallest_that_holds_the_last_code(kernel, wp, code_type):
    # the last kernel offset (kh - 1, kw - 1) has the largest code
    # (kh - 1)*Wp + kw - 1: uint8 up to 255, uint16 up to 65535, else int32
    window = PoolWindow(kernel, (1, 1), (0, 0), (1, 1))
    assert pool_scatter.code_dtype(np, window, wp) == code_type


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("width, code_type", [(254, np.uint8), (255, np.uint16),
                                              (65534, np.uint16), (65535, np.int32)])
def test_argmax_codes_past_uint8_and_uint16(path, width, code_type):
    # 2x2 windows, stride 2, on a (2, width) map: the bottom-right offset
    # (1, 1) has code 1*Wp + 1 = width + 1, the largest code; 255 is the
    # last that fits uint8, 65535 the last for uint16. Every window's
    # maximum is its bottom-right element, so with a code type too small
    # the gradient would land on the top-left one.
    x = np.zeros((1, 1, 2, width), np.float32)
    x[0, 0, 1, 1::2] = np.arange(1, width // 2 + 1)
    gy = np.arange(1, width // 2 + 1, dtype=np.float32).reshape(1, 1, 1, -1)
    t = T(x, grad=True)
    with forced_path(path):
        y = max_pool2d(t, 2, 2)
        y.backward(gy)
    assert y.creator.argmax.dtype == code_type
    np.testing.assert_array_equal(y.data, gy)
    np.testing.assert_array_equal(t.grad, x)          # each window's gradient at (1, 2k + 1)


class _RecordingNumpy:
    """NumPy, except that ``add.at`` records the dtype of its index."""

    def __init__(self):
        self.index_types = []
        recorder = self

        class Add:
            @staticmethod
            def at(target, index, values):
                recorder.index_types.append(index.dtype)
                np.add.at(target, index, values)
        self.add = Add

    def __getattr__(self, name):
        return getattr(np, name)


@pytest.mark.parametrize("width, index_type", [(21845, np.int32), (21846, np.int64)])
def test_the_scatter_index_is_int32_while_every_index_fits(monkeypatch, width, index_type):
    # backward's flat index into the padded (N, C, Hp, Wp) gradient is int32
    # while N*C*Hp*Wp < 2^31, else int64. Three images of two 16384 x width
    # channels (N = 3, C = 2, so that N**C, N | C*Hp*Wp, ... all differ
    # from N*C*Hp*Wp), one window each (the whole map) with its maximum at
    # the bottom-right corner: 6 * 16384 * width = 2^31 - 32768 (int32) or
    # 2^31 + 65536 (int64: as int32 the last indices would wrap and land
    # elsewhere). numpy.zeros maps the 4 GB of float16 lazily; only the
    # pages written and read below are touched.
    recording = _RecordingNumpy()
    monkeypatch.setattr(pool_scatter, "get_array_module", lambda a: recording)
    n, c, h = 3, 2, 16384
    window = PoolWindow((h, width), (h, width), (0, 0), (1, 1))
    argmax = np.full((n, c, 1, 1), (h - 1) * width + width - 1, np.int32)
    gy = np.arange(1, n * c + 1, dtype=np.float16).reshape(n, c, 1, 1)
    gx = pool_scatter.backward(gy, argmax, window, (n, c, h, width))
    assert recording.index_types == [index_type]
    assert gx.shape == (n, c, h, width) and gx.dtype == np.float16
    for b, ch in itertools.product(range(n), range(c)):
        assert gx[b, ch, -1, -1] == gy[b, ch, 0, 0]
        assert gx[b, ch, 0, 0] == gx[b, ch, -1, -2] == gx[b, ch, -2, -1] == 0


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("stride", [1, 2, (3, 2)])
def test_a_1x1_kernel_picks_the_strided_inputs_by_hand(path, stride):
    # one offset per window, (0, 0): y is x[..., ::sh, ::sw], its argmax
    # code 0, so each output's gradient lands on the input it copied
    sh, sw = (stride, stride) if isinstance(stride, int) else stride
    x = np.arange(2 * 3 * 7 * 6, dtype=np.float32).reshape(2, 3, 7, 6) - 100
    gy = np.arange(1, x[..., ::sh, ::sw].size + 1, dtype=np.float32).reshape(
        x[..., ::sh, ::sw].shape)
    with forced_path(path):
        y, gx = pool_grad(x, gy, 1, stride)
    np.testing.assert_array_equal(y, x[..., ::sh, ::sw])
    expected = np.zeros_like(x)
    expected[..., ::sh, ::sw] = gy
    np.testing.assert_array_equal(gx, expected)


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("threads", [1, 3])
def test_more_images_than_channels_in_one_call_or_split_across_threads(monkeypatch, path,
                                                                       threads):
    # 5 images of 2 channels, 4 columns wide (more images than channels or
    # columns), pooled in one call, or split across 3 threads even though
    # the batch is small (planes last: no output threshold; both: no
    # minimum array size): each part pools its own images, so all of them
    # match the loop reference
    from minialex.functions import _threads
    if threads > 1:
        monkeypatch.setattr(pool_planes_last, "SPLIT_OUTPUTS", 0)
        monkeypatch.setattr(_threads, "_MIN_SIZE", 0)
    old = minialex.get_num_threads()
    minialex.set_num_threads(threads)
    try:
        rng = np.random.default_rng(5)
        x = rng.integers(-1, 2, (5, 2, 6, 4)).astype(np.float32)     # N > C and N > W
        args = ((3, 3), (2, 2), (1, 1), True)
        y_ref, _ = reference_pool(x, *args)
        gy = rng.integers(1, 10, y_ref.shape).astype(np.float32)
        _, gx_ref = reference_pool(x, *args, gy=gy)
        with forced_path(path):
            y, gx = pool_grad(x, gy, *args)
    finally:
        minialex.set_num_threads(old)
    np.testing.assert_array_equal(y, y_ref)
    np.testing.assert_array_equal(gx, gx_ref)
