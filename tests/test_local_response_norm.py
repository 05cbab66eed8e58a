"""local_response_norm and nn.LocalResponseNorm: hand-computed values and
gradients, the window convention (odd and even sizes, channel edges, fewer
channels than size), numerical gradients with large alpha and k, float32
accuracy, errors, and parity with PyTorch at AlexNet's shapes."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import minialex
from minialex import Tensor, nn
from minialex.backend import cupy_available
from minialex.functions.local_response_norm import local_response_norm


def T(a, grad=False):
    return Tensor(np.asarray(a), requires_grad=grad)


def pixel(values):
    """Channels ``values`` at a single pixel: shape (1, C, 1, 1), float64."""
    return np.asarray(values, dtype=np.float64).reshape(1, -1, 1, 1)


def reference_lrn(a, size, alpha, beta, k):
    """The formula with explicit windows (tests only): channel i sums the
    squares of channels i - size//2 .. i + (size-1)//2 that exist."""
    c = a.shape[1]
    d = np.empty_like(a)
    for i in range(c):
        lo, hi = max(0, i - size // 2), min(c - 1, i + (size - 1) // 2)
        d[:, i] = k + alpha * (a[:, lo:hi + 1] ** 2).sum(axis=1)
    return a / d ** beta


# ---------------------------------------------------------------- hand-computed values
def test_three_channels_at_one_pixel_by_hand():
    # a = (1, 2, 3), k = 1, alpha = 1, beta = 1/2.
    # size 3 (window i-1..i+1, clipped): sums 1+4=5, 1+4+9=14, 4+9=13
    #   -> b = 1/sqrt(6), 2/sqrt(15), 3/sqrt(14)
    b = local_response_norm(T(pixel([1, 2, 3])), 3, 1.0, 0.5, 1.0).data.ravel()
    np.testing.assert_allclose(b, [1 / 6 ** .5, 2 / 15 ** .5, 3 / 14 ** .5], rtol=1e-15)
    # size 2 (window i-1..i, PyTorch's even convention): sums 1, 1+4=5, 4+9=13
    b = local_response_norm(T(pixel([1, 2, 3])), 2, 1.0, 0.5, 1.0).data.ravel()
    np.testing.assert_allclose(b, [1 / 2 ** .5, 2 / 6 ** .5, 3 / 14 ** .5], rtol=1e-15)
    # size 5 > C: every window holds all three channels, sum 14
    b = local_response_norm(T(pixel([1, 2, 3])), 5, 1.0, 0.5, 1.0).data.ravel()
    np.testing.assert_allclose(b, np.array([1, 2, 3]) / 15 ** .5, rtol=1e-15)
    # size 1: only the channel itself, d_i = 1 + a_i^2
    b = local_response_norm(T(pixel([1, 2, 3])), 1, 1.0, 0.5, 1.0).data.ravel()
    np.testing.assert_allclose(b, [1 / 2 ** .5, 2 / 5 ** .5, 3 / 10 ** .5], rtol=1e-15)


def test_paper_defaults_by_hand():
    # k=2, n=5, alpha=1e-4 (not divided by 5), beta=0.75; 5 channels of 10:
    # channel 0 sees channels 0..2 (sum 300), channel 2 sees all (sum 500)
    b = local_response_norm(T(pixel([10] * 5))).data.ravel()
    expected = 10 / (2 + 1e-4 * np.array([300, 400, 500, 400, 300])) ** 0.75
    np.testing.assert_allclose(b, expected, rtol=1e-15)


def test_gradient_by_hand():
    # size 1, k = alpha = beta = 1: b = a / (1 + a^2), db/da = (1 - a^2) / (1 + a^2)^2:
    # a = 1 -> 0, a = 2 -> -3/25, a = 3 -> -8/100
    a = T(pixel([1, 2, 3]), grad=True)
    local_response_norm(a, 1, 1.0, 1.0, 1.0).backward(np.ones((1, 3, 1, 1)))
    np.testing.assert_allclose(a.grad.ravel(), [0, -3 / 25, -8 / 100], atol=1e-15)
    # size 2 (window i-1..i), k = alpha = beta = 1, a = (1, 2), gy = (1, 0):
    # b_0 = a_0 / (1 + a_0^2) only, so gx = (db_0/da_0, 0) = (0, 0). With
    # gy = (0, 1): b_1 = a_1 / (1 + a_0^2 + a_1^2) = 2 / 6;
    # db_1/da_0 = -2 a_0 a_1 / 36 = -4/36, db_1/da_1 = (6 - 2*4) / 36 = -2/36.
    # The transposed window: a_0 reaches b_1 (the channel after it), never
    # the channel before it.
    a = T(pixel([1, 2]), grad=True)
    local_response_norm(a, 2, 1.0, 1.0, 1.0).backward(pixel([0, 1]))
    np.testing.assert_allclose(a.grad.ravel(), [-4 / 36, -2 / 36], rtol=1e-14)
    a = T(pixel([1, 2]), grad=True)
    local_response_norm(a, 2, 1.0, 1.0, 1.0).backward(pixel([1, 0]))
    np.testing.assert_allclose(a.grad.ravel(), [0, 0], atol=1e-15)


# ---------------------------------------------------------------- window convention
@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 3), c=st.integers(1, 12), h=st.integers(1, 4), w=st.integers(1, 4),
       size=st.integers(1, 9), alpha=st.floats(0.0, 2.0), beta=st.floats(-1.0, 2.0),
       k=st.floats(0.1, 5.0), seed=st.integers(0, 2**31 - 1))
