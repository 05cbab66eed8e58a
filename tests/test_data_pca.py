"""PCA colour augmentation (paper section 4.1)."""


import numpy as np
import pytest

from minialex.data import PCAColor


def coloured_images(n=200, seed=0):
    """Images whose pixels have a known, strongly correlated RGB distribution."""
    rng = np.random.default_rng(seed)
    base = rng.integers(30, 200, size=(n, 8, 8, 1))
    noise = rng.integers(0, 40, size=(n, 8, 8, 3)) * np.array([1, 0.5, 0.2])
    return np.clip(base + noise, 0, 255).astype(np.uint8)


def test_fit_matches_numpy_covariance():
    x = coloured_images()
    pca = PCAColor.fit(x)
    cov = np.cov(x.reshape(-1, 3).T / 255.0, bias=True)
    assert np.all(np.diff(pca.eigvals) <= 0)  # descending
    np.testing.assert_allclose(pca.eigvecs @ np.diag(pca.eigvals) @ pca.eigvecs.T, cov,
                               rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(pca.eigvecs.T @ pca.eigvecs, np.eye(3), atol=1e-12)
    # chunking and max_images
    np.testing.assert_allclose(PCAColor.fit(x, chunk=7).eigvals, pca.eigvals, rtol=1e-10)
    np.testing.assert_allclose(PCAColor.fit(x, max_images=50).eigvals,
                               PCAColor.fit(x[:50]).eigvals, rtol=1e-12)
    # scale=1: eigenvalues in pixel units
    np.testing.assert_allclose(PCAColor.fit(x, scale=1.0).eigvals, pca.eigvals * 255**2, rtol=1e-9)


def test_shift_is_constant_per_image_and_follows_the_formula():
    x = coloured_images(n=32)
    pca = PCAColor.fit(x, std=0.1)
    out = pca(x, np.random.default_rng(3))
    assert out.dtype == np.float32 and out.shape == x.shape
    d = out.astype(np.float64) - x
    shift = d[:, :1, :1, :]
    np.testing.assert_allclose(d, np.broadcast_to(shift, d.shape), atol=1e-4)
    alpha = np.random.default_rng(3).normal(0, 0.1, size=(32, 3))
    expected = 255.0 * pca.eigvecs @ (alpha * pca.eigvals).T          # (3, N)
    np.testing.assert_allclose(shift[:, 0, 0, :], expected.T, rtol=1e-4, atol=1e-4)
    assert np.abs(shift).max() > 0.5  # a visible change, in pixel units


def test_shift_lies_in_the_span_of_the_principal_components():
    # grey images: all colour variance along (1, 1, 1); rank-1 covariance
    g = np.random.default_rng(0).integers(0, 256, size=(100, 4, 4, 1)).astype(np.uint8)
    x = np.repeat(g, 3, axis=-1)
    pca = PCAColor.fit(x)
    assert pca.eigvals[1] < 1e-12 * pca.eigvals[0]
    s = pca.shifts(500, np.random.default_rng(1))
    grey = np.ones(3) / np.sqrt(3)
    np.testing.assert_allclose(s - np.outer(s @ grey, grey), 0, atol=1e-9)
    assert np.abs(s @ grey).max() > 1.0


def test_shift_distribution_mean_and_covariance():
    x = coloured_images()
    std = 0.1
    pca = PCAColor.fit(x, std=std)
    n = 40000
    ones = np.zeros((n, 1, 1, 3), np.float32)
    s = pca(ones, np.random.default_rng(11))[:, 0, 0, :].astype(np.float64)
    V, lam = pca.eigvecs, pca.eigvals
    expected = (255.0 * std) ** 2 * V @ np.diag(lam ** 2) @ V.T
    # mean ~ 0: within 4 standard errors on each principal axis
    sd_axis = 255.0 * std * lam
    np.testing.assert_array_less(np.abs(s.mean(0) @ V), 4 * sd_axis / np.sqrt(n) + 1e-12)
    # covariance, in the eigenbasis: diagonal with (255 std lambda)^2
    c = np.cov(s.T)
    cb = V.T @ c @ V
    np.testing.assert_allclose(np.diag(cb), sd_axis ** 2, rtol=0.05)
    assert abs(cb[0, 1]) < 0.05 * sd_axis[0] * sd_axis[1]
    np.testing.assert_allclose(c, expected, atol=0.05 * expected.max())


def test_uint8_near_255_does_not_wrap():
    x = np.full((64, 2, 2, 3), 253, np.uint8)
    pca = PCAColor(eigvals=[0.2, 0.02, 0.005], eigvecs=np.eye(3), std=0.1)
    out = pca(x, np.random.default_rng(0))
    assert out.dtype == np.float32
    assert out.max() > 255.5          # went above 255 instead of wrapping to ~0
    assert out.min() > 200            # nothing wrapped around to small values
    np.testing.assert_array_equal(x, 253)  # input untouched


def test_fit_on_cifar_sized_data():
    tile = np.random.default_rng(0).integers(0, 256, size=(500, 32, 32, 3), dtype=np.uint8)
    x = np.tile(tile, (100, 1, 1, 1))  # 50,000 images, 51.2M pixels
    pca = PCAColor.fit(x)   # speed is measured in benchmarks/, never asserted here
    # uniform independent channels: covariance ~ (255^2 - 1)/12 / 255^2 * I
    np.testing.assert_allclose(pca.eigvals, 1 / 12, rtol=0.02)


def test_errors():
    with pytest.raises(ValueError, match=r"\(N, H, W, 3\)"):
        PCAColor.fit(np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(ValueError, match="eigvals"):
        PCAColor([1, 2], np.eye(3))
    pca = PCAColor([1, 1, 1], np.eye(3))
    with pytest.raises(TypeError, match="Generator"):
        pca(np.zeros((1, 2, 2, 3)), None)
    with pytest.raises(ValueError, match="before to_nchw_float32"):
        pca(np.zeros((1, 3, 2, 2)), np.random.default_rng(0))


# --- exact checks and defaults (mutation survivors of minialex/data/pca_color.py) ---

FIT_MSG = "PCAColor.fit expects RGB images (N, H, W, 3), got shape {}"
SHAPE_MSG = "PCAColor needs eigvals (3,) and eigvecs (3, 3), got {} and {}"
RANGE_MSG = "PCAColor needs std >= 0 and scale > 0, got std={}, scale={}"


@pytest.mark.parametrize("shape", [(0, 2, 2, 3), (2, 0, 2, 3), (2, 2, 0, 3), (3, 2, 2, 1), (3, 2, 2, 2), (3, 2, 2, 4),
                                   (2, 2, 3), (1, 2, 2, 2, 3)])
def test_fit_refuses_what_is_not_a_batch_of_rgb_images_with_the_exact_message(shape):
    """An empty batch, images with no rows or no columns (no pixels: it was a
    ZeroDivisionError in the pixel sums), 1, 2 or 4 channels, 3 or 5
    dimensions: each is the one
    ValueError naming the shape, raised before any statistics are taken (not
    the eigvals-shape error of a 1- or 4-channel PCA, nor an unpacking error
    of the pixel sums, nor NaNs from an empty batch)."""
    with pytest.raises(ValueError) as exc:
        PCAColor.fit(np.zeros(shape, np.uint8))
    assert str(exc.value) == FIT_MSG.format(shape)


def test_fit_accepts_a_single_image():
    """N = 1 is a valid training set (the check is N >= 1, not N > 1): a
    hand-made image whose 4 pixels vary only in red gives the eigenvalue
    var(red)/255^2 along (1, 0, 0) and zeros."""
    x = np.zeros((1, 2, 2, 3), np.uint8)
    x[0, :, :, 0] = [[0, 0], [0, 255]]       # red: mean 63.75, variance 3/16 * 255^2
    pca = PCAColor.fit(x)
    np.testing.assert_allclose(pca.eigvals, [3 / 16, 0, 0], atol=1e-15)
    np.testing.assert_allclose(np.abs(pca.eigvecs[:, 0]), [1, 0, 0], atol=1e-12)


def test_fit_clips_a_rounding_negative_eigenvalue_to_zero(monkeypatch):
    """A covariance is positive semi-definite, but rounding can leave a tiny
    negative eigenvalue; fit stores it as exactly 0 (a negative one would
    flip that component's shift). The covariance is injected by hand:
    diag(4, 1, -1e-9) * 255^2 -> eigenvalues [4, 1, 0] in 0..1 units."""
    import minialex.data.pca_color as pca_color
    cov = np.diag([4.0, 1.0, -1e-9]) * 255.0 ** 2
    monkeypatch.setattr(pca_color, "pixel_mean_cov", lambda x, chunk: (np.zeros(3), cov))
    pca = PCAColor.fit(np.zeros((1, 1, 1, 3), np.uint8))
    np.testing.assert_array_equal(pca.eigvals, [4.0, 1.0, 0.0])
    np.testing.assert_array_equal(np.abs(pca.eigvecs), np.eye(3))


def test_defaults_are_the_papers_std_and_0_255_pixels():
    """Constructor and fit default to std 0.1 (the paper's) and scale 255;
    with eigvecs = I the shift is hand-computable: 255 * alpha * eigvals with
    alpha = rng.normal(0, 0.1, (n, 3))."""
    vals = [0.2, 0.02, 0.005]
    pca = PCAColor(vals, np.eye(3))
    assert pca.std == 0.1 and pca.scale == 255.0
    assert repr(pca) == "PCAColor(eigvals=[0.2, 0.02, 0.005], std=0.1, scale=255.0)"
    alpha = np.random.default_rng(5).normal(0.0, 0.1, size=(4, 3))
    np.testing.assert_allclose(pca.shifts(4, np.random.default_rng(5)),
                               255.0 * alpha * np.array(vals), rtol=1e-15)
    fitted = PCAColor.fit(coloured_images(n=4))
    assert fitted.std == 0.1 and fitted.scale == 255.0


@pytest.mark.parametrize("vals, vecs", [
    (np.ones(4), np.eye(3)), (np.ones(2), np.eye(3)), (np.ones((3, 1)), np.eye(3)),
    (1.0, np.eye(3)),
    (np.ones(3), np.eye(4)), (np.ones(3), np.ones((3, 4))), (np.ones(3), np.eye(2)),
    (np.ones(3), np.ones((3, 2))), (np.ones(3), np.ones((3, 3, 1))), (np.ones(3), np.ones(9)),
])
def test_eigen_shapes_other_than_3_and_3x3_are_refused(vals, vecs):
    """Any eigvals shape but (3,) and any eigvecs shape but (3, 3), larger or
    smaller, is the one ValueError naming both shapes."""
    with pytest.raises(ValueError) as exc:
        PCAColor(vals, vecs)
    assert str(exc.value) == SHAPE_MSG.format(np.shape(vals), np.shape(vecs))


@pytest.mark.parametrize("std, scale", [(-0.1, 255.0), (-0.5, 255.0), (-2.0, 255.0),
                                        (0.1, 0.0), (0.1, -0.5), (0.1, -1.0), (0.1, -255.0)])
def test_negative_std_or_non_positive_scale_is_refused(std, scale):
    """std < 0 (by any amount) or scale <= 0 (zero too) is the one ValueError
    giving both values; either one alone is enough."""
    with pytest.raises(ValueError) as exc:
        PCAColor(np.ones(3), np.eye(3), std=std, scale=scale)
    assert str(exc.value) == RANGE_MSG.format(std, scale)


def test_std_zero_and_a_small_scale_are_allowed():
    """std = 0 is valid and adds nothing (the image comes back exactly, as
    float32); a small positive scale such as 0.5 is valid too."""
    x = coloured_images(n=3)
    pca = PCAColor([0.2, 0.02, 0.005], np.eye(3), std=0.0)
    assert pca.std == 0.0
    np.testing.assert_array_equal(pca(x, np.random.default_rng(0)), x.astype(np.float32))
    assert PCAColor(np.ones(3), np.eye(3), scale=0.5).scale == 0.5


@pytest.mark.parametrize("shape", [(2, 2, 2, 1), (2, 2, 2, 2), (2, 2, 2, 4), (2, 2, 3),
                                   (1, 2, 2, 2, 3)])
def test_call_refuses_other_than_nhwc_rgb_with_the_exact_message(shape):
    """The transform takes (N, H, W, 3) only: 1, 2 or 4 channels and 3 or 5
    dimensions each give the ValueError that names the shape and the fix."""
    pca = PCAColor([1, 1, 1], np.eye(3))
    with pytest.raises(ValueError) as exc:
        pca(np.zeros(shape, np.float32), np.random.default_rng(0))
    assert str(exc.value) == (f"PCAColor expects RGB images (N, H, W, 3), got shape {shape}. "
                              "Fix: apply it before to_nchw_float32().")
