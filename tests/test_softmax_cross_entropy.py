"""cross_entropy's and log_softmax's argument checks at their edges (issue
20: mutants of softmax_cross_entropy.py that tests/test_ops.py and
tests/test_toolkit_ops.py let live): logits of more than 2 axes, a label
past the last class, label_smoothing at and beyond 1, the axis rule, labels
on another device. Errors by type and exact message; accepted edge cases
by hand-computed values."""

import re

import numpy as np
import pytest

from minialex import Tensor
from minialex import functional as F
from minialex.backend import DeviceMismatchError


def _raises(error, message):
    return pytest.raises(error, match="^" + re.escape(message) + "$")


def test_logits_of_three_axes_are_refused_even_with_fitting_labels():
    # (2, 3, 4) logits with labels of shape (2,) in [0, 3): every label
    # check would pass, only the 2-D rule refuses them
    z = Tensor(np.zeros((2, 3, 4)), requires_grad=True)
    with _raises(ValueError, "cross_entropy expects logits of shape (N, num_classes), "
                             "got (2, 3, 4)"):
        F.cross_entropy(z, np.array([0, 2]))
    with _raises(ValueError, "cross_entropy expects logits of shape (N, num_classes), got (3,)"):
        F.cross_entropy(Tensor(np.zeros(3)), np.array([0]))


@pytest.mark.parametrize("labels, bad", [([0, 3], 3), ([4, 1], 4), ([0, 7], 7), ([-1, 2], -1),
                                         ([-2, 9], -2)])
def test_every_label_outside_the_classes_is_refused(labels, bad):
    # 3 classes: 3 (= C), 4 and 7 (beyond C) and the negative ones; the
    # message names the lowest label if it is negative, else the highest
    z = Tensor(np.zeros((2, 3)), requires_grad=True)
    with _raises(ValueError, f"cross_entropy label {bad} is out of range for 3 classes "
                             "(labels must satisfy 0 <= y < 3)"):
        F.cross_entropy(z, np.array(labels))


def test_label_smoothing_one_is_the_uniform_target_and_beyond_it_is_refused():
    # eps = 1: q = 1/C for every class whatever the label, so the loss is
    # -(1/C) sum_k log p_k and dL/dz = (p - 1/C) / N. p = (1/4, 1/4, 1/2)
    z = Tensor(np.log(np.array([[1.0, 1.0, 2.0]])), requires_grad=True)
    loss = F.cross_entropy(z, np.array([2]), label_smoothing=1.0)
    assert loss.shape == () and loss.dtype == np.float64      # a 0-d mean, as without smoothing
    np.testing.assert_allclose(loss.item(), -(2 * np.log(0.25) + np.log(0.5)) / 3, rtol=1e-12)
    loss.backward()
    np.testing.assert_allclose(z.grad, [[0.25 - 1 / 3, 0.25 - 1 / 3, 0.5 - 1 / 3]], atol=1e-15)
    np.testing.assert_allclose(F.cross_entropy(z, np.array([0]), label_smoothing=1.0).item(),
                               loss.item(), rtol=1e-12)
    for eps in (1.5, 1.0000001, -0.1):
        with _raises(ValueError, f"cross_entropy: label_smoothing={eps} must be in [0, 1]"):
            F.cross_entropy(z, np.array([2]), label_smoothing=eps)


def test_log_softmax_takes_the_last_axis_by_either_name_and_no_other():
    # axis=-1 and axis=ndim-1 are the same axis; 0, ndim and beyond are refused
    x = np.array([[0.0, np.log(3.0)], [1.0, 1.0]])
    want = np.log([[0.25, 0.75], [0.5, 0.5]])
    np.testing.assert_allclose(F.log_softmax(Tensor(x), axis=1).data, want, rtol=1e-12)
    x3 = np.stack([x, x[::-1]])                                   # (2, 2, 2)
    np.testing.assert_allclose(F.log_softmax(Tensor(x3), axis=2).data,
                               np.stack([want, want[::-1]]), rtol=1e-12)
    for a, axis in ((x, 0), (x, 2), (x, 3), (x3, 1), (x3, 3)):
        with _raises(ValueError, f"log_softmax supports only the last axis, got axis={axis}"):
            F.log_softmax(Tensor(a), axis=axis)


def test_labels_must_share_the_logits_device_unless_a_plain_array():
    # a label Tensor elsewhere is refused (minialex never copies silently);
    # one on the logits' device, or a plain array, gives the loss
    z = Tensor(np.log(np.array([[1.0, 1.0, 2.0], [1.0, 3.0, 4.0]])), device="cpu:1",
               requires_grad=True)                   # p = (1/4, 1/4, 1/2), (1/8, 3/8, 1/2)
    with _raises(DeviceMismatchError, "cross_entropy got logits on cpu:1 and labels on cpu:0; "
                                      "move the labels with .to('cpu:1')"):
        F.cross_entropy(z, Tensor(np.array([2, 1])))
    want = -(np.log(0.5) + np.log(0.375)) / 2
    np.testing.assert_allclose(F.cross_entropy(z, Tensor(np.array([2, 1]), device="cpu:1")).item(),
                               want, rtol=1e-12)
    loss = F.cross_entropy(z, np.array([2, 1]))
    assert loss.device == z.device
    np.testing.assert_allclose(loss.item(), want, rtol=1e-12)


def test_an_empty_batch_is_refused_not_nan():
    # N = 0: labels of shape (0,) pass every label check; the mean over no
    # samples is undefined, so the batch is refused
    z = Tensor(np.zeros((0, 3)), requires_grad=True)
    with _raises(ValueError, "cross_entropy got an empty batch: logits (0, 3) hold no samples, "
                             "and the mean loss over zero samples is undefined; skip empty "
                             "batches (e.g. drop a last batch of 0 samples)"):
        F.cross_entropy(z, np.zeros(0, np.int64))


def test_the_function_object_defaults_to_no_smoothing():
    # SoftmaxCrossEntropy(target) called directly (as cross_entropy does,
    # after its checks): label_smoothing defaults to 0, the plain -log p_t
    from minialex.functions.softmax_cross_entropy import SoftmaxCrossEntropy
    z = Tensor(np.log(np.array([[1.0, 1.0, 2.0], [1.0, 3.0, 4.0]])), requires_grad=True)
    loss = SoftmaxCrossEntropy(np.array([2, 1]))(z)
    np.testing.assert_allclose(loss.item(), -(np.log(0.5) + np.log(0.375)) / 2, rtol=1e-12)
    loss.backward()
    np.testing.assert_allclose(z.grad, np.array([[0.25, 0.25, -0.5], [0.125, -0.625, 0.5]]) / 2,
                               atol=1e-15)
