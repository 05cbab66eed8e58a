"""Batch transforms for training and evaluation (paper sections 2 and 4.1).

Every transform is a small callable ``t(x, rng)`` that takes a batch ``x``
(N, H, W, C), uint8 or float32, and a ``numpy.random.Generator`` (used only
by random transforms; deterministic ones accept ``rng=None``), and returns a
new batch: inputs are never modified. All work is vectorized over the batch.
Chain them with ``Compose``; the DataLoader passes its own generator.

The lower-case factories (``random_crop(28)``, ...) return the transform
objects. Pipelines used for CIFAR-10 (crops 28 of 32, as 224 of 256)::

    # training: crop, flip, float, PCA colour, mean subtraction, NCHW
    train_tf = Compose([random_crop(28), random_flip(), to_float32(),
                        PCAColor.fit(x_train), normalize(channel_mean(x_train)),
                        to_nchw_float32()])
    # test: centre crop -> (N, 3, 28, 28)
    test_tf = Compose([center_crop(28), to_float32(), normalize(mean), to_nchw_float32()])
    # ten-crop test -> (10, N, 3, 28, 28); average the 10 softmax outputs
    tta_tf = Compose([ten_crop(28), to_float32(), normalize(mean), to_nchw_float32()])

Values stay in pixel units (0..255) until ``normalize``. The paper subtracts
the mean image of the training set before cropping; a per-channel mean
(``channel_mean``) works after the crop. A full mean image
(``mean_image``, (H, W, C)) must match the spatial size of the batch it is
applied to, i.e. use it before cropping (``to_float32()``,
``normalize(mean_image(x))``, then the crop).
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ._stats import pixel_mean_cov
from .sample_rng import SampleRNG


def _pair(size, name: str) -> tuple[int, int]:
    if isinstance(size, (int, np.integer)):
        size = (int(size), int(size))
    try:
        h, w = (int(s) for s in size)
    except (TypeError, ValueError):
        raise TypeError(f"{name} size must be an int or (height, width), got {size!r}") from None
    if h <= 0 or w <= 0:
        raise ValueError(f"{name} size must be positive, got {(h, w)}")
    return h, w


def _check_batch(x, name: str) -> np.ndarray:
    if not isinstance(x, np.ndarray) or x.ndim != 4:
        shape = getattr(x, "shape", type(x).__name__)
        raise ValueError(f"{name} expects a batch (N, H, W, C) as a NumPy array, got {shape}. "
                         "Fix: add a batch axis (x[None]) or convert with np.asarray.")
    return x


def _check_rng(rng, name: str) -> np.random.Generator:
    if not isinstance(rng, (np.random.Generator, SampleRNG)):
        raise TypeError(f"{name} is random and needs a numpy.random.Generator (or the "
                        f"DataLoader's per-sample SampleRNG), got "
                        f"{type(rng).__name__}. Fix: call it as t(x, np.random.default_rng(seed)); "
                        "DataLoader passes its own generator.")
    return rng


def crop(x: np.ndarray, top, left, height: int, width: int) -> np.ndarray:
    """Crop each image of a batch at its own offset.

    Args:
        x: (N, H, W, C) batch, any dtype.
        top, left: ints or int arrays (N,): the crop of image i is
            ``x[i, top[i]:top[i]+height, left[i]:left[i]+width]``.
    Returns: (N, height, width, C) array of x's dtype (one fancy-indexing
    gather from a sliding-window view, no loop over images).
    """
    n = x.shape[0]
    top = np.broadcast_to(np.asarray(top, dtype=np.intp), (n,))
    left = np.broadcast_to(np.asarray(left, dtype=np.intp), (n,))
    if n and (top.min() < 0 or left.min() < 0 or top.max() + height > x.shape[1]
              or left.max() + width > x.shape[2]):
        raise ValueError(f"crop {height}x{width} at the given offsets falls outside images "
                         f"of size {x.shape[1]}x{x.shape[2]}")
    # windows[i, t, l] is the (C, height, width) crop of image i at (t, l): a view
    windows = sliding_window_view(x, (height, width), axis=(1, 2))
    return np.ascontiguousarray(windows[np.arange(n), top, left].transpose(0, 2, 3, 1))

class Compose:
    """Apply transforms in order: ``Compose([t1, t2])(x, rng) == t2(t1(x, rng), rng)``.

    Each item is a callable ``(x, rng) -> x``. Raises TypeError for an item
    that is not callable.
    """

    def __init__(self, transforms: Sequence[Callable]):
        transforms = list(transforms)
        for t in transforms:
            if not callable(t):
                raise TypeError(f"Compose items must be callables t(x, rng), got {t!r}")
        self.transforms = transforms

    def __call__(self, x, rng=None):
        for t in self.transforms:
            x = t(x, rng)
        return x

    def __repr__(self):
        return "Compose([" + ", ".join(map(repr, self.transforms)) + "])"


class RandomCrop:
    """Random ``size`` crop of every image (section 4.1: 224 of 256; ours 28 of 32).

    Args:
        size: int or (h, w).
        padding: zero pixels added on every side first (default 0, as in
            the paper).

    Call: ``(N, H, W, C) -> (N, h, w, C)``, same dtype. Offsets are drawn as
    ``top = rng.integers(0, H + 2p - h + 1, N)`` then
    ``left = rng.integers(0, W + 2p - w + 1, N)`` (see ``draw``).
    Raises ValueError if the crop is larger than the padded image.
    """

    def __init__(self, size, padding: int = 0):
        self.size = _pair(size, "RandomCrop")
        if not isinstance(padding, (int, np.integer)) or padding < 0:
            raise ValueError(f"padding must be an int >= 0, got {padding!r}")
        self.padding = int(padding)

    def draw(self, n: int, height: int, width: int, rng: np.random.Generator):
        """The offsets ``(top, left)``, int arrays (n,), for n images of
        ``height`` x ``width`` (before padding)."""
        h, w = self.size
        H, W = height + 2 * self.padding, width + 2 * self.padding
        if h > H or w > W:
            raise ValueError(f"RandomCrop {h}x{w} is larger than the images ({height}x{width} "
                             f"with padding {self.padding}). Fix: a smaller size or more padding.")
        top = rng.integers(0, H - h + 1, size=n)
        left = rng.integers(0, W - w + 1, size=n)
        return top, left

    def __call__(self, x, rng=None):
        x = _check_batch(x, "RandomCrop")
        rng = _check_rng(rng, "RandomCrop")
        top, left = self.draw(x.shape[0], x.shape[1], x.shape[2], rng)
        if self.padding:
            p = self.padding
            x = np.pad(x, ((0, 0), (p, p), (p, p), (0, 0)))
        return crop(x, top, left, *self.size)

    def __repr__(self):
        return f"RandomCrop(size={self.size}, padding={self.padding})"


class RandomFlip:
    """Horizontal reflection of each image with probability ``p`` (default
    0.5; section 4.1).

    Call: ``(N, H, W, C) -> (N, H, W, C)``; the images flipped are
    ``rng.random(N) < p``.
    """

    def __init__(self, p: float = 0.5):
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"RandomFlip p must be in [0, 1], got {p}")
        self.p = float(p)

    def __call__(self, x, rng=None):
        x = _check_batch(x, "RandomFlip")
        flip = np.flatnonzero(_check_rng(rng, "RandomFlip").random(x.shape[0]) < self.p)
        out = x.copy()
        out[flip] = x[flip, :, ::-1]
        return out

    def __repr__(self):
        return f"RandomFlip(p={self.p})"


def _center_offsets(x, h, w, name):
    H, W = x.shape[1], x.shape[2]
    if h > H or w > W:
        raise ValueError(f"{name} {h}x{w} is larger than the images ({H}x{W})")
    return (H - h) // 2, (W - w) // 2


class CenterCrop:
    """Central ``size`` crop: ``(N, H, W, C) -> (N, h, w, C)``, offsets
    ``((H - h) // 2, (W - w) // 2)``. Deterministic (rng ignored)."""

    def __init__(self, size):
        self.size = _pair(size, "CenterCrop")

    def __call__(self, x, rng=None):
        x = _check_batch(x, "CenterCrop")
        h, w = self.size
        top, left = _center_offsets(x, h, w, "CenterCrop")
        return x[:, top:top + h, left:left + w].copy()

    def __repr__(self):
        return f"CenterCrop(size={self.size})"


class TenCrop:
    """The paper's test-time crops (section 4.1): ``(N, H, W, C) -> (10, N, h, w, C)``.

    Order on the first axis: 0 top-left, 1 top-right, 2 bottom-left,
    3 bottom-right, 4 centre (== CenterCrop), then 5..9 the horizontal
    mirrors of 0..4. ``to_nchw_float32`` turns the result into
    (10, N, C, h, w); average the network's 10 softmax outputs.
    Deterministic (rng ignored).
    """

    def __init__(self, size):
        self.size = _pair(size, "TenCrop")

    def __call__(self, x, rng=None):
        x = _check_batch(x, "TenCrop")
        h, w = self.size
        ct, cl = _center_offsets(x, h, w, "TenCrop")
        H, W = x.shape[1], x.shape[2]
        corners = [(0, 0), (0, W - w), (H - h, 0), (H - h, W - w), (ct, cl)]
        crops = np.stack([x[:, t:t + h, l:l + w] for t, l in corners])
        return np.concatenate([crops, crops[:, :, :, ::-1]])

    def __repr__(self):
        return f"TenCrop(size={self.size})"


class ToFloat32:
    """``x -> x.astype(float32)`` (a copy; values stay in pixel units 0..255)."""

    def __call__(self, x, rng=None):
        return np.asarray(x).astype(np.float32)

    def __repr__(self):
        return "ToFloat32()"


class ToNCHWFloat32:
    """Channels-last to channels-first float32: ``(..., H, W, C) -> (..., C, H, W)``,
    C-contiguous. (N, H, W, C) gives (N, C, H, W); ten-crop batches
    (10, N, h, w, C) give (10, N, C, h, w). The last step of a loader's
    pipeline."""

    def __call__(self, x, rng=None):
        x = np.asarray(x)
        if x.ndim < 3:
            raise ValueError(f"to_nchw_float32 expects (..., H, W, C), got shape {x.shape}")
        return np.ascontiguousarray(np.moveaxis(x, -1, -3), dtype=np.float32)

    def __repr__(self):
        return "ToNCHWFloat32()"


class Normalize:
    """``(x - mean) / std`` in float32 (section 2: subtract the training mean).

    Args:
        mean: per-channel (C,) (see ``channel_mean``) or a full mean image
            (H, W, C) (see ``mean_image``), in the batch's units.
        std: None (the paper: mean subtraction only), a scalar, (C,) or
            (H, W, C).
    Call: ``(..., H, W, C)`` channels-last batch -> same shape, float32.
    Raises ValueError for a mean/std shape that does not fit the batch, or
    a zero std.
    """

    def __init__(self, mean, std=None):
        self.mean = np.asarray(mean, dtype=np.float32)
        if self.mean.ndim not in (1, 3):
            raise ValueError(f"mean must be (C,) or (H, W, C), got shape {self.mean.shape}")
        self.std = None
        if std is not None:
            self.std = np.asarray(std, dtype=np.float32)
            if self.std.ndim not in (0, 1, 3):
                raise ValueError(f"std must be a scalar, (C,) or (H, W, C), got {self.std.shape}")
            if np.any(self.std == 0):
                raise ValueError("std has zeros; dividing by it would give inf. Fix: add a small "
                                 "epsilon or use std=None")

    def __call__(self, x, rng=None):
        x = np.asarray(x)
        for name, a in (("mean", self.mean), ("std", self.std)):
            if a is not None and a.ndim and x.shape[x.ndim - a.ndim:] != a.shape:
                raise ValueError(
                    f"normalize {name} of shape {a.shape} does not fit a channels-last batch of "
                    f"shape {x.shape}. Fix: a per-channel (C,) {name}, or a (H, W, C) one of the "
                    "batch's spatial size (apply it before cropping)."
                )
        if x.ndim < 3:
            raise ValueError(f"normalize expects a channels-last batch (..., H, W, C), got {x.shape}")
        # view (..., H, W, C) as (..., H, W*C) and per-channel values as (W*C,):
        # NumPy is slow when the innermost broadcast loop has length C = 3
        w, c = x.shape[-2], x.shape[-1]
        flat = np.ascontiguousarray(x).reshape(*x.shape[:-2], w * c)
        out = np.subtract(flat, self._pattern(self.mean, w, c), dtype=np.float32)
        if self.std is not None:
            out /= self._pattern(self.std, w, c)
        return out.reshape(x.shape)

    @staticmethod
    def _pattern(a: np.ndarray, w: int, c: int) -> np.ndarray:
        if a.ndim == 0:
            return a
        if a.ndim == 1:
            return np.tile(a, w)
        return a.reshape(a.shape[0], w * c)

    def __repr__(self):
        return f"Normalize(mean shape {self.mean.shape}, std={'None' if self.std is None else self.std.shape})"


# Lower-case factories: the names used in the docs and examples.
def random_crop(size, padding: int = 0) -> RandomCrop:
    """Random crop transform (see ``RandomCrop``)."""
    return RandomCrop(size, padding)


def random_flip(p: float = 0.5) -> RandomFlip:
    """Random horizontal flip transform (see ``RandomFlip``). Note the call:
    ``random_flip()`` makes the transform."""
    if isinstance(p, np.ndarray):
        raise TypeError("random_flip(p) makes a transform; use random_flip()(x, rng) "
                        "or put random_flip() in Compose")
    return RandomFlip(p)


def center_crop(size) -> CenterCrop:
    """Centre crop transform (see ``CenterCrop``)."""
    return CenterCrop(size)


def ten_crop(size) -> TenCrop:
    """Ten-crop transform, (N, H, W, C) -> (10, N, h, w, C) (see ``TenCrop``)."""
    return TenCrop(size)


def normalize(mean, std=None) -> Normalize:
    """Mean subtraction (and optional division by std) (see ``Normalize``)."""
    return Normalize(mean, std)


def to_float32() -> ToFloat32:
    """uint8 -> float32 transform, pixel units kept (see ``ToFloat32``)."""
    return ToFloat32()


def to_nchw_float32() -> ToNCHWFloat32:
    """(..., H, W, C) -> (..., C, H, W) float32 transform (see ``ToNCHWFloat32``)."""
    return ToNCHWFloat32()


def _check_images(x, name):
    x = np.asarray(x)
    if x.ndim != 4 or x.shape[0] == 0:
        raise ValueError(f"{name} expects a non-empty batch (N, H, W, C), got shape {x.shape}")
    return x


def channel_mean(x: np.ndarray) -> np.ndarray:
    """Mean of each channel over all images and pixels: (N, H, W, C) -> (C,)
    float32 (pixel units if x is uint8). Exact float64 sums, ~0.6 s for
    CIFAR-10's training set."""
    x = _check_images(x, "channel_mean")
    return pixel_mean_cov(x)[0].astype(np.float32)


def channel_std(x: np.ndarray) -> np.ndarray:
    """Standard deviation of each channel over all images and pixels:
    (N, H, W, C) -> (C,) float32 (population std, float64 sums)."""
    x = _check_images(x, "channel_std")
    return np.sqrt(np.clip(np.diag(pixel_mean_cov(x)[1]), 0, None)).astype(np.float32)


def mean_image(x: np.ndarray) -> np.ndarray:
    """The mean image of a data set (section 2, "the mean activity over the
    training set"): (N, H, W, C) -> (H, W, C) float32, accumulated in float64."""
    x = _check_images(x, "mean_image")
    return x.mean(axis=0, dtype=np.float64).astype(np.float32)
