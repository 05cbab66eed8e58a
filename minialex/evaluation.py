"""Evaluation: top-k accuracy, centre-crop and ten-crop testing (paper
section 4.1: "the network makes a prediction by extracting five 224x224
patches (the four corner patches and the center patch) as well as their
horizontal reflections, and averaging the predictions made by the
network's softmax layer on the ten patches")."""

import numpy

from .autograd import Tensor, no_grad
from . import functional as F

__all__ = ["topk_correct", "predict_proba", "evaluate"]


def topk_correct(probs, labels, ks=(1, 5)):
    """Count samples whose true label is among the k highest scores.

    Args:
        probs: (N, C) array of scores or probabilities (NumPy).
        labels: (N,) int class indices.
        ks: the k values. Returns a dict k -> int count.

    Raises:
        ValueError: labels not (N,) integers in [0, C) (a label the model
            cannot output would silently count as a miss).
    """
    labels = numpy.asarray(labels)
    n, c = probs.shape
    if labels.shape != (n,) or (labels.size and labels.dtype.kind not in "iu"):
        raise ValueError(f"labels must be {n} integer class indices (shape ({n},)) to match "
                         f"scores {probs.shape}, got {labels.dtype} of shape {labels.shape}")
    if labels.size and (labels.min() < 0 or labels.max() >= c):
        bad = labels.min() if labels.min() < 0 else labels.max()
        raise ValueError(f"label {bad} is out of range for a model with {c} classes (labels "
                         f"must satisfy 0 <= y < {c}): the data set does not fit the model's "
                         "num_classes")
    order = numpy.argsort(-probs, axis=1, kind="stable")
    hits = order == labels[:, None]
    return {k: int(hits[:, :k].any(axis=1).sum()) for k in ks}


def predict_proba(model, x):
    """Softmax outputs of ``model`` for a float32 NCHW batch ``x`` (NumPy),
    in eval mode (no dropout) and without a graph; the model's train/eval
    mode is restored afterwards. Returns a NumPy (N, C) array."""
    was_training = model.training
    model.eval()
    try:
        with no_grad():
            return F.softmax(model(Tensor(x))).numpy()
    finally:
        model.train(was_training)


def evaluate(model, batches, ten_crop=False):
    """Top-1 and top-5 accuracy of ``model`` over ``batches``.

    Args:
        batches: iterable of ``(x, y)``; x is (B, 3, h, w) float32, or
            (10, B, 3, h, w) for ten-crop testing, y is (B,) int64.
        ten_crop: average the softmax outputs over the leading axis of 10.

    Returns:
        dict with "top1" and "top5" (fractions in [0, 1]) and "n".
    The model's train/eval mode is restored afterwards.

    Raises:
        ValueError: a label outside [0, num_classes) (see :func:`topk_correct`).
    """
    was_training = model.training
    model.eval()
    counts, n = {1: 0, 5: 0}, 0
    try:
        for x, y in batches:
            if ten_crop:
                probs = sum(predict_proba(model, crop) for crop in x) / len(x)
            else:
                probs = predict_proba(model, x)
            k = topk_correct(probs, y, ks=(1, min(5, probs.shape[1])))
            counts[1] += k[1]
            counts[5] += k[min(5, probs.shape[1])]
            n += len(y)
    finally:
        model.train(was_training)
    return {"top1": counts[1] / max(n, 1), "top5": counts[5] / max(n, 1), "n": n}
