"""Run only the tests that execute a mutant's line (cosmic-ray's test command).

cosmic-ray applies one mutant to a source file in place, then runs its test
command; scripts/mutation.py makes that command::

    python scripts/mutation_select.py --map COVERAGE_FILE --module PATH -- TEST_FILE ...

It finds the mutated lines (``git diff -U0`` against HEAD: the checkout was
clean before the mutant), looks up which tests executed those lines on the
unmutated code (a coverage map: ``pytest --cov --cov-context=test``,
pytest-cov, built by ``scripts/mutation.py``) and runs just those, with
``pytest -x``, among the module's TEST_FILEs.

Why that is sound: a test that never executes line L runs exactly the same
code under a mutant of L, so it passes as it did on HEAD; only tests that
execute L can kill it. Where the map cannot say, it runs every TEST_FILE:

- lines run at import or collection time (module level, ``class``
  headers, decorators): coverage records them outside any test (the empty
  context). A ``def`` line and its default arguments are the exception:
  a default is seen only by a call, and every call runs the body, so such
  a mutant runs the tests that executed the function's body (none: it
  survives at once). A call the mutated signature refuses (e.g. keyword
  arguments made positional-only) runs no body, so a test of the
  signature must also make one call that binds, to be selected;
- lines the map does not hold at all (a mutation inside a multi-line
  statement whose line the tracer did not record): first the whole
  statement's lines are looked up; if still nothing, the statement never
  ran: it survives at once when the test files start no Python subprocess
  (``--in-process``: the map saw everything they run), else everything runs.

Two approximations, both of which can only make a mutant survive that the
full run would kill (so the survivors' review, mutation/verdicts.toml,
sees them): a line executed while building a module- or session-scoped
fixture is recorded for the first test that used the fixture, so for lines
recorded in a test's setup phase the whole test file runs; and Hypothesis
draws new examples each run, so a line one draw reached may be missed by
another.

With ``MUTATION_SERVER`` set (scripts/mutation.py sets it per worker), the
tests run in that worker's warm pytest server (scripts/mutation_server.py):
forked, so the heavy libraries are imported once, not once per mutant.

Exit status: pytest's (0: the mutant survived; 1: a test failed, killed),
or 0 at once when no test executes the line (it cannot be killed).
"""
import argparse
import ast
import json
import os
import re
import subprocess
import sys
import time

PHASES = ("|setup", "|run", "|teardown")


def changed_lines(module):
    """Line numbers (in HEAD's version of ``module``) that the mutant changed."""
    diff = subprocess.run(["git", "diff", "-U0", "--", module], capture_output=True,
                          text=True, check=True).stdout
    lines = set()
    for m in re.finditer(r"^@@ -(\d+)(?:,(\d+))? ", diff, re.M):
        start, count = int(m[1]), int(m[2]) if m[2] is not None else 1
        lines.update(range(start, start + max(count, 1)))
    return lines


def statement_lines(source, line):
    """The lines of the innermost statement holding ``line`` (for a compound
    statement, only its header: ``if ...:`` without the body)."""
    best = None
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.stmt) and node.lineno <= line <= node.end_lineno:
            if best is None or (node.lineno, -node.end_lineno) >= (best.lineno, -best.end_lineno):
                best = node
    if best is None:
        return {line}
    end = best.end_lineno
    body = getattr(best, "body", None)
    if isinstance(body, list) and body and body[0].lineno > line:
        end = body[0].lineno - 1
    return set(range(best.lineno, end + 1))


