"""minialex.optim: the paper's SGD rule, exactly, the lr schedules, and Adam/AdamW
by hand (hyperparameter checks, defaults, betas below 1/2)."""

import copy

import numpy as np
import pytest

import minialex
from minialex import nn, optim

W0 = np.array([[0.5, -1.0], [2.0, 0.25]])
G1 = np.array([[0.1, 0.2], [-0.3, 0.4]])
G2 = np.array([[-0.5, 0.05], [0.7, -0.2]])


def param(values=W0, dtype=np.float64):
    return nn.Parameter(np.array(values, dtype=dtype))


def paper_step(w, v, g, lr, m=0.9, wd=5e-4):
    """The paper's rule (section 5), written out by hand."""
    v = m * v - wd * lr * w - lr * g
    return w + v, v


def test_sgd_two_steps_match_the_paper_exactly():
    p = param()
    opt = optim.SGD([p], lr=0.01)        # momentum 0.9, weight decay 5e-4 by default
    w, v = W0.copy(), np.zeros_like(W0)
    for g in (G1, G2):
        p.grad = g.copy()
        opt.step()
        w, v = paper_step(w, v, g, 0.01)
        np.testing.assert_array_equal(p.data, w)          # bit for bit
        np.testing.assert_array_equal(opt.state[id(p)]["momentum_buffer"], v)
    # and by hand for one element: v1 = -5e-4*0.01*0.5 - 0.01*0.1
    v1 = -5e-4 * 0.01 * 0.5 - 0.01 * 0.1
    w1 = 0.5 + v1
    v2 = 0.9 * v1 - 5e-4 * 0.01 * w1 - 0.01 * (-0.5)
    assert p.data[0, 0] == w1 + v2


def test_sgd_other_hyperparameters_and_groups():
    a, b = param(), param()
    opt = optim.SGD([{"params": [a]}, {"params": [b], "lr": 0.5, "momentum": 0.0}],
                    lr=0.1, momentum=0.5, weight_decay=0.0)
    a.grad, b.grad = G1.copy(), G1.copy()
    opt.step()
    opt.step()
    # a: v1 = -0.1 g, v2 = 0.5 v1 - 0.1 g; b: plain gradient descent with lr 0.5
    np.testing.assert_allclose(a.data, W0 - 0.1 * G1 + (0.5 * -0.1 * G1 - 0.1 * G1), rtol=1e-15)
    np.testing.assert_allclose(b.data, W0 - 2 * 0.5 * G1, rtol=1e-15)


def test_lr_change_does_not_rescale_the_velocity():
    p = param()
    opt = optim.SGD([p], lr=0.1)
    p.grad = G1.copy()
    opt.step()
    v1 = opt.state[id(p)]["momentum_buffer"].copy()
    w1 = p.data.copy()
    opt.param_groups[0]["lr"] = 0.01
    p.grad = G2.copy()
    opt.step()
    w2, v2 = paper_step(w1, v1, G2, 0.01)
    np.testing.assert_array_equal(p.data, w2)
    # PyTorch's form (v <- m v + g; w <- w - lr v) would rescale the old
    # velocity by the new lr at once; the paper's rule does not
    torch_like = w1 - 0.01 * (0.9 * (v1 / -0.1) + G2 + 5e-4 * w1)
    assert np.abs(p.data - torch_like).max() > 1e-3


def test_parameters_without_grad_are_skipped():
    a, b = param(), param()
    opt = optim.SGD([a, b], lr=0.1)
    a.grad = G1.copy()
    opt.step()
    np.testing.assert_array_equal(b.data, W0)
    assert id(b) not in opt.state


