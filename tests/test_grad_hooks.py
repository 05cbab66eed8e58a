"""Post-accumulate-grad hooks and queue_callback: a hook fires once per
backward, after the last contribution to its leaf (also for a leaf used by
several Functions), and queued callbacks run after the sweep."""

import numpy as np
import pytest

import minialex
from minialex import Tensor
from minialex.autograd import queue_callback


def test_hook_fires_once_after_all_contributions():
    w = Tensor(np.array([2.0, 3.0]), requires_grad=True)
    x = Tensor(np.array([1.0, 4.0]))
    seen = []
    w.register_post_accumulate_grad_hook(lambda t: seen.append(t.grad.copy()))
    # w is used three times: d/dw sum(w*x + w*w + w) = x + 2w + 1
    loss = (w * x + w * w + w).sum()
    loss.backward()
    assert len(seen) == 1
    np.testing.assert_allclose(seen[0], [1 + 4 + 1, 4 + 6 + 1])


def test_hooks_fire_in_reverse_order_of_use_and_callback_runs_last():
    a = Tensor(np.ones(3), requires_grad=True)
    b = Tensor(np.ones(3), requires_grad=True)
    order = []
    a.register_post_accumulate_grad_hook(lambda t: order.append("a"))
    h = b.register_post_accumulate_grad_hook(
        lambda t: (order.append("b"), queue_callback(lambda: order.append("end"))))
    ((a * 2.0).exp() * b).sum().backward()
    # b enters the graph last, so its gradient is final first
    assert order == ["b", "a", "end"]
    h.remove()
    order.clear()
    ((a * 2.0) * b).sum().backward()
    assert order == ["a"]


def test_hook_on_leaf_root_and_errors():
    w = Tensor(np.array(3.0), requires_grad=True)
    seen = []
    w.register_post_accumulate_grad_hook(lambda t: seen.append(float(t.grad)))
    w.backward()
    assert seen == [1.0]
    with pytest.raises(RuntimeError, match="leaf"):
        (w * 2.0).register_post_accumulate_grad_hook(lambda t: None)
    with pytest.raises(RuntimeError, match="requires_grad"):
        Tensor(np.ones(2)).register_post_accumulate_grad_hook(lambda t: None)


def test_unused_input_of_a_function_still_counts():
    # cross_entropy gives no gradient to its integer labels; a hooked weight
    # of a linear layer still fires after its only use
    lin = minialex.nn.Linear(3, 2)
    fired = []
    lin.weight.register_post_accumulate_grad_hook(lambda t: fired.append(True))
    out = lin(Tensor(np.ones((4, 3), np.float32)))
    minialex.functional.cross_entropy(out, np.array([0, 1, 0, 1])).backward()
    assert fired == [True]
