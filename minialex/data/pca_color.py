"""PCA colour augmentation (paper section 4.1, "altering the intensities of
the RGB channels").

PCA of the training set's RGB pixel values gives eigenvectors p1..p3 and
eigenvalues l1..l3. To every pixel of a training image the paper adds
``[p1 p2 p3] @ [a1*l1, a2*l2, a3*l3]`` with ``a_i ~ N(0, 0.1^2)`` drawn once
per image each time it is used.

Units. ``a_i * l_i`` has the units of a variance, so the formula is not
unit-free: with pixels in 0..255 the eigenvalues of CIFAR-10's covariance
are ~10^3-10^4 and the shifts would be hundreds of levels, destroying the
images. We follow the common reading (e.g. fb.resnet.torch's ImageNet
values l = 0.2175, 0.0188, 0.0045): the PCA is computed on pixels divided by
``scale`` (default 255, i.e. in 0..1 units) and the shift is converted back,
``shift = scale * V @ (alpha * l)``, in pixel units 0..255, the units of the
float32 images it is added to. ``scale=1`` gives the formula with eigenvalues
in pixel units. The shift has mean 0 and covariance
``scale^2 * std^2 * V diag(l^2) V^T``.
"""

from __future__ import annotations

import numpy as np

from ._stats import pixel_mean_cov
from .sample_rng import SampleRNG


class PCAColor:
    """Add a random colour shift along the RGB principal components to each image.

    Construct with ``PCAColor.fit(x_train)`` (or from known eigenvalues and
    eigenvectors).

    Args:
        eigvals: (3,) eigenvalues of the RGB covariance of pixels/``scale``,
            any order (stored as given).
        eigvecs: (3, 3) matrix whose columns are the matching unit
            eigenvectors (RGB order).
        std: standard deviation of the alphas (the paper: 0.1).
        scale: pixel units per PCA unit (default 255: PCA in 0..1 units,
            images in 0..255); see the module docstring.

    Call: ``t(x, rng)`` with x (N, H, W, 3) uint8 or float -> float32
    ``x + shift[:, None, None, :]`` where ``shift = scale * (alpha * eigvals) @ eigvecs.T``,
    alpha ~ N(0, std^2) of shape (N, 3) drawn from ``rng``. The sum is done
    in float32 and not clipped, so uint8 inputs never wrap around.
    """

    def __init__(self, eigvals, eigvecs, std: float = 0.1, scale: float = 255.0):
        self.eigvals = np.asarray(eigvals, dtype=np.float64)
        self.eigvecs = np.asarray(eigvecs, dtype=np.float64)
        if self.eigvals.shape != (3,) or self.eigvecs.shape != (3, 3):
            raise ValueError(f"PCAColor needs eigvals (3,) and eigvecs (3, 3), got "
                             f"{self.eigvals.shape} and {self.eigvecs.shape}")
        if std < 0 or scale <= 0:
            raise ValueError(f"PCAColor needs std >= 0 and scale > 0, got std={std}, scale={scale}")
        self.std = float(std)
        self.scale = float(scale)

    @classmethod
    def fit(cls, x: np.ndarray, std: float = 0.1, scale: float = 255.0,
            max_images: int | None = None, chunk: int | None = None) -> "PCAColor":
        """PCA of the RGB pixel values of a training set.

        Args:
            x: training images (N, H, W, 3), uint8 (pixel units 0..255) or
                float in the same units as the images the transform will see.
            std: alpha standard deviation (default 0.1, the paper's).
            scale: the covariance is that of ``x / scale`` (default 255).
            max_images: use only the first this many images (None: all).
            chunk: images per step of the running sums (None: about 131,072
                pixels per step, 4 MB of float64).

        Returns: a PCAColor with eigenvalues in descending order. The 3x3
        covariance comes from float64 running sums of [x, 1]^T [x, 1] (one
        BLAS product per step; exact for uint8 input); all 50,000 CIFAR-10
        training images take about 0.7 s.

        Raises: ValueError for a batch that is not (N, H, W, 3) with N, H
        and W >= 1 (no pixels, no covariance).
        """
        x = np.asarray(x)
        if x.ndim != 4 or x.shape[-1] != 3 or 0 in x.shape[:3]:
            raise ValueError(f"PCAColor.fit expects RGB images (N, H, W, 3), got shape {x.shape}")
        if max_images is not None:
            x = x[:max_images]
        _, cov = pixel_mean_cov(x, chunk)
        cov = cov / (scale * scale)
        vals, vecs = np.linalg.eigh(cov)
        order = np.argsort(vals)[::-1]
        return cls(np.clip(vals[order], 0.0, None), vecs[:, order], std=std, scale=scale)

    def shifts(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """Draw the per-image shifts, (n, 3) float64 in pixel units:
        ``scale * (alpha * eigvals) @ eigvecs.T`` with alpha = rng.normal(0, std, (n, 3))."""
        alpha = rng.normal(0.0, self.std, size=(n, 3))
        return self.scale * (alpha * self.eigvals) @ self.eigvecs.T

    def __call__(self, x, rng=None):
        x = np.asarray(x)
        if x.ndim != 4 or x.shape[-1] != 3:
            raise ValueError(f"PCAColor expects RGB images (N, H, W, 3), got shape {x.shape}. "
                             "Fix: apply it before to_nchw_float32().")
        if not isinstance(rng, (np.random.Generator, SampleRNG)):
            raise TypeError("PCAColor is random and needs a numpy.random.Generator (or the "
                            "DataLoader's SampleRNG). Fix: call it "
                            "as t(x, np.random.default_rng(seed)); DataLoader passes its own.")
        n, h, w, _ = x.shape
        shift = self.shifts(n, rng).astype(np.float32)
        # (N, H, W*3) + (N, 1, W*3): a long inner loop instead of one of length 3
        out = np.add(np.ascontiguousarray(x).reshape(n, h, w * 3),
                     np.tile(shift, w)[:, None, :], dtype=np.float32)
        return out.reshape(x.shape)

    def __repr__(self):
        vals = ", ".join(f"{v:.4g}" for v in self.eigvals)
        return f"PCAColor(eigvals=[{vals}], std={self.std}, scale={self.scale})"