def test_a_skipped_parameter_does_not_stop_the_others():
    # the parameter without a gradient comes FIRST: the ones after it still step
    for nesterov in (False, True):
        a, b, c = param(), param(), param()
        opt = optim.SGD([a, b, c], lr=0.1, momentum=0.5, weight_decay=0.0, nesterov=nesterov)
        b.grad, c.grad = G1.copy(), G2.copy()
        opt.step()
        np.testing.assert_array_equal(a.data, W0)
        # first step, no weight decay: both rules give w - lr g (Nesterov: - lr (g + m g))
        f = 1.5 if nesterov else 1.0
        np.testing.assert_allclose(b.data, W0 - 0.1 * f * G1, rtol=1e-15)
        np.testing.assert_allclose(c.data, W0 - 0.1 * f * G2, rtol=1e-15)


def test_a_group_without_the_nesterov_key_takes_the_paper_rule():
    # param groups saved before "nesterov" existed lack the key: the paper's rule
    p = param()
    opt = optim.SGD([p], lr=0.01)
    del opt.param_groups[0]["nesterov"]
    p.grad = G1.copy()
    opt.step()
    w, v = paper_step(W0, np.zeros_like(W0), G1, 0.01)
    np.testing.assert_array_equal(p.data, w)


def test_zero_grad():
    a, b = param(), param()
    opt = optim.SGD([a, b], lr=0.1)
    a.grad, b.grad = G1.copy(), G2.copy()
    opt.zero_grad()
    assert a.grad is None and b.grad is None


def test_sgd_keeps_float32():
    p = param(dtype=np.float32)
    opt = optim.SGD([p], lr=0.01)
    p.grad = G1.astype(np.float32)
    opt.step()
    assert p.dtype == np.float32 and opt.state[id(p)]["momentum_buffer"].dtype == np.float32
    w, _ = paper_step(W0.astype(np.float32), np.zeros((2, 2), np.float32), G1.astype(np.float32),
                      np.float32(0.01), np.float32(0.9), np.float32(5e-4))
    np.testing.assert_allclose(p.data, w, rtol=1e-6)


def test_sgd_updates_in_place():
    p = param()
    data = p.data
    opt = optim.SGD([p], lr=0.1)
    p.grad = G1.copy()
    opt.step()
    assert p.data is data and p.creator is None


@pytest.mark.parametrize("kwargs, match", [
    ({"lr": 0.0}, "learning rate must be positive"),
    ({"lr": -0.1}, "learning rate must be positive"),
    ({"lr": 0.1, "momentum": 1.0}, "momentum must be in"),
    ({"lr": 0.1, "momentum": 1.5}, "momentum must be in"),
    ({"lr": 0.1, "momentum": -0.1}, "momentum must be in"),
    ({"lr": 0.1, "weight_decay": -1.0}, "weight_decay must be >= 0"),
])
def test_sgd_bad_hyperparameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        optim.SGD([param()], **kwargs)


def test_bad_param_groups():
    p = param()
    with pytest.raises(ValueError, match="param group 0 must be a dict with a 'params' entry"):
        optim.SGD([{"lr": 0.1}], lr=0.1)
    with pytest.raises(ValueError, match=r"a parameter of shape \(2, 2\) is in two param groups"):
        optim.SGD([{"params": [p]}, {"params": [p]}], lr=0.1)


def test_sgd_empty_params():
    with pytest.raises(ValueError, match="empty parameter list"):
        optim.SGD([], lr=0.1)


def test_sgd_state_dict_round_trip():
    p = param()
    opt = optim.SGD([p], lr=0.02)
    for g in (G1, G2):
        p.grad = g.copy()
        opt.step()
    opt.param_groups[0]["lr"] = 0.002
    sd = opt.state_dict()
    assert sd["param_groups"] == [{"lr": 0.002, "momentum": 0.9, "weight_decay": 5e-4,
                                   "nesterov": False}]
    buf = sd["state"][0]["momentum_buffer"]
    assert not np.shares_memory(buf, opt.state[id(p)]["momentum_buffer"])
    # a fresh optimizer on a copy of the weights continues identically
    q = param(p.data.copy())
    opt2 = optim.SGD([q], lr=0.5, momentum=0.0)
    opt2.load_state_dict(copy.deepcopy(sd))
    assert opt2.param_groups[0]["lr"] == 0.002 and opt2.param_groups[0]["momentum"] == 0.9
    np.testing.assert_array_equal(opt2.state[id(q)]["momentum_buffer"], buf)
    for o, t in ((opt, p), (opt2, q)):
        t.grad = G1.copy()
        o.step()
    np.testing.assert_array_equal(p.data, q.data)


