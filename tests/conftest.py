"""Fixtures; the shared test data and comparisons are in helpers.py."""
import os

import numpy as np
import pytest

# The compile helper (kernels.compile_helper) off in the tests and in the
# processes they start: the workers already keep both cores busy, and a
# helper would be one more process per cold test. tests/test_compile_helper.py
# turns it on where it tests it.
os.environ.setdefault("FUSEDNET_COMPILE_HELPER", "0")


@pytest.fixture
def rng():
    return np.random.default_rng(20261123)


# FUSEDNET_COUNT_PROCESSES=1 counts the processes the tests start (the fast
# set, -m "not slow", should start few: each costs an interpreter and an
# import of Numba, ~1-3 s on 2 cores).
if __import__("os").environ.get("FUSEDNET_COUNT_PROCESSES"):
    import subprocess

    _started = []
    _in_test = False
    _init = subprocess.Popen.__init__

    def _counting_init(self, args, *rest, **kwargs):
        if _in_test:
            _started.append(args)
        _init(self, args, *rest, **kwargs)

    subprocess.Popen.__init__ = _counting_init

    _from_workers = []

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_protocol(item, nextitem):
        # Only the tests' own processes: not xdist's workers, not platform's probes.
        global _in_test
        _in_test = True
        try:
            return (yield)
        finally:
            _in_test = False

    def pytest_sessionfinish(session):
        # An xdist worker hands its count to the controller, which prints the sum.
        if hasattr(session.config, "workeroutput"):
            session.config.workeroutput["processes_started"] = len(_started)

    def pytest_testnodedown(node, error):
        _from_workers.append(node.workeroutput.get("processes_started", 0))

    def pytest_terminal_summary(terminalreporter):
        count = len(_started) + sum(_from_workers)
        terminalreporter.write_line(f"processes started by the tests: {count}")