def test_forward_matches_the_formula(n, c, h, w, size, alpha, beta, k, seed):
    a = np.random.default_rng(seed).standard_normal((n, c, h, w)) * 2
    b = local_response_norm(T(a), size, alpha, beta, k).data
    np.testing.assert_allclose(b, reference_lrn(a, size, alpha, beta, k), rtol=1e-12, atol=1e-14)


# ---------------------------------------------------------------- numerical gradients
@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 2), c=st.integers(1, 9), h=st.integers(1, 3), w=st.integers(1, 3),
       size=st.integers(1, 8), alpha=st.floats(0.05, 1.0), beta=st.floats(0.1, 1.5),
       k=st.floats(0.5, 5.0), seed=st.integers(0, 2**31 - 1))
def test_gradcheck(n, c, h, w, size, alpha, beta, k, seed):
    # large alpha (up to 1) and inputs of size ~2 make the cross-channel part
    # of the gradient as large as the diagonal part, so a window that is off
    # by one channel (or not transposed for even sizes) fails
    a = T(np.random.default_rng(seed).standard_normal((n, c, h, w)) * 2, grad=True)
    f = lambda t: local_response_norm(t, size, alpha, beta, k)
    assert minialex.gradcheck(f, [a], atol=1e-7, rtol=1e-5)


@pytest.mark.parametrize("size", [1, 2, 3, 4, 5, 6, 7, 10])
@pytest.mark.parametrize("c", [1, 2, 3, 5, 16, 21])
def test_gradcheck_every_size_and_channel_count(size, c):
    a = T(np.random.default_rng(size * 100 + c).standard_normal((1, c, 1, 2)) * 2, grad=True)
    assert minialex.gradcheck(lambda t: local_response_norm(t, size, 1.0, 0.75, 1.0), [a],
                              atol=1e-7, rtol=1e-5)


# ---------------------------------------------------------------- float32
def test_float32_stays_float32_and_is_accurate():
    # 256 channels of post-ReLU-sized activations with a large alpha: the
    # float32 result and gradient agree with the float64 ones to ~1e-6
    rng = np.random.default_rng(0)
    a64 = np.abs(rng.standard_normal((2, 256, 5, 5))) * 10
    g64 = rng.standard_normal(a64.shape)
    out = {}
    for dtype in (np.float32, np.float64):
        a = T(a64.astype(dtype), grad=True)
        b = local_response_norm(a, 5, 1e-2, 0.75, 2.0)
        b.backward(g64.astype(dtype))
        assert b.dtype == dtype and a.grad.dtype == dtype
        out[dtype] = b.data, a.grad
    np.testing.assert_allclose(out[np.float32][0], out[np.float64][0], rtol=2e-6)
    g32, g64_ = out[np.float32][1], out[np.float64][1]
    np.testing.assert_allclose(g32, g64_, rtol=1e-4, atol=1e-6 * np.abs(g64_).max())


