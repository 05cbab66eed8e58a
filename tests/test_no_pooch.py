"""minialex imports, and loads CIFAR-10 that is already on disk, without
pooch (the GPU machine has no pooch and no network): pooch is imported only
when a download starts. Run in a fresh interpreter where ``import pooch``
fails (``sys.modules['pooch'] = None``)."""

import os
import subprocess
import sys
import textwrap

import numpy as np
from PIL import Image

from conftest import REPO
from minialex.data import CIFAR10_CLASSES


def _tiny_cifar_folders(root):
    """train/<class>/*.png and test/<class>/*.png: 2 + 1 images per class."""
    rng = np.random.default_rng(0)
    for split, count in (("train", 2), ("test", 1)):
        for cls in CIFAR10_CLASSES:
            os.makedirs(root / split / cls)
            for i in range(count):
                pixels = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(root / split / cls / f"{i}.png")


def test_import_and_local_cifar10_load_without_pooch(tmp_path):
    _tiny_cifar_folders(tmp_path / "cifar10")
    code = textwrap.dedent(f"""
        import sys
        sys.modules["pooch"] = None              # import pooch now raises ImportError
        import minialex, minialex.data, minialex.functional, minialex.models
        from minialex.data import load_cifar10
        x, y, xt, yt, classes = load_cifar10({str(tmp_path / "cifar10")!r}, download=False,
                                             cache=False, progress=False)
        assert "pooch" not in [m for m, v in sys.modules.items() if v is not None]
        print(x.shape, xt.shape, sorted(set(y.tolist())), len(classes))
    """)
    env = dict(os.environ, PYTHONPATH=str(REPO))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split("\n")[0] == ("(20, 32, 32, 3) (10, 32, 32, 3) "
                                         "[0, 1, 2, 3, 4, 5, 6, 7, 8, 9] 10")
