"""Training that stops early keeps its finished work: divergence on any
iteration (the last included) and Ctrl-C, in the models and the train command."""
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from fusednet import MLP, MLPClassifier, TrainingDiverged, TrainingInterrupted, TwoLayerNet
from fusednet.kernels import config
from fusednet.net import training


def digits_like(seed=0, n=200):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 64)) * 1000, rng.integers(0, 10, n)


def all_finite(model):
    return all(np.isfinite(v).all() for v in model.params.values())


@pytest.mark.parametrize("make", [lambda: MLP([64, 100, 10], seed=0),
                                  lambda: MLP([64, 30, 30, 10], "tanh", True, seed=0),
                                  lambda: TwoLayerNet(64, 100, 10, std=1e-2)])
def test_an_update_that_makes_parameters_nonfinite_on_the_last_step_raises(make):
    X, y = digits_like()
    model = make()
    before = {k: v.copy() for k, v in model.params.items()}
    with pytest.raises(TrainingDiverged, match="update of iteration 0 made parameters NaN or Inf") as info:
        model.train(X, y, X, y, learning_rate=1e308, reg=10.0, num_iters=1, batch_size=50)
    assert all_finite(model)
    for k, v in before.items():                     # the parameters of iteration 0, restored
        np.testing.assert_array_equal(model.params[k], v)
    assert len(info.value.history["loss_history"]) == 1
    assert np.isfinite(info.value.history["loss_history"][0])


def test_estimator_with_one_epoch_that_diverges_raises_and_keeps_finite_weights():
    X, y = digits_like()
    clf = MLPClassifier(hidden_layer_sizes=(100,), solver="sgd", momentum=0.0,
                        learning_rate_init=1e308, max_iter=1, batch_size=200, random_state=0)
    with pytest.raises(TrainingDiverged, match="epoch 1"):
        clf.fit(X, y)
    assert all(np.isfinite(w).all() for w in clf.coefs_ + clf.intercepts_)


def test_a_nonfinite_loss_at_iteration_zero_says_the_parameters_are_unchanged():
    X, y = digits_like()
    model = MLP([64, 10], seed=0)
    model.params["W1"][...] = 1e300                 # scores overflow to inf - inf = NaN
    with pytest.raises(TrainingDiverged, match="loss at iteration 0 is not finite; the model "
                                               "keeps the parameters it had before this iteration"):
        model.train(X, y, X, y, num_iters=5, batch_size=50)
    assert (model.params["W1"] == 1e300).all()


def test_divergence_in_a_later_chunk_keeps_the_parameters_of_the_iteration_before(monkeypatch):
    monkeypatch.setattr(config, "CHUNK_ROWS", 3 * 16)   # chunks of 3 iterations
    rng = np.random.default_rng(1)
    X, y = rng.standard_normal((64, 10)), rng.integers(0, 3, 64)
    kw = dict(learning_rate=40.0, learning_rate_decay=1.0, reg=0.0, batch_size=16)
    probe = MLP([10, 32, 3], seed=5)
    with pytest.raises(TrainingDiverged) as info:
        probe.train(X * 1e3, y, X, y, num_iters=500, **kw)
    bad = len(info.value.history["loss_history"])   # the first non-finite iteration
    assert bad > 3                                  # past the first chunk
    assert f"loss at iteration {bad} is not finite" in str(info.value)
    # The parameters of iteration bad - 1: those after bad - 1 updates, the same draws.
    again = MLP([10, 32, 3], seed=5)
    again.train(X * 1e3, y, X, y, num_iters=bad - 1, **kw)
    for k in probe.params:
        np.testing.assert_array_equal(probe.params[k], again.params[k])


def _overflowing_l2(path, monkeypatch):
    """A net whose hidden units are dead (h = 0, so the scores are the last
    bias and the data loss stays finite) and whose last weights grow 9-fold
    a step under the L2 term alone (lr * c = 10), until their sum of squares
    overflows: the loss is infinite only through its L2 term."""
    monkeypatch.setattr(config, "MIN_FLOPS", 0 if path == "split" else float("inf"))
    sizes = [30, 16, 16, 3] if path == "layers" else [30, 16, 3]
    model = MLP(sizes, seed=0)
    for k in model.params:
        if k.startswith("b"):
            model.params[k][...] = -1e6 if k == "b1" else 0.0
    model.params[f"W{len(sizes) - 1}"][...] = 1e151
    return model


TRAIN = dict(learning_rate=1.0, learning_rate_decay=1.0, reg=5.0, batch_size=40)


@pytest.mark.parametrize("path", ["layers", "two_layer", "split"])
def test_an_l2_term_that_overflows_keeps_the_parameters_the_message_names(path, monkeypatch):
    rng = np.random.default_rng(3)
    X, y = rng.standard_normal((200, 30)), rng.integers(0, 3, 200)
    model = _overflowing_l2(path, monkeypatch)
    with pytest.raises(TrainingDiverged) as info:
        model.train(X, y, X, y, num_iters=20, **TRAIN)
    bad = info.value.iteration
    assert bad >= 2 and len(info.value.history["loss_history"]) == bad
    if path == "split":
        # The split iteration sees W2's sum of squares after its update: the
        # parameters kept are those the diverging iteration started from.
        assert (f"loss at iteration {bad} is not finite; its data loss was finite but its L2 "
                f"term overflowed after the update; the model keeps the parameters iteration "
                f"{bad} started from") in str(info.value)
        kept = bad
    else:
        assert (f"loss at iteration {bad} is not finite; the model keeps the parameters "
                f"iteration {bad - 1} started from, the last with a finite loss") in str(info.value)
        kept = bad - 1
    again = _overflowing_l2(path, monkeypatch)
    again.train(X, y, X, y, num_iters=kept, **TRAIN)        # the same draws: seed 0
    for k in model.params:
        np.testing.assert_array_equal(model.params[k], again.params[k])