def test_sgd_load_state_dict_errors():
    opt = optim.SGD([param()], lr=0.1)
    opt.param_groups[0]["params"][0].grad = G1.copy()
    opt.step()
    sd = opt.state_dict()
    two = optim.SGD([{"params": [param()]}, {"params": [param()]}], lr=0.1)
    with pytest.raises(ValueError, match="1 param groups, this optimizer has 2"):
        two.load_state_dict(sd)
    small = optim.SGD([param([1.0, 2.0])], lr=0.1)
    with pytest.raises(ValueError, match=r"'momentum_buffer' of parameter 0 has shape \(2, 2\)"):
        small.load_state_dict(sd)
    sd["state"][3] = sd["state"][0]
    with pytest.raises(ValueError, match="names parameter 3 but this optimizer has 1"):
        optim.SGD([param()], lr=0.1).load_state_dict(sd)
    small.param_groups[0]["params"][0].grad = np.ones(2)
    small.step()
    with pytest.raises(ValueError, match=r"'momentum_buffer' of parameter 0 has shape \(2,\)"):
        optim.SGD([param()], lr=0.1).load_state_dict(small.state_dict())
    with pytest.raises(ValueError, match="2 param groups, this optimizer has 1"):
        optim.SGD([param()], lr=0.1).load_state_dict(two.state_dict())
    del sd["state"][3]
    sd["state"][1] = sd["state"][0]        # one past the last parameter
    with pytest.raises(ValueError, match="names parameter 1 but this optimizer has 1"):
        optim.SGD([param()], lr=0.1).load_state_dict(sd)


def test_load_state_dict_restores_every_hyperparameter_and_keeps_the_params():
    import json
    src = optim.SGD([param()], lr=0.3, momentum=0.6, weight_decay=0.02, nesterov=True)
    sd = src.state_dict()
    # PyTorch's layout also lists the groups' parameter indices under "params";
    # a state dict read back from JSON (fresh key strings) must not replace
    # this optimizer's parameters with them
    sd["param_groups"][0]["params"] = [0]
    sd = json.loads(json.dumps(sd))
    p = param()
    dst = optim.SGD([p], lr=0.1)
    dst.load_state_dict(sd)
    g = dst.param_groups[0]
    assert (g["lr"], g["momentum"], g["weight_decay"], g["nesterov"]) == (0.3, 0.6, 0.02, True)
    assert g["params"][0] is p


def test_sgd_trains_a_module_on_another_device():
    minialex.manual_seed(0)
    net = nn.Linear(2, 2, dtype=np.float64).to("cpu:1")
    opt = optim.SGD(net.parameters(), lr=0.5)
    x = minialex.Tensor(np.eye(2), device="cpu:1")
    first = None
    for _ in range(30):
        opt.zero_grad()
        loss = minialex.functional.cross_entropy(net(x), np.array([1, 0]))
        loss.backward()
        opt.step()
        first = first or loss.item()
    assert loss.item() < 0.2 * first and net.weight.device == "cpu:1"


# ------------------------------------------------------------------ schedulers
def make_opt(lr=0.1):
    return optim.SGD([param()], lr=lr)


def test_step_lr():
    opt = make_opt()
    s = optim.StepLR(opt, step_size=2, gamma=0.1)
    lrs = []
    for _ in range(5):
        s.step()
        lrs.append(s.get_last_lr()[0])
    np.testing.assert_allclose(lrs, [0.1, 0.01, 0.01, 0.001, 0.001], rtol=1e-12)
    with pytest.raises(ValueError, match="step_size must be >= 1"):
        optim.StepLR(opt, 0)


