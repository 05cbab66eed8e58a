"""conv2d's backward bookkeeping on the CPU paths (im2col and Winograd):
which of x, W, b get a gradient, which columns are kept for backward, and
how the gradients reach ``.grad`` (issue 20: mutants of conv2d.py that the
other tests let live). Values against the float64 reference ops."""

import contextlib
import itertools
import types

import numpy as np
import pytest

import minialex
from minialex import Tensor
from minialex.functions import _threads
from minialex.functions._kernels import (im2col_chunks, im2col_cpu, mec, paths, winograd,
                                         winograd_f2x2_5x5, winograd_f3x3, winograd_matrices)
from minialex.functions.conv2d import Conv2dFunction, conv2d
from minialex.reference import conv2d as ref_conv2d, conv2d_backward as ref_conv2d_backward

PATHS = ("chwn_slices", "winograd_f2x2_3x3", "winograd_f3x3_3x3", "winograd_f2x2_5x5",
         "chwn_chunks", "mec_rows")
# path -> m (tile outputs a side); KERNEL: path -> r (its kernel's side)
WINOGRAD = {"winograd_f2x2_3x3": 2, "winograd_f3x3_3x3": 3, "winograd_f2x2_5x5": 2}
KERNEL = {"winograd_f2x2_3x3": 3, "winograd_f3x3_3x3": 3, "winograd_f2x2_5x5": 5}

# which inputs require a gradient: (x, W, b), b None = no bias; at least one
# of them does (else there is no graph to run backward through)
COMBOS = [(gx, gw, b) for gx, gw, b in itertools.product((True, False), (True, False),
                                                          (None, False, True))
          if gx or gw or b]

# N=2, C=4 (two groups), H=5, W=6: N, C and H all differ, so a mix-up of
# x's axes in the shape of a buffer cannot go unnoticed; 3x3, stride 1, so
# both paths apply
N, C, H, W_IN, C_OUT, G = 2, 4, 5, 6, 6, 2


