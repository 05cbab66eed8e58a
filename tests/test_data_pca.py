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
