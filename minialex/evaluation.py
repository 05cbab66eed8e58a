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
    """
    order = numpy.argsort(-probs, axis=1, kind="stable")
    hits = order == numpy.asarray(labels)[:, None]
    return {k: int(hits[:, :k].any(axis=1).sum()) for k in ks}


def predict_proba(model, x):
    """Softmax outputs of ``model`` for a float32 NCHW batch ``x`` (NumPy),
    in eval mode and without a graph. Returns a NumPy (N, C) array."""
    with no_grad():
        logits = model(Tensor(x))
        return F.softmax(logits).numpy()


def evaluate(model, batches, ten_crop=False):
    """Top-1 and top-5 accuracy of ``model`` over ``batches``.

    Args:
        batches: iterable of ``(x, y)``; x is (B, 3, h, w) float32, or
            (10, B, 3, h, w) for ten-crop testing, y is (B,) int64.
        ten_crop: average the softmax outputs over the leading axis of 10.

    Returns:
        dict with "top1" and "top5" (fractions in [0, 1]) and "n".
    The model's train/eval mode is restored afterwards.
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
