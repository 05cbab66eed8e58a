"""Mutation testing of minialex's core with cosmic-ray (issue 20).

Usage (from the repository root; see scripts/mutation.sh, which runs this
under ``nice``)::

    scripts/mutation.sh functions            # one group of mutation/modules.toml
    scripts/mutation.sh minialex/optim/sgd.py  # one file
    scripts/mutation.sh all                  # every group, in the file's order
    scripts/mutation.sh --report             # only rewrite mutation/results.md
    scripts/mutation.sh --jobs 1 functions   # one mutant at a time, in this checkout

For each module file it writes a cosmic-ray config and session database in
mutation/work/ (ignored by git) and runs every mutant against the tests that
mutation/modules.toml maps the file to, and of those only the tests that
execute the mutated line (scripts/mutation_select.py: a coverage map with
test contexts, ``pytest --cov-context=test``, built once per HEAD; a test that
never runs the line cannot tell the mutant from the original). ``pytest -x``:
a mutant is killed by the first failing test. Then it rewrites
mutation/results.md from all session databases. A session whose source file
is unchanged is resumed (only the pending mutants run); a changed file starts
a fresh session.

``--jobs N`` (default 2, one per core) tests N mutants at once through
cosmic-ray's http distributor: one ``cosmic-ray http-worker`` per git
worktree of HEAD in mutation/work/trees/, since cosmic-ray mutates the
source file IN PLACE (and restores it after each mutant). Each worker's tests
run in a warm pytest server of its tree (scripts/mutation_server.py: the
libraries imported once, one fork per mutant); ``--cold`` runs a fresh
pytest process per mutant instead. The script refuses
to start when minialex/ has uncommitted changes (the worktrees and the map
are of HEAD), and restores the files from git if a run is interrupted. Run it
only in a checkout you own, never in one someone else is editing.

Verdicts on surviving mutants live in mutation/verdicts.toml and
mutation/verdicts/<module>.toml, keyed by
``"path: <the mutated line>"`` (stripped, as results.md shows it: the key
survives edits that move the line) or ``"path:line operator"``: ``"equivalent: <why>"`` (cannot change any output)
or ``"killed by tests/...::test_x"`` (a test written since; rerun the module
to see it killed).
"""
import argparse
import fnmatch
import glob
import hashlib
import json
import os
import re
import subprocess
import sys
import time
import tomllib
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from mutation_report import load_verdicts, mutated_line, report, verdict_of  # noqa: E402
from mutation_skip import skip_equivalents  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
MUT = REPO / "mutation"
WORK = MUT / "work"


def load_modules():
    cfg = tomllib.loads((MUT / "modules.toml").read_text())
    return cfg["groups"], cfg["module"]


def tests_for(path, entries):
    for e in entries:
        if fnmatch.fnmatch(path, e["glob"]):
            return e
    return None


def files_of(target, groups, entries):
    """Module files named by a group name, 'all', or a path/glob."""
    names = groups if target == "all" else [target] if target in groups else None
    if names is None:
        return sorted(glob.glob(target, root_dir=REPO))
    out = []
    for g in names:
        for e in entries:
            if e["group"] == g:
                for f in sorted(glob.glob(e["glob"], root_dir=REPO)):
                    if f.endswith("__init__.py") or f in out:
                        continue
                    if tests_for(f, entries) is e:
                        out.append(f)
    return out


def slug(path):
    return path.replace("/", ".").removesuffix(".py")


def test_files():
    """Every test file of mutation/modules.toml, in the file's order."""
    out = []
    for e in load_modules()[1]:
        out += [t for t in e["tests"] if t not in out]
    return out


# The map's coverage settings: Python subprocesses the tests start are
# measured too, each line labelled with the test that started the process
# (scripts/mutation_map_plugin.py); the data files of the processes are
# combined into the map at the end of the run.
MAP_RC = "[run]\npatch = subprocess\nparallel = true\n"
MAP_METHOD = "subprocess-contexts-1"      # a new method builds a new map


