"""mutation/results.md from every module's latest run (issue 20).

The cosmic-ray session databases (mutation/work/*.sqlite) are ignored by git
and do not outlive the machine they ran on. So each module's latest complete
or partial run is also kept, in mutation/runs.json (committed): its number of
mutants, kills, the mutants not run yet, the wall time, the date, and its
surviving mutants (key and mutated line). A module whose database is here is
read from the database (and its runs.json entry updated); any other module
keeps the entry of its last run. The verdicts (mutation/verdicts.toml and
mutation/verdicts/*.toml) are applied afresh every time, so a verdict written
since a run changes the table without rerunning the module.
"""
import json
import re
import time
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
MUT = REPO / "mutation"
WORK = MUT / "work"
RUNS = MUT / "runs.json"

HEADER = [
    "# Mutation testing results", "",
    "Written by `scripts/mutation.sh` (cosmic-ray; see mutation/modules.toml for the",
    "tests each module runs against, mutation/verdicts*.toml for the verdicts, and",
    "mutation/runs.json for each module's latest run, which this table is made from).",
    "Kill rate = killed / (mutants run - equivalent), as the latest session ran;",
    "\"first run\" is the module's first complete run (mutation/first_runs.toml),",
    "before the tests its survivors prompted, less the equivalents judged since",
    "(at most its survivors); \"-\": no mutants, or no first run;",
    "\"after\" also counts the survivors a test written since kills (verdict",
    "\"killed by\"; a rerun shows them killed). Time: seconds of wall clock of the",
    "latest session, under `nice -n 10` on the shared 2-core machine. GPU-only:",
    "survivors in code that only runs under CuPy (verdict \"gpu-only\": no CPU test",
    "can reach it; tests/test_gpu.py runs it on a GPU), left out of the rates.",
    "\"run\": the date of the latest session and whether this table was written",
    "from its database (here) or from runs.json (kept). A mutant whose line has an",
    "\"equivalent\" verdict is not rerun (scripts/mutation_skip.py; it still counts",
    "in \"equivalent\"); `scripts/mutation.sh --recheck-equivalent` runs them too.",
    "The operators of `excluded-operators` in mutation/modules.toml are not run and",
    "not counted (since 2026-12-02, session 10: the bitwise/shift replacements of",
    "arithmetic operators, see the notes); \"first run\" figures of earlier sessions",
    "still count them.", ""]


def mutated_line(diff):
    """The mutant's new line (stripped), or "(removed) <old line> before
    <the next line>" for a mutant that only deletes one (a decorator, say)."""
    lines = (diff or "").splitlines()
    for line in lines:
        if line.startswith("+") and not line.startswith("+++"):
            return line[1:].strip()
    removed, after = [], ""
    for i, line in enumerate(lines):
        if line.startswith("-") and not line.startswith("---") and line[1:].strip():
            removed.append(line[1:].strip())
            nxt = lines[i + 1] if i + 1 < len(lines) else ""
            after = nxt[1:].strip() if nxt.startswith(" ") else after
    if removed:
        return f"(removed) {removed[-1]} before {after}"
    return ""


def load_verdicts():
    """Every verdict: mutation/verdicts.toml and mutation/verdicts/*.toml (one
    file per module, so that reviews of different modules merge cleanly)."""
    files = [MUT / "verdicts.toml", *sorted((MUT / "verdicts").glob("*.toml"))]
    out = {}
    for f in files:
        if f.exists():
            out.update(tomllib.loads(f.read_text()).get("verdict", {}))
    return out


def verdict_of(verdicts, path, key, line):
    """A survivor's verdict: by its mutated line, its "path:line operator"
    key, or a "path:line *" wildcard; "UNEXPLAINED" when none matches."""
    return (verdicts.get(f"{path}: {line}") or verdicts.get(key)
            or verdicts.get(f"{key.split(' ')[0]} *", "UNEXPLAINED"))


def excluded_operators():
    """The compiled ``excluded-operators`` of mutation/modules.toml (operator
    names left out of every run and every count), or None."""
    pats = tomllib.loads((MUT / "modules.toml").read_text()).get("excluded-operators", [])
    return re.compile("|".join(f"(?:{p})" for p in pats)) if pats else None


def is_excluded(item, pattern):
    """Whether a work item's mutation is of an excluded operator."""
    return pattern is not None and any(pattern.match(m.operator_name) for m in item.mutations)


