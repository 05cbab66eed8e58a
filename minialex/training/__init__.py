"""What every training program shares: the run folder, resuming, the epoch
loop (one process or data-parallel), evaluation summed over ranks, and
the curves. ``examples/train_cifar.py`` and ``examples/train_imagenet.py``
are thin command lines over it.

    from minialex.training import RunFolder, fit, final_test
"""

from .run_folder import RunFolder, new_run_folder, write_json, RunError
from .loop import fit, evaluate_all, final_test, NonFiniteLoss, TrainState
from .plots import plot_curves, plot_runs

__all__ = ["RunFolder", "new_run_folder", "write_json", "RunError", "fit", "evaluate_all",
           "final_test", "NonFiniteLoss", "TrainState", "plot_curves", "plot_runs"]