def coverage_map():
    """The coverage map of mutation_select.py: one ``pytest --cov-context=test``
    run over every mapped test file at HEAD (their Python subprocesses
    included, see MAP_RC), kept while HEAD's minialex/ and
    tests/ trees are unchanged (mutation/work/map-<hash>.coverage), with each
    test's duration beside it (map-<hash>.xml, JUnit XML: the cheap tests of
    a mutant run first)."""
    trees = subprocess.run(["git", "rev-parse", "HEAD:minialex", "HEAD:tests"], cwd=REPO,
                           capture_output=True, text=True, check=True).stdout
    files = test_files()
    key = hashlib.sha256((trees + " ".join(files) + MAP_METHOD).encode()).hexdigest()[:16]
    path = WORK / f"map-{key}.coverage"
    if not path.exists():
        print(f"building the coverage map {path.name} (the mapped tests, once)", flush=True)
        tmp = path.with_suffix(".partial")
        rc = WORK / "map.coveragerc"
        rc.write_text(MAP_RC)
        env = dict(os.environ, COVERAGE_FILE=str(tmp),
                   PYTHONPATH=os.pathsep.join(filter(None, [str(REPO / "scripts"),
                                                            os.environ.get("PYTHONPATH")])))
        r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                            "-p", "mutation_map_plugin", f"--cov-config={rc}",
                            "--cov=minialex", "--cov-context=test", "--cov-report=",
                            f"--junitxml={path.with_suffix('.xml')}", *files],
                           cwd=REPO, env=env)
        if r.returncode != 0:
            sys.exit("the mapped tests fail on HEAD: mutants cannot be judged against them")
        tmp.rename(path)
    return path


def source_state():
    """HEAD, and what a run must not see change while it runs: HEAD's
    minialex/ and tests/ trees and the checkout's edits to them. The map is
    built from this checkout and each session's mutants are listed from it,
    while the workers test HEAD's worktrees: a commit or an edit in
    between would pair mutants with another tree's coverage (found on
    2026-12-02: a two-line insert moved every later line of _geometry.py
    onto the tests of the line two above it)."""
    def git(*args):
        return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True,
                              check=True).stdout
    return (git("rev-parse", "HEAD").strip(),
            git("rev-parse", "HEAD:minialex", "HEAD:tests")
            + git("status", "--porcelain", "--", "minialex", "tests"))


class Workers:
    """``jobs`` cosmic-ray http-workers, each in its own git worktree of HEAD
    (mutation/work/trees/w<k>): cosmic-ray mutates files in place, so two
    mutants at once need two copies of the tree."""

    def __init__(self, jobs, head, port=9876, warm=True):
        self.trees, self.procs, self.urls = [], [], []
        for k in range(jobs):
            tree = WORK / "trees" / f"w{k}"
            if not tree.exists():
                subprocess.run(["git", "worktree", "add", "--detach", str(tree), head],
                               cwd=REPO, check=True, capture_output=True)
            subprocess.run(["git", "checkout", "--force", "--detach", head], cwd=tree,
                           check=True, capture_output=True)
            env = dict(os.environ, PYTHONPATH=str(tree))
            data = REPO.parent / "shared" / "data" / "cifar10"
            if "MINIALEX_DATA" not in env and data.is_dir():
                env["MINIALEX_DATA"] = str(data)
            log = open(WORK / f"worker{k}.log", "a")
            if warm:        # a warm pytest per tree (scripts/mutation_server.py)
                sock = WORK / "trees" / f"w{k}.sock"
                self.procs.append(subprocess.Popen(
                    [sys.executable, "scripts/mutation_server.py", "--socket", str(sock)],
                    cwd=tree, env=env, stdout=log, stderr=log))
                env = dict(env, MUTATION_SERVER=str(sock))
            self.procs.append(subprocess.Popen(
                [Path(sys.executable).parent / "cosmic-ray", "http-worker",
                 "--port", str(port + k)], cwd=tree, env=env, stdout=log, stderr=log))
            self.trees.append(tree)
            self.urls.append(f"http://localhost:{port + k}")
        time.sleep(3 + 3 * warm)          # let the servers bind and warm up

    def restore(self, path):
        for tree in self.trees:
            subprocess.run(["git", "checkout", "--", path], cwd=tree, check=True)

    def close(self):
        for p in self.procs:
            p.terminate()
            p.wait()


