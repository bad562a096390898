"""Data that is not a plain ndarray: converted by the models, or refused by
name; never a Numba compiler traceback, never silently wrong."""
import warnings

import numpy as np
import pandas as pd
import pytest
import scipy.sparse

from fusednet.kernels import config

from fusednet import MLP, TwoLayerNet, kernels
from fusednet.net import inputs


def matrix(a):
    """``np.matrix(a)`` (what ``scipy.sparse``'s ``todense()`` returns),
    without its PendingDeprecationWarning."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        return np.matrix(a)


@pytest.fixture
def data(rng):
    X = rng.standard_normal((12, 5))
    return X, np.arange(12) % 3


@pytest.fixture(params=[MLP, TwoLayerNet])
def model(request):
    np.random.seed(0)
    return MLP([5, 4, 3], seed=0) if request.param is MLP else TwoLayerNet(5, 4, 3, std=0.1)


@pytest.mark.parametrize("convert", [
    matrix, np.ma.masked_array, pd.DataFrame, lambda X: X.tolist(),
    lambda X: np.asfortranarray(X), lambda X: X.astype(np.float32),
    lambda X: scipy.sparse.csr_matrix(X), lambda X: scipy.sparse.csc_array(X),
], ids=["matrix", "masked-without-mask", "pandas", "list", "fortran", "float32", "csr", "csc"])
def test_array_likes_give_the_ndarray_results(model, data, convert):
    X, y = data
    loss, grads = model.loss(X, y, reg=0.1)
    got_loss, got = model.loss(convert(X), pd.Series(y), reg=0.1)
    tol = 1e-6 if getattr(convert(X), "dtype", None) == np.float32 else 1e-15
    assert got_loss == pytest.approx(loss, rel=tol)
    for name in grads:
        np.testing.assert_allclose(got[name], grads[name], rtol=tol * 100, atol=tol)
    np.testing.assert_array_equal(model.predict(convert(X)), model.predict(X))


def test_memmap_input_trains(tmp_path, data):
    X, y = data
    path = tmp_path / "X.dat"
    mm = np.memmap(path, dtype=np.float64, mode="w+", shape=X.shape)
    mm[...] = X
    mm.flush()
    ro = np.memmap(path, dtype=np.float64, mode="r", shape=X.shape)
    a, b = MLP([5, 4, 3], seed=0), MLP([5, 4, 3], seed=0)
    ha = a.train(X, y, X, y, num_iters=5, batch_size=4)
    hb = b.train(ro, y, ro, y, num_iters=5, batch_size=4)
    assert ha == hb


def test_matrix_and_masked_arrays_work_in_the_kernels(data, rng):
    X, y = data
    W, b = rng.standard_normal((5, 3)), np.zeros(3)
    expected = kernels.affine_forward(X, W, b)
    np.testing.assert_array_equal(kernels.affine_forward(matrix(X), matrix(W), b), expected)
    np.testing.assert_array_equal(kernels.affine_forward(np.ma.masked_array(X), W, b), expected)
    loss = kernels.softmax_loss(X, y)[0]
    assert kernels.softmax_loss(matrix(X), y)[0] == loss


@pytest.mark.parametrize("make, error, words", [
    (lambda X: np.ma.masked_array(X, mask=np.eye(12, 5)), ValueError,
     r"X is a masked array with 5 masked entries; fill them \(X.filled\(value\)\)"),
    (lambda X: [[1.0, 2.0], [3.0]], ValueError, r"X cannot be read as an array \(list\)"),
    (lambda X: X.astype(object), TypeError, r"X must hold real numbers, got dtype object"),
    (lambda X: X.astype(complex), TypeError, r"X must hold real numbers, got dtype complex128"),
    (lambda X: pd.DataFrame(X).assign(name="a"), TypeError, r"X must hold real numbers, got dtype object"),
    (lambda X: "text", TypeError, r"X must hold real numbers"),
    (lambda X: matrix(X[:, :4]), ValueError, r"X has shape \(12, 4\); expected \(\*, 5\)"),
])
def test_unusable_array_likes_are_refused_by_name(model, data, make, error, words):
    X, y = data
    with pytest.raises(error, match=words):
        model.loss(make(X), y)


def test_scipy_sparse_labels_and_kernel_inputs_name_the_conversion(model, data):
    # Sparse X is read as sparse rows (above); labels and the kernels' own
    # arguments must be dense.
    X, y = data
    with pytest.raises(TypeError, match=r"y is a scipy.sparse csr_matrix; .* pass y.toarray\(\)"):
        model.loss(X, scipy.sparse.csr_matrix(y[:, None]))
    with pytest.raises(TypeError, match=r"X must be a NumPy array, got csr_matrix \(a scipy.sparse"):
        kernels.affine_forward(scipy.sparse.csr_matrix(X), np.ones((5, 2)), np.zeros(2))


def test_masked_labels_are_refused_and_matrix_labels_named(model, data):
    X, y = data
    with pytest.raises(ValueError, match="y is a masked array with 4 masked entries"):
        model.loss(X, np.ma.masked_array(y, mask=y == 0))
    with pytest.raises(ValueError, match=r"y has shape \(1, 12\); expected integer labels \(12,\) "
                                         r"or one-hot rows \(12, 3\)"):
        model.loss(X, matrix(y))


def test_kernels_refuse_masked_entries_and_masked_outputs(data, rng):
    X, _ = data
    W, b = rng.standard_normal((5, 3)), np.zeros(3)
    with pytest.raises(ValueError, match="X is a masked array with 1 masked entries"):
        kernels.affine_forward(np.ma.masked_array(X, mask=X == X[0, 0]), W, b)
    with pytest.raises(TypeError, match="out must be a NumPy array or None, got MaskedArray"):
        kernels.affine_forward(X, W, b, out=np.ma.masked_array(np.zeros((12, 3))))


@pytest.fixture
def small_copy_threshold(monkeypatch):
    monkeypatch.setattr(config, "COPY_WARN_BYTES", 1000)
    monkeypatch.setattr(inputs, "_warned", set())


def test_a_large_conversion_copy_is_announced_once_with_the_fix(small_copy_threshold, rng):
    X = rng.standard_normal((400, 5)).astype(np.float32)
    y = np.arange(400) % 3
    model = MLP([5, 4, 3], seed=0)
    with pytest.warns(inputs.InputCopyWarning,
                      match=r"X \(400 x 5, float32 to float64\) is copied .* 0.00 GiB .*"
                            r"X = X.astype\(np.float64\)\), or make the model dtype=np.float32"):
        model.loss(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.loss(X, y)                 # once
        model.loss(X[:10], y[:10])       # below the threshold
        model.loss(X.astype(np.float64), y)  # no copy
    with pytest.warns(inputs.InputCopyWarning, match=r"read-only\) is copied"):
        ro = X.astype(np.float64)
        ro.flags.writeable = False
        model.loss(ro, y)