def test_step_lr_state_dict_round_trip():
    opt = make_opt()
    s = optim.StepLR(opt, step_size=3, gamma=0.5)
    for _ in range(4):
        s.step()
    opt2 = make_opt(0.7)
    s2 = optim.StepLR(opt2, step_size=1)
    s2.load_state_dict(s.state_dict())
    s.step()
    s2.step()
    assert s2.last_epoch == 5 and opt2.param_groups[0]["lr"] == opt.param_groups[0]["lr"] == 0.05


def test_multistep_lr():
    opt = make_opt()
    s = optim.MultiStepLR(opt, milestones=[4, 2], gamma=0.1)
    lrs = []
    for _ in range(5):
        s.step()
        lrs.append(opt.param_groups[0]["lr"])
    np.testing.assert_allclose(lrs, [0.1, 0.01, 0.01, 0.001, 0.001], rtol=1e-12)


def run_plateau(s, metrics):
    return [(s.step(m), s.optimizer.param_groups[0]["lr"]) for m in metrics]


def test_plateau_max_mode_cuts_after_patience_plus_one_bad_epochs():
    opt = make_opt(0.01)
    s = optim.ReduceLROnPlateau(opt, mode="max", factor=0.1, patience=2)
    out = run_plateau(s, [0.50, 0.60, 0.60, 0.55, 0.59, 0.58, 0.70, 0.70, 0.70])
    cuts = [c for c, _ in out]
    #       best  better bad1  bad2  bad3: cut  bad1   better bad1  bad2
    assert cuts == [False, False, False, False, True, False, False, False, False]
    np.testing.assert_allclose([lr for _, lr in out],
                               [0.01] * 4 + [0.001] * 5, rtol=1e-12)
    assert s.num_reductions == 1 and s.best == 0.70


def test_plateau_min_mode():
    opt = make_opt(0.01)
    s = optim.ReduceLROnPlateau(opt, mode="min", patience=1)
    out = run_plateau(s, [2.0, 1.5, 1.6, 1.5, 1.0, 1.2, 1.1])
    assert [c for c, _ in out] == [False, False, False, True, False, False, True]
    np.testing.assert_allclose(out[-1][1], 1e-4, rtol=1e-12)


def test_plateau_threshold_cooldown_min_lr():
    opt = make_opt(0.01)
    # an improvement smaller than threshold (relative) does not count
    s = optim.ReduceLROnPlateau(opt, mode="max", patience=0, threshold=0.1)
    assert run_plateau(s, [1.0, 1.05])[1][0] is True
    # ... also for negative metrics (threshold relative to |best|)
    s = optim.ReduceLROnPlateau(make_opt(), mode="max", patience=0, threshold=0.1)
    assert [c for c, _ in run_plateau(s, [-1.0, -0.95, -0.85])] == [False, True, False]
    s = optim.ReduceLROnPlateau(make_opt(), mode="min", patience=0, threshold=0.1)
    assert [c for c, _ in run_plateau(s, [-1.0, -1.05, -1.15])] == [False, True, False]
    opt = make_opt(0.01)
    s = optim.ReduceLROnPlateau(opt, mode="min", patience=0, cooldown=2, min_lr=5e-4)
    cuts = [c for c, _ in run_plateau(s, [1.0, 1.0, 1.0, 1.0, 1.0, 1.0])]
    assert cuts == [False, True, False, False, True, False]   # 2 epochs of cooldown
    assert opt.param_groups[0]["lr"] == 5e-4                   # 0.01 -> 0.001 -> floor


def test_plateau_state_dict_round_trip():
    opt = make_opt(0.01)
    s = optim.ReduceLROnPlateau(opt, mode="max", patience=2)
    run_plateau(s, [0.5, 0.4, 0.4])          # two bad epochs so far
    state = s.state_dict()
    assert state["num_bad_epochs"] == 2 and state["best"] == 0.5
    opt2 = make_opt(0.01)
    s2 = optim.ReduceLROnPlateau(opt2, mode="min", patience=9)
    s2.load_state_dict(state)
    assert s2.mode == "max" and s2.patience == 2
    assert s2.step(0.45) is True and s.step(0.45) is True     # third bad epoch: cut
    assert opt2.param_groups[0]["lr"] == opt.param_groups[0]["lr"]


