"""A two-layer iteration split into blocks over threads (``kernels.split``):
the reference's loss and gradients, the same numbers on any number of
threads, the unsplit kernel's up to rounding, nothing changed when the loss
is not finite, nothing allocated per step."""
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from fusednet.kernels import config, reference, split, threads
from fusednet.kernels import loop as L
from fusednet.kernels import mlp as K
from fusednet.kernels.activations import CODES, IDENTITY
from fusednet.kernels.heads import SOFTMAX
from fusednet.net import MLP, TrainingDiverged, chunks, training
from helpers import TOL, blobs, norm_rel_error


@pytest.mark.parametrize("n, D", [(23, 37), (1, 2), (300, 2100)])
def test_blocks_cover_every_row_once_and_depend_only_on_the_shape(n, D):
    rows = [split._span(k, split.row_blocks(n), n) for k in range(split.row_blocks(n))]
    feats = [split._span(k, split.feature_blocks(D), D) for k in range(split.feature_blocks(D))]
    for spans, total in ((rows, n), (feats, D)):
        covered = [i for a, b in spans for i in range(a, b)]
        assert covered == list(range(total))
    assert split.row_blocks(n) % 2 == 0 and split.feature_blocks(D) % 4 == 0
    assert max(b - a for a, b in rows) <= config.ROWS
    assert max(b - a for a, b in feats) <= config.FEATURES


def test_the_benchmark_shapes_that_run_split_are_the_ones_measured_faster():
    from fusednet.bench.workloads import SHAPES
    runs_split = {name: split.splits(N, np.array([D, H, C]))[0]
                  for name, (N, D, H, C) in SHAPES.items()}
    assert runs_split == {"toy": False, "cs224d": False, "digits": False, "cifar": True,
                          "mnist": True, "wide": False, "course_toy": False}


def _iteration(dtype, activation, n, parallel, D=37, H=11, C=4, N=23, rule="sgd", scale=1.0):
    """One split iteration on fresh parameters; returns what it saw and did."""
    rng = np.random.default_rng(5)
    sizes = np.array([D, H, C])
    w_off, P = K.offsets(sizes)
    theta = (0.3 * rng.standard_normal(P)).astype(dtype)
    before = theta.copy()
    net = K.Net(theta, np.empty_like(theta), sizes, w_off, np.array([CODES[activation], IDENTITY]),
                np.zeros(2, np.bool_), SOFTMAX)
    X = (scale * rng.standard_normal((40, D))).astype(dtype)
    y = rng.integers(0, C, 40)
    idx = rng.integers(0, 40, N)
    c = 2 * 1e-2
    data = L.Data(X, y, X[:0], y[:0])
    s = training.Session(net, data, batch_rows=N, l2_factor=c, num_iters=1,
                         optimizer=training.Optimizer(rule, None, 0.05, theta))
    tr = s.parallel(parallel)
    loss, updated = split.split_iteration(tr, L.two_layer_views(tr), data, idx, n, np.float64(n), c)
    return dict(loss=loss, updated=updated, before=before, theta=theta, grad=net.grad,
                backup=tr.optimizer.backup, step=tr.progress.step[0], X=X[idx[:n]], y=y[idx[:n]],
                net=net)


def _params(flat, r):
    return [f(flat, r["net"], l) for l in (0, 1) for f in (K.weight, K.bias)]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid"])
@pytest.mark.parametrize("n", [23, 9, 1])
@pytest.mark.parametrize("parallel", [False, True], ids=["serial", "parallel"])
def test_an_iteration_computes_the_reference_loss_gradients_and_update(dtype, activation, n,
                                                                        parallel):
    r = _iteration(dtype, activation, n, parallel)
    W1, b1, W2, b2 = (p.astype(np.float64) for p in _params(r["before"], r))
    want = reference.two_layer_loss(W1, b1, W2, b2, r["X"].astype(np.float64), r["y"], 1e-2,
                                    activation=activation)
    tol = TOL[np.dtype(dtype)]
    assert abs(r["loss"] - want[0]) <= tol * abs(want[0])
    for got, ref in zip(_params(r["grad"], r), want[1:]):
        assert norm_rel_error(got, ref) <= tol
    np.testing.assert_array_equal(r["backup"], r["before"])
    eps = np.finfo(dtype).eps  # the update may fuse its multiply-add
    np.testing.assert_allclose(r["theta"], r["before"] - r["grad"] * dtype(0.05), rtol=2 * eps,
                               atol=eps * np.abs(r["before"]).max())
    # The update is made; counting it is the loop's (finish_iteration).
    assert r["updated"] and r["step"] == 0


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_parallel_and_serial_blocks_give_identical_bits(dtype):
    a = _iteration(dtype, "relu", 23, True, D=700, H=30, N=23, rule="adam")
    b = _iteration(dtype, "relu", 23, False, D=700, H=30, N=23, rule="adam")
    assert a["loss"] == b["loss"]
    for k in ("theta", "grad", "backup"):
        np.testing.assert_array_equal(a[k], b[k])