SPAWNS = re.compile(r"sys\.executable|mpiexec|multiprocessing|[\"']python")


def spawns_python(test_file):
    """Whether a test file may start a Python subprocess, whose lines the
    coverage map does not see (then an unseen line runs every test file)."""
    return bool(SPAWNS.search((REPO / test_file).read_text()))


def operators_filter():
    """The cosmic-ray config section that makes ``cr-filter-operators`` skip
    the operators of ``excluded-operators`` (mutation/modules.toml), or ""."""
    pats = tomllib.loads((MUT / "modules.toml").read_text()).get("excluded-operators", [])
    if not pats:
        return ""
    return ("\n[cosmic-ray.filters.operators-filter]\nexclude-operators = ["
            + ", ".join(json.dumps(p) for p in pats) + "]\n")


def run_module(path, entry, timeout, cov_map, workers=None, recheck=False, fresh=False):
    WORK.mkdir(parents=True, exist_ok=True)
    s = slug(path)
    cfg, db, sha_file = WORK / f"{s}.toml", WORK / f"{s}.sqlite", WORK / f"{s}.sha"
    # a session is resumed only for the same source, tests and selection method
    sha = hashlib.sha256((REPO / path).read_bytes() + " ".join(entry["tests"]).encode()
                         + b"select-by-coverage-1").hexdigest()
    tests = " ".join(entry["tests"])
    in_process = "" if any(spawns_python(t) for t in entry["tests"]) else "--in-process "
    command = (f"{sys.executable} scripts/mutation_select.py --map {cov_map} {in_process}"
               f"--module {path} --killers {WORK / (s + '.killers')} "
               f"--times {WORK / (s + '.times')} -- {tests}")
    dist = ('name = "local"\n' if workers is None else
            'name = "http"\n\n[cosmic-ray.distributor.http]\nworker-urls = ['
            + ", ".join(f'"{u}"' for u in workers.urls) + "]\n")
    cfg.write_text(
        "[cosmic-ray]\n"
        f'module-path = "{path}"\n'
        f"timeout = {float(entry.get('timeout', timeout))}\n"
        "excluded-modules = []\n"
        f'test-command = "{command}"\n'
        f"\n[cosmic-ray.distributor]\n{dist}" + operators_filter())
    bindir = Path(sys.executable).parent
    if fresh or not (db.exists() and sha_file.exists() and sha_file.read_text() == sha):
        db.unlink(missing_ok=True)
        (WORK / f"{s}.time").unlink(missing_ok=True)     # a fresh session's time only
        subprocess.run([bindir / "cosmic-ray", "init", cfg, db], cwd=REPO, check=True)
        sha_file.write_text(sha)
    t0 = time.time()
    # the excluded operators' pending mutants: SKIPPED, by cosmic-ray's own filter
    subprocess.run([bindir / "cr-filter-operators", db, cfg], cwd=REPO, check=True)
    if not recheck:
        runs = json.loads((MUT / "runs.json").read_text()) if (MUT / "runs.json").exists() else {}
        n = skip_equivalents(db, path, (REPO / path).read_text(),
                             runs.get(path, {}).get("survived", []))
        if n:
            print(f"{path}: {n} mutants with an equivalent verdict skipped "
                  "(--recheck-equivalent runs them)", flush=True)
    try:
        subprocess.run([bindir / "cosmic-ray", "exec", cfg, db], cwd=REPO, check=True)
    finally:
        # never leave a mutant behind (the trees were clean when we started)
        subprocess.run(["git", "checkout", "--", path], cwd=REPO, check=True)
        if workers is not None:
            workers.restore(path)
    took = time.time() - t0
    with open(WORK / f"{s}.time", "a") as fh:
        fh.write(f"{took:.0f}\n")
    print(f"{path}: {took:.0f} s", flush=True)


