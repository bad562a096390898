"""Fixtures; the shared test data and comparisons are in helpers.py."""
import numpy as np
import pytest


@pytest.fixture
def rng():
    return np.random.default_rng(20261123)


# FUSEDNET_COUNT_PROCESSES=1 counts the processes the tests start (the fast
# set, -m "not slow", should start few: each costs an interpreter and an
# import of Numba, ~1-3 s on 2 cores).
if __import__("os").environ.get("FUSEDNET_COUNT_PROCESSES"):
    import subprocess

    _started = []
    _init = subprocess.Popen.__init__

    def _counting_init(self, args, *rest, **kwargs):
        _started.append(args)
        _init(self, args, *rest, **kwargs)

    subprocess.Popen.__init__ = _counting_init

    def pytest_terminal_summary(terminalreporter):
        terminalreporter.write_line(f"processes started by the tests: {len(_started)}")