def test_a_nonfinite_data_loss_returns_before_any_update():
    r = _iteration(np.float64, "relu", 23, True, scale=np.inf)
    assert not np.isfinite(r["loss"]) and not r["updated"]
    np.testing.assert_array_equal(r["theta"], r["before"])


def _train(dtype, threads_, min_flops, monkeypatch, rule="sgd_momentum", iters=40):
    monkeypatch.setattr(config, "MIN_FLOPS", min_flops)
    before = threads.get_num_threads()
    threads.set_num_threads(threads_)
    try:
        X, y = blobs(300, 70, 4, seed=3)
        model = MLP([70, 24, 4], dtype=dtype, seed=1)
        hist = model.train(X.astype(dtype), y, X[:60].astype(dtype), y[:60], learning_rate=0.05,
                           reg=1e-3, num_iters=iters, batch_size=50, update=rule, eval_every=10)
    finally:
        threads.set_num_threads(before)
    return model, hist


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("rule", ["sgd_momentum", "adam"])
def test_training_split_gives_the_same_numbers_on_one_and_two_threads(dtype, rule, monkeypatch):
    seen = []
    original = L.train

    def spy(trainee, *args):
        assert args[-3:] == (True, None, None)  # the split path
        seen.append(trainee.buffers.parallel)
        return original(trainee, *args)
    monkeypatch.setattr(L, "train", spy)
    one, h1 = _train(dtype, 1, 0, monkeypatch, rule)
    assert seen and not any(seen)
    seen.clear()
    # A fresh policy: an earlier test's timings may steer a later call's
    # first chunk to one thread, and this one must run the parallel blocks.
    monkeypatch.setattr(chunks, "_policies", {})
    two, h2 = _train(dtype, 2, 0, monkeypatch, rule)
    if threads.available_cores() >= 2:
        assert seen[0]  # the first chunk ran its blocks in parallel
    assert h1 == h2
    for k in one.params:
        np.testing.assert_array_equal(one.params[k], two.params[k])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_training_split_equals_training_unsplit_up_to_rounding(dtype, monkeypatch):
    split_model, hs = _train(dtype, 2, 0, monkeypatch)
    whole_model, hw = _train(dtype, 2, float("inf"), monkeypatch)
    tol = {np.float64: 1e-12, np.float32: 1e-5}[dtype]
    np.testing.assert_allclose(hs["loss_history"], hw["loss_history"], rtol=tol)
    for k in whole_model.params:
        assert norm_rel_error(split_model.params[k], whole_model.params[k]) <= tol


ALLOCATIONS = textwrap.dedent("""
    import numpy as np
    from numba.core.runtime import _nrt_python, rtsys
    from fusednet import MLP
    from fusednet.kernels import config
    from fusednet.net import chunks
    config.MIN_FLOPS = 0
    _nrt_python.memsys_enable_stats()
    X = np.random.default_rng(0).standard_normal((400, 700)); y = np.arange(400) % 5
    counts = []
    for iters in (1, 1, 60):
        model = MLP([700, 40, 5], seed=0)
        chunks._policies.clear()  # an untimed first chunk: one chunk a call, never a probe
        before = rtsys.get_allocation_stats().alloc
        model.train(X, y, X[:10], y[:10], num_iters=iters, batch_size=100, eval_every=0)
        counts.append(rtsys.get_allocation_stats().alloc - before)
    print(counts[1], counts[2])
""")


@pytest.mark.slow
def test_a_split_training_call_allocates_nothing_per_iteration():
    env = dict(os.environ, NUMBA_NRT_STATS="1")
    out = subprocess.run([sys.executable, "-c", ALLOCATIONS], env=env, capture_output=True,
                         text=True, check=True).stdout.split()
    one, many = (int(v) for v in out)
    # Compiled code allocates per call (the wrappers of the arrays passed from
    # Python), never per iteration: 60 iterations, one chunk (its size is set
    # by the step's flops), cost what one does.
    assert many == one