@pytest.mark.parametrize("path", ["layers", "two_layer", "split"])
def test_a_nonfinite_data_loss_keeps_the_parameters_of_the_iteration_before(path, monkeypatch):
    monkeypatch.setattr(config, "MIN_FLOPS", 0 if path == "split" else float("inf"))
    rng = np.random.default_rng(1)
    X, y = rng.standard_normal((64, 10)) * 1e3, rng.integers(0, 3, 64)
    sizes = [10, 32, 32, 3] if path == "layers" else [10, 32, 3]
    kw = dict(learning_rate=40.0, learning_rate_decay=1.0, reg=0.0, batch_size=16)
    act = "identity" if path == "layers" else "relu"   # a deep relu net dies instead
    with pytest.raises(TrainingDiverged) as info:
        (model := MLP(sizes, act, seed=5)).train(X, y, X, y, num_iters=500, **kw)
    bad = info.value.iteration
    assert bad >= 1
    assert (f"the model keeps the parameters iteration {bad - 1} started from, the last with a "
            "finite loss") in str(info.value)
    again = MLP(sizes, act, seed=5)
    again.train(X, y, X, y, num_iters=bad - 1, **kw)
    for k in model.params:
        np.testing.assert_array_equal(model.params[k], again.params[k])


INTERRUPTED = textwrap.dedent("""
    import json, signal, sys, time
    import numpy as np
    from fusednet import MLP, TrainingInterrupted, precompile
    precompile(("float64",))
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((2000, 784)), rng.integers(0, 10, 2000)
    model = MLP([784, 512, 10], seed=0)
    print("go", flush=True)
    try:
        model.train(X, y, X[:100], y[:100], learning_rate=1e-3, num_iters=10**7, batch_size=256)
    except TrainingInterrupted as exc:
        done = time.perf_counter()
        h = exc.history["loss_history"]
        print(json.dumps({"stopped": done, "iterations": len(h), "finite_history": bool(np.isfinite(h).all()),
                          "finite_params": all(bool(np.isfinite(v).all()) for v in model.params.values()),
                          "message": str(exc)}), flush=True)
""")


@pytest.mark.slow
def test_ctrl_c_stops_training_within_about_a_second_keeping_history_and_parameters():
    proc = subprocess.Popen([sys.executable, "-c", INTERRUPTED], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "go"
    time.sleep(2.0)
    sent = time.perf_counter()
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err[-2000:]
    result = json.loads(out.strip().splitlines()[-1])
    # perf_counter is system-wide on Linux, so the two processes' clocks compare.
    latency = result["stopped"] - sent
    assert latency < 3.0, latency          # chunks are sized to ~0.25 s of work
    assert result["iterations"] >= 1 and result["finite_history"] and result["finite_params"]
    assert f"after iteration {result['iterations'] - 1}" in result["message"]


@pytest.mark.slow
@pytest.mark.parametrize("signum, status, words", [
    (signal.SIGINT, 130, "training interrupted after iteration"),
    # SIGTERM (timeout, Slurm, docker stop): the same, then the process ends by it.
    (signal.SIGTERM, -signal.SIGTERM, "training stopped by SIGTERM after iteration")],
    ids=["ctrl-c", "sigterm"])
def test_train_command_saves_what_it_has_when_stopped(tmp_path, signum, status, words):
    import fusednet
    npz = tmp_path / "data.npz"
    rng = np.random.default_rng(0)
    np.savez(npz, X=rng.standard_normal((3000, 784)), y=rng.integers(0, 10, 3000))
    proc = subprocess.Popen([sys.executable, "-m", "fusednet", "train", "--dataset", str(npz),
                             "--hidden", "512", "--iters", "10000000", "--batch", "256",
                             "--lr", "1e-3", "--out", str(tmp_path / "run")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while time.time() < deadline:          # wait for the progress bar: training has begun
        time.sleep(0.5)
        if proc.poll() is not None:
            break
        line = os.read(proc.stderr.fileno(), 4096).decode(errors="replace")
        if "it/s" in line or "it]" in line:
            break
    time.sleep(1.0)
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == status, err[-2000:]
    last = [l for l in err.replace("\r", "\n").splitlines() if l.strip()][-1]
    assert last.startswith(f"fusednet train: error: {words}")
    assert "Traceback" not in err
    history = json.loads((tmp_path / "run" / "history.json").read_text())
    assert history["stopped"] == "interrupted" and len(history["loss_history"]) >= 1
    model = fusednet.MLP.load(tmp_path / "run" / "model.npz")
    assert all(np.isfinite(v).all() for v in model.params.values())
