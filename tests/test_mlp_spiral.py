"""End to end: a small MLP built from minialex.nn learns a 2-D three-arm
spiral with the paper's SGD (momentum 0.9, weight decay 5e-4)."""

import numpy as np

import minialex
from minialex import Tensor, nn, optim
from minialex import functional as F


def spiral(points_per_class=100, classes=3, seed=0):
    """The classic CS231n-style spiral: arm k has angle 4t + 2 pi k / K plus
    noise, radius t in [0, 1]. Returns float32 points (N, 2) and int64 labels."""
    rng = np.random.default_rng(seed)
    xs, ys = [], []
    for k in range(classes):
        r = np.linspace(0.0, 1.0, points_per_class)
        theta = np.linspace(k * 4.0, (k + 1) * 4.0, points_per_class) + rng.normal(0, 0.2, points_per_class)
        xs.append(np.stack([r * np.sin(theta), r * np.cos(theta)], axis=1))
        ys.append(np.full(points_per_class, k))
    return np.concatenate(xs).astype(np.float32), np.concatenate(ys).astype(np.int64)


def accuracy(net, x, y):
    with minialex.no_grad():
        return float((net(x).data.argmax(axis=1) == y).mean())


def test_mlp_learns_the_spiral():
    x_np, y = spiral()
    minialex.manual_seed(0)
    net = nn.Sequential(nn.Linear(2, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 3))
    opt = optim.SGD(net.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    sched = optim.StepLR(opt, step_size=300, gamma=0.3)
    x = Tensor(x_np)
    rng = np.random.default_rng(1)
    assert accuracy(net, x, y) < 0.6                # chance is 1/3
    losses = []
    for epoch in range(600):                        # bounded, no timing
        order = rng.permutation(len(y))
        for batch in np.array_split(order, 3):      # mini-batches of 100
            opt.zero_grad()
            loss = F.cross_entropy(net(x[batch]), y[batch])
            loss.backward()
            opt.step()
        sched.step()
        losses.append(loss.item())
        if epoch % 50 == 49 and accuracy(net, x, y) > 0.97:
            break
    acc = accuracy(net, x, y)
    assert acc > 0.95, f"training accuracy {acc:.3f} after {epoch + 1} epochs"
    assert losses[-1] < 0.3 * losses[0]
    assert all(p.dtype == np.float32 and p.grad.dtype == np.float32 for p in net.parameters())
