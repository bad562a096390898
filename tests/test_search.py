"""Parallel hyper-parameter search: the same results serially, in worker
processes, and on a Dask cluster."""
import numpy as np
import pytest

from fusednet import net
from fusednet.net.search import best_net
from helpers import blob_split

GRID = dict(hidden_sizes=[6, 12], learning_rates=[1e-2, 1e-1], regs=[1e-4, 1e-2], decays=[0.95])
KW = dict(num_iters=40, batch_size=32, seed=3)


def comparable(results):
    return [(r["hidden_size"], r["learning_rate"], r["reg"], r["val_acc"], r["history"],
             {k: v.tolist() for k, v in r["params"].items()}) for r in results]


@pytest.fixture(scope="module")
def serial():
    return net.search(blob_split(), **GRID, **KW)


def test_search_ranks_every_setting_by_validation_accuracy(serial):
    assert len(serial) == 8
    accs = [r["val_acc"] for r in serial]
    assert accs == sorted(accs, reverse=True)
    best = best_net(serial[0])
    d = blob_split()
    assert np.mean(best.predict(d["X_val"]) == d["y_val"]) == serial[0]["val_acc"]


@pytest.mark.slow
def test_worker_processes_give_the_serial_results(serial):
    assert comparable(net.search(blob_split(), **GRID, **KW, n_jobs=2)) == comparable(serial)


@pytest.mark.slow
def test_dask_cluster_gives_the_serial_results(serial):
    from dask.distributed import Client, LocalCluster
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster):
        on_dask = net.search(blob_split(), **GRID, **KW, n_jobs=2, backend="dask")
    assert comparable(on_dask) == comparable(serial)


@pytest.mark.slow
def test_find_best_net_in_parallel_equals_serial():
    grid = lambda: ([1e-2, 1e-1], [6, 12], [1e-3], [0.9])  # noqa: E731
    a = net.find_best_net(blob_split(), grid, num_iters=30, batch_size=32)
    b = net.find_best_net(blob_split(), grid, num_iters=30, batch_size=32, n_jobs=2)
    assert a[1] == b[1] and a[2] == b[2]
    np.testing.assert_array_equal(a[0].params["W1"], b[0].params["W1"])


def test_empty_grid_is_refused():
    with pytest.raises(ValueError, match="the search grid is empty"):
        net.search(blob_split(), [], [1e-2], [1e-3])
