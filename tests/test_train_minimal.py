"""examples/train_minimal.py, the learners' training loop, runs on a few
hundred real CIFAR-10 images and reports a sane loss and the test accuracy."""

import re
import subprocess
import sys

import pytest

from conftest import REPO


@pytest.mark.slow
def test_train_minimal_runs_on_real_images(cifar10_dir):
    out = subprocess.run([sys.executable, str(REPO / "examples" / "train_minimal.py"),
                          "--data", str(cifar10_dir), "--subset", "256", "--epochs", "2"],
                         capture_output=True, text=True, cwd=REPO, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    losses = [float(v) for v in re.findall(r"epoch \d+: train loss ([\d.]+)", out.stdout)]
    # two epochs of two batches; chance is ln(10) = 2.303, a diverging step shows far above it
    assert len(losses) == 2 and all(1.0 < v < 3.0 for v in losses), out.stdout
    accuracy = re.search(r"test accuracy ([\d.]+)% on 256 images", out.stdout)
    assert accuracy and 0.0 <= float(accuracy.group(1)) <= 100.0, out.stdout
