"""Sparse inputs (``scipy.sparse`` X, read as ``kernels.sparse.CSR`` rows):
the first layer's products on the stored entries give the dense numbers,
malformed matrices are refused before a kernel reads them, and the
estimators fit scikit-learn's model on CSR and CSC input."""
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn import neural_network as theirs
from sklearn.exceptions import ConvergenceWarning

from fusednet import MLP, MLPClassifier, MLPRegressor
from fusednet.kernels import mlp as K
from fusednet.kernels import sparse
from fusednet.net.inputs import as_csr


def _csr(n, D, density, seed, dtype=np.float64):
    X = sp.random(n, D, density=density, random_state=seed, format="csr", dtype=dtype)
    X.data[X.indptr[3]:X.indptr[4]] = 0  # an empty row
    X.eliminate_zeros()
    return X


@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-13), (np.float32, 1e-5)])
@pytest.mark.parametrize("sizes, residual", [([60, 40, 5], False), ([60, 60, 30, 4], True),
                                             ([60, 3], False)])
def test_sparse_rows_give_the_dense_loss_gradients_and_input_gradient(dtype, rtol, sizes,
                                                                      residual):
    X = _csr(80, 60, 0.15, 0, dtype)
    y = np.random.default_rng(0).integers(0, sizes[-1], 80)
    m = MLP(sizes, residual=residual, seed=1, weight_scale=0.3, dtype=dtype)
    loss, grads, dX = m.loss(X, y, reg=0.1, need_dX=True)
    loss_d, grads_d, dX_d = m.loss(X.toarray(), y, reg=0.1, need_dX=True)
    assert loss == pytest.approx(loss_d, rel=rtol)
    for got, want in [(grads[name], grads_d[name]) for name in grads] + [(dX, dX_d)]:
        np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol * np.abs(want).max())
    want = m.scores(X.toarray())
    np.testing.assert_allclose(m.scores(sp.csc_matrix(X)), want, rtol=rtol,
                               atol=rtol * np.abs(want).max())
    assert m.score(X, y) == m.score(X.toarray(), y)


@pytest.mark.parametrize("head", ["logistic", "squared_error"])
def test_sparse_rows_weighted_in_the_kernel_give_the_dense_numbers(head):
    X = _csr(50, 30, 0.2, 1)
    m = MLP([30, 12, 3], head=head, seed=0)
    t = np.random.default_rng(2).uniform(0, 1, (50, 3))
    w = np.random.default_rng(3).uniform(0.1, 2, 50)
    out = []
    for rows in (as_csr("X", X, 30, np.float64), X.toarray()):
        net = m.packed()
        sc = K.scratch(net.sizes, np.float64, 50, (256,) * 3, weighted=True)
        sc.w[:] = w
        out.append((K.loss_grad(net, rows, t, 0.01, sc, False), net.grad.copy()))
    assert out[0][0] == pytest.approx(out[1][0], rel=1e-13)
    np.testing.assert_allclose(out[0][1], out[1][1], rtol=1e-12, atol=1e-15)


def test_gather_takes_the_drawn_rows_into_a_buffer_sized_for_the_fullest():
    X = _csr(40, 25, 0.3, 2)
    rows = as_csr("X", X, 25, np.float64)
    counts = np.diff(X.indptr)
    idx = np.argsort(counts)[::-1][:7].copy()  # the seven fullest rows: the buffer's limit
    idx = np.concatenate([idx, [3]])  # and the empty one
    buf = sparse.batch_buffer(rows, len(idx))
    assert buf.data.shape[0] == np.sort(counts)[-len(idx):].sum()
    yb = np.empty(len(idx), np.int64)
    sparse.gather_rows(rows, np.arange(40), idx, len(idx), buf, yb)
    got = sp.csr_matrix((buf.data, buf.indices, buf.indptr), shape=(len(idx), 25))
    np.testing.assert_array_equal(got.toarray(), X[idx].toarray())
    np.testing.assert_array_equal(yb, idx)


def test_training_on_sparse_rows_equals_training_on_dense():
    X = _csr(300, 50, 0.1, 3)
    y = np.random.default_rng(4).integers(0, 4, 300)
    runs = []
    for Xt in (X, X.toarray()):
        m = MLP([50, 16, 4], seed=0)
        hist = m.train(Xt, y, Xt[:60], y[:60], num_iters=120, batch_size=25,
                       learning_rate=0.5, update="sgd_momentum")
        runs.append((hist, m.packed().theta.copy()))
    (ha, ta), (hb, tb) = runs
    np.testing.assert_allclose(ha["loss_history"], hb["loss_history"], rtol=1e-12)
    assert ha["val_acc_history"] == hb["val_acc_history"]
    np.testing.assert_allclose(ta, tb, rtol=1e-11, atol=1e-14)


def _broken(kind):
    X = _csr(10, 6, 0.5, 5)
    if kind == "indices":
        X.indices[2] = 6
    elif kind == "negative":
        X.indices[0] = -1
    elif kind == "indptr":
        X.indptr[4], X.indptr[5] = X.indptr[5], X.indptr[4] + 1
    elif kind == "nan":
        X.data[1] = np.nan
    elif kind == "width":
        X = sp.csr_matrix(X.toarray()[:, :5])
    elif kind == "empty":
        X = X[:0]
    return X


