"""The researcher's toolkit in nn and optim (issue 15): BatchNorm against
torch over train/eval switches, buffers in state_dict and checkpoints,
containers and Module methods, losses, Adam/AdamW/Nesterov against torch,
param groups, optimizer state, the new schedulers."""

import json

import numpy as np
import pytest

import minialex
from minialex import Tensor, nn, optim
from minialex import functional as F
from minialex.checkpoint import save_checkpoint, load_checkpoint


# ------------------------------------------------------------ BatchNorm
@pytest.mark.parametrize("dims", [2, 4, 3])
def test_batchnorm_train_eval_running_stats_match_torch(dims):
    torch = pytest.importorskip("torch")
    shape = {2: (6, 3), 3: (4, 3, 5), 4: (4, 3, 5, 5)}[dims]
    ours = nn.BatchNorm2d(3) if dims == 4 else nn.BatchNorm1d(3)
    theirs = torch.nn.BatchNorm2d(3) if dims == 4 else torch.nn.BatchNorm1d(3)
    ours.double()
    theirs.double()
    rng = np.random.default_rng(0)
    with torch.no_grad():
        theirs.weight.copy_(torch.tensor(rng.uniform(0.5, 1.5, 3)))
        theirs.bias.copy_(torch.tensor(rng.standard_normal(3)))
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    for step, mode in enumerate(["train", "train", "eval", "train", "eval"]):
        getattr(ours, mode)()
        getattr(theirs, mode)()
        xs = rng.standard_normal(shape) * 2 + 1
        x, tx = Tensor(xs, requires_grad=True), torch.tensor(xs, requires_grad=True)
        y, ty = ours(x), theirs(tx)
        g = rng.standard_normal(shape)
        ours.zero_grad()
        y.backward(g)
        ty.backward(torch.tensor(g))
        np.testing.assert_allclose(y.data, ty.detach().numpy(), rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(x.grad, tx.grad.numpy(), rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(ours.weight.grad, theirs.weight.grad.numpy(), rtol=1e-10)
        np.testing.assert_allclose(ours.bias.grad, theirs.bias.grad.numpy(), rtol=1e-10)
        theirs.zero_grad()
        for k, v in ours.state_dict().items():
            np.testing.assert_allclose(v, theirs.state_dict()[k].numpy(), rtol=1e-12, err_msg=k)
    assert int(ours.num_batches_tracked.data) == 3


def test_batchnorm_running_stats_by_hand_and_errors():
    bn = nn.BatchNorm1d(2, momentum=0.5).double()
    x = np.array([[1.0, 10.0], [3.0, 20.0]])
    y = bn(Tensor(x))
    r = 1 / np.sqrt(1.0 + 1e-5)          # biased var of [1, 3] is 1
    np.testing.assert_allclose(y.data[:, 0], [-r, r])
    # running = 0.5 * (0, 1) + 0.5 * (mean, unbiased var): var [1, 3] -> 2, [10, 20] -> 50
    np.testing.assert_allclose(bn.running_mean.data, [1.0, 7.5])
    np.testing.assert_allclose(bn.running_var.data, [1.5, 25.5])
    bn.eval()
    np.testing.assert_allclose(bn(Tensor(x)).data[:, 0], (x[:, 0] - 1.0) / np.sqrt(1.5 + 1e-5))
    bn.train()
    with pytest.raises(ValueError, match="more than 1 value"):
        bn(Tensor(np.ones((1, 2))))
    with pytest.raises(ValueError, match="channels"):
        nn.BatchNorm2d(3)(Tensor(np.ones((2, 4, 3, 3), np.float32)))
    cum = nn.BatchNorm1d(1, momentum=None).double()
    for v in ([0.0, 2.0], [4.0, 6.0]):
        cum(Tensor(np.array(v)[:, None]))
    np.testing.assert_allclose(cum.running_mean.data, [3.0])     # the average of 1 and 5


def test_checkpoint_keeps_batchnorm_buffers_and_adam_state(tmp_path):
    def make():
        minialex.manual_seed(1)
        return nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(),
                             nn.Linear(4 * 4 * 4, 3))
    model = make()
    opt = optim.Adam([{"params": model[0].parameters()},
                      {"params": model[1].parameters() + model[4].parameters(), "lr": 1e-3,
                       "weight_decay": 0.0}], lr=2e-4, weight_decay=1e-4)
    rng = np.random.default_rng(0)
    x = Tensor(rng.standard_normal((8, 3, 6, 6)).astype(np.float32))
    t = rng.integers(0, 3, 8)

    def step(m, o):
        o.zero_grad()
        loss = F.cross_entropy(m(x), t)
        loss.backward()
        o.step()
        return loss.item()
    for _ in range(3):
        step(model, opt)
    path = tmp_path / "ck.npz"
    save_checkpoint(path, model, opt, epoch=1)
    model2 = make()
    opt2 = optim.Adam([{"params": model2[0].parameters()},
                       {"params": model2[1].parameters() + model2[4].parameters()}], lr=0.5)
    load_checkpoint(path, model2, opt2)
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(model2.state_dict()[k], v, err_msg=k)
    assert opt2.param_groups[1]["lr"] == 1e-3 and opt2.param_groups[0]["betas"] == (0.9, 0.999)
    assert opt2.state[id(model2[0].weight)]["step"] == 3
    assert step(model, opt) == step(model2, opt2)
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(model2.state_dict()[k], v, err_msg=k)


# ------------------------------------------------------------ Module, containers
def test_module_list_dict_identity_apply_dtype():
    layers = nn.ModuleList([nn.Linear(2, 3), nn.Tanh()])
    layers.append(nn.Linear(3, 1))
    holder = nn.Module()
    holder.blocks = layers
    holder.heads = nn.ModuleDict({"a": nn.Linear(1, 1), "b": nn.Identity(7)})
    names = [n for n, _ in holder.named_parameters()]
    assert names == ["blocks.0.weight", "blocks.0.bias", "blocks.2.weight", "blocks.2.bias",
                     "heads.a.weight", "heads.a.bias"]
    assert len(layers) == 3 and isinstance(layers[1], nn.Tanh) and len(layers[1:]) == 2
    assert list(holder.heads.keys()) == ["a", "b"] and "b" in holder.heads
    with pytest.raises(TypeError, match="not a Module"):
        layers.append(lambda x: x)
    x = Tensor(np.ones((1, 1), np.float32))
    assert holder.heads["b"](x) is x
    seen = []
    holder.apply(lambda m: seen.append(type(m).__name__))
    assert seen[-1] == "Module" and seen.count("Linear") == 3
    assert holder.num_parameters() == 2 * 3 + 3 + 3 + 1 + 1 + 1
    holder.double()
    assert all(p.dtype == np.float64 for p in holder.parameters())
    holder.to("float32")
    assert all(p.dtype == np.float32 for p in holder.parameters())
    holder.to(np.float64).to("cpu")
    assert all(p.dtype == np.float64 and p.device == "cpu" for p in holder.parameters())
    with pytest.raises(TypeError, match="floating"):
        holder.to(np.int32)
    p = holder.blocks[0].weight
    p.grad = np.ones_like(p.data)
    holder.zero_grad()
    assert p.grad is None


def test_loss_modules():
    z = Tensor(np.array([[2.0, 0.0, -1.0]]), requires_grad=True)
    loss = nn.CrossEntropyLoss(label_smoothing=0.2)(z, np.array([0]))
    p = np.exp([2.0, 0.0, -1.0]) / np.exp([2.0, 0.0, -1.0]).sum()
    q = np.array([0.8 + 0.2 / 3, 0.2 / 3, 0.2 / 3])
    np.testing.assert_allclose(loss.item(), -(q * np.log(p)).sum())
    loss.backward()
    np.testing.assert_allclose(z.grad[0], p - q)
    with pytest.raises(ValueError, match="reduction"):
        nn.CrossEntropyLoss(reduction="sum")
    a = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    nn.MSELoss()(a, np.array([0.0, 4.0])).backward()
    np.testing.assert_allclose(a.grad, [1.0, -2.0])          # 2 (a - t) / 2
    assert nn.MSELoss("sum")(a, np.array([0.0, 4.0])).item() == 5.0
    with pytest.raises(ValueError, match="shape"):
        F.mse_loss(a, np.zeros(3))
    for act, f in ((nn.Sigmoid(), F.sigmoid), (nn.LeakyReLU(0.3), lambda t: F.leaky_relu(t, 0.3))):
        np.testing.assert_array_equal(act(a).data, f(a).data)


def test_pool_modules_shapes():
    x = Tensor(np.ones((2, 3, 13, 13), np.float32))
    assert nn.AdaptiveAvgPool2d((6, 6))(x).shape == (2, 3, 6, 6)
    assert nn.AdaptiveAvgPool2d((None, 2))(x).shape == (2, 3, 13, 2)
    assert nn.AvgPool2d(3, 2, ceil_mode=True)(x).shape == (2, 3, 6, 6)
    np.testing.assert_array_equal(nn.AvgPool2d(3, 2, 1, count_include_pad=False)(x).data, 1.0)
    with pytest.raises(ValueError, match="padding"):
        nn.AvgPool2d(2, padding=2)(x)


# ------------------------------------------------------------ optimizers
def _run(torch, name, kwargs, dtype, groups=True):
    rng = np.random.default_rng(0)
    w0, b0 = rng.standard_normal((3, 4)), rng.standard_normal(4)
    grads = [(rng.standard_normal((3, 4)), rng.standard_normal(4)) for _ in range(5)]
    p, q = nn.Parameter(w0.astype(dtype)), nn.Parameter(b0.astype(dtype))
    tp, tq = (torch.tensor(a.astype(dtype), requires_grad=True) for a in (w0, b0))
    spec = (lambda a, b: [{"params": [a]}, {"params": [b], "lr": 0.05, "weight_decay": 0.0}]) \
        if groups else (lambda a, b: [a, b])
    o = getattr(optim, name)(spec(p, q), **kwargs)
    to = getattr(torch.optim, name)(spec(tp, tq), **kwargs)
    for g, h in grads:
        p.grad, q.grad = g.astype(dtype), h.astype(dtype)
        tp.grad, tq.grad = torch.tensor(g.astype(dtype)), torch.tensor(h.astype(dtype))
        o.step()
        to.step()
    return (p, q), (tp, tq), o


@pytest.mark.parametrize("name,kwargs", [
    ("Adam", dict(lr=0.01)), ("Adam", dict(lr=0.01, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1)),
    ("AdamW", dict(lr=0.01)), ("AdamW", dict(lr=0.02, weight_decay=0.3)),
    ("SGD", dict(lr=0.1, momentum=0.9, weight_decay=0.01, nesterov=True))])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("groups", [False, True])
def test_optimizers_match_torch_over_5_steps(name, kwargs, dtype, groups):
    torch = pytest.importorskip("torch")
    ours, theirs, _ = _run(torch, name, kwargs, dtype, groups)
    tol = 1e-6 if dtype == np.float32 else 1e-12
    for a, b in zip(ours, theirs):
        assert a.dtype == dtype
        np.testing.assert_allclose(a.data, b.detach().numpy(), rtol=0, atol=tol)


def test_adam_by_hand_and_state_dict():
    p = nn.Parameter(np.array([1.0, -2.0]))
    opt = optim.Adam([p], lr=0.1)
    p.grad = np.array([0.5, -0.25])
    opt.step()
    # step 1: m_hat = g, v_hat = g^2, so w -= lr * g / (|g| + eps) = lr * sign(g)
    np.testing.assert_allclose(p.data, [1.0 - 0.1 / (1 + 2e-8), -2.0 + 0.1 / (1 + 4e-8)])
    sd = opt.state_dict()
    assert sd["state"][0]["step"] == 1 and sd["state"][0]["exp_avg"].shape == (2,)
    json.dumps(sd["param_groups"])                     # the checkpoint's contract
    with pytest.raises(ValueError, match="betas"):
        optim.Adam([p], betas=(0.9, 1.0))
    with pytest.raises(ValueError, match="two param groups"):
        optim.AdamW([{"params": [p]}, {"params": [p]}])


def test_sgd_nesterov_by_hand_and_default_unchanged():
    p = nn.Parameter(np.array([1.0]))
    opt = optim.SGD([p], lr=0.1, momentum=0.5, weight_decay=0.0, nesterov=True)
    for g in (2.0, 4.0):
        p.grad = np.array([g])
        opt.step()
    # b1 = 2, w1 = 1 - 0.1 (2 + 1) = 0.7; b2 = 0.5*2 + 4 = 5, w2 = 0.7 - 0.1 (4 + 2.5)
    np.testing.assert_allclose(p.data, [0.7 - 0.65])
    assert optim.SGD([p], lr=0.1).param_groups[0]["nesterov"] is False
    with pytest.raises(ValueError, match="momentum > 0"):
        optim.SGD([p], lr=0.1, momentum=0.0, nesterov=True)


def test_bias_groups_recipe_skips_bias_decay():
    lin = nn.Linear(2, 2, dtype=np.float64)
    decay = [p for n, p in lin.named_parameters() if not n.endswith("bias")]
    no_decay = [p for n, p in lin.named_parameters() if n.endswith("bias")]
    opt = optim.SGD([{"params": decay}, {"params": no_decay, "weight_decay": 0}], lr=0.1)
    b0, w0 = lin.bias.data.copy(), lin.weight.data.copy()
    lin.weight.grad, lin.bias.grad = np.zeros((2, 2)), np.zeros(2)
    opt.step()
    np.testing.assert_array_equal(lin.bias.data, b0)           # not decayed
    np.testing.assert_allclose(lin.weight.data, w0 * (1 - 5e-4 * 0.1))


# ------------------------------------------------------------ schedulers
def _lrs(sched, opt, n):
    out = []
    for _ in range(n):
        sched.step()
        out.append(opt.param_groups[0]["lr"])
    return out


def test_schedulers_match_torch():
    torch = pytest.importorskip("torch")

    def pair():
        return (optim.SGD([nn.Parameter(np.ones(1))], lr=0.1),
                torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1))
    TS = torch.optim.lr_scheduler
    cases = [
        (lambda o: optim.LambdaLR(o, lambda e: 0.9 ** e), lambda o: TS.LambdaLR(o, lambda e: 0.9 ** e)),
        (lambda o: optim.CosineAnnealingLR(o, 6, 0.01), lambda o: TS.CosineAnnealingLR(o, 6, 0.01)),
        (lambda o: optim.LinearLR(o, 0.1, 1.0, 4), lambda o: TS.LinearLR(o, 0.1, 1.0, 4)),
        (lambda o: optim.ChainedScheduler([optim.LinearLR(o, 0.25, total_iters=3),
                                           optim.StepLR(o, 2, 0.5)]),
         lambda o: TS.ChainedScheduler([TS.LinearLR(o, 0.25, total_iters=3), TS.StepLR(o, 2, 0.5)])),
        (lambda o: optim.SequentialLR(o, [optim.LinearLR(o, 0.1, total_iters=3),
                                          optim.CosineAnnealingLR(o, 5)], [3]),
         lambda o: TS.SequentialLR(o, [TS.LinearLR(o, 0.1, total_iters=3),
                                       TS.CosineAnnealingLR(o, 5)], [3])),
    ]
    for ours, theirs in cases:
        o, to = pair()
        s, ts = ours(o), theirs(to)
        assert o.param_groups[0]["lr"] == pytest.approx(to.param_groups[0]["lr"])
        want = []
        for _ in range(8):
            to.step()
            ts.step()
            want.append(to.param_groups[0]["lr"])
        np.testing.assert_allclose(_lrs(s, o, 8), want, rtol=1e-10, atol=1e-15)


