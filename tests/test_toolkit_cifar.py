"""The tutorial's recipe on real data: a small AlexNet-style net with
BatchNorm, trained with Adam at lr 2e-4 (the popular PyTorch AlexNet
tutorial's optimizer), learns on a real CIFAR-10 subset: the loss over the
subset drops clearly in five epochs. Skipped only when the data is absent."""

import numpy as np
from PIL import Image

import minialex
from minialex import Tensor, nn, optim
from minialex import functional as F
from minialex.data.image_folder import list_image_folder


def _subset(root, per_class=40):
    classes, files = list_image_folder(root / "train")
    picked, counts = [], {}
    for path, label, *_ in files:
        if counts.get(label, 0) < per_class:
            counts[label] = counts.get(label, 0) + 1
            picked.append((path, label))
    x = np.stack([np.asarray(Image.open(root / "train" / p).convert("RGB"), np.float32) / 255.0
                  for p, _ in picked])
    y = np.array([label for _, label in picked], np.int64)
    x = (x - x.mean(axis=(0, 1, 2))) / x.std(axis=(0, 1, 2))
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2)), y, len(classes)


def test_batchnorm_net_with_adam_learns_real_cifar10(cifar10_dir):
    x, y, k = _subset(cifar10_dir)
    assert x.shape == (40 * k, 3, 32, 32) and k == 10
    minialex.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(3, 16, 5, padding=2), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(3, 2),
        nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(3, 2),
        nn.AdaptiveAvgPool2d((3, 3)), nn.Flatten(), nn.Dropout(0.5), nn.Linear(32 * 9, k))
    opt = optim.Adam(net.parameters(), lr=2e-4)
    loss_fn = nn.CrossEntropyLoss()

    def mean_loss():
        net.eval()
        with minialex.no_grad():
            out = np.mean([loss_fn(net(Tensor(x[i:i + 100])), y[i:i + 100]).item()
                           for i in range(0, len(x), 100)])
        net.train()
        return out
    before = mean_loss()
    rng = np.random.default_rng(0)
    for _ in range(5):
        order = rng.permutation(len(x))
        for i in range(0, len(x), 25):
            b = order[i:i + 25]
            opt.zero_grad()
            loss_fn(net(Tensor(x[b])), y[b]).backward()
            opt.step()
    after = mean_loss()
    print(f"loss over the subset: {before:.3f} -> {after:.3f}")
    assert before > 2.1 and after < before - 0.2, (before, after)
