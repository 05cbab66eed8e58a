#!/usr/bin/env python
"""The whole training loop on real CIFAR-10, in about 40 lines: read this first.

    python examples/train_minimal.py --epochs 2     # downloads CIFAR-10 the first time

A small AlexNet (the paper's layers at CIFAR size), the paper's SGD (momentum
0.9, weight decay 5e-4, section 5), mean subtraction (and division by the
std), random 28x28 crops and flips; then the test accuracy on centre crops.
examples/train_cifar.py is the full recipe (PCA colour noise, lr schedule,
checkpoints, ten-crop test).
"""
import argparse

import minialex
import numpy as np
from minialex import Tensor, data as D, functional as F
from minialex.models import alexnet_cifar
from minialex.optim import SGD

p = argparse.ArgumentParser(description="Train a small AlexNet on CIFAR-10, minimally.")
p.add_argument("--data", default=None, help="CIFAR-10 folder (default: $MINIALEX_DATA, "
               "else ~/.cache/minialex, downloaded there if missing)")
p.add_argument("--epochs", type=int, default=2, help="passes over the training images")
p.add_argument("--subset", type=int, default=None, help="use this many random training "
               "images and as many test images (default: all)")
args = p.parse_args()

x_train, y_train, x_test, y_test, classes = D.load_cifar10(args.data, download=args.data is None)
if args.subset:                   # a random sample: the image folders are sorted by class
    pick = lambda n: np.random.default_rng(0).permutation(n)[:args.subset]  # noqa: E731
    (i, j) = pick(len(x_train)), pick(len(x_test))
    x_train, y_train, x_test, y_test = x_train[i], y_train[i], x_test[j], y_test[j]
# per channel: subtract the mean (the paper's "mean activity", section 2), divide by the std
mean, std = D.channel_mean(x_train), D.channel_std(x_train)
to_input = [D.to_float32(), D.normalize(mean, std), D.to_nchw_float32()]   # -> (N, 3, 28, 28)
train = D.DataLoader(x_train, y_train, batch_size=128, shuffle=True,
                     transform=D.Compose([D.random_crop(28), D.random_flip()] + to_input))
test = D.DataLoader(x_test, y_test, batch_size=500, shuffle=False,
                    transform=D.Compose([D.center_crop(28)] + to_input))

minialex.manual_seed(0)
model = alexnet_cifar("small", num_classes=len(classes), towers=1)
opt = SGD(model.parameters(), lr=0.02, momentum=0.9, weight_decay=5e-4)
for epoch in range(args.epochs):
    model.train()
    losses = []
    for xb, yb in train:
        loss = F.cross_entropy(model(Tensor(xb)), yb)   # forward: logits -> mean loss
        opt.zero_grad()                                 # clear last step's gradients
        loss.backward()                                 # backward: every parameter's .grad
        opt.step()                                      # v = 0.9 v - lr (grad + 5e-4 w); w += v
        losses.append(loss.item())
    print(f"epoch {epoch + 1}: train loss {np.mean(losses):.3f}")

model.eval()                      # dropout off
with minialex.no_grad():
    correct = sum(int((model(Tensor(xb)).numpy().argmax(axis=1) == yb).sum()) for xb, yb in test)
print(f"test accuracy {correct / len(y_test):.1%} on {len(y_test)} images")
