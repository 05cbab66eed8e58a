"""What every training program shares: the run folder, the epoch loop (one
process or data-parallel, checkpoints, Ctrl-C), evaluation summed over ranks,
the curves, the common command-line options (:mod:`.cli`) and the run
from options to final.json (:mod:`.session`). ``examples/train_cifar.py``
and ``examples/train_imagenet.py`` are thin command lines over it.

    from minialex.training import RunFolder, fit, final_test
"""

from .run_folder import RunFolder, new_run_folder, write_json, RunError
from .loop import fit, evaluate_all, final_test, NonFiniteLoss, TrainState
from .plots import plot_curves, plot_runs
from .cli import (HelpFormatter, add_sgd_options, add_run_options, parse_training_args,
                  RUNTIME_KEYS, RESUME_FLAGS)
from .session import Data, run, command_line, make_optimizer

__all__ = ["RunFolder", "new_run_folder", "write_json", "RunError", "fit", "evaluate_all",
           "final_test", "NonFiniteLoss", "TrainState", "plot_curves", "plot_runs",
           "HelpFormatter", "add_sgd_options", "add_run_options", "parse_training_args",
           "RUNTIME_KEYS", "RESUME_FLAGS", "Data", "run", "command_line", "make_optimizer"]