def signature_body(source, line):
    """The body lines of the function whose signature (``def`` line to the
    line before its first statement) holds ``line``, else ``None``.

    A signature runs once, at import, so coverage records it outside any
    test; but what a mutant changes there (a default value, mostly) shows
    only when the function is called, and every call runs its body. So the
    tests that can see it are those that executed the body."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            if node.lineno <= line < node.body[0].lineno:
                return list(range(node.body[0].lineno, node.end_lineno + 1))
    return None


def raw_contexts(map_file, module):
    """{line: [coverage contexts]} of ``module`` in the map.

    Read from the coverage data once per module and map, then from a small
    JSON file beside the map (``<map>.<module>.json``, written atomically):
    importing coverage and querying the map cost about 0.1 s, every mutant."""
    cache = f"{map_file}.{module.replace('/', '.')}.json"
    try:
        with open(cache) as fh:
            return {int(k): v for k, v in json.load(fh).items()}
    except (OSError, ValueError):
        pass
    from coverage import CoverageData
    data = CoverageData(basename=map_file)
    data.read()
    suffix = os.sep + os.path.normpath(module)
    files = [f for f in data.measured_files() if f.endswith(suffix)]
    out = {line: sorted(c) for line, c in data.contexts_by_lineno(files[0]).items()} if files else {}
    tmp = f"{cache}.{os.getpid()}"
    with open(tmp, "w") as fh:
        json.dump(out, fh)
    os.replace(tmp, cache)
    return out


def contexts_by_line(map_file, module, wanted=None, raw=None):
    """{line: set of pytest node ids ('' = outside any test)} for ``module``,
    and {(line, node id): phases it was recorded in}; only the ``wanted``
    lines when given (a line of the conv kernels has hundreds of tests)."""
    out, phases = {}, {}
    raw = raw_contexts(map_file, module) if raw is None else raw
    for line in raw if wanted is None else set(wanted) & set(raw):
        ctxs = raw[line]
        ids = set()
        for c in ctxs:
            node, phase = c, ""
            for p in PHASES:
                if c.endswith(p):
                    node, phase = c[:-len(p)], p
            ids.add(node)
            if node:
                phases.setdefault((line, node), set()).add(phase)
        out[line] = ids
    return out, phases


def select(map_file, module, test_files, in_process=False):
    """The pytest arguments for the mutant now applied to ``module``: node
    ids, whole test files, or ``None`` when no test executes its lines.

    ``in_process``: the test files start no Python subprocess, so the map
    saw every line they execute, and a statement none of whose lines it
    holds is executed by none of them: it survives at once (otherwise a
    subprocess may run it unseen, and every test file runs)."""
    lines = changed_lines(module)
    if not lines:
        return list(test_files)            # nothing changed on disk: be safe
    mapped = raw_contexts(map_file, module)          # {line: contexts}
    source = subprocess.run(["git", "show", f"HEAD:{module}"], capture_output=True,
                            text=True, check=True).stdout
    nodes, known, looks = set(), False, []
    for line in sorted(lines):
        body = signature_body(source, line)
        if body is not None:
            looks.append(body)
            known = True                  # a default value: only a call can see it
        else:
            looks.append([line] if line in mapped else sorted(statement_lines(source, line)))
    by_line, phases = contexts_by_line(map_file, module, [ln for look in looks for ln in look],
                                      mapped)
    for look in looks:
        for ln in look:
            if ln in by_line:
                known = True
                nodes |= by_line[ln]
                for node in by_line[ln]:
                    if "|setup" in phases.get((ln, node), ()):
                        nodes.add(node.split("::")[0])       # the whole file
    if not known and in_process:
        return None
    if not known or "" in nodes:
        return list(test_files)
    wanted = [n for n in nodes if n.split("::")[0] in test_files]
    if not wanted:
        return None
    order = {f: i for i, f in enumerate(test_files)}
    return sorted(set(wanted), key=lambda n: (order[n.split("::")[0]], n))


def killer_ranks(log):
    """{test: rank} of the tests that killed this module's latest 50 mutants
    (0: the latest; a test's file gets its best rank too). Neighbouring
    mutants of one module tend to die by the same test."""
    try:
        with open(log) as fh:
            recent = [ln.strip() for ln in fh.readlines()[-50:]]
    except OSError:
        return {}
    rank = {}
    for i, node in enumerate(reversed(recent)):      # latest first
        rank.setdefault(node, i)
        rank.setdefault(node.split("::")[0], i)     # its file, where run whole
    return rank


def durations(map_file):
    """{test id: seconds} from the map run (map-<hash>.xml beside the map)."""
    xml = os.path.splitext(map_file)[0] + ".xml"
    if not os.path.exists(xml):
        return {}
    import xml.etree.ElementTree as ET
    took = {}
    for case in ET.parse(xml).getroot().iter("testcase"):
        path = case.get("classname", "").replace(".", "/") + ".py"
        took[f"{path}::{case.get('name')}"] = float(case.get("time") or 0)
    return took


def cheapest_first(args, map_file, log=None):
    """``args`` in the order that stops ``pytest -x`` on a killed mutant soonest:
    by a test's seconds (map run; a whole file last, an unknown test 60 s)
    times (1 + its killer rank), a test that killed no recent mutant ranking
    after every killer. So a quick test that often kills runs first, and a
    slow killer (a 50 s command-line run) does not go ahead of a hundred
    0.2 s tests (it did, session 11: killed mutants took 56-87 s each).
    The order never changes a verdict: the same tests run."""
    took, rank = durations(map_file), killer_ranks(log) if log else {}
    cost = lambda x: took.get(x, 1e9 if "::" not in x else 60.0) + 0.01  # noqa: E731
    return sorted(args, key=lambda x: cost(x) * (1 + rank.get(x, len(rank) + 1)))


def run_pytest(pytest_args):
    """(exit status, output) of pytest, in the warm server when there is one."""
    server = os.environ.get("MUTATION_SERVER")
    if server:          # a warm pytest (scripts/mutation_server.py): same outcome, no imports
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        from mutation_server import run_via_server
        got = run_via_server(server, pytest_args)
        if got is not None:
            return got
    r = subprocess.run([sys.executable, "-m", "pytest", *pytest_args],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return r.returncode, r.stdout


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--map", required=True, help="coverage data file with test contexts")
    ap.add_argument("--module", required=True, help="the mutated file, relative to the root")
    ap.add_argument("--killers", help="a log of the tests that killed this module's mutants "
                    "(read to run them first, appended to)")
    ap.add_argument("--in-process", action="store_true",
                    help="the test files start no Python subprocess (see select())")
    ap.add_argument("--times", help="a log to append this mutant's line, verdict and seconds to")
    ap.add_argument("tests", nargs="+", help="the module's test files (mutation/modules.toml)")
    a = ap.parse_args(argv)
    t0 = time.time()
    rc, args = judge(a)
    if a.times:
        with open(a.times, "a") as fh:
            fh.write(f"{time.time() - t0:.2f}\t{rc}\t{len(args or [])}\t"
                     f"{sorted(changed_lines(a.module))}\t{' '.join(args or [])[:300]}\n")
    return rc


def judge(a):
    """(exit status, the pytest arguments run) for the mutant now applied."""
    args = select(a.map, a.module, a.tests, a.in_process)
    if args is None:
        print(f"no test in {' '.join(a.tests)} executes the mutated lines: survives")
        return 0, None
    # whole files collapse their own node ids
    files = {x for x in args if "::" not in x}
    args = [x for x in args if "::" not in x or x.split("::")[0] not in files]
    args = cheapest_first(args, a.map, a.killers)
    rc, out = run_pytest(["-q", "-x", "-p", "no:cacheprovider", *args])
    sys.stdout.write(out)
    failed = re.search(r"^FAILED (\S+)", out, re.M)
    if a.killers and rc == 1 and failed:
        with open(a.killers, "a") as fh:         # one short line: appends do not interleave
            fh.write(failed[1] + "\n")
    return rc, args


if __name__ == "__main__":
    sys.exit(main())
