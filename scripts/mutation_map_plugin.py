"""A pytest plugin for the coverage map's run: label subprocesses' lines with the test.

scripts/mutation.py builds the map with ``pytest --cov-context=test`` and
coverage's ``[run] patch = subprocess``, so a Python subprocess a test starts
(``examples/train_cifar.py`` in tests/test_train_cifar.py) is measured too.
pytest-cov labels the pytest process's lines with the running test
(``<node id>|setup``, ``|run``, ``|teardown``), but a subprocess gets no such
label: coverage hands it the parent's configuration, serialized once, in the
environment variable ``COVERAGE_PROCESS_CONFIG``, and its lines would all land
in one unnamed context.

This plugin rewrites that variable's static ``context`` before each phase of
each test, with the same label pytest-cov gives the phase, so
scripts/mutation_select.py finds the tests whose subprocesses executed a line
exactly as it finds the in-process ones (found needed on 2026-12-02: 476 of
training/loop.py's mutants "survived" because only the in-process tests of the
lines ran, never the command-line runs that kill them).

The variable is coverage.py's own (base64 of a JSON object, coverage 7.10+,
coverage/config.py ``serialize``); if it is absent (no ``patch =
subprocess``), the plugin does nothing.
"""
import base64
import json
import os

import pytest

VAR = "COVERAGE_PROCESS_CONFIG"


def label_subprocesses(context):
    """Make Python subprocesses started from now on record ``context``."""
    blob = os.environ.get(VAR)
    if not blob:
        return
    config = json.loads(base64.b64decode(blob))
    config["context"] = context
    os.environ[VAR] = base64.b64encode(json.dumps(config).encode()).decode()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_setup(item):
    label_subprocesses(f"{item.nodeid}|setup")
    yield


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    label_subprocesses(f"{item.nodeid}|run")
    yield


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item):
    label_subprocesses(f"{item.nodeid}|teardown")
    yield
    label_subprocesses(None)
