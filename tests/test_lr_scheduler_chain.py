"""ChainedScheduler and SequentialLR by hand, and what they read of the
schedulers they compose: LambdaLR.lr_at, the sub-schedulers' step count
and state, the closed-form schedulers' restored state; SequentialLR's
milestone checks with their exact messages (mutation survivors of
minialex/optim/lr_scheduler.py and minialex/optim/lr_scheduler_chain.py)."""

import json

import numpy as np
import pytest

from minialex import nn, optim


def make_opt(*lrs):
    return optim.SGD([{"params": [nn.Parameter(np.zeros(1))], "lr": lr} for lr in lrs], lr=0.1)


def lrs_over(sched, opt, n):
    """The lr of every group now and after each of ``n`` steps."""
    out = [[g["lr"] for g in opt.param_groups]]
    for _ in range(n):
        sched.step()
        out.append([g["lr"] for g in opt.param_groups])
    return out


def refused(exc, message, make):
    with pytest.raises(exc) as info:
        make()
    assert str(info.value) == message


# ------------------------------------------------------------ SequentialLR checks
def test_sequential_needs_one_milestone_fewer_than_schedulers():
    """The count in the message is len(schedulers) - 1, for 2 and for 3
    schedulers, and too many milestones are refused as well as too few."""
    opt = make_opt(1.0)
    a, b, c = (optim.StepLR(opt, 1) for _ in range(3))
    refused(ValueError, "SequentialLR needs 1 milestones for 2 schedulers, got []",
            lambda: optim.SequentialLR(opt, [a, b], []))
    refused(ValueError, "SequentialLR needs 1 milestones for 2 schedulers, got [2, 4]",
            lambda: optim.SequentialLR(opt, [a, b], [2, 4]))
    refused(ValueError, "SequentialLR needs 2 milestones for 3 schedulers, got [5]",
            lambda: optim.SequentialLR(opt, [a, b, c], [5]))
    assert optim.SequentialLR(opt, [a, b, c], [2, 4]).milestones == [2, 4]


def test_sequential_milestones_must_not_decrease():
    """[4, 2] is refused with the list; a repeated milestone is not a
    decrease and is taken."""
    opt = make_opt(1.0)
    a, b, c = (optim.StepLR(opt, 1) for _ in range(3))
    refused(ValueError, "SequentialLR milestones must increase, got [4, 2]",
            lambda: optim.SequentialLR(opt, [a, b, c], [4, 2]))
    assert optim.SequentialLR(opt, [a, b, c], [3, 3]).milestones == [3, 3]


def test_sequential_milestones_are_whole_numbers_from_one():
    """Nothing is rounded for you (as in MultiStepLR): 2.7, "3", True, 0 and
    -2 are refused with the list; NumPy integers are taken as ints."""
    opt = make_opt(1.0)
    a, b = optim.StepLR(opt, 1), optim.StepLR(opt, 1)
    for bad in (2.7, "3", True, 0, -2):
        refused(ValueError, f"SequentialLR milestones must be whole numbers >= 1, got {[bad]}",
                lambda: optim.SequentialLR(opt, [a, b], [bad]))
    assert optim.SequentialLR(opt, [a, b], [np.int64(3)]).milestones == [3]


def test_sequential_reads_a_generator_of_schedulers_once_and_names_itself():
    """A generator of schedulers is read once (it used to be exhausted by
    the count check), and the chain's errors name SequentialLR."""
    opt, other = make_opt(1.0), make_opt(1.0)
    a, b = optim.StepLR(opt, 1), optim.StepLR(opt, 1)
    seq = optim.SequentialLR(opt, (s for s in [a, b]), [3])
    assert seq.schedulers == [a, b]
    refused(ValueError, "SequentialLR: all schedulers must drive the same optimizer",
            lambda: optim.SequentialLR(opt, [a, optim.StepLR(other, 1)], [3]))
    refused(ValueError, "ChainedScheduler: all schedulers must drive the same optimizer",
            lambda: optim.ChainedScheduler([a, optim.StepLR(other, 1)]))


def test_sequential_of_hundreds_of_schedulers():
    """300 schedulers and 299 milestones: counts above 256 are not cached
    ints in CPython, so counts compared by identity would refuse them."""
    opt = make_opt(1.0)
    s = optim.StepLR(opt, 1)
    seq = optim.SequentialLR(opt, [s] * 300, list(range(1, 300)))
    assert len(seq.milestones) == 299