def test_plateau_errors():
    opt = make_opt()
    with pytest.raises(ValueError, match="mode must be 'min' or 'max', got 'up'"):
        optim.ReduceLROnPlateau(opt, mode="up")
    with pytest.raises(ValueError, match="factor must be in"):
        optim.ReduceLROnPlateau(opt, factor=1.0)
    with pytest.raises(ValueError, match="NaN"):
        optim.ReduceLROnPlateau(opt).step(float("nan"))


def test_sgd_piecewise_update_equals_the_whole_array_formula():
    # the CPU update runs over pieces of _CHUNK numbers; a size that is not a
    # multiple of it, and a non-contiguous parameter, must give exactly the
    # numbers of the paper's formula on whole arrays (float32 throughout)
    from minialex.optim import sgd as sgd_module
    rng = np.random.default_rng(3)
    n = 3 * sgd_module._CHUNK + 7
    shapes = [(n,), (5, 4)]
    ps = [nn.Parameter(rng.standard_normal(s).astype(np.float32)) for s in shapes]
    ps[1].data = np.asfortranarray(ps[1].data)            # non-contiguous in C order
    w = [p.data.copy() for p in ps]
    v = [np.zeros_like(x) for x in w]
    opt = optim.SGD(ps, lr=0.05, momentum=0.9, weight_decay=5e-4)
    for step in range(3):
        grads = [rng.standard_normal(s).astype(np.float32) for s in shapes]
        for p, g in zip(ps, grads):
            p.grad = g.copy()
        opt.step()
        for k, g in enumerate(grads):
            v[k] = np.float32(0.9) * v[k] - np.float32(5e-4 * 0.05) * w[k] - np.float32(0.05) * g
            w[k] = w[k] + v[k]
            np.testing.assert_array_equal(ps[k].data, w[k])
            assert ps[k].data.dtype == np.float32


# ------------------------------------------------------------ Adam, AdamW
@pytest.mark.parametrize("name", ["Adam", "AdamW"])
@pytest.mark.parametrize("kwargs, match", [
    ({"lr": 0.0}, "learning rate must be positive"),
    ({"lr": -0.1}, "learning rate must be positive"),
    ({"betas": (-0.1, 0.999)}, r"betas must be two numbers in \[0, 1\)"),
    ({"betas": (0.9, -0.1)}, r"betas must be two numbers in \[0, 1\)"),
    ({"betas": (1.5, 0.999)}, r"betas must be two numbers in \[0, 1\)"),
    ({"betas": (0.9, 1.0)}, r"betas must be two numbers in \[0, 1\)"),
    ({"betas": (0.9,)}, r"betas must be two numbers in \[0, 1\)"),
    ({"betas": (0.9, 0.99, 0.5)}, r"betas must be two numbers in \[0, 1\)"),
    ({"eps": -0.5}, "eps must be >= 0"),
    ({"eps": -1e-8}, "eps must be >= 0"),
    ({"weight_decay": -0.5}, "weight_decay must be >= 0"),
])
def test_adam_bad_hyperparameters(name, kwargs, match):
    with pytest.raises(ValueError, match=match):
        getattr(optim, name)([param()], **kwargs)


@pytest.mark.parametrize("name", ["Adam", "AdamW"])
def test_adam_accepts_the_ends_of_the_ranges(name):
    # betas = 0 and eps = 0 are allowed ([0, 1) and >= 0): then m = g,
    # v = g^2, no bias correction (1 - 0^t = 1) and w -= lr * g / |g|
    p = nn.Parameter(np.array([1.0, -2.0]))
    opt = getattr(optim, name)([p], lr=0.1, betas=(0.0, 0.0), eps=0.0, weight_decay=0.0)
    for g, w in (([0.5, -4.0], [0.9, -1.9]), ([-3.0, -0.25], [1.0, -1.8])):
        p.grad = np.array(g)
        opt.step()
        np.testing.assert_allclose(p.data, w, rtol=0, atol=1e-15)


