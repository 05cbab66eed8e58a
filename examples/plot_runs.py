#!/usr/bin/env python
"""Plot one or more run folders side by side from their metrics.jsonl.

    python examples/plot_runs.py runs/20261201-101500 runs/20261201-113000 -o compare.png

Three panels (train loss, train top-1, test top-1 on the centre crop), one
line per run, labelled with the folder's name (or --labels). Works on a
run that is still training (the epochs finished so far). Needs the plot
extra (pip install -e '.[plot]').
"""

import argparse
import sys

import minialex  # noqa: F401
from minialex.training import RunError, plot_runs


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("runs", nargs="+", metavar="RUN", help="run folders (holding metrics.jsonl)")
    p.add_argument("-o", "--out", default="runs.png",
                   help="image to write; the extension picks the format (default: runs.png)")
    p.add_argument("--labels", nargs="+", default=None, metavar="LABEL",
                   help="legend labels, one per run (default: the folders' names)")
    args = p.parse_args(argv)
    try:
        out = plot_runs(args.runs, args.out, labels=args.labels)
    except (RunError, ValueError, ImportError) as exc:
        sys.exit(f"error: {exc}")
    print(f"wrote {out} ({len(args.runs)} run{'s' if len(args.runs) > 1 else ''})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
