"""Curves of run folders: plot_curves (skipped with a reason without
matplotlib), plot_runs and examples/plot_runs.py (several runs side by
side from metrics.jsonl), whole-number epoch ticks."""

import json
import os
import runpy
import sys

import pytest

from minialex.training import RunError, RunFolder, plot_curves, plot_runs
from minialex.training import plots

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _run(folder, losses, tests):
    os.makedirs(folder)
    with open(os.path.join(folder, "metrics.jsonl"), "w") as f:
        for i, (loss, test) in enumerate(zip(losses, tests)):
            f.write(json.dumps({"epoch": i + 1, "train_loss": loss, "train_top1": 1 - loss / 3,
                                "test_top1": test}) + "\n")
    return str(folder)


def test_read_metrics_gives_the_rows_and_names_a_bad_folder(tmp_path):
    run = _run(tmp_path / "a", [2.0, 1.5], [0.3, 0.4])
    rows = RunFolder(run).read_metrics()
    assert [r["epoch"] for r in rows] == [1, 2] and rows[1]["test_top1"] == 0.4
    with pytest.raises(RunError, match="no metrics.jsonl"):
        RunFolder(tmp_path).read_metrics()
    with open(os.path.join(run, "metrics.jsonl"), "a") as f:
        f.write("{not json\n")
    with pytest.raises(RunError, match="not one JSON object per line"):
        RunFolder(run).read_metrics()


def test_runs_figure_has_one_line_per_run_and_integer_epoch_ticks(tmp_path):
    plt = pytest.importorskip("matplotlib.pyplot")
    a = RunFolder(_run(tmp_path / "a", [2.0, 1.5, 1.2], [0.3, 0.4, 0.5])).read_metrics()
    b = RunFolder(_run(tmp_path / "b", [2.2, 1.9], [0.2, 0.25])).read_metrics()
    fig = plots._runs_figure(plt, [a, b], ["a", "b"])
    axes = fig.axes
    assert [ax.get_title() for ax in axes] == [t for _, t in plots.PANELS]
    test_lines = axes[2].get_lines()
    assert [line.get_label() for line in test_lines] == ["a", "b"]
    assert list(test_lines[0].get_ydata()) == [0.3, 0.4, 0.5]
    assert list(test_lines[1].get_xdata()) == [1, 2]
    fig.canvas.draw()
    for ax in axes:
        ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
        assert ticks and all(float(t).is_integer() for t in ticks), ticks
    plt.close(fig)


def test_plot_runs_writes_the_image_and_checks_its_input(tmp_path):
    pytest.importorskip("matplotlib")
    a = _run(tmp_path / "a", [2.0, 1.5], [0.3, 0.4])
    b = _run(tmp_path / "b", [2.1, 1.7], [0.25, 0.35])
    out = str(tmp_path / "both.png")
    assert plot_runs([a, b], out) == out
    with open(out, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="2 labels for 1 runs"):
        plot_runs([a], out, labels=["x", "y"])
    with pytest.raises(ValueError, match="at least one run"):
        plot_runs([], out)
    os.makedirs(tmp_path / "empty")
    open(tmp_path / "empty" / "metrics.jsonl", "w").close()
    with pytest.raises(RunError, match="empty"):
        plot_runs([str(tmp_path / "empty")], out)


def test_without_matplotlib_curves_are_skipped_with_the_reason(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)     # import matplotlib fails
    history = [{"epoch": 1, "train_loss": 2.0, "train_top1": 0.2, "test_top1": 0.3}]
    assert plot_curves(str(tmp_path), history) == plots.NO_MATPLOTLIB
    assert "pip install" in plots.NO_MATPLOTLIB and not os.listdir(tmp_path)
    with pytest.raises(ImportError, match="plot"):
        plot_runs([_run(tmp_path / "a", [2.0], [0.3])], str(tmp_path / "x.png"))


def test_plot_runs_command(tmp_path, capsys, monkeypatch):
    pytest.importorskip("matplotlib")
    a = _run(tmp_path / "a", [2.0, 1.5], [0.3, 0.4])
    b = _run(tmp_path / "b", [2.1, 1.7], [0.25, 0.35])
    out = str(tmp_path / "cmp.png")
    monkeypatch.setattr(sys, "argv", ["plot_runs.py", a, b, "-o", out])
    with pytest.raises(SystemExit) as exit_:
        runpy.run_path(os.path.join(REPO, "examples", "plot_runs.py"), run_name="__main__")
    assert exit_.value.code == 0 and os.path.getsize(out) > 0
    assert f"wrote {out} (2 runs)" in capsys.readouterr().out
    monkeypatch.setattr(sys, "argv", ["plot_runs.py", str(tmp_path), "-o", out])
    with pytest.raises(SystemExit) as exit_:
        runpy.run_path(os.path.join(REPO, "examples", "plot_runs.py"), run_name="__main__")
    assert "no metrics.jsonl" in str(exit_.value.code)