@pytest.mark.parametrize("name", ["Adam", "AdamW"])
def test_adam_two_steps_by_hand_with_betas_below_one_half(name):
    # betas (0.5, 0.25), eps 0, lr 0.1, w0 = (1, -2); g1 = (2, -0.5), g2 = (1, 0.5)
    #   m1 = 0.5 g1 = (1, -0.25)         v1 = 0.75 g1^2 = (3, 0.1875)
    #   step 1: m_hat = g1, v_hat = g1^2, so w1 = w0 - 0.1 sign(g1) = (0.9, -1.9)
    #   m2 = 0.5 m1 + 0.5 g2 = (1, 0.125)
    #   v2 = 0.25 v1 + 0.75 g2^2 = (1.5, 0.234375)
    #   w2 = w1 - (0.1 / (1 - 0.5^2)) m2 / (sqrt(v2) / sqrt(1 - 0.25^2))
    #      = (0.9 - (0.4/3) / sqrt(1.6), -1.9 - (0.4/3) 0.125 / 0.5)
    p = nn.Parameter(np.array([1.0, -2.0]))
    opt = getattr(optim, name)([p], lr=0.1, betas=(0.5, 0.25), eps=0.0, weight_decay=0.0)
    p.grad = np.array([2.0, -0.5])
    opt.step()
    np.testing.assert_allclose(p.data, [0.9, -1.9], rtol=0, atol=1e-15)
    st = opt.state_dict()["state"][0]
    np.testing.assert_allclose(st["exp_avg"], [1.0, -0.25], rtol=0, atol=1e-15)
    np.testing.assert_allclose(st["exp_avg_sq"], [3.0, 0.1875], rtol=0, atol=1e-15)
    p.grad = np.array([1.0, 0.5])
    opt.step()
    st = opt.state_dict()["state"][0]
    np.testing.assert_allclose(st["exp_avg"], [1.0, 0.125], rtol=0, atol=1e-15)
    np.testing.assert_allclose(st["exp_avg_sq"], [1.5, 0.234375], rtol=0, atol=1e-15)
    np.testing.assert_allclose(p.data, [0.9 - (0.4 / 3) / np.sqrt(1.6), -1.9 - 0.1 / 3],
                               rtol=0, atol=1e-14)


@pytest.mark.parametrize("name, wd", [("Adam", 0.0), ("AdamW", 0.01)])
def test_adam_defaults_are_pytorchs(name, wd):
    # torch.optim.Adam / AdamW: lr 1e-3, betas (0.9, 0.999), eps 1e-8,
    # weight_decay 0 (Adam) or 0.01 (AdamW)
    p = nn.Parameter(np.array([1.0, -2.0]))
    opt = getattr(optim, name)([p])
    group = opt.param_groups[0]
    assert (group["lr"], group["betas"], group["eps"], group["weight_decay"]) == \
        (1e-3, (0.9, 0.999), 1e-8, wd)
    g = np.array([0.5, -0.25])
    p.grad = g.copy()
    opt.step()
    # step 1: m_hat = g, v_hat = g^2; AdamW first scales w by 1 - lr * wd
    w = np.array([1.0, -2.0]) * (1 - 1e-3 * wd if name == "AdamW" else 1.0)
    np.testing.assert_allclose(p.data, w - 1e-3 * g / (np.abs(g) + 1e-8), rtol=0, atol=1e-15)


@pytest.mark.parametrize("name", ["Adam", "AdamW"])
def test_adam_defaults_match_torch(name):
    torch = pytest.importorskip("torch")
    theirs = getattr(torch.optim, name)([torch.zeros(2, requires_grad=True)]).defaults
    group = getattr(optim, name)([param()]).param_groups[0]
    for key in ("lr", "betas", "eps", "weight_decay"):
        assert group[key] == theirs[key], key
