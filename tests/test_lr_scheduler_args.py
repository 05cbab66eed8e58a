"""The learning-rate schedulers' argument checks and defaults, exactly: each
range is tried just inside and just outside both of its ends (0, a negative
number, 1, above 1, infinity), and every refusal is compared with its whole
message, so a bound that moves, a comparison that turns into ``is`` or a
default that changes is seen (mutation survivors of
minialex/optim/lr_scheduler.py)."""

import math

import numpy as np
import pytest

from minialex import nn, optim

# float("inf") is a new object each time, unlike math.inf: a check written
# "v is not math.inf" would let it through
INF = float("inf")


def make_opt(lr=0.1, groups=1):
    return optim.SGD([{"params": [nn.Parameter(np.zeros(1))]} for _ in range(groups)], lr=lr)


def refused(exc, message, make):
    """``make()`` raises ``exc`` with exactly ``message``."""
    with pytest.raises(exc) as info:
        make()
    assert str(info.value) == message


def steps(sched, opt, n):
    out = []
    for _ in range(n):
        sched.step()
        out.append(opt.param_groups[0]["lr"])
    return out


# ------------------------------------------------------------ _real_arg / _positive
def test_a_bool_or_a_string_is_not_a_number():
    """True is an int to Python but not a factor, and "0.5" is not a number:
    both are the TypeError naming the rule, not accepted as 1.0 and not
    the comparison's own "'<' not supported" error."""
    opt = make_opt()
    refused(TypeError, "StepLR: gamma must be a number > 0 and finite, got True",
            lambda: optim.StepLR(opt, 1, gamma=True))
    refused(TypeError, "StepLR: gamma must be a number > 0 and finite, got '0.5'",
            lambda: optim.StepLR(opt, 1, gamma="0.5"))
    refused(TypeError, "ReduceLROnPlateau: factor must be a number in (0, 1), got False",
            lambda: optim.ReduceLROnPlateau(opt, factor=False))


@pytest.mark.parametrize("bad", [0, 0.0, -0.5, INF, math.inf, float("nan")])
def test_gamma_must_be_positive_and_finite(bad):
    """StepLR's and MultiStepLR's gamma: 0, a negative number, infinity (also
    a fresh float("inf")) and NaN are each the ValueError with the value."""
    opt = make_opt()
    refused(ValueError, f"StepLR: gamma must be > 0 and finite, got {bad}",
            lambda: optim.StepLR(opt, 1, gamma=bad))
    refused(ValueError, f"MultiStepLR: gamma must be > 0 and finite, got {bad}",
            lambda: optim.MultiStepLR(opt, [1], gamma=bad))


def test_gamma_may_be_tiny_or_above_one():
    """A gamma just above 0 and one above 1 (a rate that grows) are taken."""
    opt = make_opt(1.0)
    assert steps(optim.StepLR(opt, 1, gamma=2.0), opt, 2) == [2.0, 4.0]
    assert optim.MultiStepLR(make_opt(), [1], gamma=1e-300).gamma == 1e-300


def test_step_and_multistep_default_gamma_is_one_tenth():
    """The paper's "divide by 10": gamma defaults to 0.1 for both."""
    opt = make_opt(1.0)
    s = optim.StepLR(opt, 1)
    assert s.gamma == 0.1 and steps(s, opt, 2) == pytest.approx([0.1, 0.01], rel=1e-12)
    opt = make_opt(1.0)
    s = optim.MultiStepLR(opt, [1])
    assert s.gamma == 0.1 and steps(s, opt, 2) == pytest.approx([0.1, 0.1], rel=1e-12)


# ------------------------------------------------------------ MultiStepLR milestones
@pytest.mark.parametrize("bad", ["10", b"10", 10, None])
def test_milestones_must_be_a_list(bad):
    """A string (iterable, but not a list of epochs) and a bare number are
    the TypeError showing the example, not split into characters."""
    refused(TypeError, "MultiStepLR: milestones must be a list of epoch numbers, e.g. "
                       f"[10, 13], got {bad!r}",
            lambda: optim.MultiStepLR(make_opt(), bad))


