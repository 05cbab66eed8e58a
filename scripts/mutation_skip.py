"""Skip the mutants already shown equivalent (issue 20: a full run in about an hour).

A surviving mutant runs every test selected for it, so it costs 10-50 times
a killed one (functions/_kernels/winograd.py, 2026-12-02: 13 survivors took
481 s, 400 killed ones 315 s). An equivalent mutant survives every run by
definition, and mutation/verdicts*.toml already says why, line by line. So
before ``cosmic-ray exec`` each pending mutant whose mutated line has an
"equivalent: ..." verdict is marked as cosmic-ray's own filters mark a
mutant they skip (``WorkerOutcome.SKIPPED``, as ``cr-filter-pragma`` does),
with the outcome SURVIVED and its diff, so that the report lists it with
its verdict and never counts it as killed. Only a mutant that also survived
the module's previous run (mutation/runs.json: the same operator making the
same line) is skipped: a verdict written for older code, whose mutant the
tests now kill, can never hide it.

The verdict is keyed by the mutated line's text, so an edit elsewhere in
the function could make such a mutant count again without the key
changing: ``scripts/mutation.sh --recheck-equivalent`` runs them all (do it
when a module's maths changes, and before resolving an issue on its
figures). "killed by ..." verdicts are never skipped: those mutants run, so
the run shows the new test kill them.
"""
import cosmic_ray.plugins
from cosmic_ray.mutating import _make_diff, mutate_code
from cosmic_ray.work_db import WorkDB, use_db
from cosmic_ray.work_item import TestOutcome, WorkerOutcome, WorkResult

from mutation_report import load_verdicts, mutated_line, verdict_of

SKIP_NOTE = "skipped: an 'equivalent' verdict in mutation/verdicts (--recheck-equivalent runs it)"


def mutant_diff(source, mutation, path):
    """The unified diff cosmic-ray would record for ``mutation`` of ``source``
    (None when the operator finds no such occurrence)."""
    operator_class = cosmic_ray.plugins.get_operator(mutation.operator_name)
    operator = operator_class(**(getattr(mutation, "operator_args", None) or {}))
    mutated = mutate_code(source, operator, mutation.occurrence)
    if mutated is None:
        return None
    return "\n".join(_make_diff(source, mutated, path))


def skip_equivalents(db, path, source, previous):
    """Mark the pending mutants of ``db`` (the session of module ``path``,
    whose text is ``source``) that have an equivalent verdict and survived
    the previous run as skipped; return how many. ``previous``: that run's
    ``survived`` list from runs.json, ``[["path:line operator", line], ...]``."""
    verdicts = load_verdicts()
    survived_before = {(key.split(" ", 1)[1], line) for key, line in previous}
    skipped = 0
    with use_db(str(db), WorkDB.Mode.open) as wdb:
        for item in list(wdb.pending_work_items):
            if len(item.mutations) != 1:
                continue
            m = item.mutations[0]
            diff = mutant_diff(source, m, path)
            if diff is None:
                continue
            key, line = f"{m.module_path}:{m.start_pos[0]} {m.operator_name}", mutated_line(diff)
            if ((m.operator_name, line) in survived_before
                    and verdict_of(verdicts, path, key, line).startswith("equivalent")):
                wdb.set_result(item.job_id, WorkResult(
                    output=SKIP_NOTE, diff=diff, test_outcome=TestOutcome.SURVIVED,
                    worker_outcome=WorkerOutcome.SKIPPED))
                skipped += 1
    return skipped


def is_skipped_equivalent(result):
    """Whether a session's result is one of :func:`skip_equivalents`' marks."""
    return (result.worker_outcome == WorkerOutcome.SKIPPED
            and result.test_outcome == TestOutcome.SURVIVED)
