"""The command-line options every training program shares, and their checks.

``examples/train_cifar.py`` and ``examples/train_imagenet.py`` build their
parsers from these pieces, then add their own (the data, the model):

    p = argparse.ArgumentParser(formatter_class=HelpFormatter)
    p.add_argument("--data", ...)                       # the program's own
    add_sgd_options(p, lr=0.02, epochs_help="...")
    add_run_options(p)
    args = parse_training_args(p, argv)

``parse_training_args`` refuses ``--epochs 0``, a negative
``--checkpoint-every``, and, with ``--resume``, every typed option that
would be ignored because the run continues with its saved settings
(only ``RESUME_FLAGS`` may be given then).
"""

import argparse

__all__ = ["HelpFormatter", "add_sgd_options", "add_run_options", "parse_training_args",
           "RUNTIME_KEYS", "RESUME_FLAGS"]

#: settings that belong to one invocation, not to the run (never saved in config.json)
RUNTIME_KEYS = ("resume", "no_progress", "stop_after_steps", "distributed", "bucket_mb",
                "no_overlap", "checkpoint_every")
#: what may be given with --resume (the rest is the saved run's)
RESUME_FLAGS = RUNTIME_KEYS + ("epochs",)


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Appends "(default: ...)" unless the help text already names the
    default, there is none, or the option is a store_false switch (whose
    default True would read as "this switch is on"); the epilog keeps its
    lines."""

    def _get_help_string(self, action):
        if (action.default is None or "default" in (action.help or "")
                or isinstance(action, argparse._StoreFalseAction)):
            return action.help
        return super()._get_help_string(action)


def add_sgd_options(p, *, lr, epochs_help, batch_size=128, schedule="step"):
    """--epochs, --batch-size, --lr, --momentum, --weight-decay, --schedule,
    --patience: SGD with the paper's update rule (section 5). ``lr``,
    ``batch_size`` and ``schedule`` are the program's defaults; --epochs
    defaults to None (the program fills in its own, or the resumed run's)."""
    p.add_argument("--epochs", type=int, default=None, help=epochs_help)
    p.add_argument("--batch-size", type=int, default=batch_size,
                   help="images per SGD step" + (", the paper's" if batch_size == 128 else ""))
    p.add_argument("--lr", type=float, default=lr, help="initial learning rate")
    p.add_argument("--momentum", type=float, default=0.9, help="SGD momentum, the paper's")
    p.add_argument("--weight-decay", type=float, default=5e-4,
                   help="L2 weight decay, the paper's")
    p.add_argument("--schedule", default=schedule, choices=["step", "plateau"],
                   help="step: lr/10 after 2/3 and after 7/8 of the epochs (15: after "
                        "10 and 13; runs under 4 epochs keep the lr constant; fits a fixed "
                        "time budget); plateau: lr/10 when test top-1 stops improving "
                        "(the paper's rule, automated)")
    p.add_argument("--patience", type=int, default=2, help="epochs without improvement "
                   "before a plateau cut")


def add_run_options(p):
    """--towers, --devices, --seed, --out, --resume, --no-pca, --ten-crop /
    --no-ten-crop, --standardize, --no-progress, --checkpoint-every,
    --distributed (and hidden options for tests and benchmarks)."""
    p.add_argument("--towers", type=int, default=None, choices=[1, 2],
                   help="default: 2 when two devices are given, else 1 (the same function "
                        "as grouped convolutions, faster on one device)")
    p.add_argument("--devices", default="cpu",
                   help="'cpu', 'cpu:0,cpu:1' (two logical towers), 'cuda:0', 'cuda:0,cuda:1'")
    p.add_argument("--seed", type=int, default=0, help="seeds weights, sampling and dropout")
    p.add_argument("--out", default=None, help="run folder (default runs/<time>)")
    p.add_argument("--resume", default=None, metavar="RUN_FOLDER",
                   help="continue the run saved in this folder")
    p.add_argument("--no-pca", action="store_true", help="turn off PCA colour noise")
    p.add_argument("--ten-crop", dest="ten_crop", action="store_true", default=True,
                   help="final test with ten-crop averaging (default on)")
    p.add_argument("--no-ten-crop", dest="ten_crop", action="store_false",
                   help="skip the ten-crop test (the centre-crop test still runs)")
    p.add_argument("--standardize", action=argparse.BooleanOptionalAction, default=True,
                   help="divide by the per-channel std after subtracting the mean")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument("--checkpoint-every", type=int, default=100, metavar="STEPS",
                   help="also save a checkpoint every STEPS training steps inside an epoch "
                        "(atomic; a killed run loses at most these steps; 0: only at the end "
                        "of each epoch and on Ctrl-C)")
    p.add_argument("--distributed", action="store_true",
                   help="data parallel over the MPI processes this was started with "
                        "(mpiexec -n N ...; needs the dist extra): --batch-size is the global "
                        "batch, each rank trains on its share; rank 0 prints and writes the "
                        "run folder")
    p.add_argument("--bucket-mb", type=float, default=1.0, help=argparse.SUPPRESS)
    p.add_argument("--no-overlap", action="store_true", help=argparse.SUPPRESS)
    # for tests: behave as if Ctrl-C came after this many training steps
    p.add_argument("--stop-after-steps", type=int, default=None, help=argparse.SUPPRESS)


def parse_training_args(p, argv=None):
    """``p.parse_args(argv)`` and the checks every training program needs.

    Exits through ``p.error`` (status 2, one line) for --epochs < 1, a
    negative --checkpoint-every, a --batch-size < 1, or options typed
    together with --resume that the resumed run would ignore (all but
    ``RESUME_FLAGS``)."""
    args = p.parse_args(argv)
    if args.epochs is not None and args.epochs < 1:
        p.error(f"--epochs must be at least 1, got {args.epochs}")
    if args.batch_size < 1:
        p.error(f"--batch-size must be at least 1, got {args.batch_size}")
    if args.checkpoint_every < 0:
        p.error(f"--checkpoint-every must be >= 0, got {args.checkpoint_every}")
    if args.resume:
        # which options were typed: parse again with every default hidden
        typed = vars(p.parse_args(argv, argparse.Namespace(**{
            a.dest: argparse.SUPPRESS for a in p._actions if a.dest != "help"})))
        ignored = sorted(k for k, v in typed.items()
                         if v is not argparse.SUPPRESS and k not in RESUME_FLAGS)
        if ignored:
            p.error("--resume continues the saved run with its own settings, so these options "
                    "would be ignored: " + ", ".join("--" + k.replace("_", "-") for k in ignored)
                    + ". Drop them, or start a new run with them (--epochs may extend a run)")
    return args