def test_a_milestone_is_at_least_epoch_one():
    """Milestone 0 is refused with the whole list in the message; milestone 1
    (the smallest allowed) cuts after the first step."""
    refused(ValueError, "MultiStepLR: each milestone must be >= 1, got 0 in [3, 0]",
            lambda: optim.MultiStepLR(make_opt(), [3, 0]))
    opt = make_opt(1.0)
    s = optim.MultiStepLR(opt, [1, 1], gamma=0.5)
    assert s.milestones == [1, 1] and steps(s, opt, 2) == [0.25, 0.25]


# ------------------------------------------------------------ ReduceLROnPlateau
def test_plateau_defaults():
    """A fresh ReduceLROnPlateau's whole state: mode max, factor 0.1, patience
    2, threshold 1e-4, min_lr 0, cooldown 0, best -inf, no bad epochs, no
    cooldown running, no cut yet; and with the defaults the cut comes on the
    third epoch without improvement, then again three epochs later."""
    opt = make_opt(1.0)
    s = optim.ReduceLROnPlateau(opt)
    assert s.state_dict() == {"mode": "max", "factor": 0.1, "patience": 2, "threshold": 1e-4,
                              "min_lr": 0.0, "cooldown": 0, "best": -math.inf,
                              "num_bad_epochs": 0, "cooldown_counter": 0, "num_reductions": 0}
    cuts = [s.step(0.5) for _ in range(7)]
    assert cuts == [False, False, False, True, False, False, True]
    assert opt.param_groups[0]["lr"] == pytest.approx(0.01, rel=1e-12)


@pytest.mark.parametrize("bad", [0, 0.0, -0.5, 1, 1.0, 2.0])
def test_plateau_factor_is_strictly_between_0_and_1(bad):
    refused(ValueError, f"ReduceLROnPlateau: factor must be in (0, 1), got {bad}",
            lambda: optim.ReduceLROnPlateau(make_opt(), factor=bad))


def test_plateau_factor_just_inside_the_range():
    opt = make_opt(1.0)
    s = optim.ReduceLROnPlateau(opt, factor=0.999, patience=0)
    assert [s.step(1.0), s.step(1.0)] == [False, True]
    assert opt.param_groups[0]["lr"] == 0.999
    assert optim.ReduceLROnPlateau(make_opt(), factor=1e-9).factor == 1e-9


@pytest.mark.parametrize("name", ["patience", "cooldown"])
def test_plateau_patience_and_cooldown_are_counts_from_zero(name):
    """-1 is refused with the minimum in the message; 0 is taken."""
    refused(ValueError, f"ReduceLROnPlateau: {name} must be >= 0, got -1",
            lambda: optim.ReduceLROnPlateau(make_opt(), **{name: -1}))
    assert getattr(optim.ReduceLROnPlateau(make_opt(), **{name: 0}), name) == 0


@pytest.mark.parametrize("name", ["threshold", "min_lr"])
@pytest.mark.parametrize("bad", [-0.5, -1e-300, INF, math.inf])
def test_plateau_threshold_and_min_lr_are_nonnegative_and_finite(name, bad):
    refused(ValueError, f"ReduceLROnPlateau: {name} must be >= 0 and finite, got {bad}",
            lambda: optim.ReduceLROnPlateau(make_opt(), **{name: bad}))


@pytest.mark.parametrize("name", ["threshold", "min_lr"])
@pytest.mark.parametrize("ok", [0, 0.0, 1e300])
def test_plateau_threshold_and_min_lr_may_be_zero(name, ok):
    """0 (the int and the float) and a huge finite number are taken."""
    assert getattr(optim.ReduceLROnPlateau(make_opt(), **{name: ok}), name) == ok


# ------------------------------------------------------------ CosineAnnealingLR
@pytest.mark.parametrize("bad", [-0.5, -1e-300, INF, math.inf])
def test_cosine_eta_min_is_nonnegative_and_finite(bad):
    refused(ValueError, f"CosineAnnealingLR: eta_min must be >= 0 and finite, got {bad}",
            lambda: optim.CosineAnnealingLR(make_opt(), 4, eta_min=bad))