def _case(seed=0, r=3):
    # an r x r kernel (3 or 5) with padding (r - 1) / 2: the same size out
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((N, C, H, W_IN))
    w = rng.standard_normal((C_OUT, C // G, r, r))
    b = rng.standard_normal(C_OUT)
    gy = rng.standard_normal((N, C_OUT, H, W_IN))          # padding 1: same size out
    return x, w, b, gy


def _tensors(x, w, b, combo):
    gx, gw, gb = combo
    X, Wt = Tensor(x, requires_grad=gx), Tensor(w, requires_grad=gw)
    B = None if gb is None else Tensor(b, requires_grad=gb)
    return X, Wt, B


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("combo", COMBOS)
def test_each_input_gets_its_gradient_exactly_when_it_requires_one(path, combo):
    # frozen weights (x needs dL/dx, W none), the image (W needs, x none),
    # bias alone, bias None: each gradient the reference's, the rest None
    x, w, b, gy = _case()
    X, Wt, B = _tensors(x, w, b, combo)
    with paths.use("conv2d", path):
        y = conv2d(X, Wt, B, padding=1, groups=G)
        y.backward(gy)
    np.testing.assert_allclose(y.data, ref_conv2d(x, w, None if B is None else b, 1, 1, G),
                               rtol=1e-10, atol=1e-10)
    expected = ref_conv2d_backward(gy, x, w, 1, 1, G)
    for t, ref in zip((X, Wt, B), expected):
        if t is None:
            continue
        if t.requires_grad:
            assert t.grad is not None and t.grad.shape == ref.shape
            np.testing.assert_allclose(t.grad, ref, rtol=1e-10, atol=1e-10)
        else:
            assert t.grad is None


def _count_calls(monkeypatch, module, name):
    calls = []
    original = getattr(module, name)

    def counted(*args, **kwargs):
        calls.append(name)
        return original(*args, **kwargs)
    monkeypatch.setattr(module, name, counted)
    return calls


@pytest.mark.parametrize("combo", COMBOS)
def test_im2col_columns_built_once_and_kept_only_for_the_weight_gradient(monkeypatch, combo):
    # only dL/dW = gY @ X^T reads the columns X again: forward keeps them
    # exactly when W requires a gradient (else hands them back at once), and
    # a single backward never rebuilds them (conv1: the image needs no dL/dx)
    x, w, b, gy = _case(1)
    X, Wt, B = _tensors(x, w, b, combo)
    calls = _count_calls(monkeypatch, im2col_cpu, "im2col")
    with paths.use("conv2d", "chwn_slices"):
        y = conv2d(X, Wt, B, padding=1, groups=G)
        fn = y.creator
        assert isinstance(fn, Conv2dFunction) and not fn.winograd
        assert (fn.X is not None) == Wt.requires_grad
        y.backward(gy)
    assert len(calls) == 1
    if Wt.requires_grad:
        np.testing.assert_allclose(Wt.grad, ref_conv2d_backward(gy, x, w, 1, 1, G)[1],
                                   rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("path", WINOGRAD)
@pytest.mark.parametrize("combo", COMBOS)
def test_winograd_input_transform_built_once_and_kept_only_for_x_or_w(monkeypatch, combo, path):
    # the transformed input V is read by dL/dW (gM V^T) and its memory is
    # reused for dL/dV: forward keeps it exactly when x or W requires a
    # gradient (a bias alone needs only gy), and one backward never rebuilds it
    r = KERNEL[path]
    x, w, b, gy = _case(2, r)
    X, Wt, B = _tensors(x, w, b, combo)
    calls = _count_calls(monkeypatch, winograd, "_transformed_input")
    with paths.use("conv2d", path):
        y = conv2d(X, Wt, B, padding=r // 2, groups=G)
        fn = y.creator
        assert isinstance(fn, Conv2dFunction) and fn.winograd
        assert fn.saved[6:] == [WINOGRAD[path], r]
        assert (fn.saved[5] is not None) == (X.requires_grad or Wt.requires_grad)
        y.backward(gy)
    if X.requires_grad or Wt.requires_grad:
        assert len(calls) == 1
    # (a bias alone: backward still rebuilds V, which nothing then reads;
    # wasted work in winograd.backward, not a wrong value)
    for t, ref in zip((X, Wt, B), ref_conv2d_backward(gy, x, w, 1, r // 2, G)):
        if t is not None and t.requires_grad:
            np.testing.assert_allclose(t.grad, ref, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("path", PATHS)
def test_two_forwards_before_one_backward_keep_their_own_columns(path):
    # the same layer applied twice (or two layers of one shape) before the
    # backward: each call's saved columns must stay its own, not be handed
    # to the spare pool that the second call's im2col draws from
    x1, w, _, g1 = _case(3)
    x2, _, _, g2 = _case(4)
    Wt = Tensor(w, requires_grad=True)
    with paths.use("conv2d", path):
        y1 = conv2d(Tensor(x1), Wt, padding=1, groups=G)
        y2 = conv2d(Tensor(x2), Wt, padding=1, groups=G)
        (y1 * Tensor(g1) + y2 * Tensor(g2)).sum().backward()
    expected = (ref_conv2d_backward(g1, x1, w, 1, 1, G)[1]
                + ref_conv2d_backward(g2, x2, w, 1, 1, G)[1])
    np.testing.assert_allclose(Wt.grad, expected, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("path", PATHS)
def test_gradients_are_moved_into_grad_not_copied(monkeypatch, path):
    # Conv2dFunction.returns_new_arrays: its gx, gW, gb are fresh arrays, so
    # the engine makes them the leaves' .grad as they are (no copy: 240 MB a
    # step for AlexNet's weights); and being fresh, no later conv (which
    # recycles column arrays) may change them
    x, w, b, gy = _case(5)
    X, Wt, B = _tensors(x, w, b, (True, True, True))
    seen = []
    original = Conv2dFunction.backward

    def spy(self, gy):
        grads = original(self, gy)
        seen.extend(grads)
        return grads
    monkeypatch.setattr(Conv2dFunction, "backward", spy)
    with paths.use("conv2d", path):
        conv2d(X, Wt, B, padding=1, groups=G).backward(gy)
        assert X.grad is seen[0] and Wt.grad is seen[1] and B.grad is seen[2]
        first = [t.grad.copy() for t in (X, Wt, B)]
        X2, W2, B2 = _tensors(*_case(6)[:3], (True, True, True))
        conv2d(X2, W2, B2, padding=1, groups=G).backward(_case(6)[3])
    for t, g, ref in zip((X, Wt, B), first, ref_conv2d_backward(gy, x, w, 1, 1, G)):
        np.testing.assert_array_equal(t.grad, g)
        np.testing.assert_allclose(t.grad, ref, rtol=1e-10, atol=1e-10)


def test_no_grad_keeps_no_columns():
    # under no_grad nothing needs a gradient: neither path keeps its columns
    x, w, b, _ = _case(7)
    for path in PATHS:
        with paths.use("conv2d", path), minialex.no_grad():
            fn = Conv2dFunction((1, 1), (1, 1), G)
            y = fn(Tensor(x), Tensor(w, requires_grad=True), Tensor(b))
        if fn.winograd:
            assert fn.saved[5] is None
        elif fn.delegated and path == "mec_rows":    # MEC: x, W and the window
            assert [type(v) for v in fn.saved] == [np.ndarray, np.ndarray, tuple, int, tuple]
            assert fn.saved[1].shape == w.shape
        elif fn.delegated:                       # chunks: only x and the weights
            assert [type(v) for v in fn.saved] == [np.ndarray, np.ndarray, tuple, tuple, tuple,
                                                   int, tuple]
            assert fn.saved[1].size == w.size
        else:
            assert fn.X is None
        np.testing.assert_allclose(y.data, ref_conv2d(x, w, b, 1, 1, G), rtol=1e-10, atol=1e-10)


# ---------------------------------------------------------------- Winograd at every tile remainder
@contextlib.contextmanager
def _cpu_threads(n):
    """minialex's CPU passes on ``n`` threads, every pass split however small
    its array (n = 3 over 2 channels etc. gives uneven and empty-free parts)."""
    before, min_size = minialex.get_num_threads(), _threads._MIN_SIZE
    minialex.set_num_threads(n)
    if n > 1:
        _threads._MIN_SIZE = 1
    try:
        yield
    finally:
        _threads._MIN_SIZE = min_size
        minialex.set_num_threads(before)


# (H, W, ph, pw): output (OH, OW) = (H + 2ph - 2, W + 2pw - 2): 1x1, 2x3,
# 5x2, 2x8, 7x4, 1x2, 4x1, 3x3, 7x5, 4x4 and 6x6: each remainder of 2 and
# of 3 on each axis (a partly padding last tile row or column), a single
# tile, a one-pixel-high or -wide image, asymmetric padding, whole tiles
WINOGRAD_SHAPES = [(3, 3, 0, 0), (4, 5, 0, 0), (5, 2, 1, 1), (2, 6, 1, 2), (5, 4, 2, 1),
                   (1, 4, 1, 0), (6, 1, 0, 1), (5, 3, 0, 1), (9, 7, 0, 0), (4, 4, 1, 1),
                   (6, 6, 1, 1)]
# F(2x2, 5x5), output (H + 2ph - 4, W + 2pw - 4): AlexNet's CIFAR conv2
# (13x13 with padding 2: 7x7 tiles, the last row and column half padding),
# 1x1 (an image of one pixel: its tile is all padding but the centre),
# 2x2 (one whole tile), 5x4 (one axis odd, the other even), 1x2 with
# asymmetric padding, 3x1 unpadded, and the CIFAR conv1's 28x28 (whole tiles)
WINOGRAD_5X5_SHAPES = [(13, 13, 2, 2), (1, 1, 2, 2), (6, 6, 0, 0), (5, 4, 2, 2),
                       (3, 4, 1, 1), (7, 5, 0, 0), (28, 28, 2, 2)]
WINOGRAD_CASES = [(path, shape) for path in WINOGRAD
                  for shape in (WINOGRAD_5X5_SHAPES if KERNEL[path] == 5 else WINOGRAD_SHAPES)]


@pytest.mark.parametrize("threads", [1, 3])
@pytest.mark.parametrize("groups", [1, 2])
@pytest.mark.parametrize("path, shape", WINOGRAD_CASES)
def test_winograd_matches_the_float64_reference_at_every_tile_remainder(path, shape, groups,
                                                                        threads):
    # y, dL/dx, dL/dW and dL/db of F(2x2, 3x3), F(3x3, 3x3) and F(2x2, 5x5)
    # against the float64 loop reference: each tile remainder, split over 3 threads
    # (3 input and 5 output channels a group: uneven parts; with two groups
    # 6 input channels, more than the 4 rows of a one-tile-high padded image,
    # and 5 or 10 output channels, more than a tile's 4 rows: a pass split
    # over the wrong axis leaves channels out)
    (h, w, ph, pw), r = shape, KERNEL[path]
    rng = np.random.default_rng(h * 100 + w * 10 + ph + groups)
    n, c, c_out = 3, 3 * groups, 5 * groups
    x = rng.standard_normal((n, c, h, w))
    wt = rng.standard_normal((c_out, c // groups, r, r))
    b = rng.standard_normal(c_out)
    oh, ow = h + 2 * ph - r + 1, w + 2 * pw - r + 1
    gy = rng.standard_normal((n, c_out, oh, ow))
    X, Wt, B = (Tensor(a, requires_grad=True) for a in (x, wt, b))
    with paths.use("conv2d", path), _cpu_threads(threads):
        y = conv2d(X, Wt, B, padding=(ph, pw), groups=groups)
        assert y.creator.winograd and y.creator.saved[6:] == [WINOGRAD[path], r]
        y.backward(gy)
    np.testing.assert_allclose(y.data, ref_conv2d(x, wt, b, 1, (ph, pw), groups),
                               rtol=1e-12, atol=1e-12)
    for t, ref in zip((X, Wt, B), ref_conv2d_backward(gy, x, wt, 1, (ph, pw), groups)):
        assert t.grad.shape == ref.shape
        np.testing.assert_allclose(t.grad, ref, rtol=1e-12, atol=1e-12)


def test_winograd_products_run_split_over_threads_each_on_one_blas_thread():
    # batched_products: on NumPy the 16*G products are split over minialex's
    # threads (every product once), and each runs with BLAS on one thread
    # (raised to 2 around the call, so a missing limit shows), restored after
    threadpoolctl = pytest.importorskip("threadpoolctl")

    def blas_threads():
        return {i["num_threads"] for i in threadpoolctl.threadpool_info()
                if i["user_api"] == "blas"}
    if not blas_threads():
        pytest.skip("NumPy here reports no BLAS library to threadpoolctl")
    seen = []

    def product(lo, hi):
        seen.append((lo, hi, blas_threads()))
    with threadpoolctl.threadpool_limits(limits=2, user_api="blas"), _cpu_threads(3):
        winograd.batched_products(product, 32, np.zeros(4))
        assert blas_threads() == {2}
    assert sorted(i for lo, hi, _ in seen for i in range(lo, hi)) == list(range(32))
    assert len(seen) == 3 and all(t == {1} for _, _, t in seen)


def test_winograd_products_run_in_one_call_off_numpy(monkeypatch):
    # an array of another module (CuPy) runs every product in one call,
    # neither split over threads nor under threadpoolctl
    class Fake:
        pass
    monkeypatch.setattr(winograd, "get_array_module", lambda a: "cupy")
    monkeypatch.setattr(winograd, "parallel", lambda *a: pytest.fail("split a non-NumPy array"))
    monkeypatch.setattr(winograd, "_one_blas_thread",
                        lambda: pytest.fail("threadpoolctl on a non-NumPy array"))
    seen = []
    winograd.batched_products(lambda lo, hi: seen.append((lo, hi)), 32, Fake())
    assert seen == [(0, 32)]


def test_winograd_without_threadpoolctl_runs_the_products_unlimited(monkeypatch):
    # threadpoolctl is optional: without it the products run as they are
    import sys
    monkeypatch.setitem(sys.modules, "threadpoolctl", None)      # import raises ImportError
    monkeypatch.setattr(winograd, "_controller", [])
    with winograd._one_blas_thread() as ctx:
        assert ctx is None
    assert winograd._controller == [None]
    seen = []
    with _cpu_threads(1):
        winograd.batched_products(lambda lo, hi: seen.append((lo, hi)), 16, np.zeros(4))
    assert seen == [(0, 16)]


@pytest.mark.parametrize("module, m, r", [(winograd, 2, 3), (winograd_f3x3, 3, 3),
                                           (winograd_f2x2_5x5, 2, 5)])
def test_winograd_forward_keeps_the_transformed_input_by_default(module, m, r):
    # winograd.forward(..., keep=True) by default: ``saved`` holds V, which
    # one backward then uses (and never rebuilds); keep=False holds none and
    # backward rebuilds it; both give the reference's values
    x, w, b, gy = _case(8, r)
    p = r // 2
    for kwargs, kept in (({}, True), ({"keep": False}, False)):
        y, saved = module.forward(x, w, b, (1, 1), (p, p), G, (H, W_IN), **kwargs)
        assert (saved[5] is not None) == kept and saved[6:] == [m, r]
        np.testing.assert_allclose(y, ref_conv2d(x, w, b, 1, p, G), rtol=1e-12, atol=1e-12)
        gx, gw, gb = module.backward(saved, gy, True, True, True)
        assert saved[5] is None                     # its memory went to dL/dV
        for got, ref in zip((gx, gw, gb), ref_conv2d_backward(gy, x, w, 1, p, G)):
            np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-12)


def _tile_reach(m):
    """R[p, r]: a tile's input r reaches its output p through nonzero
    coefficients of BT and AT (some a with AT[p, a] BT[a, r] != 0)."""
    at, _, bt = winograd.MATRICES[(m, 3)]
    return (np.abs(at) @ np.abs(bt)) != 0


def _spread(m, out_hw, in_hw, padding, pixel=None, output=None):
    """The outputs (OH, OW) a bad input pixel reaches through the tiles
    holding it, or the input pixels (H, W) a bad output reaches."""
    reach, n = _tile_reach(m), m + 2
    mask = np.zeros(out_hw if pixel is not None else in_hw, dtype=bool)
    for ti, tj in itertools.product(range(-(-out_hw[0] // m)), range(-(-out_hw[1] // m))):
        rows, cols = [], []
        for axis, t, found in ((0, ti, rows), (1, tj, cols)):
            for p, r in itertools.product(range(m), range(n)):
                if reach[p, r] and (pixel is None or pixel[axis] + padding[axis] == m * t + r) \
                        and (output is None or output[axis] == m * t + p):
                    found.append(m * t + p if pixel is not None else m * t + r - padding[axis])
        for a, b in itertools.product(rows, cols):
            if 0 <= a < mask.shape[0] and 0 <= b < mask.shape[1]:
                mask[a, b] = True
    return mask


@pytest.mark.parametrize("m", [2, 3])
@pytest.mark.parametrize("shape", [(5, 6, 1, 1), (4, 5, 0, 0), (6, 7, 2, 1)])
def test_winograd_a_nan_reaches_exactly_the_outputs_its_tiles_reach(shape, m):
    # the transforms skip their zero coefficients (no 0 * x), so a NaN
    # pixel spoils exactly the outputs that the nonzero coefficients of BT
    # and AT connect it to, in each tile holding it; likewise an inf in
    # dL/dy spoils exactly the dL/dx pixels it reaches (and all of its
    # group's dL/dW); checked for every position of the bad number in the
    # tiles (each row and column remainder). For F(2x2) that is exactly the
    # outputs whose 3x3 windows hold it, as in the loop reference; F(3x3)'s
    # 5-wide tiles connect the middle three inputs to all three outputs
    # (d1 reaches y2 with a zero sum of nonzero terms): a superset
    h, w, ph, pw = shape
    oh, ow = h + 2 * ph - 2, w + 2 * pw - 2
    rng = np.random.default_rng(h * 10 + w)
    widened = False
    for i, j in itertools.product(range(h), range(w)):
        x, wt = rng.standard_normal((2, 4, h, w)), rng.standard_normal((6, 2, 3, 3))
        gy = rng.standard_normal((2, 6, oh, ow))
        x[1, 2, i, j] = np.nan
        with np.errstate(invalid="ignore"):
            y, _ = winograd.forward(x, wt, None, (1, 1), (ph, pw), 2, (oh, ow), m=m)
            ref = ref_conv2d(x, wt, None, 1, (ph, pw), 2)
        expected = np.zeros(y.shape, dtype=bool)
        expected[1, 3:] = _spread(m, (oh, ow), (h, w), (ph, pw), pixel=(i, j))
        np.testing.assert_array_equal(np.isnan(y), expected)
        assert np.isnan(ref).any() and not np.isnan(ref).all()
        assert not (np.isnan(ref) & ~expected).any()
        widened |= (expected & ~np.isnan(ref)).any()
        if m == 2:
            np.testing.assert_array_equal(expected, np.isnan(ref))
        x[1, 2, i, j] = 0.5
        bad = min(i, oh - 1), min(j, ow - 1)
        gy[0, 4][bad] = np.inf
        with np.errstate(invalid="ignore"):
            _, saved = winograd.forward(x, wt, None, (1, 1), (ph, pw), 2, (oh, ow), m=m)
            gx, gw = winograd.backward(saved, gy, True, True, False)[:2]
            refs = ref_conv2d_backward(gy, x, wt, 1, (ph, pw), 2)[:2]
        expected = np.zeros(gx.shape, dtype=bool)
        expected[0, 2:] = _spread(m, (oh, ow), (h, w), (ph, pw), output=bad)
        np.testing.assert_array_equal(~np.isfinite(gx), expected)
        assert not (~np.isfinite(refs[0]) & ~expected).any()
        if m == 2:
            np.testing.assert_array_equal(np.isfinite(gx), np.isfinite(refs[0]))
        np.testing.assert_array_equal(np.isfinite(gw), np.isfinite(refs[1]))
        assert not np.isfinite(refs[0]).all() and np.isfinite(refs[0]).any()
    assert widened == (m == 3)


def test_winograd_combine_sums_left_to_right_for_every_coefficient_row():
    # combine(coeffs, terms) = c0 t0 + c1 t1 + ... over the nonzero
    # coefficients, added left to right (bit for bit the plain sum in that
    # order), for every row of 1 to 3 coefficients from {0, +-1, +-1/2, 2,
    # -5/2, 2/9} (entries of F(2, 3)'s and F(3, 3)'s BT, G and AT: the +-1
    # fast paths and the multiplications), into ``out`` when given; a row
    # of zeros gives zeros
    rng = np.random.default_rng(9)
    terms = list(rng.standard_normal((3, 5)) * [[1e8], [1], [1e-8]])
    terms[0][0], terms[1][0], terms[2][0] = 1e16, -1e16, 1.0      # order shows: 1 or 0
    for k in (1, 2, 3):
        for coeffs in itertools.product((0, 1, -1, 0.5, -0.5, 2, -2.5, 2 / 9), repeat=k):
            nz = [(c, t) for c, t in zip(coeffs, terms) if c != 0]
            if not nz:
                np.testing.assert_array_equal(winograd.combine(np.array(coeffs), terms[:k]),
                                              np.zeros(5))
                out = np.full(5, np.nan)
                assert winograd.combine(np.array(coeffs), terms[:k], out=out) is out
                np.testing.assert_array_equal(out, np.zeros(5))
                continue
            expected = nz[0][0] * nz[0][1]
            for c, t in nz[1:]:
                expected = expected + c * t
            np.testing.assert_array_equal(winograd.combine(np.array(coeffs), terms[:k]), expected,
                                          err_msg=str(coeffs))
            out = np.full(5, np.nan)
            assert winograd.combine(np.array(coeffs), terms[:k], out=out) is out
            np.testing.assert_array_equal(out, expected, err_msg=str(coeffs))


@pytest.mark.parametrize("m, r", [(2, 3), (3, 3), (2, 5)])
def test_winograd_buffers_hold_exactly_the_tiles(monkeypatch, m, r):
    # the documented shapes of the padded image xb and its gradient gxb
    # (C, m th+r-1, m tw+r-1, N), of V (n, n, C, th, tw, N), n = m + r - 1,
    # th = ceil(OH/m), tw = ceil(OW/m), and the n * n * G products of each
    # stack: no buffer is bigger than the tiles it holds
    seen = {}

    def spy(name, record):
        original = getattr(winograd, name)

        def recorded(*args):
            seen.setdefault(name, []).append(record(*args))
            return original(*args)
        monkeypatch.setattr(winograd, name, recorded)
    spy("input_transform", lambda xb, th, tw, V, m_: (xb.shape, (th, tw), V.shape, m_))
    spy("input_transform_transposed", lambda gV, th, tw, gxb, m_: (gV.shape, gxb.shape, m_))
    spy("batched_products", lambda product, count, a: count)
    n = m + r - 1
    # (H, W, ph, pw) -> (th, tw) for m = 2 and m = 3 (3x3 kernels), outputs
    # 7x4, 2x8, 2x1, 40x1; for F(2x2, 5x5) the images 2 pixels larger
    tiles = {(5, 4, 2, 1): ((4, 2), (3, 2)), (2, 6, 1, 2): ((1, 4), (1, 3)),
             (4, 1, 0, 1): ((1, 1), (1, 1)), (40, 3, 1, 0): ((20, 1), (14, 1))}
    for (h, w, ph, pw), per_m in tiles.items():
        th, tw = per_m[m - 2]
        h, w = h + r - 3, w + r - 3
        seen.clear()
        x, wt = np.ones((2, 4, h, w)), np.ones((6, 2, r, r))
        y, saved = winograd.forward(x, wt, None, (1, 1), (ph, pw), 2,
                                    (h + 2 * ph - r + 1, w + 2 * pw - r + 1), m=m)
        assert saved[5].shape == (n, n, 4, th, tw, 2)
        winograd.backward(saved, np.ones(y.shape), True, True, False)
        assert seen["input_transform"] == [((4, m * th + r - 1, m * tw + r - 1, 2), (th, tw),
                                            (n, n, 4, th, tw, 2), m)]
        assert seen["input_transform_transposed"] == [((n, n, 4, th, tw, 2),
                                                       (4, m * th + r - 1, m * tw + r - 1, 2), m)]
        assert seen["batched_products"] == [2 * n * n] * 3


# ---------------------------------------------------------------- Winograd's matrices and accuracy
@pytest.mark.parametrize("m, r", [(2, 3), (3, 3), (2, 5)])
def test_winograd_matrices_give_the_r_tap_correlation(m, r):
    # y = AT [(G g) * (BT d)] is y_k = d_k g0 + ... + d_{k+r-1} g_{r-1}:
    # exactly in rationals (random small fractions d, g), and to float64
    # rounding with the float64 matrices the path uses (random normals)
    from fractions import Fraction
    AT, G, BT = winograd_matrices.exact_matrices(m, r, winograd_matrices.POINTS[(m, r)])
    n = m + r - 1
    assert (len(AT), len(AT[0]), len(G), len(G[0]), len(BT), len(BT[0])) == (m, n, n, r, n, n)
    rng = np.random.default_rng(m * 10 + r)
    for _ in range(20):
        d = [Fraction(int(v), int(q)) for v, q in zip(rng.integers(-50, 50, n), rng.integers(1, 9, n))]
        g = [Fraction(int(v), int(q)) for v, q in zip(rng.integers(-50, 50, r), rng.integers(1, 9, r))]
        prods = [sum(G[i][k] * g[k] for k in range(r)) * sum(BT[i][j] * d[j] for j in range(n))
                 for i in range(n)]
        y = [sum(AT[k][i] * prods[i] for i in range(n)) for k in range(m)]
        assert y == [sum(d[k + t] * g[t] for t in range(r)) for k in range(m)]
    at, gm, bt = winograd.MATRICES[(m, r)]
    assert at.dtype == gm.dtype == bt.dtype == np.float64
    np.testing.assert_array_equal(at, np.array(AT, dtype=float))
    np.testing.assert_array_equal(bt, np.array(BT, dtype=float))
    np.testing.assert_array_equal(gm, np.array([[float(v) for v in row] for row in G]))
    for _ in range(20):
        d, g = rng.standard_normal(n), rng.standard_normal(r)
        np.testing.assert_allclose(at @ ((gm @ g) * (bt @ d)), np.correlate(d, g, "valid"),
                                   rtol=1e-13, atol=1e-13)
    # BT and AT dyadic (exact in binary floating point): denominators powers of 2
    assert all(v.denominator & (v.denominator - 1) == 0 for mat in (AT, BT) for row in mat
               for v in row)


def test_winograd_matrices_of_f2_are_lavin_and_grays_up_to_row_signs():
    # Lavin & Gray's F(2, 3) (section 4.1) is the construction on 0, 1, -1,
    # with rows 0 and 3 (of BT and G, or BT and AT's column) negated
    lavin_bt = np.array([[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]])
    lavin_g = np.array([[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]])
    lavin_at = np.array([[1, 1, 1, 0], [0, 1, -1, -1]])
    AT, G, BT = winograd_matrices.winograd_matrices(2, points=(0, 1, -1))
    flip = np.array([-1, 1, 1, -1])
    np.testing.assert_array_equal(BT, flip[:, None] * lavin_bt)
    np.testing.assert_array_equal(G, [[-1, 0, 0]] + lavin_g[1:].tolist())
    np.testing.assert_array_equal(AT, lavin_at * [1, 1, 1, -1])
    assert (winograd.AT, winograd.G, winograd.BT) == winograd.MATRICES[(2, 3)]


def test_winograd_matrices_refuse_wrong_points_and_build_other_sizes():
    with pytest.raises(ValueError, match=r"F\(3, 3\) needs 4 distinct finite points"):
        winograd_matrices.exact_matrices(3, 3, (0, 1, -1))
    with pytest.raises(ValueError, match="distinct"):
        winograd_matrices.exact_matrices(2, 3, (0, 1, 1))
    assert [str(c) for c in winograd_matrices.polynomial([1, -1, 2])] == ["2", "-1", "-2", "1"]
    AT, G, BT = winograd_matrices.winograd_matrices(4, points=(0, 1, -1, 2, -2))   # F(4, 3)
    d, g = np.arange(6.0) ** 2 - 3, np.array([0.5, -2.0, 1.5])
    np.testing.assert_allclose(AT @ ((G @ g) * (BT @ d)), np.correlate(d, g, "valid"), rtol=1e-13)
    AT, G, BT = winograd_matrices.winograd_matrices(2, r=2, points=(0, 1))            # F(2, 2)
    np.testing.assert_allclose(AT @ ((G @ g[:2]) * (BT @ d[:3])), np.correlate(d[:3], g[:2], "valid"))


def test_winograd_error_growth_of_the_chosen_points():
    # error_growth per output (module doc of winograd_matrices): F(2, 3)
    # sqrt(5/3) on both outputs; F(3, 3) on 0, -1, 1/2, 2 symmetric (2.19,
    # 1.20, 2.19) and its worst 2-D output (4.8) well under the textbook
    # sets' (0, 1, -1 with 2 or 1/2: 3.38 at one end, 11.4)
    from fractions import Fraction
    growth = winograd_matrices.error_growth
    np.testing.assert_allclose(growth(*winograd.MATRICES[(2, 3)]), [np.sqrt(5 / 3)] * 2,
                               rtol=1e-12)
    f3 = growth(*winograd.MATRICES[(3, 3)])
    np.testing.assert_allclose(f3, [2.1858, 1.2019, 2.1858], rtol=1e-4)
    for fourth in (2, Fraction(1, 2)):
        textbook = growth(*winograd_matrices.winograd_matrices(3, points=(0, 1, -1, fourth)))
        assert textbook.max() ** 2 > 11 > 2 * f3.max() ** 2


def test_winograd_error_growth_of_f2x5_points():
    # F(2, 5) on 0, 1, -1, 2, -1/2 (closed under t -> -1/t): both outputs
    # alike (2.79; a 2-D tile 7.8), the weight gradient's taps symmetric
    # (3.78 at the ends; 2-D 14.3); the textbook sets 0, +-1, +-2 and
    # 0, +-1, +-1/2 2.5x and 3.2x worse at their worst 2-D output and
    # weight tap, and no other set of the module doc's table better on either
    from fractions import Fraction
    growth, wgrowth = winograd_matrices.error_growth, winograd_matrices.weight_gradient_growth
    chosen = winograd.MATRICES[(2, 5)]
    np.testing.assert_allclose(growth(*chosen), [2.7889, 2.7889], rtol=1e-4)
    np.testing.assert_allclose(wgrowth(*chosen), [3.7786, 1.9437, 1.6667, 1.9437, 3.7786],
                               rtol=1e-4)
    half = Fraction(1, 2)
    for points in ((0, 1, -1, 2, -2), (0, 1, -1, half, -half), (0, 1, -1, 2, half),
                   (0, -1, half, 2, -2), (0, 2, -2, half, -half)):
        other = winograd_matrices.winograd_matrices(2, 5, points)
        assert growth(*other).max() > growth(*chosen).max()
        assert wgrowth(*other).max() > wgrowth(*chosen).max()
        if points in ((0, 1, -1, 2, -2), (0, 1, -1, half, -half)):      # the textbook sets
            assert growth(*other).max() ** 2 > 2.5 * growth(*chosen).max() ** 2
            assert wgrowth(*other).max() ** 2 > 3 * wgrowth(*chosen).max() ** 2
    # F(2, 3) and F(3, 3): the weight gradient's growth is no worse than the output's
    np.testing.assert_allclose(wgrowth(*winograd.MATRICES[(2, 3)]), [np.sqrt(2), 1, np.sqrt(2)])
    np.testing.assert_allclose(wgrowth(*winograd.MATRICES[(3, 3)]),
                               growth(*winograd.MATRICES[(3, 3)]), rtol=1e-12)


def _preset_conv_errors(path, seeds=(0, 1, 2)):
    """max |error| / max |reference| of (y, dL/dx, dL/dW), float32 against
    float64, worst over seeds, on the small preset's conv3-conv5 (6x6 maps,
    64 -> 96 channels, then 96 -> 96 and 96 -> 64 in two groups), batch 4."""
    out = []
    for c, c_out, g in ((64, 96, 1), (96, 96, 2), (96, 64, 2)):
        worst = np.zeros(3)
        for seed in seeds:
            rng = np.random.default_rng(seed)
            x = rng.standard_normal((4, c, 6, 6)).astype(np.float32)
            w = (rng.standard_normal((c_out, c // g, 3, 3)) / np.sqrt(c // g * 9)).astype(np.float32)
            gy = rng.standard_normal((4, c_out, 6, 6)).astype(np.float32)
            x64, w64, gy64 = (a.astype(np.float64) for a in (x, w, gy))
            ref = [ref_conv2d(x64, w64, None, 1, 1, g)] + list(
                ref_conv2d_backward(gy64, x64, w64, 1, 1, g)[:2])
            X, Wt = Tensor(x, requires_grad=True), Tensor(w, requires_grad=True)
            with paths.use("conv2d", path):
                y = conv2d(X, Wt, padding=1, groups=g)
                y.backward(gy)
            worst = np.maximum(worst, [np.abs(a - r).max() / np.abs(r).max()
                                       for a, r in zip((y.data, X.grad, Wt.grad), ref)])
        out.append(worst)
    return np.array(out)


def test_winograd_float32_error_at_the_small_presets_conv3_to_conv5():
    # measured (10 seeds): F(2x2) at most 4.3e-7, F(3x3) 1.5e-6, im2col
    # 8.4e-7 (winograd's module doc); bounds with some room: F(2x2) under
    # 1e-6, F(3x3) under 3e-6, and F(3x3) within 10x of F(2x2) (its worst
    # output's error growth is 4.8 against 1.7)
    f2 = _preset_conv_errors("winograd_f2x2_3x3")
    f3 = _preset_conv_errors("winograd_f3x3_3x3")
    assert f2.max() < 1e-6 and f3.max() < 3e-6, (f2, f3)
    assert f3.max() < 10 * f2.max() and f3.min() > 1e-8, (f2, f3)


# the CIFAR presets' 5x5 layers (padding 2): (N, C_in, H, C_out, groups)
CIFAR_5X5 = {"small conv1": (4, 3, 28, 32, 1), "small conv2": (4, 32, 13, 64, 2),
             "half conv2": (4, 48, 13, 128, 2)}


def _errors_5x5(path, n, c, h, c_out, g, seed):
    """max |error| / max |reference| of (y, dL/dx, dL/dW), float32 against float64."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c, h, h)).astype(np.float32)
    w = (rng.standard_normal((c_out, c // g, 5, 5)) / np.sqrt(c // g * 25)).astype(np.float32)
    gy = rng.standard_normal((n, c_out, h, h)).astype(np.float32)
    x64, w64, gy64 = (a.astype(np.float64) for a in (x, w, gy))
    ref = [ref_conv2d(x64, w64, None, 1, 2, g)] + list(
        ref_conv2d_backward(gy64, x64, w64, 1, 2, g)[:2])
    X, Wt = Tensor(x, requires_grad=True), Tensor(w, requires_grad=True)
    with paths.use("conv2d", path):
        y = conv2d(X, Wt, padding=2, groups=g)
        y.backward(gy)
    return np.array([np.abs(a - r).max() / np.abs(r).max()
                     for a, r in zip((y.data, X.grad, Wt.grad), ref)])


@pytest.mark.parametrize("layer", sorted(CIFAR_5X5))
def test_winograd_f2x5_float32_error_at_the_cifar_5x5_layers(layer):
    # measured, worst over seeds 0-9, (y, dL/dx, dL/dW) F(2x2, 5x5) against
    # im2col: small conv1 (1.4, 1.5, 2.1)e-6 against (3.7, 2.3, 5.7)e-7,
    # small conv2 (1.4, 1.3, 2.1)e-6 against (8.2, 2.5, 6.3)e-7, half conv2
    # (1.6, 2.2, 7.2)e-6 against (7.2, 2.8, 7.2)e-7 (winograd_f2x2_5x5's doc):
    # bounds with some room, 3e-6 on y and dL/dx, 1.5e-5 on dL/dW (whose
    # corner taps grow the products' rounding by 14.3, the outputs by 7.8),
    # seeds 0-2 here
    worst = np.max([_errors_5x5("winograd_f2x2_5x5", *CIFAR_5X5[layer], seed)
                    for seed in range(3)], axis=0)
    cols = np.max([_errors_5x5("chwn_slices", *CIFAR_5X5[layer], seed) for seed in range(3)],
                  axis=0)
    assert worst[0] < 3e-6 and worst[1] < 3e-6 and worst[2] < 1.5e-5, (worst, cols)
    assert (worst < 25 * cols).all() and worst.min() > 1e-8, (worst, cols)


@pytest.mark.parametrize("path", WINOGRAD)
def test_winograd_bias_gradient_is_the_im2col_paths_row_sum(path):
    # dL/db: each channel's contiguous row of gy in CHWN, NumPy's pairwise
    # sum: bit for bit the whole-batch im2col path's when the tiles fill the
    # output (6x6: m = 2 and 3 both divide it), and far more exact in
    # float32 than adding image by image (gy.sum(axis=(0, 2, 3))); with a
    # partial last tile (7x5) the row also holds zeros, as exact
    rng = np.random.default_rng(11)
    for hw in ((6, 6), (7, 5)):
        x = rng.standard_normal((64, 3) + hw).astype(np.float32)
        r = KERNEL[path]                         # padding r // 2: the same size out
        w = rng.standard_normal((4, 3, r, r)).astype(np.float32)
        b = rng.standard_normal(4).astype(np.float32)
        gy = (rng.standard_normal((64, 4) + hw) + 100).astype(np.float32)    # a large mean
        grads = {}
        for p in (path, "chwn_slices"):
            B = Tensor(b, requires_grad=True)
            with paths.use("conv2d", p):
                conv2d(Tensor(x), Tensor(w), B, padding=r // 2).backward(gy)
            grads[p] = B.grad
        exact = gy.astype(np.float64).sum(axis=(0, 2, 3))
        if hw == (6, 6):
            np.testing.assert_array_equal(grads[path], grads["chwn_slices"])
        error = np.abs(grads[path] - exact).max()
        assert error <= 2 * np.abs(grads["chwn_slices"] - exact).max() + 1e-3
        assert error < np.abs(gy.sum(axis=(0, 2, 3)) - exact).max() / 2


# ---------------------------------------------------------------- im2col_cpu's helpers
# (issue 20: mutants of _kernels/im2col_cpu.py that the whole-op tests let live)
@pytest.mark.parametrize("shape, padding, end", [
    ((2, 3, 4, 5), (0, 0), (0, 0)), ((2, 3, 4, 5), (1, 2), (0, 0)),
    ((1, 2, 5, 3), (3, 1), (1, 2)), ((3, 1, 2, 2), (2, 0), (0, 1))])
def test_to_chwn_pads_with_zeros_and_puts_the_batch_last(shape, padding, end):
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32) + 5  # no zeros
    (ph, pw), (eh, ew) = padding, end
    got = im2col_cpu.to_chwn(x, padding, end)
    want = np.pad(x, ((0, 0), (0, 0), (ph, ph + eh), (pw, pw + ew))).transpose(1, 2, 3, 0)
    assert got.shape == (shape[1], shape[2] + 2 * ph + eh, shape[3] + 2 * pw + ew, shape[0])
    assert got.flags.c_contiguous
    np.testing.assert_array_equal(got, want)


# (C, H, W, N): one block; blocks of 7 channels for C = 8 (65536 // 9000 = 7, so
# the last block holds one channel) and of 32 for C = 70 (65536 // 2048); blocks
# of one channel; channels split across threads (over 2^18 numbers); empty axes
TO_NCHW_SHAPES = [(5, 1, 2, 3), (8, 30, 30, 10), (70, 16, 16, 8), (3, 90, 90, 10),
                  (40, 30, 30, 8), (0, 2, 2, 3), (3, 2, 2, 0), (3, 2, 0, 2), (3, 0, 2, 2)]


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("shape", TO_NCHW_SHAPES)
@pytest.mark.parametrize("with_bias", [False, True])
def test_to_nchw_in_channel_blocks_equals_one_transpose(shape, with_bias, threads):
    rng = np.random.default_rng(1)
    a = rng.standard_normal(shape).astype(np.float32)
    bias = rng.standard_normal(shape[0]).astype(np.float32) if with_bias else None
    old = minialex.get_num_threads()
    minialex.set_num_threads(threads)
    try:
        got = im2col_cpu.to_nchw(a, bias)
    finally:
        minialex.set_num_threads(old)
    want = a.transpose(3, 0, 1, 2) + (0 if bias is None else bias.reshape(-1, 1, 1))
    assert got.shape == want.shape and got.flags.c_contiguous
    np.testing.assert_array_equal(got, want)


def test_spare_columns_are_reused_and_at_most_16_are_kept(monkeypatch):
    monkeypatch.setattr(im2col_cpu, "_spare_columns", {})
    arrays = [np.empty((k + 1, 2), dtype=np.float32) for k in range(20)]
    for a in arrays:
        im2col_cpu.free_columns(a)
    im2col_cpu.free_columns(None)                        # ignored
    assert len(im2col_cpu._spare_columns) == 16          # the oldest four went first
    for k in range(4):
        assert im2col_cpu.new_columns(np, arrays[k].shape, np.float32) is not arrays[k]
    for k in range(4, 20):
        assert im2col_cpu.new_columns(np, arrays[k].shape, np.dtype(np.float32)) is arrays[k]
    assert im2col_cpu._spare_columns == {}
    fresh = im2col_cpu.new_columns(np, (3, 2), np.float64)
    assert fresh.shape == (3, 2) and fresh.dtype == np.float64


def test_spare_numpy_columns_go_to_numpy_callers_only(monkeypatch):
    monkeypatch.setattr(im2col_cpu, "_spare_columns", {})
    spare = np.empty((2, 3), dtype=np.float32)
    im2col_cpu.free_columns(spare)
    other = types.SimpleNamespace(empty=lambda shape, dtype: ("other", shape, dtype))
    assert im2col_cpu.new_columns(other, (2, 3), spare.dtype) == ("other", (2, 3), spare.dtype)
    assert im2col_cpu.new_columns(np, (2, 3), spare.dtype) is spare


@pytest.mark.parametrize("shape, padding", [((2, 3, 4, 5), (3, 0)), ((2, 3, 4, 5), (0, 3)),
                                            ((2, 3, 4, 5), (4, 5)), ((1, 2, 0, 3), (2, 1)),
                                            ((1, 2, 3, 0), (1, 2))])
def test_col2im_with_wide_padding_or_an_empty_axis_is_the_adjoint_of_im2col(shape, padding):
    # <im2col(x), c> = <x, col2im(c)>, float64; padding wider than 2, and images
    # of height or width 0 (whose windows read only padding; conv2d takes them)
    rng = np.random.default_rng(2)
    x = rng.standard_normal(shape)
    (ph, pw), kernel, stride = padding, (2, 2), (2, 1)
    out_hw = ((shape[2] + 2 * ph - 2) // 2 + 1, (shape[3] + 2 * pw - 2) // 1 + 1)
    cols = im2col_cpu.im2col(x, kernel, stride, padding, out_hw).copy()
    c = rng.standard_normal(cols.shape)
    back = im2col_cpu.col2im(c, x.shape, kernel, stride, padding, out_hw)
    assert back.shape == x.shape
    np.testing.assert_allclose(np.sum(cols * c), np.sum(x * back), rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------- paths.py's table and rule
# (issue 20: mutants of _kernels/paths.py)
def test_paths_default_rule_on_numpy(monkeypatch):
    from minialex.functions._kernels import lrn_window, pool_phases, pool_planes_last
    # 3x3 stride 1: Winograd from 128 input channels a group, else chunks;
    # other stride-1 windows: chunks; any stride over 1 (either axis), or
    # no window given: the whole-batch im2col
    assert paths.choose("conv2d", np, window=((3, 3), (1, 1)), group_channels=128) is winograd
    assert paths.choose("conv2d", np, window=((3, 3), (1, 1)), group_channels=500) is winograd
    # other stride-1 windows: MEC from 16 input channels a group, else chunks
    assert paths.choose("conv2d", np, window=((3, 3), (1, 1)), group_channels=127) is mec
    assert paths.choose("conv2d", np, window=((3, 3), (1, 1)), group_channels=16) is mec
    assert paths.choose("conv2d", np, window=((3, 3), (1, 1)), group_channels=15) is im2col_chunks
    assert paths.choose("conv2d", np, window=((3, 3), (1, 1))) is im2col_chunks
    for window in (((5, 5), (1, 1)), ((3, 2), (1, 1)), ((1, 1), (1, 1)), ((11, 11), [1, 1])):
        assert paths.choose("conv2d", np, window=window, group_channels=256) is mec
        assert paths.choose("conv2d", np, window=window, group_channels=16,
                            out_group_channels=96) is mec
        assert paths.choose("conv2d", np, window=window, group_channels=16,
                            out_group_channels=97) is im2col_chunks
        assert paths.choose("conv2d", np, window=window, group_channels=3) is im2col_chunks
    for window in (None, ((3, 3), (2, 2)), ((11, 11), (4, 4)), ((5, 5), (1, 2)), ((5, 5), (2, 1))):
        assert paths.choose("conv2d", np, window=window, group_channels=256) is im2col_cpu
    for c in (1, 64, 128, 384, 10**4):        # F(3x3), F(2x2, 5x5) only when forced
        assert paths.choose("conv2d", np, window=((3, 3), (1, 1)), group_channels=c) \
            is not winograd_f3x3
        assert paths.choose("conv2d", np, window=((5, 5), (1, 1)), group_channels=c) \
            in (mec, im2col_chunks)
    monkeypatch.setattr(paths, "WINOGRAD_BY_DEFAULT", False)
    assert paths.choose("conv2d", np, window=((3, 3), (1, 1)), group_channels=256) is mec
    monkeypatch.setattr(paths, "MEC_MIN_GROUP_CHANNELS", 10**9)
    assert paths.choose("conv2d", np, window=((3, 3), (1, 1)), group_channels=256) is im2col_chunks
    monkeypatch.setattr(paths, "WINOGRAD_BY_DEFAULT", True)
    monkeypatch.setattr(paths, "WINOGRAD_MIN_GROUP_CHANNELS", 64)
    assert paths.choose("conv2d", np, window=((3, 3), (1, 1)), group_channels=64) is winograd
    assert paths.choose("max_pool2d", np, padded_pixels=400) is pool_planes_last
    assert paths.choose("max_pool2d", np, padded_pixels=401) is pool_phases
    assert paths.choose("max_pool2d", np) is pool_planes_last
    assert paths.choose("local_response_norm", np) is lrn_window
    assert paths.choose("local_response_norm", np, padded_pixels=10**6) is lrn_window


def test_paths_default_rule_on_another_array_module():
    from minialex.functions._kernels import im2col_cuda, lrn_cuda, pool_cuda
    other = types.SimpleNamespace()                          # stands in for CuPy
    assert paths.choose("conv2d", other, window=((3, 3), (1, 1))) is im2col_cuda
    assert paths.choose("max_pool2d", other, padded_pixels=10) is pool_cuda
    assert paths.choose("local_response_norm", other) is lrn_cuda
    with paths.use("conv2d", "chwn_slices"):                 # array paths run on any module
        assert paths.choose("conv2d", other) is im2col_cpu


def test_paths_use_nests_restores_and_checks():
    assert paths._forced == {}
    with paths.use("conv2d", "winograd_f2x2_3x3"):
        assert paths.choose("conv2d", np, window=((5, 5), (2, 2))) is winograd
        with paths.use("conv2d", "chwn_slices"):
            assert paths.choose("conv2d", np, window=((3, 3), (1, 1))) is im2col_cpu
        assert paths._forced == {"conv2d": "winograd_f2x2_3x3"}
    assert paths._forced == {}
    with pytest.raises(RuntimeError):
        with paths.use("max_pool2d", "phases"):
            raise RuntimeError("inside")
    assert paths._forced == {}
    with pytest.raises(ValueError, match=r"conv2d has no path 'fast'; its paths are "
                                         r"\['chwn_slices', 'winograd_f2x2_3x3', 'winograd_f3x3_3x3', "
                                         r"'winograd_f2x2_5x5', 'chwn_chunks', 'mec_rows', 'cuda_kernels'\]"):
        with paths.use("conv2d", "fast"):
            pass
    with pytest.raises(ValueError, match=r"unknown op 'pool'; the ops are \['conv2d', "
                                         r"'local_response_norm', 'max_pool2d'\]"):
        with paths.use("pool", "phases"):
            pass
    assert paths._forced == {}


@pytest.mark.parametrize("op", sorted(paths.TABLE))
def test_paths_a_forced_cupy_path_refuses_numpy_arrays(op):
    with paths.use(op, "cuda_kernels"):
        with pytest.raises(ValueError, match=f"paths: {op}'s path 'cuda_kernels' needs CuPy "
                                             "arrays, got NumPy ones"):
            paths.choose(op, np)
        assert paths.choose(op, types.SimpleNamespace()).__name__.endswith("_cuda")


def test_paths_table_and_loaded_modules():
    assert [p.cupy_only for p in paths.TABLE["conv2d"]] == [False] * 6 + [True]
    assert [p.cupy_only for p in paths.TABLE["max_pool2d"]] == [False, False, True]
    assert [p.cupy_only for p in paths.TABLE["local_response_norm"]] == [False, True]
    for op, table in paths.TABLE.items():
        for p in table:
            module = paths._load(p.module)
            assert module.__name__ == "minialex.functions._kernels." + p.module
            assert paths._load(p.module) is module
            assert paths._path(op, p.name) is p
