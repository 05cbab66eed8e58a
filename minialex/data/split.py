"""A fixed, stratified train/validation split of a labelled data set (for an
image folder that has no val/ folder of its own)."""

from __future__ import annotations

import numpy as np

__all__ = ["stratified_split"]


def stratified_split(y, fraction: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Hold out ``fraction`` of every class, the same samples on every call.

    Class ``c`` with ``n_c`` samples gives ``round(fraction * n_c)`` of them
    to validation (at least 1 and at most ``n_c - 1`` when ``n_c >= 2``; a
    class of one sample stays in training), chosen by a random permutation
    from ``numpy.random.default_rng(seed)``: the split depends only on the
    labels, ``fraction`` and ``seed``, never on the training seed. Stratified,
    so every class keeps its share in both parts (scikit-learn's
    ``train_test_split(..., stratify=y)`` does the same job).

    Args:
        y: int labels (N,).
        fraction: in (0, 1).
        seed: seed of the permutation (default 0).

    Returns:
        ``(train_idx, val_idx)``: sorted int64 index arrays, disjoint, together
        ``0..N-1``.

    Raises:
        ValueError: ``fraction`` outside (0, 1), ``y`` not 1-D integers, or a
            split that leaves validation empty (every class has one sample).
    """
    y = np.asarray(y)
    if y.ndim != 1 or (y.size and y.dtype.kind not in "iu"):
        raise ValueError(f"stratified_split needs int labels (N,), got {y.dtype} {y.shape}")
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"the validation fraction must be in (0, 1), got {fraction}; "
                         "e.g. 0.1 holds out 10% of every class")
    n = len(y)
    perm = np.random.default_rng(seed).permutation(n)
    order = perm[np.argsort(y[perm], kind="stable")]     # by class, random within each
    labels = y[order]
    classes, first, counts = np.unique(labels, return_index=True, return_counts=True)
    k = np.rint(fraction * counts).astype(np.int64)
    k = np.where(counts >= 2, np.clip(k, 1, counts - 1), 0)
    slot = np.searchsorted(classes, labels)
    rank_in_class = np.arange(n) - first[slot]
    is_val = rank_in_class < k[slot]
    if not is_val.any():
        raise ValueError(f"a validation fraction of {fraction} of {n} samples leaves no "
                         "validation sample (every class has a single sample); add images "
                         "or pass a val/ folder")
    return np.sort(order[~is_val]), np.sort(order[is_val])