@pytest.mark.parametrize("ok", [0, 0.0, 1e300])
def test_cosine_eta_min_may_be_zero(ok):
    opt = make_opt(1.0)
    s = optim.CosineAnnealingLR(opt, 2, eta_min=ok)
    assert s.eta_min == ok
    if ok == 0:
        assert steps(s, opt, 2) == pytest.approx([0.5, 0.0], abs=1e-15)


# ------------------------------------------------------------ LinearLR
def test_linear_defaults_are_one_third_over_five_steps():
    """LinearLR(opt): start_factor 1/3, end_factor 1, total_iters 5, so from
    base 3 the lr is 1, 1.4, 1.8, 2.2, 2.6, then 3 and held."""
    opt = make_opt(3.0)
    s = optim.LinearLR(opt)
    assert (s.start_factor, s.end_factor, s.total_iters) == (1.0 / 3, 1.0, 5)
    assert opt.param_groups[0]["lr"] == pytest.approx(1.0, rel=1e-12)
    assert steps(s, opt, 6) == pytest.approx([1.4, 1.8, 2.2, 2.6, 3.0, 3.0], rel=1e-12)


@pytest.mark.parametrize("bad", [0, 0.0, -0.5, 1.5, 2.0])
def test_linear_start_factor_is_in_0_excluded_to_1(bad):
    refused(ValueError, f"LinearLR: start_factor must be in (0, 1], got {bad}",
            lambda: optim.LinearLR(make_opt(), start_factor=bad))


@pytest.mark.parametrize("bad", [-0.5, -1e-300, 1.5, 2.0])
def test_linear_end_factor_is_in_0_to_1(bad):
    refused(ValueError, f"LinearLR: end_factor must be in [0, 1], got {bad}",
            lambda: optim.LinearLR(make_opt(), end_factor=bad))


@pytest.mark.parametrize("end", [0, 0.0, 0.5, 1.0])
def test_linear_end_factor_ends_included(end):
    """end_factor 0 (a linear decay to nothing), 0.5 and 1 are taken: from
    start_factor 1 over 2 steps the lr goes 1, (1 + end) / 2, end."""
    opt = make_opt(1.0)
    s = optim.LinearLR(opt, start_factor=1.0, end_factor=end, total_iters=2)
    assert s.end_factor == end
    assert steps(s, opt, 3) == pytest.approx([(1 + end) / 2, end, end], abs=1e-15)


def test_linear_total_iters_is_at_least_one():
    """total_iters 0 is the ValueError (not a ZeroDivisionError from the
    formula); 1 jumps to end_factor after one step."""
    refused(ValueError, "LinearLR: total_iters must be >= 1, got 0",
            lambda: optim.LinearLR(make_opt(), total_iters=0))
    opt = make_opt(1.0)
    s = optim.LinearLR(opt, start_factor=0.5, total_iters=1)
    assert opt.param_groups[0]["lr"] == 0.5 and steps(s, opt, 2) == [1.0, 1.0]


# ------------------------------------------------------------ LambdaLR
def test_lambda_needs_one_function_per_group():
    """A list of functions must match the groups in number: fewer and more
    are both refused with the counts."""
    refused(ValueError, "LambdaLR got 1 functions for 2 param groups",
            lambda: optim.LambdaLR(make_opt(groups=2), [lambda e: 1.0]))
    refused(ValueError, "LambdaLR got 3 functions for 2 param groups",
            lambda: optim.LambdaLR(make_opt(groups=2), [lambda e: 1.0] * 3))


def test_lambda_with_hundreds_of_groups():
    """One function per group for 300 groups (one group per parameter, say):
    counts above 256 are not cached ints in CPython, so a count compared by
    identity would refuse equal numbers."""
    opt = make_opt(1.0, groups=300)
    s = optim.LambdaLR(opt, [lambda e, k=k: k + e for k in range(300)])
    s.step()
    assert s.get_last_lr() == [k + 1.0 for k in range(300)]
