"""Training curves from runs' metrics (need the ``plot`` extra,
matplotlib): ``curves.png`` of one run while it trains, and any number of
finished or running run folders side by side (``examples/plot_runs.py``).
Epochs are whole numbers on every axis."""

import os

from .run_folder import RunFolder, RunError

__all__ = ["plot_curves", "plot_runs"]

NO_MATPLOTLIB = "matplotlib is not installed (pip install -e '.[plot]')"


def _pyplot():
    """matplotlib.pyplot on the file-only Agg backend, or None."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    return plt


def _integer_epochs(axes):
    for ax in axes:
        ax.set_xlabel("epoch")
        ax.xaxis.get_major_locator().set_params(integer=True)


def plot_curves(run, history):
    """Write ``curves.png`` in the folder ``run``: loss and top-1 per epoch
    of ``history`` (metrics rows: epoch, train_loss, train_top1,
    test_top1). Returns None when written, else the reason it was skipped
    (a string: matplotlib missing)."""
    plt = _pyplot()
    if plt is None:
        return NO_MATPLOTLIB
    ep = [h["epoch"] for h in history]
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    a.plot(ep, [h["train_loss"] for h in history], marker="o", label="train loss")
    a.set_ylabel("cross-entropy"), a.legend()
    b.plot(ep, [h["train_top1"] for h in history], marker="o", label="train top-1")
    b.plot(ep, [h["test_top1"] for h in history], marker="o", label="test top-1 (centre crop)")
    b.set_ylabel("accuracy"), b.legend()
    _integer_epochs((a, b))
    fig.tight_layout()
    fig.savefig(os.path.join(run, "curves.png"), dpi=100)
    plt.close(fig)
    return None


#: the panels of plot_runs: (metrics key, title)
PANELS = (("train_loss", "train loss (cross-entropy)"), ("train_top1", "train top-1"),
          ("test_top1", "test top-1 (centre crop)"))


def plot_runs(runs, out, labels=None):
    """Plot several runs side by side from their ``metrics.jsonl``: one
    panel per entry of ``PANELS`` (train loss, train top-1, test top-1),
    one line per run, labelled with its folder name (or ``labels``).

    Args:
        runs: run folders (str or path-like), at least one.
        out: the image file to write (``.png``, ``.pdf``, ``.svg``: any
            format matplotlib writes, chosen by the extension).
        labels: optional legend labels, one per run.

    Returns: ``out``.
    Raises: RunError for a folder without a readable metrics.jsonl or an
    empty one; ValueError for no runs or a wrong number of labels;
    ImportError (naming the ``plot`` extra) without matplotlib.
    """
    runs = [str(r) for r in runs]
    if not runs:
        raise ValueError("plot_runs: give at least one run folder")
    if labels is not None and len(labels) != len(runs):
        raise ValueError(f"plot_runs: {len(labels)} labels for {len(runs)} runs")
    histories = [RunFolder(r).read_metrics() for r in runs]
    for r, h in zip(runs, histories):
        if not h:
            raise RunError(f"{r}: metrics.jsonl is empty (no epoch finished yet)")
    plt = _pyplot()
    if plt is None:
        raise ImportError(f"plot_runs: {NO_MATPLOTLIB}")
    labels = labels or [os.path.basename(os.path.normpath(r)) for r in runs]
    fig = _runs_figure(plt, histories, labels)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out


def _runs_figure(plt, histories, labels):
    """The figure of :func:`plot_runs` (one axis per panel, one line per run)."""
    fig, axes = plt.subplots(1, len(PANELS), figsize=(5 * len(PANELS), 4))
    for label, history in zip(labels, histories):
        ep = [h["epoch"] for h in history]
        for ax, (key, _) in zip(axes, PANELS):
            ax.plot(ep, [h[key] for h in history], marker="o", label=label)
    for ax, (_, title) in zip(axes, PANELS):
        ax.set_title(title), ax.legend()
    _integer_epochs(axes)
    fig.tight_layout()
    return fig
