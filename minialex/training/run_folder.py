"""The run folder: ``config.json`` (the run's settings), ``metrics.jsonl``
(one line per epoch), ``checkpoint.npz`` (atomic, pickle-free),
``final.json`` and ``curves.png``. Claiming, saving and resuming it, with
one-line errors a command line can print."""

import itertools
import json
import os
import time

from ..checkpoint import save_checkpoint, load_checkpoint, CheckpointError

__all__ = ["RunFolder", "new_run_folder", "write_json", "RunError"]


class RunError(RuntimeError):
    """A run folder that cannot be used as asked: the message is one line
    for the command line, naming the folder and what to do."""


def new_run_folder(root="runs"):
    """Make and return ``runs/<date-time>``, or ``...-2``, ``-3``, ... when a
    run started in the same second has that folder already. Each name is
    claimed by creating it (``os.makedirs`` fails on an existing folder), so
    two runs never share a folder."""
    os.makedirs(root, exist_ok=True)
    base = run = os.path.join(root, time.strftime("%Y%m%d-%H%M%S"))
    for i in itertools.count(2):
        try:
            os.makedirs(run)
            return run
        except FileExistsError:
            run = f"{base}-{i}"


def write_json(path, obj):
    """Write ``obj`` as JSON atomically (a temporary file, then rename)."""
    tmp = str(path) + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=2)
    os.replace(tmp, path)


class RunFolder:
    """Paths and files of one run (``path``: the folder)."""

    def __init__(self, path):
        self.path = str(path)
        self.config = os.path.join(self.path, "config.json")
        self.checkpoint = os.path.join(self.path, "checkpoint.npz")
        self.metrics = os.path.join(self.path, "metrics.jsonl")
        self.final = os.path.join(self.path, "final.json")

    def read_config(self, epochs=None):
        """The saved settings, checked for resuming to ``epochs`` (None:
        the saved run's). Raises RunError for a folder that is not a run,
        has no checkpoint, or would be shortened."""
        if not os.path.exists(self.config):
            raise RunError(f"--resume {self.path}: no config.json there; is it a run folder?")
        try:
            with open(self.config, encoding="utf-8") as f:
                saved = json.load(f)
        except (ValueError, UnicodeDecodeError) as exc:
            raise RunError(f"--resume {self.path}: config.json is not valid JSON ({exc})")
        if not isinstance(saved, dict) or "epochs" not in saved:
            raise RunError(f"--resume {self.path}: config.json holds no run settings")
        if epochs is not None and epochs < saved["epochs"]:
            raise RunError(f"--resume {self.path}: --epochs {epochs} is fewer than the saved "
                           f"run's {saved['epochs']}; a run can be extended, not shortened")
        if not os.path.exists(self.checkpoint):
            raise RunError(f"--resume {self.path}: no checkpoint.npz there (the run stopped "
                           "before its first checkpoint); start it again without --resume")
        return saved

    def write_config(self, settings):
        """Write the run's ``settings`` (a JSON-able dict) to config.json."""
        write_json(self.config, settings)

    def load(self, model, optimizer, scheduler):
        """``load_checkpoint`` with a one-line RunError for a damaged or
        foreign checkpoint."""
        try:
            return load_checkpoint(self.checkpoint, model, optimizer, scheduler)
        except CheckpointError as exc:
            msg = str(exc).split(". Build the model")[0]
            raise RunError(f"--resume {self.path}: {msg}. config.json and checkpoint.npz there "
                           "do not belong together, or the file is damaged; start a new run "
                           "without --resume") from exc

    def save(self, model, optimizer, scheduler, **kwargs):
        """``save_checkpoint``; a failed write is a RunError (the previous
        checkpoint stays intact: the write is atomic)."""
        try:
            save_checkpoint(self.checkpoint, model, optimizer, scheduler, **kwargs)
        except CheckpointError as exc:
            raise RunError(f"{exc}; stopping (fix the problem, then --resume)") from exc

    def rewrite_metrics(self, history):
        """metrics.jsonl as of the checkpoint (it may hold later lines)."""
        with open(self.metrics, "w") as f:
            f.writelines(json.dumps(h) + "\n" for h in history)

    def read_metrics(self):
        """The rows of metrics.jsonl (one dict per epoch). Raises RunError
        for a folder without it or a line that is not JSON."""
        if not os.path.exists(self.metrics):
            raise RunError(f"{self.path}: no metrics.jsonl there; is it a run folder (one "
                           "that finished at least one epoch)?")
        with open(self.metrics, encoding="utf-8") as f:
            lines = [line for line in f if line.strip()]
        try:
            return [json.loads(line) for line in lines]
        except ValueError as exc:
            raise RunError(f"{self.metrics}: not one JSON object per line ({exc})") from exc

    def append_metrics(self, row):
        """Append one epoch's ``row`` (a JSON-able dict) as a line of metrics.jsonl."""
        with open(self.metrics, "a") as f:
            f.write(json.dumps(row) + "\n")
