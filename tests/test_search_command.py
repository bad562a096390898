"""The search command, run as a user would."""
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
SMALL = ("--hidden", "10,20", "--lr", "0.1,0.5", "--reg", "1e-4", "--decay", "0.95",
         "--iters", "60")


def search(*args):
    return subprocess.run([sys.executable, "-m", "fusednet", "search", *args], cwd=ROOT,
                          capture_output=True, text=True)


def ranked(stdout):
    return [tuple(row.split()[1:]) for row in stdout.splitlines() if re.match(r"\s+\d+ ", row)]


@pytest.mark.slow
def test_grid_in_worker_processes_ranks_saves_and_draws(tmp_path):
    out = search(*SMALL, "--jobs", "2", "--out", str(tmp_path))
    assert out.returncode == 0, out.stderr
    rows = ranked(out.stdout)
    # The same settings trained here, serially, through the library.
    from fusednet import MLP, search as search_fn
    from fusednet.scripts.data import load
    data = load("digits", seed=0)
    expected = search_fn(data, hidden_sizes=[10, 20], learning_rates=[0.1, 0.5], regs=[1e-4],
                         decays=[0.95], num_iters=60, batch_size=200, std=0.1, seed=0)
    assert rows == [(str(r["hidden_size"]), f"{r['learning_rate']:.2g}", f"{r['reg']:.2g}",
                     f"{r['learning_rate_decay']:.3g}", f"{r['val_acc']:.4f}") for r in expected]
    results = json.loads((tmp_path / "results.json").read_text())
    assert [r["val_acc"] for r in results] == [r["val_acc"] for r in expected]
    best = MLP.load(tmp_path / "best_model.npz")
    for k, v in expected[0]["params"].items():
        np.testing.assert_array_equal(best.params[k], v)
    test_acc = float(np.mean(best.predict(data["X_test"]) == data["y_test"]))
    assert f"validation {expected[0]['val_acc']:.4f}, test {test_acc:.4f}" in out.stdout
    import matplotlib.image
    assert matplotlib.image.imread(tmp_path / "search.png").shape[0] >= 300


def test_random_search_samples_the_lists(tmp_path):
    out = search(*SMALL, "--random", "3", "--out", str(tmp_path))
    assert out.returncode == 0, out.stderr
    assert len(ranked(out.stdout)) == 3


@pytest.mark.slow
def test_on_a_dask_scheduler(tmp_path):
    from dask.distributed import LocalCluster
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster:
        out = search(*SMALL, "--dask-scheduler", cluster.scheduler_address,
                     "--out", str(tmp_path))
    assert out.returncode == 0, out.stderr
    assert "dask tcp://" in out.stdout
    assert ranked(out.stdout) == ranked(search(*SMALL, "--jobs", "1",
                                               "--out", str(tmp_path / "local")).stdout)


@pytest.mark.parametrize("args, words", [
    (("--lr", "0.1,abc"), "expected comma-separated numbers"),
    (("--iters", "0"), "argument --iters: expected an integer >= 1, got '0'"),
    (("--dataset", "nosuch"), "unknown dataset"),
    (("--dask-scheduler", "tcp://127.0.0.1:9", "--iters", "5"), "cannot reach the Dask scheduler"),
])
def test_bad_input_gives_one_line_and_no_traceback(tmp_path, args, words):
    out = search(*args, "--out", str(tmp_path))
    assert out.returncode != 0
    assert words in out.stderr and "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
