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
            d = ev.data["dispatcher"]  # a dispatcher, or the product's entry point (a CFunc)
            f = getattr(d, "py_func", None) or getattr(d, "__wrapped__", None)
            if f is not None and f.__module__.startswith("fusednet"):
                compiled.append(f.__module__.rpartition(".")[2] + "." + f.__qualname__)
        def on_end(self, ev):
            pass

    event.register("numba:compile", Listener())
    event.register("fusednet:compile", Listener())
    from fusednet import MLP, TwoLayerNet
    from fusednet.kernels import compile_helper
    rng = np.random.default_rng(0)
    if sys.argv[1] == "toy":
        X = rng.standard_normal((5, 4)); y = np.array([0, 1, 2, 2, 1])
        np.random.seed(0)  # the course's class draws its weights from NumPy's global state
        net = TwoLayerNet(4, 10, 3, std=1e-1)
        hist = net.train(X, y, X, y, num_iters=20)
        out = [hist["loss_history"][-1], net.params["W1"].ravel().tolist()]
    else:  # a float32 step large enough to run split
        X = rng.standard_normal((600, 1024)).astype(np.float32); y = rng.integers(0, 10, 600)
        m = MLP([1024, 64, 10], seed=0, dtype=np.float32)
        hist = m.train(X, y, X[:50], y[:50], num_iters=4, batch_size=200)
        out = [float(hist["loss_history"][-1]), m.params["W2"].ravel().tolist()]
    started = sorted(k for k, p in compile_helper._started.items() if p is not None)
    print(json.dumps({"compiled": compiled, "started": started, "out": out}))
""")


def _name(kernel):
    """The TRAIN script's name of a kernel of ``signatures`` (None: the entry point)."""
    f = kernel.py_func if kernel is not None else _c_entry()
    return f.__module__.rpartition(".")[2] + "." + f.__qualname__


def _c_entry():
    from fusednet.kernels import matmul
    return matmul._c_entry


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
    split = case == "split"
    _run(["-m", "fusednet.kernels.compile_helper", dtype] + ["split"] * split, env)
    result = json.loads(_run(["-c", TRAIN, case], env).stdout.splitlines()[-1])
    helpers = {_name(k) for k, _ in compile_helper.signatures(dtype, split)}
    assert "matmul._c_entry" in helpers
    assert result["compiled"], "the call compiled nothing: the test's cache was not fresh"
    assert not helpers & set(result["compiled"]), sorted(helpers & set(result["compiled"]))


@pytest.mark.slow
def test_the_helper_starts_on_a_cold_call_and_not_on_a_warm_one(tmp_path):
    env = _env(tmp_path, "1")
    cold = json.loads(_run(["-c", TRAIN, "toy"], env).stdout.splitlines()[-1])
    warm = json.loads(_run(["-c", TRAIN, "toy"], env).stdout.splitlines()[-1])
    assert cold["started"] == ["float64"] and warm["started"] == [] and warm["compiled"] == []


@pytest.mark.slow  # fresh caches: each process compiles
@pytest.mark.parametrize("case", ["toy", "split"])
def test_a_cold_call_with_the_helper_leaves_it_the_entry_point_and_gives_the_same_numbers(
        tmp_path, case):
    """The call compiles its kernels while the helper compiles the product's
    entry point (which the call's kernels reach through its cell, filled
    before they run): the call never compiles the entry point itself, waits
    for what the helper is compiling rather than compiling it twice, and
    trains to the bits a call without the helper trains to."""
    helped = json.loads(_run(["-c", TRAIN, case], _env(tmp_path / "a", "1")).stdout.splitlines()[-1])
    alone = json.loads(_run(["-c", TRAIN, case], _env(tmp_path / "b", "0")).stdout.splitlines()[-1])
    assert helped["started"] == ["float64" if case == "toy" else "float32"]
    assert "matmul._c_entry" in alone["compiled"]
    assert "matmul._c_entry" not in helped["compiled"]
    assert len(helped["compiled"]) < len(alone["compiled"])
    assert helped["out"] == alone["out"]


