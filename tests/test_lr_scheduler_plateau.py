"""ReduceLROnPlateau's decisions by hand, at the edges: the improvement
threshold relative to a best value other than +-1, a metric exactly equal to
the best, the bad-epoch count after a cut, and a mode string that is equal
to "max" but not the same object (from argparse or a JSON checkpoint)
(mutation survivors of minialex/optim/lr_scheduler.py)."""

import json

import numpy as np
import pytest

from minialex import nn, optim


def make_opt(lr=1.0):
    return optim.SGD([nn.Parameter(np.zeros(1))], lr=lr)


def cuts(s, metrics):
    return [s.step(m) for m in metrics]


@pytest.mark.parametrize("mode, sign", [("max", 1.0), ("min", -1.0)])
def test_the_threshold_is_a_fraction_of_the_best(mode, sign):
    """threshold 0.1 with best 2: a step to 2.15 is short of the margin
    0.1 * 2 = 0.2 (a bad epoch, cut with patience 0), 2.25 clears it.
    (Against best 1 the margin would be the threshold itself, which hides
    a margin computed as threshold / |best| or threshold ** |best|.)"""
    s = optim.ReduceLROnPlateau(make_opt(), mode=mode, patience=0, threshold=0.1)
    assert cuts(s, [sign * 2.0, sign * 2.15, sign * 2.25]) == [False, True, False]
    assert s.best == sign * 2.25 and s.num_reductions == 1


@pytest.mark.parametrize("mode, better", [("max", 1.5), ("min", 0.5)])
def test_with_threshold_zero_an_equal_metric_is_not_better(mode, better):
    """threshold 0: improving means strictly better; the same metric again
    is a bad epoch (cut with patience 0), a strictly better one is not."""
    opt = make_opt()
    s = optim.ReduceLROnPlateau(opt, mode=mode, patience=0, threshold=0.0, factor=0.5)
    assert cuts(s, [1.0, 1.0, better]) == [False, True, False]
    assert s.best == better and opt.param_groups[0]["lr"] == 0.5


def test_after_a_cut_the_bad_epochs_count_from_zero():
    """patience 1, no cooldown, a flat metric: every cut needs two fresh bad
    epochs, so the cuts come on steps 3, 5 and 7, and the count shown in the
    state goes 0, 1, 0 (reset by the cut), 1, 0, ..."""
    opt = make_opt()
    s = optim.ReduceLROnPlateau(opt, patience=1, factor=0.5)
    out, bad = [], []
    for _ in range(7):
        out.append(s.step(1.0))
        bad.append(s.state_dict()["num_bad_epochs"])
    assert out == [False, False, True, False, True, False, True]
    assert bad == [0, 1, 0, 1, 0, 1, 0]
    assert opt.param_groups[0]["lr"] == 0.125 and s.num_reductions == 3


def test_a_mode_built_at_run_time_works_like_the_literal():
    """mode read from a command line or a config is a str equal to "max" but
    not the interned literal: it must behave as "max" (start from best -inf,
    larger is better), so a rising metric is never cut; the same for "min"."""
    mode = "".join(["m", "a", "x"])
    assert mode == "max"
    s = optim.ReduceLROnPlateau(make_opt(), mode=mode, patience=0)
    assert s.best == -float("inf")
    assert cuts(s, [1.0, 2.0, 3.0]) == [False, False, False]
    s = optim.ReduceLROnPlateau(make_opt(), mode="".join(["m", "i", "n"]), patience=0)
    assert s.best == float("inf")
    assert cuts(s, [3.0, 2.0, 1.0]) == [False, False, False]


def test_a_state_restored_from_json_keeps_its_mode():
    """A checkpoint stores the state as JSON, and json.loads gives a new
    "max" string: the restored scheduler still counts a higher accuracy
    as better and cuts exactly when the original does."""
    s = optim.ReduceLROnPlateau(make_opt(), mode="max", patience=1, threshold=0.0)
    cuts(s, [0.5, 0.4])                                  # best 0.5, one bad epoch
    opt2 = make_opt()
    s2 = optim.ReduceLROnPlateau(opt2, mode="min", patience=5)
    s2.load_state_dict(json.loads(json.dumps(s.state_dict())))
    assert s2.mode == "max" and s2.best == 0.5 and s2.num_bad_epochs == 1
    assert cuts(s2, [0.6, 0.55, 0.55]) == [False, False, True]   # 0.6 is better
    assert cuts(s, [0.6, 0.55, 0.55]) == [False, False, True]
    assert s2.best == 0.6 and opt2.param_groups[0]["lr"] == pytest.approx(0.1, rel=1e-12)
