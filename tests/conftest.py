"""Shared fixtures: the real embedded tables, loaded once per session."""

from __future__ import annotations

import signal
import sys
import warnings

import pytest

from hpo_gym.suites import load_hpobench_nn


@pytest.fixture(scope="session")
def credit_g():
    """The real HPOBench NN table for credit_g (OpenML task 31)."""
    return load_hpobench_nn("credit_g")


@pytest.fixture(scope="session")
def kc1():
    """The real HPOBench NN table for kc1 (OpenML task 3917)."""
    return load_hpobench_nn("kc1")


@pytest.fixture(autouse=True)
def _gym_checker_warnings_are_errors():
    """Gymnasium's passive checker warns on contract violations; in our tests those are failures."""
    with warnings.catch_warnings():
        warnings.filterwarnings("error", module=r"gymnasium\.utils\.passive_env_checker")
        yield


@pytest.fixture(autouse=True)
def _forget_modules_imported_from_tmp(tmp_path_factory):
    """A module a test wrote and imported (``my_agents.py`` in its tmp_path, for ``--agents my_agents:MyAgent``) is
    removed from ``sys.modules`` after it: the next test's own ``my_agents.py`` must be imported, not this one found
    already loaded."""
    before = set(sys.modules)
    yield
    base = str(tmp_path_factory.getbasetemp())
    for name in set(sys.modules) - before:
        if str(getattr(sys.modules[name], "__file__", None) or "").startswith(base):
            del sys.modules[name]


@pytest.fixture
def ctrl_c_works():
    """Ctrl-C (SIGINT) raises KeyboardInterrupt in this process, and the processes a test starts get Python's own
    handling, for the length of the test.

    Why: pytest started with SIGINT ignored (a background job of a non-interactive shell, ``pytest &`` in a script)
    passes the ignoring on to every process it starts, so a test of the Ctrl-C handling saw no Ctrl-C at all: the
    benchmark ran its 64 runs to the end and the executor its job to the time limit. A handler set from Python is reset
    to the default by exec, so the children start as from a terminal."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