def test_no_grad_gives_the_same_values_and_no_graph():
    a = np.random.default_rng(1).standard_normal((2, 7, 3, 3)).astype(np.float32)
    b = local_response_norm(T(a, grad=True), 4, 0.3, 0.75, 1.5)
    with minialex.no_grad():
        b0 = local_response_norm(T(a, grad=True), 4, 0.3, 0.75, 1.5)
    np.testing.assert_array_equal(b0.data, b.data)
    assert b0.creator is None and b.creator is not None


def test_empty_batch_or_channels():
    for shape in [(0, 3, 2, 2), (2, 0, 2, 2)]:
        a = T(np.zeros(shape, np.float32), grad=True)
        b = local_response_norm(a)
        b.backward(np.zeros(shape, np.float32))
        assert b.shape == shape and a.grad.shape == shape


def test_module_matches_the_function():
    lrn = nn.LocalResponseNorm()
    assert (lrn.size, lrn.alpha, lrn.beta, lrn.k) == (5, 1e-4, 0.75, 2.0)    # the paper's
    assert lrn.parameters() == [] and "alpha=0.0001" in repr(lrn)
    a = T(np.random.default_rng(2).standard_normal((2, 9, 4, 4)).astype(np.float32))
    np.testing.assert_array_equal(lrn(a).data, local_response_norm(a).data)
    lrn = nn.LocalResponseNorm(4, 0.5, 0.5, 1.0)
    np.testing.assert_array_equal(lrn(a).data, local_response_norm(a, 4, 0.5, 0.5, 1.0).data)


# ---------------------------------------------------------------- non-finite and huge values
def test_a_huge_value_zeroes_only_its_window_by_hand():
    # 1e20 squared overflows float32 to inf: channels 0..2 (whose windows hold
    # channel 0) get d = inf and b = a / inf**0.75 = 0; channel 3 sees
    # channels 1..3 only: b = 1 / (2 + 1e-4 * 3) ** 0.75 = 0.59450...
    x = np.ones((1, 4, 1, 1), np.float32)
    x[0, 0] = 1e20
    with np.errstate(over="ignore"):
        b = local_response_norm(T(x)).data.ravel()
    np.testing.assert_array_equal(b[:3], 0)
    np.testing.assert_allclose(b[3], 1 / (2 + 3e-4) ** 0.75, rtol=1e-6)
    assert abs(b[3] - 0.5945) < 5e-5


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf"), 1e20, 1e200])
@pytest.mark.parametrize("size", [5, 4])
def test_a_bad_value_reaches_only_its_window_forward_and_backward(bad, dtype, size):
    # one bad value at channel 40 of 96, pixel (1, 2) of image 0. Output i
    # reads inputs i - size//2 .. i + (size-1)//2, so channel 40 reaches the
    # outputs 40 - (size-1)//2 .. 40 + size//2 (38..42 for size 5); the input
    # gradient of channel j reads those outputs through the transposed window
    # j - (size-1)//2 .. j + size//2, so it reaches 40 - (size-1)//2 - size//2
    # .. 40 + size//2 + (size-1)//2 (36..44 for size 5). Every
    # other number must be exactly what the input without the bad value gives.
    if dtype == np.float32 and bad == 1e200:
        bad = 3e38                               # the largest float32 scale
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 96, 3, 4)).astype(dtype)
    gy = rng.standard_normal(x.shape).astype(dtype)
    x_bad = x.copy()
    x_bad[0, 40, 1, 2] = bad
    results = []
    for a in (x, x_bad):
        t = T(a, grad=True)
        with np.errstate(over="ignore", invalid="ignore"):    # inf and NaN are the point
            y = local_response_norm(t, size, 1e-4, 0.75, 2.0)
            y.backward(gy)
        results.append((y.data, t.grad))
    (y, gx), (y_bad, gx_bad) = results
    front, back = size // 2, (size - 1) // 2
    out_reach = np.zeros(x.shape, bool)
    out_reach[0, 40 - back:40 + front + 1, 1, 2] = True
    grad_reach = np.zeros(x.shape, bool)
    grad_reach[0, 40 - back - front:40 + front + back + 1, 1, 2] = True
    np.testing.assert_array_equal(y_bad[~out_reach], y[~out_reach])
    np.testing.assert_array_equal(gx_bad[~grad_reach], gx[~grad_reach])
    if np.isnan(bad):                            # and it does reach the whole window
        assert np.isnan(y_bad[out_reach]).all()
        assert np.isnan(gx_bad[grad_reach]).all()
    else:                                        # huge: the window's neighbours go to ~0
        neighbours = out_reach.copy()
        neighbours[0, 40, 1, 2] = False
        assert np.all(np.abs(y_bad[neighbours]) < 1e-10 * np.abs(y[neighbours]).max())