def test_scheduler_values_by_hand_and_state():
    opt = optim.SGD([nn.Parameter(np.ones(1))], lr=1.0)
    s = optim.CosineAnnealingLR(opt, T_max=2)
    assert _lrs(s, opt, 2) == pytest.approx([0.5, 0.0])
    opt = optim.SGD([nn.Parameter(np.ones(1))], lr=1.0)
    s = optim.LinearLR(opt, start_factor=0.5, total_iters=2)
    assert opt.param_groups[0]["lr"] == 0.5 and _lrs(s, opt, 3) == [0.75, 1.0, 1.0]
    opt2 = optim.SGD([nn.Parameter(np.ones(1))], lr=3.0)
    s2 = optim.LinearLR(opt2, start_factor=1.0, total_iters=9)
    s2.load_state_dict(json.loads(json.dumps(s.state_dict())))
    assert _lrs(s2, opt2, 1) == [1.0]
    with pytest.raises(TypeError, match="ReduceLROnPlateau"):
        optim.ChainedScheduler([optim.ReduceLROnPlateau(opt)])
    with pytest.raises(ValueError, match="milestones"):
        optim.SequentialLR(opt, [s, s], [])


def test_new_scheduler_arguments_are_checked():
    opt = optim.SGD([nn.Parameter(np.ones(1))], lr=1.0)
    with pytest.raises(TypeError, match="T_max must be a whole number"):
        optim.CosineAnnealingLR(opt, T_max=2.5)
    with pytest.raises(ValueError, match="T_max must be >= 1"):
        optim.CosineAnnealingLR(opt, T_max=0)
    with pytest.raises(ValueError, match="start_factor must be in"):
        optim.LinearLR(opt, start_factor=0.0)
    with pytest.raises(TypeError, match="total_iters"):
        optim.LinearLR(opt, total_iters="5")
    with pytest.raises(ValueError, match="2 functions for 1 param groups"):
        optim.LambdaLR(opt, [lambda e: 1.0, lambda e: 1.0])