def survivors(pattern):
    """Print the diff of every unexplained survivor of the modules matching
    ``pattern`` (a glob of module paths), for the review."""
    from cosmic_ray.work_db import WorkDB, use_db
    from cosmic_ray.work_item import TestOutcome, WorkerOutcome
    verdicts = load_verdicts()
    for db in sorted(WORK.glob("*.sqlite")):
        path = db.stem.replace(".", "/") + ".py"
        if not fnmatch.fnmatch(path, pattern):
            continue
        with use_db(str(db), WorkDB.Mode.open) as wdb:
            for item, res in wdb.completed_work_items:
                if not (res.worker_outcome == WorkerOutcome.NORMAL
                        and res.test_outcome == TestOutcome.SURVIVED):
                    continue
                m = item.mutations[0]
                key = f"{m.module_path}:{m.start_pos[0]} {m.operator_name}"
                text = f"{m.module_path}: {mutated_line(res.diff)}"
                if (verdicts.get(text) or verdicts.get(key)
                        or verdicts.get(f"{m.module_path}:{m.start_pos[0]} *")):
                    continue
                print(f"### {key}\nkey: {text}\n{res.diff}")
    # modules whose database is not on this machine: their kept run (no diff)
    have = {db.stem.replace(".", "/") + ".py" for db in WORK.glob("*.sqlite")}
    runs = json.loads((MUT / "runs.json").read_text()) if (MUT / "runs.json").exists() else {}
    for path, r in sorted(runs.items()):
        if path in have or not fnmatch.fnmatch(path, pattern):
            continue
        for key, line in r["survived"]:
            if verdict_of(verdicts, path, key, line) == "UNEXPLAINED":
                print(f"### {key} (kept run of {r['run']}; rerun the module for the diff)\n"
                      f"key: {path}: {line}\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("targets", nargs="*", help="group names, 'all', or module paths/globs")
    ap.add_argument("--report", action="store_true", help="only rewrite mutation/results.md")
    ap.add_argument("--timeout", type=float, default=600.0,
                    help="seconds before a mutant's test run counts as killed (timeout); a module's `timeout` in modules.toml overrides it")
    ap.add_argument("--jobs", type=int, default=2,
                    help="mutants tested at once, each in its own worktree (1: in this checkout)")
    ap.add_argument("--survivors", metavar="GLOB",
                    help="print the diffs of the unexplained survivors of these modules")
    ap.add_argument("--recheck-equivalent", action="store_true",
                    help="also run the mutants that have an 'equivalent' verdict (by default "
                         "they are skipped: scripts/mutation_skip.py)")
    ap.add_argument("--fresh", action="store_true",
                    help="start a new session for every module named (a full run from "
                         "scratch; the old sessions are saved in mutation/runs.json first)")
    ap.add_argument("--cold", action="store_true",
                    help="a fresh pytest process per mutant (no warm server; slower, same outcome)")
    a = ap.parse_args()
    groups, entries = load_modules()
    if a.survivors:
        return survivors(a.survivors)
    if not a.report:
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "minialex"], cwd=REPO,
                               capture_output=True, text=True, check=True).stdout
        if dirty.strip():
            sys.exit("minialex/ has uncommitted changes; cosmic-ray mutates files in place: "
                     "commit or stash them first\n" + dirty)
        os.environ["PYTHONPATH"] = str(REPO)
        WORK.mkdir(parents=True, exist_ok=True)
        head, state = source_state()
        if a.fresh:
            report()        # the sessions about to be replaced, into runs.json
        cov_map = coverage_map()
        workers = Workers(a.jobs, head, warm=not a.cold) if a.jobs > 1 else None
        try:
            for t in a.targets:
                for path in files_of(t, groups, entries):
                    entry = tests_for(path, entries)
                    if entry is None:
                        sys.exit(f"{path}: no entry in mutation/modules.toml")
                    if source_state()[1] != state:
                        sys.exit("minialex/ or tests/ changed during the run: the coverage map "
                                 f"and the worktrees are of {head[:10]}, so the next modules "
                                 "would be judged against the wrong tests; rerun (the finished "
                                 "modules are kept)")
                    run_module(path, entry, a.timeout, cov_map, workers,
                               recheck=a.recheck_equivalent, fresh=a.fresh)
                    report()
        finally:
            if workers is not None:
                workers.close()
    report()


if __name__ == "__main__":
    main()