@pytest.mark.parametrize("numbers", [1, 100, 1 << 40])
def test_image_blocks_give_the_same_numbers(numbers, monkeypatch):
    # the passes run on cache-sized blocks of whole images: one image a block,
    # a few (with a shorter last block), or the whole batch at once
    from minialex.functions._kernels import lrn_window
    rng = np.random.default_rng(5)
    x = rng.standard_normal((5, 7, 3, 2)).astype(np.float32)
    gy = rng.standard_normal(x.shape).astype(np.float32)
    results = []
    for block in (numbers, 1 << 18):
        monkeypatch.setattr(lrn_window, "BLOCK_NUMBERS", block)
        t = T(x, grad=True)
        y = local_response_norm(t, 5, 1e-2, 0.75, 1.0)
        y.backward(gy)
        results.append((y.data, t.grad))
    for one, other in zip(*results):
        np.testing.assert_array_equal(one, other)
    np.testing.assert_allclose(results[0][0], reference_lrn(x.astype(np.float64), 5, 1e-2, 0.75,
                                                            1.0), rtol=1e-5)


def test_a_huge_value_matches_torch():
    torch = pytest.importorskip("torch")
    x = np.ones((1, 8, 2, 2), np.float32)
    x[0, 3, 1, 0] = 1e20
    want = torch.nn.functional.local_response_norm(torch.from_numpy(x), 5, alpha=5e-4,
                                                   beta=0.75, k=2.0).numpy()
    with np.errstate(over="ignore", invalid="ignore"):
        got = local_response_norm(T(x)).data
    finite = np.isfinite(want)
    assert finite.sum() >= 31                    # torch: only the inf channel itself may be NaN
    np.testing.assert_allclose(got[finite], want[finite], rtol=1e-5, atol=1e-30)


# ---------------------------------------------------------------- errors
A4 = np.ones((1, 3, 2, 2), np.float32)


@pytest.mark.parametrize("call, error, words", [
    (lambda: local_response_norm(T(A4[0])), ValueError, ["(3, 2, 2)", "(N, C, H, W)"]),
    (lambda: local_response_norm(T(A4.astype(np.int32))), TypeError, ["int32", "float32"]),
    (lambda: local_response_norm(T(A4), size=0), ValueError, ["size=0", ">= 1"]),
    (lambda: local_response_norm(T(A4), size=2.5), TypeError, ["size=2.5"]),
    (lambda: local_response_norm(T(A4), alpha=-1e-4), ValueError, ["alpha=-0.0001"]),
    (lambda: local_response_norm(T(A4), k=0), ValueError, ["k=0", "> 0"]),
    (lambda: local_response_norm(T(A4), beta=float("inf")), ValueError, ["beta=inf"]),
    (lambda: local_response_norm(T(A4), beta="3/4"), TypeError, ["beta='3/4'"]),
    (lambda: nn.LocalResponseNorm(size=-1), ValueError, ["size=-1"]),
    (lambda: nn.LocalResponseNorm(k=float("nan")), ValueError, ["k=nan"]),
])
def test_errors_name_the_bad_value(call, error, words):
    with pytest.raises(error) as info:
        call()
    for word in words:
        assert word in str(info.value)