# ------------------------------------------------------------ SequentialLR values
def test_sequential_switches_at_each_milestone_and_restarts_the_count():
    """Four LambdaLRs (lr = base * (scale + local epoch)) with milestones
    2, 4, 7, for two groups (bases 1 and 2): on the milestone step itself
    the next scheduler takes over at its own epoch 0, so the lrs of group 0
    are 1, 2 | 10, 11 | 100, 101, 102 | 1000, 1001, 1002, and group 1 twice
    those."""
    opt = make_opt(1.0, 2.0)
    parts = [optim.LambdaLR(opt, lambda e, c=c: c + e) for c in (1, 10, 100, 1000)]
    # (each LambdaLR sets the lrs as it is built; SequentialLR takes the bases
    # of the first scheduler, 1 and 2, and sets its own lrs at once)
    seq = optim.SequentialLR(opt, parts, [2, 4, 7])
    want = [1, 2, 10, 11, 100, 101, 102, 1000, 1001, 1002]
    assert lrs_over(seq, opt, 9) == [[w, 2.0 * w] for w in want]


# ------------------------------------------------------------ LambdaLR.lr_at
def test_chained_lambda_is_base_times_the_function():
    """ChainedScheduler reads LambdaLR through lr_at: with lr_lambda
    0.5 ** e from base 2 the lr is 2, 1, 0.5, 0.25 (base times the factor,
    not plus, minus, divided or raised to it)."""
    opt = make_opt(2.0)
    ch = optim.ChainedScheduler([optim.LambdaLR(opt, lambda e: 0.5 ** e)])
    assert lrs_over(ch, opt, 3) == [[2.0], [1.0], [0.5], [0.25]]


def test_lambda_lr_at_uses_the_first_groups_function():
    """lr_at(base, epoch) is documented as base times the FIRST group's
    function (not the last's, not the second's). Note: ChainedScheduler and
    SequentialLR therefore give every group the first group's lambda (see
    the report of the mutation triage)."""
    s = optim.LambdaLR(make_opt(1.0, 1.0), [lambda e: 0.5 ** e, lambda e: 3.0])
    assert [s.lr_at(2.0, e) for e in range(4)] == [2.0, 1.0, 0.5, 0.25]


# ------------------------------------------------------------ ChainedScheduler
def test_chained_step_counts_for_every_scheduler():
    """After 3 chained steps each sub-scheduler's last_epoch is 3, also in
    the chain's state_dict (so a checkpoint shows where each one is); the
    lr is the product StepLR(2, 0.5) * MultiStepLR([1], 0.1)."""
    opt = make_opt(1.0)
    a, b = optim.StepLR(opt, 2, 0.5), optim.MultiStepLR(opt, [1], 0.1)
    ch = optim.ChainedScheduler([a, b])
    np.testing.assert_allclose(lrs_over(ch, opt, 3), [[1.0], [0.1], [0.05], [0.05]], rtol=1e-12)
    assert (a.last_epoch, b.last_epoch) == (3, 3)
    assert [st["last_epoch"] for st in ch.state_dict()["schedulers"]] == [3, 3]


def test_chained_load_state_dict_restores_the_schedulers():
    """A chain restored from JSON continues with the saved sub-schedulers'
    settings (StepLR(2, 0.5) three steps in), not with the ones it was
    built with (StepLR(1, 0.1))."""
    opt = make_opt(1.0)
    ch = optim.ChainedScheduler([optim.StepLR(opt, 2, 0.5)])
    lrs_over(ch, opt, 3)
    opt2 = make_opt(1.0)
    ch2 = optim.ChainedScheduler([optim.StepLR(opt2, 1, 0.1)])
    ch2.load_state_dict(json.loads(json.dumps(ch.state_dict())))
    sub = ch2.schedulers[0]
    assert (sub.step_size, sub.gamma, sub.last_epoch) == (2, 0.5, 3)
    ch2.step()
    assert opt2.param_groups[0]["lr"] == 0.25                   # 0.5 ** (4 // 2)


# ------------------------------------------------------------ closed-form state
def test_cosine_state_from_json_is_restored_and_owned():
    """CosineAnnealingLR's state (T_max 4, eta_min 0.1, one step in) loaded
    from JSON continues exactly (0.55 after step 2); T_max is taken as the
    int it is, and base_lrs is copied, so a later change to the loaded dict
    does not reach the scheduler."""
    opt = make_opt(1.0)
    s = optim.CosineAnnealingLR(opt, T_max=4, eta_min=0.1)
    s.step()
    state = json.loads(json.dumps(s.state_dict()))
    opt2 = make_opt(1.0)
    s2 = optim.CosineAnnealingLR(opt2, T_max=10)
    s2.load_state_dict(state)
    state["base_lrs"][0] = 100.0
    assert (s2.T_max, s2.eta_min, s2.base_lrs, s2.last_epoch) == (4, 0.1, [1.0], 1)
    s.step()
    s2.step()
    assert opt2.param_groups[0]["lr"] == opt.param_groups[0]["lr"] == pytest.approx(0.55, rel=1e-12)