def test_the_helper_is_not_started_where_it_cannot_help(monkeypatch):
    from fusednet.kernels import compile_helper
    monkeypatch.setattr(compile_helper, "_started", {})
    monkeypatch.setenv("FUSEDNET_COMPILE_HELPER", "0")
    assert compile_helper.start("float64") is None and not compile_helper.allowed()
    monkeypatch.setenv("FUSEDNET_COMPILE_HELPER", "1")
    monkeypatch.setenv("FUSEDNET_COMPILE_HELPER_PROCESS", "1")   # inside a helper
    assert not compile_helper.allowed()
    assert compile_helper.start("int64") is None                 # no float kernels to compile


def test_an_empty_entry_cell_raises_instead_of_calling_address_zero(monkeypatch):
    """A product whose entry point is not loaded (no path leaves it so when
    code runs; this pins the guard) is a RuntimeError, not a crash."""
    import numpy as np
    from fusednet.kernels import matmul
    from numba import types
    A, B = np.ones((3, 4)), np.ones((4, 2))
    out = np.empty((3, 2))
    matmul.matmul(A, B, out, (0, 0, 0))
    assert np.array_equal(out, A @ B)
    cell = matmul._CELLS[types.float64]
    address = cell.value
    try:
        cell.value = 0
        with pytest.raises(RuntimeError, match="entry point is not loaded"):
            matmul.matmul(A, B, out, (0, 0, 0))
    finally:
        cell.value = address
    matmul.matmul(A, B, out, (10**9,) * 3)
    assert np.array_equal(out, A @ B)


def test_settle_fills_the_cell_before_an_interrupt_goes_on(monkeypatch):
    """Ctrl-C while a compile's end waits for the helper: the entry point is
    loaded (or compiled) first, so the compiled code does not run with an
    empty cell, and the interrupt then goes on."""
    from fusednet.kernels import compile_helper, matmul
    from numba import types
    f64 = types.float64
    cell = matmul._CELLS[f64]
    address = cell.value
    monkeypatch.setattr(matmul, "_compiled", {})
    monkeypatch.setattr(matmul, "_pending", {f64})

    def interrupted(dtype):
        raise KeyboardInterrupt
    monkeypatch.setattr(compile_helper, "wait_entry", interrupted)
    assert matmul.compiling.HELPER is compile_helper
    try:
        cell.value = 0
        with pytest.raises(KeyboardInterrupt):
            matmul._settle()
        assert cell.value != 0 and f64 in matmul._compiled and not matmul._pending
    finally:
        if not cell.value:
            cell.value = address


def test_a_call_waits_for_what_the_helper_is_compiling_and_no_longer(monkeypatch):
    """``wait_if_compiling``: False at once for a kernel the helper is not
    compiling; for one it is, True once the helper reports it written; a
    forked child never waits on its parent's helper."""
    import threading
    from fusednet.kernels import compile_helper
    monkeypatch.setattr(compile_helper, "_busy", {"float64": {"k(a)", "j(b)"}})
    assert not compile_helper.wait_if_compiling("other(c)")

    def report():
        with compile_helper._reports:
            compile_helper._busy["float64"].discard("k(a)")
            compile_helper._reports.notify_all()
    threading.Timer(0.2, report).start()
    assert compile_helper.wait_if_compiling("k(a)")
    assert compile_helper._busy["float64"] == {"j(b)"}
    monkeypatch.setattr(compile_helper, "_owner", -1)   # as in a forked child
    assert not compile_helper.wait_if_compiling("j(b)")
    assert not compile_helper.take_entry("float64") and compile_helper.start("float64") is None


def test_the_helpers_order_follows_what_the_call_compiles():
    """No hint (a first loss, whose compile ends needing the entry point):
    the entry point first. The training loop (which needs it only when it
    runs): its scoring and update first, then the entry point. Its split
    path: region B of the split iteration before those."""
    from fusednet.kernels import compile_helper, mlp, split
    names = lambda sigs: [k for k, _ in sigs]  # noqa: E731
    other = names(compile_helper.signatures("float64"))
    train = names(compile_helper.signatures("float64", train=True))
    splits = names(compile_helper.signatures("float64", split=True))
    assert other[0] is None and train[0] is mlp.score and None in train[1:]
    assert splits[0] is split._features_region and splits[1:] == train
    assert sorted(map(id, other)) == sorted(map(id, train))