# ---------------------------------------------------------------- PyTorch parity
ALEXNET_LRNS = [  # (C, H) of every normalized map: CIFAR small/half/paper, ImageNet
    (32, 28), (64, 13), (48, 28), (128, 13), (96, 28), (256, 13), (96, 55), (256, 27)]


@pytest.mark.parametrize("c, h", ALEXNET_LRNS)
@pytest.mark.parametrize("size, alpha, beta, k", [(5, 1e-4, 0.75, 2.0), (4, 0.05, 0.6, 1.0),
                                                  (7, 0.02, 1.2, 3.0)])
def test_matches_torch_at_alexnet_shapes(c, h, size, alpha, beta, k):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(c + h + size)
    a = np.abs(rng.standard_normal((2, c, h, h))).astype(np.float32) * 5   # ReLU-like, large
    gy = rng.standard_normal(a.shape).astype(np.float32)
    t = T(a, grad=True)
    b = local_response_norm(t, size, alpha, beta, k)
    b.backward(gy)
    ta = torch.tensor(a, requires_grad=True)
    tb = torch.nn.functional.local_response_norm(ta, size, alpha=alpha * size, beta=beta, k=k)
    tb.backward(torch.tensor(gy))
    np.testing.assert_allclose(b.data, tb.detach().numpy(), rtol=1e-4, atol=1e-6)
    tg = ta.grad.numpy()
    np.testing.assert_allclose(t.grad, tg, rtol=1e-4, atol=1e-5 * np.abs(tg).max())


