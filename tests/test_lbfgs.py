"""solver='lbfgs': the full batch's loss and gradient in fixed blocks of rows
(``kernels.full_batch``), the same bits on any thread count and parallel or
not; Ctrl-C and divergence inside SciPy's minimize keep a finite iterate."""
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.exceptions import ConvergenceWarning

from fusednet import MLP, MLPClassifier, MLPRegressor, TrainingInterrupted
from fusednet.kernels import config, full_batch
from fusednet.kernels import mlp as K
from fusednet.net import estimator
from fusednet.net.inputs import as_csr


@pytest.mark.parametrize("n", [1, 5, 256, 257, 1347, 70_000, 1_000_003])
def test_blocks_are_fixed_by_the_rows_even_and_none_empty(n):
    net = MLP([2, 1, 2], seed=0).packed()
    bl = full_batch.blocks(net, n, 256, (256,) * 3)
    K_, rows = bl.losses.shape[0], bl.rows
    assert rows <= 256 and (K_ - 1) * rows < n <= K_ * rows  # every block holds rows
    assert full_batch.blocks(MLP([7, 3, 2], seed=1).packed(), n, 256, (9,) * 3).rows == rows


def _problem(rng, sparse, head, weighted):
    X = rng.standard_normal((900, 30))
    if sparse:
        X[rng.random(X.shape) > 0.1] = 0
        X = as_csr("X", sp.csr_matrix(X), 30, np.float64)
    y = rng.integers(0, 4, 900) if head == "softmax" else rng.standard_normal((900, 4))
    w = rng.uniform(0.5, 2, 900) if weighted else None
    return X, y, w


@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("head, weighted", [("softmax", False), ("squared_error", True)])
def test_the_blocked_full_batch_is_the_same_bits_parallel_or_serial(rng, sparse, head, weighted):
    X, y, w = _problem(rng, sparse, head, weighted)
    model = MLP([30, 20, 10, 4], "tanh", seed=0, head=head)
    net = model.packed()
    bl = full_batch.blocks(net, 900, 256, config.loop_max(np.float64), w)
    total = 900.0 if w is None else float(w.sum())
    runs = []
    for parallel in (False, True, False):
        loss = full_batch.full_batch_loss_grad(net, X, y, 0.01, bl, total, parallel)
        runs.append((loss, net.grad.copy()))
    for loss, grad in runs[1:]:
        assert loss == runs[0][0]
        np.testing.assert_array_equal(grad, runs[0][1])
    # And the one-block kernel's numbers, but for the order of the sums.
    sc = K.scratch(net.sizes, np.float64, 900, config.loop_max(np.float64), weighted=weighted)
    if weighted:
        sc.w[:] = w
    loss = K.loss_grad(net, X, y, 0.01, sc, False)
    assert runs[0][0] == pytest.approx(loss, rel=1e-13)
    np.testing.assert_allclose(runs[0][1], net.grad, rtol=1e-11, atol=1e-15)


@pytest.mark.slow
def test_an_lbfgs_fit_is_the_same_bits_on_one_thread_and_two():
    code = textwrap.dedent("""
        import sys, warnings, numpy as np
        from sklearn.datasets import load_digits
        import fusednet
        fusednet.set_num_threads(int(sys.argv[1]))
        X, y = load_digits(return_X_y=True)
        warnings.simplefilter("ignore")
        clf = fusednet.MLPClassifier(solver="lbfgs", max_iter=60, random_state=0).fit(X / 16, y)
        print(clf.n_iter_, repr(float(np.concatenate([c.ravel() for c in clf.coefs_]) @
                                      np.arange(sum(c.size for c in clf.coefs_)))))
    """)
    outs = [subprocess.run([sys.executable, "-c", code, str(t)], capture_output=True, text=True,
                           timeout=600) for t in (1, 2)]
    for out in outs:
        assert out.returncode == 0, out.stderr[-2000:]
    assert outs[0].stdout == outs[1].stdout


def _digits():
    from sklearn.datasets import load_digits
    X, y = load_digits(return_X_y=True)
    return X[:600] / 16.0, y[:600]


def test_ctrl_c_inside_minimize_keeps_the_last_accepted_iterate(monkeypatch):
    X, y = _digits()
    calls = {"n": 0}
    real = full_batch.full_batch_loss_grad

    def interrupted(*args):
        calls["n"] += 1
        if calls["n"] == 12:
            raise KeyboardInterrupt
        return real(*args)

    monkeypatch.setattr(full_batch, "full_batch_loss_grad", interrupted)
    clf = MLPClassifier(hidden_layer_sizes=(20,), solver="lbfgs", random_state=0)
    with pytest.raises(TrainingInterrupted, match=r"lbfgs interrupted after iteration (\d+)"):
        clf.fit(X, y)
    k = clf.n_iter_
    assert 1 <= k < 12
    monkeypatch.setattr(full_batch, "full_batch_loss_grad", real)
    # The iterate kept is the k-th: what a fit stopped after k iterations ends with.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ref = MLPClassifier(hidden_layer_sizes=(20,), solver="lbfgs", random_state=0,
                            max_iter=k).fit(X, y)
    for a, b in zip(clf.coefs_ + clf.intercepts_, ref.coefs_ + ref.intercepts_):
        np.testing.assert_array_equal(a, b)
    assert (clf.predict(X) == ref.predict(X)).all()


def test_a_diverging_lbfgs_fit_raises_scikit_learns_error_and_keeps_finite_weights():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((100, 5)) * 1e155  # the products overflow at the first evaluation
    y = rng.standard_normal(100)
    reg = MLPRegressor(hidden_layer_sizes=(8,), solver="lbfgs", random_state=0)
    with pytest.raises(ValueError, match="Solver produced non-finite parameter weights") as info:
        reg.fit(X, y)
    assert isinstance(info.value, estimator.EstimatorDiverged)
    assert all(np.isfinite(c).all() for c in reg.coefs_ + reg.intercepts_)
