"""A warm pytest for mutation testing: one server per worker tree, one fork per mutant.

Most of a mutant's time, run the plain way, is a fresh interpreter importing
NumPy, PyTorch (1.3 s alone on the 2-core machine), Hypothesis and pytest,
before a single test runs. This server imports them once; for each mutant it
forks, and the child runs ``pytest.main`` on the tests that
``scripts/mutation_select.py`` picks. The child imports minialex (the mutated
tree) itself, fresh: the server never imports minialex, so no mutant and no
stale module is ever shared between children. The test outcome is the same
as in a fresh process; only the imports of the libraries are saved.

Started by ``scripts/mutation.py`` (one per worker worktree)::

    python scripts/mutation_server.py --socket mutation/work/trees/w0.sock

in the worktree, with that tree on PYTHONPATH. ``mutation_select.py`` talks
to it when the environment names the socket (``MUTATION_SERVER``), and runs
pytest in a subprocess otherwise.

Protocol (a Unix socket, one request per connection): the client sends the
JSON list of pytest arguments on one line; the server streams the child's
output back and ends with ``\\0<exit status>``. If the client goes away
(cosmic-ray's timeout kills its process group), the child's process group
is killed, so a mutant that loops forever cannot hold the server. A client
that cannot reach the server, or loses it mid-run, runs pytest itself.
"""
import argparse
import json
import os
import select
import signal
import socket
import sys

WARM = ("numpy", "torch", "hypothesis", "pytest", "_pytest.python", "coverage", "PIL.Image",
        "threadpoolctl", "tqdm", "matplotlib")


def warm_up():
    """Import the heavy libraries the tests use (never minialex)."""
    import importlib
    for name in WARM:
        try:
            importlib.import_module(name)
        except Exception:          # an optional library: the child imports it, or skips
            pass
    assert not any(m == "minialex" or m.startswith("minialex.") for m in sys.modules), \
        "the server must not import minialex: every child imports the mutated tree fresh"


def precompile(tree):
    """Bytecode for HEAD's tree, so that a child compiles only the mutated file.

    minialex/ gets hash-checked .pyc files (``checked-hash``: Python compares
    the source's hash on every import, so a mutant, or the original restored
    after it, is never run from a stale .pyc, whatever the timestamps). The
    test files get pytest's assertion-rewritten .pyc, from one collection run
    in a throw-away child (they are never mutated). The children themselves
    write no bytecode (``sys.dont_write_bytecode``), as cosmic-ray's
    subprocesses do not.
    """
    import compileall
    import py_compile
    compileall.compile_dir(os.path.join(tree, "minialex"), quiet=1, force=True,
                           invalidation_mode=py_compile.PycInvalidationMode.CHECKED_HASH)
    tests = sorted(f for f in os.listdir(os.path.join(tree, "tests"))
                   if f.startswith("test_") and f.endswith(".py"))
    pid = os.fork()
    if pid == 0:
        fd = os.open(os.devnull, os.O_WRONLY)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        sys.dont_write_bytecode = False
        import pytest
        pytest.main(["-q", "--collect-only", "-p", "no:cacheprovider",
                     *(os.path.join("tests", f) for f in tests)])
        os._exit(0)
    os.waitpid(pid, 0)


def freeze_heap():
    """Move everything the server imported out of the garbage collector's sight.

    pytest collects garbage at the end of every session (its
    unraisableexception plugin calls ``gc.collect()`` twice, to report
    exceptions raised in finalizers), and a full collection walks every
    object alive, PyTorch's and NumPy's included: 0.17 s of a 0.36 s child
    running one quick test (2026-12-02, session 10). ``gc.freeze()`` puts the
    server's objects in the permanent generation, which collections skip:
    they are module-level objects that stay alive for the server's life, so no
    collection could ever free them anyway; the child's own objects are
    collected as before. Child time for that test: 0.19 s."""
    import gc
    gc.collect()
    gc.freeze()


def reseed():
    """Fresh random state in each child, as a fresh process has: a fork
    inherits the server's, and Hypothesis draws its examples from Python's
    ``random``, so without this every mutant would see the same draws."""
    import random
    random.seed()
    try:
        import numpy
        numpy.random.seed()
    except ImportError:
        pass


def run_child(conn, args):
    """In the forked child: pytest on ``args``, output to the client; never returns."""
    try:
        os.setsid()                 # its own process group: killed whole on a timeout
        fd = conn.fileno()
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        sys.stdout = os.fdopen(1, "w", buffering=1, closefd=False)
        sys.stderr = os.fdopen(2, "w", buffering=1, closefd=False)
        reseed()
        import pytest
        rc = int(pytest.main(args))
    except BaseException as e:      # a crash in collection is a failing test run
        print(f"mutation_server child: {type(e).__name__}: {e}", file=sys.stderr)
        rc = 3
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(rc)


RUNNING = [None]                    # the child now testing a mutant


def kill_running():
    """Kill the running child's process group (its tests' subprocesses too)."""
    pid, RUNNING[0] = RUNNING[0], None
    if pid is not None:
        try:
            os.killpg(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass


def serve_one(conn):
    data = b""
    while not data.endswith(b"\n"):
        chunk = conn.recv(65536)
        if not chunk:
            return                  # the client left before asking
        data += chunk
    args = json.loads(data.decode())
    pid = os.fork()
    if pid == 0:
        run_child(conn, args)
    RUNNING[0] = pid
    while True:                     # wait for the child, or for the client to vanish
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            RUNNING[0] = None
            rc = os.waitstatus_to_exitcode(status)
            break
        r, _, _ = select.select([conn], [], [], 0.005)   # 0.05 s cost 25 ms a mutant on average
        if r and not conn.recv(1, socket.MSG_PEEK):
            kill_running()          # client gone (cosmic-ray timed it out): kill the run
            return
    try:
        conn.sendall(f"\0{rc}\n".encode())
    except OSError:
        pass


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--socket", required=True, help="the Unix socket to listen on")
    a = ap.parse_args(argv)
    sys.dont_write_bytecode = True  # as cosmic-ray's subprocesses: no .pyc of a mutant
    sys.path.insert(0, os.getcwd())
    warm_up()
    precompile(os.getcwd())
    freeze_heap()
    if os.path.exists(a.socket):
        os.unlink(a.socket)
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(a.socket)
    srv.listen(4)
    def stop(*_):                   # scripts/mutation.py closing: leave no test running
        kill_running()
        sys.exit(0)
    signal.signal(signal.SIGTERM, stop)
    try:
        while True:
            conn, _ = srv.accept()
            with conn:
                serve_one(conn)
    finally:
        srv.close()
        if os.path.exists(a.socket):
            os.unlink(a.socket)


def run_via_server(path, args):
    """Client side (mutation_select.py): pytest ``args`` in the server at
    ``path``: (pytest's exit status, its output), or ``None`` when the
    server cannot be reached or died mid-run (run pytest yourself)."""
    c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        c.connect(path)
    except OSError:
        return None
    c.sendall(json.dumps(args).encode() + b"\n")
    out = b""
    while True:
        chunk = c.recv(65536)
        if not chunk:
            break
        out += chunk
    c.close()
    text, sep, rc = out.rpartition(b"\0")
    if not sep:
        return None
    return int(rc.strip() or 4), text.decode(errors="replace")


if __name__ == "__main__":
    main()
