"""The compile helper (``kernels.compile_helper``): a second process compiles
the small kernels while a cold first call compiles its loop. Pinned: the
call then compiles none of them again (the helper's argument types are the
call's), and the helper starts on a cold call only."""
import json
import os
import subprocess
import sys
import textwrap

import pytest

TRAIN = textwrap.dedent("""
    import json, sys
    import numpy as np
    from numba.core import event
    compiled = []

    class Listener(event.Listener):
        def on_start(self, ev):
            f = getattr(ev.data["dispatcher"], "py_func", None)
            if f is not None and f.__module__.startswith("fusednet"):
                compiled.append(f.__module__.rpartition(".")[2] + "." + f.__qualname__)
        def on_end(self, ev):
            pass

    event.register("numba:compile", Listener())
    from fusednet import MLP, TwoLayerNet
    from fusednet.kernels import compile_helper
    rng = np.random.default_rng(0)
    if sys.argv[1] == "toy":
        X = rng.standard_normal((5, 4)); y = np.array([0, 1, 2, 2, 1])
        TwoLayerNet(4, 10, 3, std=1e-1).train(X, y, X, y, num_iters=20)
    else:  # a float32 step large enough to run split
        X = rng.standard_normal((600, 1024)).astype(np.float32); y = rng.integers(0, 10, 600)
        m = MLP([1024, 64, 10], seed=0, dtype=np.float32)
        assert m.train(X, y, X[:50], y[:50], num_iters=4, batch_size=200) is not None
    started = sorted(k for k, p in compile_helper._started.items() if p is not None)
    print(json.dumps({"compiled": compiled, "started": started}))
""")


def _run(args, env):
    out = subprocess.run([sys.executable, *args], env=env, capture_output=True, text=True,
                         timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    return out


def _env(tmp_path, helper):
    return dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "cache"), FUSEDNET_SHIPPED_CACHE="off",
                FUSEDNET_COMPILE_HELPER=helper)


@pytest.mark.slow  # fresh caches: each process compiles
@pytest.mark.parametrize("case, dtype", [("toy", "float64"), ("split", "float32")])
def test_a_call_after_the_helper_compiles_none_of_its_kernels_again(tmp_path, case, dtype):
    from fusednet.kernels import compile_helper
    env = _env(tmp_path, "0")
    _run(["-m", "fusednet.kernels.compile_helper", dtype], env)
    result = json.loads(_run(["-c", TRAIN, case], env).stdout.splitlines()[-1])
    helpers = {k.py_func.__module__.rpartition(".")[2] + "." + k.py_func.__qualname__
               for k, _ in compile_helper.signatures(dtype)}
    assert result["compiled"], "the call compiled nothing: the test's cache was not fresh"
    assert not helpers & set(result["compiled"]), sorted(helpers & set(result["compiled"]))


@pytest.mark.slow
def test_the_helper_starts_on_a_cold_call_and_not_on_a_warm_one(tmp_path):
    env = _env(tmp_path, "1")
    cold = json.loads(_run(["-c", TRAIN, "toy"], env).stdout.splitlines()[-1])
    warm = json.loads(_run(["-c", TRAIN, "toy"], env).stdout.splitlines()[-1])
    assert cold["started"] == ["float64"] and warm["started"] == [] and warm["compiled"] == []


def test_the_helper_is_not_started_where_it_cannot_help(monkeypatch):
    from fusednet.kernels import compile_helper
    monkeypatch.setattr(compile_helper, "_started", {})
    monkeypatch.setenv("FUSEDNET_COMPILE_HELPER", "0")
    assert compile_helper.start("float64") is None and not compile_helper.allowed()
    monkeypatch.setenv("FUSEDNET_COMPILE_HELPER", "1")
    monkeypatch.setenv("FUSEDNET_COMPILE_HELPER_PROCESS", "1")   # inside a helper
    assert not compile_helper.allowed()
    assert compile_helper.start("int64") is None                 # no float kernels to compile
