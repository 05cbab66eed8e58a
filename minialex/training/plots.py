"""Training curves from a run's metrics (needs the ``plot`` extra)."""

import os

__all__ = ["plot_curves"]


def plot_curves(run, history):
    """Write ``curves.png`` in ``run``: loss and top-1 per epoch. Returns
    None when written, else the reason it was skipped (matplotlib missing)."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib is not installed (pip install 'minialex[plot]')"
    ep = [h["epoch"] for h in history]
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    a.plot(ep, [h["train_loss"] for h in history], marker="o", label="train loss")
    a.set_xlabel("epoch"), a.set_ylabel("cross-entropy"), a.legend()
    b.plot(ep, [h["train_top1"] for h in history], marker="o", label="train top-1")
    b.plot(ep, [h["test_top1"] for h in history], marker="o", label="test top-1 (centre crop)")
    b.set_xlabel("epoch"), b.set_ylabel("accuracy"), b.legend()
    for ax in (a, b):
        ax.xaxis.get_major_locator().set_params(integer=True)
    fig.tight_layout()
    fig.savefig(os.path.join(run, "curves.png"), dpi=100)
    plt.close(fig)
    return None