def run_of_database(db):
    """One module's run, read from its cosmic-ray session database (the
    mutants of excluded operators left out, whether they ran or not)."""
    from cosmic_ray.work_db import WorkDB, use_db
    from cosmic_ray.work_item import TestOutcome, WorkerOutcome
    pattern = excluded_operators()
    with use_db(str(db), WorkDB.Mode.open) as wdb:
        items = list(wdb.work_items)
        n = sum(not is_excluded(item, pattern) for item in items)
        done = [(item, res) for item, res in wdb.completed_work_items
                if not is_excluded(item, pattern)]
    survived, skipped = [], 0
    for item, res in done:
        # SKIPPED + SURVIVED: an equivalent verdict's mutant, not run (mutation_skip.py)
        skip = res.worker_outcome == WorkerOutcome.SKIPPED
        skipped += skip and res.test_outcome == TestOutcome.SURVIVED
        if (res.worker_outcome == WorkerOutcome.NORMAL or skip) and res.test_outcome == TestOutcome.SURVIVED:
            m = item.mutations[0]
            survived.append([f"{m.module_path}:{m.start_pos[0]} {m.operator_name}",
                             mutated_line(res.diff)])
    t_file = WORK / f"{db.stem}.time"
    took = sum(int(x) for x in t_file.read_text().split()) if t_file.exists() else 0
    return dict(mutants=n, killed=len(done) - len(survived), pending=n - len(done),
                time=took, run=time.strftime("%Y-%m-%d", time.gmtime(db.stat().st_mtime)),
                excluded=len(items) - n, skipped_equivalent=skipped, survived=sorted(survived))


def pct(a, b):
    return f"{100.0 * a / b:.1f}%" if b else "-"      # no mutants: no rate


def report():
    """Update mutation/runs.json from the databases here, then write
    mutation/results.md from it with the current verdicts."""
    runs = json.loads(RUNS.read_text()) if RUNS.exists() else {}
    here = set()
    for db in sorted(WORK.glob("*.sqlite")):
        path = db.stem.replace(".", "/") + ".py"
        runs[path] = run_of_database(db)
        here.add(path)
    RUNS.write_text(json.dumps(dict(sorted(runs.items())), indent=1) + "\n")

    verdicts = load_verdicts()
    first_file = MUT / "first_runs.toml"
    first = tomllib.loads(first_file.read_text())["first"] if first_file.exists() else {}
    new_first, rows, listed = [], [], []
    T = dict(n=0, k=0, s=0, eq=0, gpu=0, pending=0, t=0, later=0)
    for path, r in sorted(runs.items()):
        n, k, pending = r["mutants"], r["killed"], r["pending"]
        s = eq = gpu = later = 0
        for key, line in r["survived"]:
            v = verdict_of(verdicts, path, key, line)
            if v.startswith("equivalent"):
                eq += 1
            elif v.startswith("gpu-only"):
                gpu += 1
            else:
                s += 1
                later += v.startswith("killed by")
            listed.append((key, line, v))
        if path not in first and pending == 0:
            first[path] = dict(mutants=n, killed=k, survived=s + eq + gpu)
            new_first.append(f'"{path}" = {{ mutants = {n}, killed = {k}, '
                             f'survived = {s + eq + gpu}, run = "{r["run"]}" }}')
        f0 = first.get(path)
        # the equivalents judged since, at most the first run's survivors (the code
        # has changed since: the latest run can hold more equivalent mutants)
        judged = min(eq + gpu, f0["survived"]) if f0 else 0
        before = pct(f0["killed"], f0["killed"] + f0["survived"] - judged) if f0 else "-"
        rows.append(f"| {path} | {n} | {k} | {s} | {eq} | {gpu} | {pending} | {before} "
                    f"| {pct(k, k + s)} | {pct(k + later, k + s)} | {r['time']} "
                    f"| {r['run']} {'here' if path in here else 'kept'} |")
        for name, v in zip("n k s eq gpu pending t later".split(),
                           (n, k, s, eq, gpu, pending, r["time"], later)):
            T[name] += v
    if new_first:
        with open(first_file, "a") as fh:
            fh.write("\n".join(new_first) + "\n")
    out = [*HEADER,
           "| module | mutants | killed | survived | equivalent | GPU-only | not run | first run "
           "| kill rate | after | time s | run |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|", *rows,
           f"| **total** | {T['n']} | {T['k']} | {T['s']} | {T['eq']} | {T['gpu']} | {T['pending']} | "
           f"| {pct(T['k'], T['k'] + T['s'])} | {pct(T['k'] + T['later'], T['k'] + T['s'])} "
           f"| {T['t']} | |", "",
           *(["## Notes on the runs", "", (MUT / "notes.md").read_text().strip(), ""]
             if (MUT / "notes.md").exists() else []),
           "## Surviving mutants", "",
           "| where | mutated line | verdict |", "|---|---|---|"]
    for key, line, v in sorted(listed):
        line = line.replace("|", "\\|")
        out.append(f"| {key} | `{line}` | {v} |")
    (MUT / "results.md").write_text("\n".join(out) + "\n")
    print(f"wrote {MUT / 'results.md'}: {T['k']} killed, {T['s']} survived, {T['eq']} equivalent")
