"""Many models in one parallel call, and one two-layer model's iterations
split over threads (``kernels.split``): the numbers of training alone on one
thread, and safe under every threading layer, fork, Python threads and a
shared cache."""
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from fusednet import TwoLayerNet, train_many
from fusednet.net.search import _train_one
from helpers import blob_split

SETTINGS = [(6, 0.5, 1e-4, 0.95), (12, 0.1, 1e-2, 0.9), (9, 0.3, 0.0, 1.0), (12, 0.5, 1e-3, 0.95)]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("split", [False, True], ids=["whole", "split"])
def test_each_model_equals_the_same_setting_trained_alone(dtype, split, monkeypatch):
    # split: every model's iterations in blocks (as at the CIFAR shape), run
    # serially inside train_many and over threads when trained alone.
    from fusednet.kernels import config
    monkeypatch.setattr(config, "MIN_FLOPS", 0 if split else float("inf"))
    d = blob_split(seed=2)
    X, Xv = d["X_train"].astype(dtype), d["X_val"].astype(dtype)
    state = np.random.get_state()
    results = train_many(X, d["y_train"], Xv, d["y_val"], SETTINGS, num_iters=70, batch_size=32,
                         std=0.1, seed=4)
    assert all(a == b for a, b in zip(np.random.get_state()[1], state[1]))  # np.random untouched
    for setting, r in zip(SETTINGS, results):
        alone = _train_one(X, d["y_train"], Xv, d["y_val"], *setting, 70, 32, 0.1, 4, 3)
        assert r["history"] == alone["history"]
        assert r["val_acc"] == alone["val_acc"] and r["diverged"] is False
        for k in alone["params"]:
            assert r["params"][k].dtype == np.dtype(dtype)
            np.testing.assert_array_equal(r["params"][k], alone["params"][k])


def test_a_diverging_model_stops_and_the_others_go_on():
    d = blob_split(seed=3)
    X = d["X_train"]
    settings = [(8, 0.1, 1e-3, 0.95), (8, 1e200, 0.0, 1.0), (8, 0.05, 1e-3, 0.95)]
    results = train_many(X, d["y_train"], X[:40], d["y_train"][:40], settings, num_iters=200,
                         batch_size=16, std=0.1)
    bad = results[1]
    assert bad["diverged"] and len(bad["history"]["loss_history"]) == bad["diverged_at"]
    assert all(np.isfinite(v).all() for v in bad["params"].values())
    alone_bad = _train_one(X, d["y_train"], X[:40], d["y_train"][:40], *settings[1], 200, 16, 0.1,
                           0, 3)
    assert (alone_bad["diverged_at"], alone_bad["history"]) == (bad["diverged_at"], bad["history"])
    for r, s in zip((results[0], results[2]), (settings[0], settings[2])):
        alone = _train_one(X, d["y_train"], X[:40], d["y_train"][:40], *s, 200, 16, 0.1, 0, 3)
        assert r["diverged"] is False and r["history"] == alone["history"]


def test_settings_are_checked_before_any_work():
    d = blob_split()
    with pytest.raises(ValueError, match="settings is empty"):
        train_many(d["X_train"], d["y_train"], d["X_val"], d["y_val"], [])
    with pytest.raises(ValueError, match=r"each setting must be \(hidden_size"):
        train_many(d["X_train"], d["y_train"], d["X_val"], d["y_val"], [(8, 0.1)])


PROGRAM = textwrap.dedent("""
    import json, os, sys, threading, warnings
    import numpy as np
    warnings.simplefilter("always")
    caught = []
    warnings.showwarning = lambda m, *a, **k: caught.append(str(m))
    import numba
    from fusednet import train_many, MLP
    from fusednet.kernels import config
    config.MIN_FLOPS = 0  # every two-layer net runs split, its blocks over threads
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((120, 10)), rng.integers(0, 3, 120)
    S = [(8, 0.1, 1e-3, 0.95), (16, 0.3, 1e-4, 0.9), (4, 0.2, 0.0, 1.0)]

    def run():
        r = train_many(X, y, X[:30], y[:30], S, num_iters=40, batch_size=16, std=0.1)
        one = MLP([10, 12, 3], seed=0)
        h = one.train(X, y, X[:30], y[:30], learning_rate=0.1, reg=1e-3, num_iters=40,
                      batch_size=16, update="adam")
        return ([x["history"]["loss_history"][-1] for x in r]
                + [h["loss_history"][-1], h["val_acc_history"][-1], float(one.params["W1"].sum())])

    out = {}
    for step in sys.argv[1].split(","):
        if step == "many":
            out["many"] = run()
        elif step == "solo":
            out["solo"] = MLP([10, 12, 3], seed=0).train(X, y, X, y, num_iters=20,
                                                         batch_size=16)["loss_history"][-1]
        elif step == "mlp":
            out["mlp"] = MLP([10, 12, 12, 3], seed=0).train(X, y, X, y, num_iters=20,
                                                           batch_size=16)["loss_history"][-1]
            # What training a net that does not split compiled of the split path.
            from fusednet.kernels import split
            out["split_compiled"] = len(split.split_iteration.signatures)
        elif step == "threads":
            res = [None] * 8
            def work(i):
                res[i] = run()
            ts = [threading.Thread(target=work, args=(i,)) for i in range(8)]
            [t.start() for t in ts]
            [t.join() for t in ts]
            out["threads"] = res
        elif step == "fork":
            r, w = os.pipe()
            pid = os.fork()
            if pid == 0:
                os.write(w, json.dumps(run()).encode()); os._exit(0)
            os.waitpid(pid, 0)
            out["fork"] = json.loads(os.read(r, 1 << 16))
    try:
        out["layer"] = numba.threading_layer()
    except ValueError:
        out["layer"] = None
    out["warnings"] = [w for w in caught if "fusednet" in w]
    print(json.dumps(out))
""")