# ---------------------------------------------------------------- GPU
@pytest.mark.gpu
@pytest.mark.skipif(not cupy_available(), reason="needs CuPy and a GPU")
def test_cuda_matches_cpu():
    rng = np.random.default_rng(4)
    a = np.abs(rng.standard_normal((4, 40, 13, 13))).astype(np.float32) * 5
    gy = rng.standard_normal(a.shape).astype(np.float32)
    for size, alpha in [(5, 1e-4), (4, 0.05), (7, 0.5)]:
        t_cpu, t_gpu = T(a, grad=True), Tensor(a, requires_grad=True, device="cuda:0")
        b_cpu = local_response_norm(t_cpu, size, alpha, 0.75, 2.0)
        b_gpu = local_response_norm(t_gpu, size, alpha, 0.75, 2.0)
        b_cpu.backward(gy)
        b_gpu.backward(gy)
        assert b_gpu.device == t_gpu.device and b_gpu.dtype == np.float32
        np.testing.assert_allclose(b_gpu.numpy(), b_cpu.data, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(t_gpu.grad.get(), t_cpu.grad, rtol=1e-4,
                                   atol=1e-5 * np.abs(t_cpu.grad).max())


# ---------------------------------------------------------------- the window's kernels
# (issue 20: mutants of _kernels/lrn_window.py and lrn_cuda.py that the whole-op tests
# let live: the image blocks, the window extent, the padded buffer)
def _blocks_run(module, shape, threads=1):
    calls = []
    old = minialex.get_num_threads()
    minialex.set_num_threads(threads)
    try:
        module.over_image_blocks(lambda lo, hi: calls.append((lo, hi)), np.empty(shape, np.float32))
    finally:
        minialex.set_num_threads(old)
    return sorted(calls)


@pytest.mark.parametrize("block, shape, want", [
    (2 * 24, (5, 2, 3, 4), [(0, 2), (2, 4), (4, 5)]),      # 2 images a block, a short last one
    (24, (5, 2, 3, 4), [(0, 1), (1, 2), (2, 3), (3, 4), (4, 5)]),
    (23, (3, 2, 3, 4), [(0, 1), (1, 2), (2, 3)]),         # an image bigger than a block: one
    (1 << 18, (5, 2, 3, 4), [(0, 5)]),                    # the whole batch
    (4, (6, 1, 1, 1), [(0, 4), (4, 6)]),                  # one-number images, 4 a block
    (48, (3, 0, 2, 2), [(0, 3)]),                         # empty images: the whole batch
    (48, (0, 2, 3, 4), [])])                              # no images: no call
def test_lrn_window_image_blocks_by_hand(monkeypatch, block, shape, want):
    from minialex.functions._kernels import lrn_window
    monkeypatch.setattr(lrn_window, "BLOCK_NUMBERS", block)
    assert _blocks_run(lrn_window, shape) == want


def test_lrn_window_image_blocks_split_across_threads_cover_the_batch_once(monkeypatch):
    from minialex.functions._kernels import lrn_window
    monkeypatch.setattr(lrn_window, "BLOCK_NUMBERS", 3 * 4096)
    calls = _blocks_run(lrn_window, (70, 4, 32, 32), threads=2)   # 2^18 + numbers: 2 parts
    covered = [i for lo, hi in calls for i in range(lo, hi)]
    assert covered == list(range(70))
    assert all(hi - lo <= 3 for lo, hi in calls) and len(calls) >= 24


def test_lrn_cuda_runs_the_whole_batch_in_one_call():
    from minialex.functions._kernels import lrn_cuda
    assert _blocks_run(lrn_cuda, (5, 2, 3, 4)) == [(0, 5)]   # N = 5 > C, W: not a[0:C]
    assert _blocks_run(lrn_cuda, (3, 7, 9, 8)) == [(0, 3)]


@pytest.mark.parametrize("size, want", [(1, (0, 0)), (2, (1, 0)), (3, (1, 1)), (4, (2, 1)),
                                        (5, (2, 2)), (6, (3, 2))])
def test_window_extent_by_hand(size, want):
    from minialex.functions._kernels import lrn_cuda, lrn_window
    assert lrn_window.window_extent(size) == want == lrn_cuda.window_extent(size)


@pytest.mark.parametrize("size, front, want", [
    (1, 0, [1, 2, 3, 4]), (2, 1, [1, 3, 5, 7]), (2, 0, [3, 5, 7, 4]),
    (3, 1, [3, 6, 9, 7]), (3, 2, [1, 3, 6, 9]), (5, 2, [6, 10, 10, 9])])
def test_channel_window_sum_by_hand(size, front, want):
    # channels 1, 2, 3, 4 (two images, the second times 10); channel i sums
    # channels i - front .. i + size - 1 - front, outside ones counting 0
    from minialex.functions._kernels import lrn_window
    values = np.array([1.0, 2, 3, 4]).reshape(1, 4, 1, 1) * np.array([1.0, 10]).reshape(2, 1, 1, 1)
    window = lrn_window.ChannelWindow(np, values.shape, np.float64, size, front)
    assert window.buf.shape == (2, 4 + size - 1, 1, 1)
    window.buf[...] = np.nan                                  # the border must be set again
    window = lrn_window.ChannelWindow(np, values.shape, np.float64, size, front)
    window.inner[...] = values
    assert np.shares_memory(window.inner, window.buf)
    out = np.empty_like(values)
    assert window.sum(0.5, out=out) is out
    np.testing.assert_array_equal(out[0, :, 0, 0], 0.5 * np.array(want, dtype=float))
    np.testing.assert_array_equal(out[1, :, 0, 0], 5 * np.array(want, dtype=float))


def test_lrn_cuda_window_sum_needs_a_contiguous_out():
    from minialex.functions._kernels import lrn_cuda
    window = lrn_cuda.ChannelWindow(np, (2, 3, 2, 2), np.float32, 3, 1)
    out = np.empty((2, 3, 2, 2), np.float32).transpose(0, 1, 3, 2)
    with pytest.raises(ValueError, match="contiguous"):
        window.sum(0.5, out=out)