@pytest.mark.parametrize("kind, words", [
    ("indices", r"X is a sparse matrix with column indices outside \[0, 6\)"),
    ("negative", r"column indices outside"),
    ("indptr", r"row pointers \(indptr\) are not valid for 10 rows"),
    ("nan", r"X contains a non-finite value \(nan\)"),
    ("width", r"X has shape \(10, 5\); expected \(\*, 6\)"),
    ("empty", r"X is empty"),
])
def test_malformed_sparse_matrices_are_refused_by_name(kind, words):
    m = MLP([6, 4, 2], seed=0)
    with pytest.raises(ValueError, match=words):
        m.loss(_broken(kind), np.zeros(10 if kind != "empty" else 0, np.int64))
    if kind in ("indices", "negative", "indptr"):
        # What scikit-learn's own validation lets through, the estimator's check stops.
        with pytest.raises(ValueError, match=words):
            MLPClassifier(hidden_layer_sizes=(3,), max_iter=2).fit(_broken(kind), np.arange(10) % 2)


def _problems():
    X = _csr(240, 300, 0.03, 6)
    rng = np.random.default_rng(7)
    y = np.asarray(X[:, :40].sum(axis=1)).ravel() * 10 + rng.standard_normal(240)
    labels = np.digitize(y, np.quantile(y, [0.33, 0.66]))
    return {"multiclass": (X, labels, theirs.MLPClassifier, MLPClassifier),
            "binary": (X, labels % 2, theirs.MLPClassifier, MLPClassifier),
            "multilabel": (X, np.stack([labels == 0, labels == 2], axis=1).astype(int),
                           theirs.MLPClassifier, MLPClassifier),
            "regression": (X, y, theirs.MLPRegressor, MLPRegressor)}


PROBLEMS = _problems()


@pytest.mark.parametrize("problem", sorted(PROBLEMS))
@pytest.mark.parametrize("solver, extra", [
    ("sgd", {"learning_rate": "invscaling", "learning_rate_init": 0.1}),
    ("adam", {"early_stopping": True}), ("lbfgs", {}), ("adam", {"weighted": True})],
    ids=["sgd-invscaling", "adam-early", "lbfgs", "adam-weighted"])
@pytest.mark.parametrize("fmt", ["csr", "csc"])
def test_the_estimators_fit_scikit_learns_model_on_sparse_input(problem, solver, extra, fmt):
    X, y, ref_cls, cls = PROBLEMS[problem]
    X = X.asformat(fmt)
    extra = dict(extra)
    fit_kw = {}
    if extra.pop("weighted", False):
        fit_kw["sample_weight"] = np.random.default_rng(8).uniform(0.2, 3, X.shape[0])
    kw = dict(hidden_layer_sizes=(12,), solver=solver, random_state=0, tol=0.0, batch_size=50,
              max_iter=20 if solver == "lbfgs" else 6, **extra)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours = cls(**kw).fit(X, y, **fit_kw)
        ref = ref_cls(**kw).fit(X, y, **fit_kw)
    assert ours.n_iter_ == ref.n_iter_
    for a, b in zip(ours.coefs_ + ours.intercepts_, ref.coefs_ + ref.intercepts_):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-13)
    if cls is MLPRegressor:
        np.testing.assert_allclose(ours.predict(X), ref.predict(X), rtol=1e-10)
    else:
        np.testing.assert_array_equal(ours.predict(X), ref.predict(X))
    if solver != "lbfgs":
        np.testing.assert_allclose(ours.loss_curve_, ref.loss_curve_, rtol=1e-12)
    if solver != "lbfgs" and not extra.get("early_stopping"):
        ours.partial_fit(X, y, **fit_kw)  # one more epoch each
        ref.partial_fit(X, y, **fit_kw)
        for a, b in zip(ours.coefs_, ref.coefs_):
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-13)


@pytest.mark.slow
def test_a_large_tf_idf_matrix_trains_in_the_memory_it_takes():
    # 100,000 x 1,000,000 at 0.002% (2,000,000 entries, 24 MB stored): dense
    # it would be 800 GB, and one dense batch of 5,000 rows 40 GB. What the
    # fit allocates is its parameters, gradient, Adam moments and batch.
    code = textwrap.dedent("""
        import tracemalloc, numpy as np, scipy.sparse as sp
        from fusednet import MLPClassifier
        rng = np.random.default_rng(0)
        n, D, nnz = 100_000, 1_000_000, 2_000_000
        rows = np.sort(rng.integers(0, n, nnz)); cols = rng.integers(0, D, nnz)
        X = sp.csr_matrix((rng.uniform(0, 1, nnz), (rows, cols)), shape=(n, D))
        X.sum_duplicates()
        s = np.asarray(X[:, :D // 2].sum(axis=1)).ravel()
        y = (s > np.median(s)).astype(int)
        MLPClassifier(hidden_layer_sizes=(2,), max_iter=1).fit(X[:300], y[:300])  # compiled
        tracemalloc.start()
        clf = MLPClassifier(hidden_layer_sizes=(2,), max_iter=1, batch_size=5000,
                            random_state=0).fit(X, y)
        _, peak = tracemalloc.get_traced_memory()
        print(peak, clf.score(X[:5000], y[:5000]))
    """)
    out = subprocess.run([sys.executable, "-W", "ignore", "-c", code], capture_output=True,
                         text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    peak, score = out.stdout.split()
    # 2,000,000 parameters (16 MB) times parameters, gradient, two moments,
    # the update's backup: ~80 MB (95 MB measured), with scikit-learn's
    # validation copies of X (24 MB each).
    assert int(peak) < 300 * 2**20
    assert 0.0 <= float(score) <= 1.0
