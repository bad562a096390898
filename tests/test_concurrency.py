"""Training from several threads or forked processes at once."""
import multiprocessing
import os
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from fusednet.net import MLP


def train(seed):
    rng = np.random.default_rng(100 + seed)
    X = rng.standard_normal((300, 20))
    y = (X[:, 0] > 0).astype(int) + (X[:, 1] > 0).astype(int)
    model = MLP([20, 64, 64, 3], activation="tanh", residual=True, seed=seed)
    stats = model.train(X, y, X, y, learning_rate=1e-2, num_iters=150, batch_size=50,
                        update="adam")
    return stats["loss_history"], model.params["W2"].copy()


def same(a, b):
    return a[0] == b[0] and np.array_equal(a[1], b[1])


def test_threads_training_at_once_do_not_change_each_others_results():
    serial = [train(s) for s in range(4)]
    with ThreadPoolExecutor(4) as pool:
        threaded = list(pool.map(train, range(4)))
    assert all(same(a, b) for a, b in zip(serial, threaded))


@pytest.mark.slow
def test_threads_under_the_workqueue_layer():
    # workqueue aborts the process on concurrent parallel launches; our
    # kernels never launch one, so threads are safe under every layer.
    code = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {os.path.dirname(__file__)!r})
        from concurrent.futures import ThreadPoolExecutor
        from test_concurrency import train, same
        serial = [train(s) for s in range(3)]
        with ThreadPoolExecutor(3) as pool:
            threaded = list(pool.map(train, range(3)))
        import numba
        print(all(same(a, b) for a, b in zip(serial, threaded)))
    """)
    env = dict(os.environ, NUMBA_THREADING_LAYER="workqueue")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "True"


@pytest.mark.slow
def test_fork_based_processes_after_the_parent_trained():
    serial = [train(s) for s in range(3)]       # the parent has compiled and run
    with multiprocessing.get_context("fork").Pool(2) as pool:
        forked = pool.map(train, range(3))
    assert all(same(a, b) for a, b in zip(serial, forked))
