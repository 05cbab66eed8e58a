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


@pytest.fixture
def no_hooked_leaves(monkeypatch):
    """Start from an engine that counts no hooked leaf: hooks that earlier
    tests registered and never removed stay counted."""
    from minialex import engine
    monkeypatch.setattr(engine, "_hooked_leaves", 0)
    return engine


def test_hook_sees_the_final_gradient_when_the_walk_meets_a_function_twice():
    # loss = sum(5w + a*a), a = 2w: dL/dw = 5 + 2a * 2 = 5 + 8w. Counting
    # w's uses, the walk reaches a's Function twice (a*a) before w*5
    w = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    seen = []
    w.register_post_accumulate_grad_hook(lambda t: seen.append(t.grad.copy()))
    a = w * 2.0
    (w * 5.0 + a * a).sum().backward()
    np.testing.assert_array_equal(w.grad, [13.0, 21.0])
    assert len(seen) == 1
    np.testing.assert_array_equal(seen[0], [13.0, 21.0])


def test_a_function_that_gives_a_leaf_no_gradient_still_counts_as_its_use():
    class Stop(minialex.Function):
        def forward(self, x):
            return x.copy()

        def backward(self, gy):
            return None

    w = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    seen = []
    w.register_post_accumulate_grad_hook(lambda t: seen.append(t.grad.copy()))
    (Stop()(w) * 5.0 + w * 2.0).sum().backward()
    assert len(seen) == 1
    np.testing.assert_array_equal(seen[0], [2.0, 2.0])


def test_removing_hooks_keeps_the_others_and_the_sweep_skips_the_walk_without_hooks(
        no_hooked_leaves, monkeypatch):
    engine = no_hooked_leaves
    walks = []
    walk = engine._hooked_leaf_uses
    monkeypatch.setattr(engine, "_hooked_leaf_uses", lambda root: walks.append(1) or walk(root))
    w = Tensor(np.array([1.0]), requires_grad=True)
    fired = []
    h1 = w.register_post_accumulate_grad_hook(lambda t: fired.append(1))
    h2 = w.register_post_accumulate_grad_hook(lambda t: fired.append(2))
    assert engine._hooked_leaves == 1              # one hooked leaf, two hooks
    (w * 3.0).sum().backward()
    assert fired == [1, 2] and len(walks) == 1
    h1.remove()
    h1.remove()                                    # a second remove does nothing
    fired.clear()
    (w * 3.0).sum().backward()
    assert fired == [2] and len(walks) == 2        # h2 still fires
    h2.remove()
    assert engine._hooked_leaves == 0
    (w * 3.0).sum().backward()
    assert fired == [2] and len(walks) == 2        # no hook anywhere: no walk
    np.testing.assert_array_equal(w.grad, [9.0])


def test_a_fresh_process_counts_no_hooked_leaf():
    import os
    import pathlib
    import subprocess
    import sys
    root = pathlib.Path(minialex.__file__).parent.parent
    code = ("import minialex\nfrom minialex import engine\n"
            "print(engine._hooked_leaves)")
    env = dict(os.environ, PYTHONPATH=str(root))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=env, check=True).stdout
    assert out.strip() == "0"


def test_callbacks_run_in_the_order_they_were_queued():
    w = Tensor(np.array([1.0]), requires_grad=True)
    order = []

    def hook(t):
        queue_callback(lambda: order.append("first"))
        queue_callback(lambda: order.append("second"))
        queue_callback(lambda: order.append("third"))
    w.register_post_accumulate_grad_hook(hook)
    (w * 2.0).sum().backward()
    assert order == ["first", "second", "third"]