def test_the_helper_is_told_when_the_call_compiles_the_training_loop():
    from numba import types
    from fusednet.kernels import compile_helper, loop
    f = loop.train.py_func
    args = lambda flag: (types.int64,) * 5 + (flag, types.none, types.none)  # noqa: E731
    assert compile_helper._hint(f, args(types.none)) == compile_helper.TRAIN
    assert compile_helper._hint(f, args(types.boolean)) == compile_helper.SPLIT
    assert compile_helper._hint(loop.restore_if_nonfinite.py_func, args(types.none)) is None


CTRL_C = textwrap.dedent("""
    import json, os, signal, sys, threading
    import numpy as np
    from fusednet import TwoLayerNet
    X = np.random.default_rng(0).standard_normal((5, 4)); y = np.array([0, 1, 2, 2, 1])

    def train():
        np.random.seed(0)
        return TwoLayerNet(4, 10, 3, std=1e-1).train(X, y, X, y, num_iters=20)["loss_history"]

    out = {}
    if sys.argv[1] == "interrupt":
        timer = threading.Timer(2.5, lambda: os.kill(os.getpid(), signal.SIGINT))
        timer.daemon = True
        timer.start()
        try:
            train()
            out["interrupted"] = False
        except KeyboardInterrupt:
            out["interrupted"] = True
    out["loss"] = list(train())
    print(json.dumps(out))
""")


@pytest.mark.slow  # fresh caches: each process compiles
def test_ctrl_c_during_a_cold_first_call_then_the_call_again_trains_to_the_same_numbers(tmp_path):
    """A notebook's Ctrl-C while the first call compiles (kernels compiled or
    half compiled, the helper busy with the product's loops): the call ends
    by KeyboardInterrupt; run again in the same process it trains, to the
    numbers of a process never interrupted."""
    hit = json.loads(_run(["-c", CTRL_C, "interrupt"], _env(tmp_path / "a", "1")).stdout.splitlines()[-1])
    calm = json.loads(_run(["-c", CTRL_C, "calm"], _env(tmp_path / "b", "1")).stdout.splitlines()[-1])
    assert hit["interrupted"] is True
    assert hit["loss"] == calm["loss"] and len(calm["loss"]) == 20


SPARE = textwrap.dedent("""
    import json
    import numpy as np
    from fusednet.kernels import compile_helper
    from fusednet import MLP
    spare = compile_helper._spare
    out = {"spare": spare.pid if spare is not None else None}
    X = np.random.default_rng(0).standard_normal((50, 8)).astype(np.float32)
    y = np.arange(50) % 3
    MLP([8, 16, 3], seed=0, dtype=np.float32).train(X, y, X, y, num_iters=5, batch_size=10)
    out["started"] = {k: p.pid for k, p in compile_helper._started.items() if p is not None}
    out["left"] = compile_helper._spare is not None
    print(json.dumps(out))
""")


@pytest.mark.slow  # a fresh cache: the process compiles
def test_a_fresh_environment_sets_a_helper_up_at_import_and_its_first_compile_names_the_dtype(
        tmp_path):
    """Cold: a helper is started at import, idle until the first compile
    tells it its dtype (float32 here), and that helper is the one used; warm
    (the cache holds the product's loops): none at import."""
    env = _env(tmp_path, "1")
    cold = json.loads(_run(["-c", SPARE], env).stdout.splitlines()[-1])
    warm = json.loads(_run(["-c", SPARE], env).stdout.splitlines()[-1])
    assert cold["spare"] is not None and cold["started"] == {"float32": cold["spare"]}
    assert not cold["left"]
    assert warm["spare"] is None and warm["started"] == {}
