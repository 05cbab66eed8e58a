#!/bin/sh
# Mutation testing of the core (cosmic-ray; not part of CI: slow).
#   scripts/mutation.sh functions | engine | optim | nn | checkpoint | models | data | training | all
#   scripts/mutation.sh minialex/functions/relu.py    # one file
#   scripts/mutation.sh --report                     # rewrite mutation/results.md only
#   scripts/mutation.sh --survivors "minialex/nn/*"  # diffs of the unexplained survivors
#   scripts/mutation.sh --jobs 1 functions           # one worker (default 2: one per core)
# Needs: pip install -e '.[mutation,test]'. Writes mutation/work/ (sessions,
# resumable; the coverage map that picks each mutant's tests; the workers'
# worktrees) and mutation/results.md. Mutates files IN PLACE: own checkout only.
# The real-data tests need MINIALEX_DATA (or ../shared/data/cifar10).
cd "$(dirname "$0")/.." || exit 1
PY="${PYTHON:-python}"
exec nice -n 10 "$PY" scripts/mutation.py "$@"