def run_program(steps, **env):
    full = dict(os.environ, **env)
    proc = subprocess.run([sys.executable, "-c", PROGRAM, steps], env=full, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def expected():
    return run_program("many", NUMBA_NUM_THREADS="1")["many"]


@pytest.mark.slow
@pytest.mark.parametrize("layer", ["default", "tbb", "omp", "workqueue"])
def test_every_threading_layer_gives_the_same_numbers_from_threads_and_after_fork(layer, expected):
    env = {} if layer == "default" else {"NUMBA_THREADING_LAYER": layer}
    out = run_program("many,threads,fork", **env)
    assert out["many"] == expected
    assert all(r == expected for r in out["threads"])
    assert out["fork"] == expected
    if layer == "default":
        assert out["layer"] == "tbb"
    # An unsafe combination ran serially, saying so once per kind.
    assert len(out["warnings"]) == len(set(out["warnings"]))


@pytest.mark.slow
def test_a_cache_written_in_any_order_and_thread_count_loads_in_any_other(tmp_path, expected):
    # One cache, five processes:
    # 1 caches the split training loop (2 threads);
    # 2 compiles the loop of a net that does not split from cold (Numba must
    #   prune the split branch), then the serial many-model loop over the
    #   cached parallel callee, and caches both (1 thread: Numba #8578's
    #   pattern; Numba 0.68 then skipped starting its pool when it was
    #   loaded, and the next process crashed (SIGSEGV) until fusednet started
    #   the pool at import);
    # 3 loads them, in the other order;
    # 4 and 5 load with another thread count (4 compiles and caches the
    #   parallel many-model loop, 5 loads it).
    cache = str(tmp_path / "cache")
    runs = [("solo", "2"), ("mlp,many", "1"), ("many,mlp", "1"), ("mlp,many", "2"),
            ("many,mlp", "2")]
    for i, (steps, n) in enumerate(runs):
        out = run_program(steps, NUMBA_CACHE_DIR=cache, NUMBA_NUM_THREADS=n)
        assert out.get("many", expected) == expected, (steps, n)
        if i == 1:
            assert out["split_compiled"] == 0
    # The parallel kernels themselves were cached, and so loaded by the later
    # processes.
    for kernel in ("many.train_models", "split._rows_region", "split._features_region",
                   "loop.train"):
        assert [p for p in (tmp_path / "cache").rglob(f"{kernel}-*.nbi")], kernel


def test_find_best_net_says_so_when_every_setting_diverged():
    from fusednet import TrainingDiverged, find_best_net
    d = blob_split(seed=5)
    grid = lambda: ([1e250, 1e300], [6], [0.0], [1.0])  # noqa: E731
    with pytest.raises(TrainingDiverged, match="every setting diverged"):
        find_best_net(d, grid, num_iters=20, batch_size=16)


def test_find_best_net_runs_the_grid_in_one_call_with_the_serial_numbers():
    from fusednet import find_best_net
    d = blob_split(seed=6)
    grid = lambda: ([0.1, 0.5], [6, 10], [1e-4], [0.95])  # noqa: E731
    net, stats, acc = find_best_net(d, grid, num_iters=30, batch_size=16)
    one_thread = find_best_net(d, grid, num_iters=30, batch_size=16, n_jobs=1)
    processes = find_best_net(d, grid, num_iters=30, batch_size=16, n_jobs=2, backend="loky")
    for other in (one_thread, processes):
        assert other[1] == stats and other[2] == acc
        for k in net.params:
            np.testing.assert_array_equal(other[0].params[k], net.params[k])
