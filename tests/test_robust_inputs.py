"""Inputs a new user tries: an empty batch, a channels-first input with the
wrong channel count, schedule arguments that are not epochs, evaluation
labels the model cannot output, and predict_proba's eval mode."""

import numpy as np
import pytest

import minialex
from minialex import functional as F, nn, optim
from minialex.evaluation import evaluate, predict_proba, topk_correct
from minialex.models import alexnet_cifar

T = minialex.Tensor


# -------------------------------------------------------------- empty batch ---

def test_flatten_of_an_empty_batch():
    y = F.flatten(T(np.zeros((0, 3, 4, 5), np.float32)))
    assert y.shape == (0, 60) and y.dtype == np.float32
    assert F.flatten(T(np.zeros((2, 0, 4), np.float32))).shape == (2, 0)


@pytest.mark.parametrize("towers", [1, 2])
def test_model_on_an_empty_batch_gives_an_empty_output(towers):
    model = alexnet_cifar("small", towers=towers)
    x = T(np.zeros((0, 3, 28, 28), np.float32), requires_grad=True)
    y = model(x)
    assert y.shape == (0, 10) and y.dtype == np.float32
    y.backward(np.zeros((0, 10), np.float32))        # gradients of nothing: zeros, no error
    assert x.grad.shape == (0, 3, 28, 28)
    assert all(np.all(p.grad == 0) for p in model.parameters())
    assert predict_proba(model, np.zeros((0, 3, 28, 28), np.float32)).shape == (0, 10)
    assert evaluate(model, [(np.zeros((0, 3, 28, 28), np.float32), np.zeros(0, np.int64))]) == \
        {"top1": 0.0, "top5": 0.0, "n": 0}


def test_cross_entropy_of_an_empty_batch_is_a_clear_error():
    with pytest.raises(ValueError, match=r"cross_entropy got an empty batch: logits \(0, 10\) "
                                         r"hold no samples.*undefined"):
        F.cross_entropy(T(np.zeros((0, 10), np.float32)), np.zeros(0, np.int64))


# ---------------------------------------------------- conv2d channel message ---

def test_wrong_channel_count_is_not_called_channels_last():
    conv = nn.Conv2d(4, 2, 3)
    with pytest.raises(ValueError, match=r"^conv2d: expected 4 input channels, got 3: x "
                                         r"\(2, 3, 4, 4\) has C_in=3") as info:
        conv(T(np.zeros((2, 3, 4, 4), np.float32)))       # W == C_in, yet plainly NCHW
    assert "channels-last" not in str(info.value)


def test_channels_last_hint_when_it_is_likely():
    conv = nn.Conv2d(3, 2, 3)
    with pytest.raises(ValueError, match=r"expected 3 input channels, got 32: x \(2, 32, 32, 3\) "
                                         r"looks channels-last.*transpose\(0, 3, 1, 2\)"):
        conv(T(np.zeros((2, 32, 32, 3), np.float32)))     # a CIFAR batch in NHWC
    with pytest.raises(ValueError, match="expected 3 input channels, got 5") as info:
        conv(T(np.zeros((2, 5, 8, 8), np.float32)))       # last axis is not C_in
    assert "channels-last" not in str(info.value)


# ---------------------------------------------------------------- schedules ---

def _opt():
    return optim.SGD(nn.Linear(2, 2).parameters(), lr=0.1)


@pytest.mark.parametrize("milestones, exc, words", [
    ([2.7], TypeError, r"each milestone must be a whole number of epochs .* got 2\.7 in \[2\.7\]"),
    (["a"], TypeError, r"got 'a' in \['a'\]"),
    ([3, 2.0], TypeError, r"got 2\.0 in \[3, 2\.0\]"),
    ([True], TypeError, "got True"),
    ([0, 3], ValueError, r"each milestone must be >= 1, got 0 in \[0, 3\]"),
    (5, TypeError, r"milestones must be a list of epoch numbers, e\.g\. \[10, 13\], got 5"),
    ("10", TypeError, "got '10'"),
])
def test_multisteplr_refuses_milestones_that_are_not_epochs(milestones, exc, words):
    with pytest.raises(exc, match=rf"^MultiStepLR: .*{words}"):
        optim.MultiStepLR(_opt(), milestones)


def test_multisteplr_takes_numpy_ints_and_iterables():
    opt = _opt()
    sched = optim.MultiStepLR(opt, (m for m in np.array([2, 1])), gamma=0.5)
    assert sched.milestones == [1, 2] and all(type(m) is int for m in sched.milestones)
    sched.step()
    assert opt.param_groups[0]["lr"] == pytest.approx(0.05)


@pytest.mark.parametrize("make, exc, words", [
    (lambda o: optim.StepLR(o, 2.5), TypeError, "StepLR: step_size must be a whole number"),
    (lambda o: optim.StepLR(o, "3"), TypeError, "got '3'"),
    (lambda o: optim.StepLR(o, 0), ValueError, "step_size must be >= 1, got 0"),
    (lambda o: optim.StepLR(o, 2, gamma="0.1"), TypeError, "StepLR: gamma must be a number"),
    (lambda o: optim.MultiStepLR(o, [2], gamma=0), ValueError, "gamma must be > 0"),
    (lambda o: optim.ReduceLROnPlateau(o, patience=1.5), TypeError, "patience must be a whole"),
    (lambda o: optim.ReduceLROnPlateau(o, cooldown=-1), ValueError, "cooldown must be >= 0"),
    (lambda o: optim.ReduceLROnPlateau(o, factor="a"), TypeError, "factor must be a number"),
    (lambda o: optim.ReduceLROnPlateau(o, min_lr=None), TypeError, "min_lr must be a number"),
    (lambda o: optim.ReduceLROnPlateau(o, threshold=-1e-4), ValueError, "threshold must be >= 0"),
])
def test_other_schedule_arguments_of_the_same_kind(make, exc, words):
    with pytest.raises(exc, match=words):
        make(_opt())


# --------------------------------------------------------------- evaluation ---

def test_predict_proba_is_in_eval_mode_and_restores_the_mode():
    minialex.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 32), nn.ReLU(), nn.Dropout(0.5), nn.Linear(32, 3))
    x = np.random.default_rng(0).standard_normal((4, 6)).astype(np.float32)
    a, b = predict_proba(model, x), predict_proba(model, x)
    np.testing.assert_array_equal(a, b)                  # no dropout: the same twice
    assert model.training                                # left in train mode as found
    model.eval()
    np.testing.assert_array_equal(predict_proba(model, x), a)
    assert not model.training


def test_evaluate_refuses_labels_the_model_cannot_output():
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 10))
    x = np.zeros((2, 3, 2, 2), np.float32)
    with pytest.raises(ValueError, match=r"label 12 is out of range for a model with 10 "
                                         r"classes \(labels must satisfy 0 <= y < 10\)"):
        evaluate(model, [(x, np.array([1, 12]))])
    with pytest.raises(ValueError, match="label -1 is out of range"):
        evaluate(model, [(x, np.array([-1, 2]))])
    with pytest.raises(ValueError, match=r"labels must be 2 integer class indices.*\(3,\)"):
        topk_correct(np.zeros((2, 10)), np.array([1, 2, 3]))
    assert evaluate(model, [(x, np.array([0, 9]))])["n"] == 2
