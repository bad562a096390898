"""One-hot (N, C) labels wherever integer labels go, and (1, H) biases wherever
(H,) biases go, normalised at the boundary before any kernel runs."""
import numpy as np
import pytest

from fusednet import kernels
from fusednet.kernels import reference
from fusednet.net import MLP


def problem(rng, N=7, D=5, H=6, C=4):
    W1, W2 = rng.standard_normal((D, H)), rng.standard_normal((H, C))
    b1, b2 = rng.standard_normal(H), rng.standard_normal(C)
    X, y = rng.standard_normal((N, D)), rng.integers(0, C, N)
    return W1, b1, W2, b2, X, y


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.int64, np.bool_])
def test_one_hot_labels_of_any_number_type_give_the_integer_labels_numbers(rng, dtype):
    W1, b1, W2, b2, X, y = problem(rng)
    onehot = np.eye(4, dtype=dtype)[y]
    scores = X @ W1 @ W2          # (N, C)
    assert kernels.softmax_loss(scores, onehot)[0] == kernels.softmax_loss(scores, y)[0]
    got = kernels.two_layer_loss(W1, b1, W2, b2, X, onehot, reg=0.1)
    expected = reference.two_layer_loss(W1, b1, W2, b2, X, y, reg=0.1)
    assert got[0] == pytest.approx(expected[0], rel=1e-13)
    for g, e in zip(got[1:], expected[1:]):
        np.testing.assert_allclose(g, e, rtol=1e-11, atol=1e-13)


def test_mlp_trains_the_same_on_one_hot_labels(rng):
    W1, b1, W2, b2, X, y = problem(rng, N=40)
    runs = []
    for labels in (y, np.eye(4)[y]):
        model = MLP([5, 6, 4], seed=0)
        runs.append(model.train(X, labels, X, np.eye(4)[y], num_iters=20, batch_size=10)["loss_history"])
    assert runs[0] == runs[1]


@pytest.mark.parametrize("row, message", [
    ([1, 1, 0, 0], r"row 2 is \[1\.0, 1\.0, 0\.0, 0\.0\]"),
    ([0, 0, 0, 0], r"row 2 is \[0\.0, 0\.0, 0\.0, 0\.0\]"),
    ([0.5, 0.5, 0, 0], r"row 2 is \[0\.5, 0\.5"),
    ([np.nan, 1, 0, 0], r"row 2 is \[nan, 1\.0"),
])
def test_rows_that_are_not_one_hot_are_refused_naming_the_row(rng, row, message):
    W1, b1, W2, b2, X, y = problem(rng)
    onehot = np.eye(4)[y]
    onehot[2] = row
    with pytest.raises(ValueError, match=r"y holds one-hot rows \(N, C\) but " + message):
        kernels.two_layer_loss(W1, b1, W2, b2, X, onehot)


def test_one_hot_labels_of_the_wrong_width_or_type_are_refused(rng):
    W1, b1, W2, b2, X, y = problem(rng)
    with pytest.raises(ValueError, match=r"y has shape \(7, 5\); expected integer labels \(7,\) "
                                         r"or one-hot rows \(7, 4\)"):
        kernels.softmax_loss(X @ W1 @ W2, np.eye(5)[y])
    with pytest.raises(TypeError, match="one-hot rows of numbers, got dtype <U1"):
        kernels.softmax_loss(X @ W1 @ W2, np.full((7, 4), "a"))


def test_row_biases_are_taken_and_their_gradients_returned_in_the_same_shape(rng):
    W1, b1, W2, b2, X, y = problem(rng)
    flat = kernels.two_layer_loss(W1, b1, W2, b2, X, y, reg=0.1)
    rows = kernels.two_layer_loss(W1, b1.reshape(1, 6), W2, b2.reshape(1, 4), X, y, reg=0.1)
    assert rows[0] == flat[0]
    assert rows[2].shape == (1, 6) and rows[4].shape == (1, 4)
    np.testing.assert_array_equal(rows[2][0], flat[2])
    np.testing.assert_array_equal(rows[4][0], flat[4])
    np.testing.assert_array_equal(kernels.affine_forward(X, W1, b1.reshape(1, 6)),
                                  kernels.affine_forward(X, W1, b1))


def test_biases_of_other_shapes_are_refused_naming_the_shape(rng):
    W1, b1, W2, b2, X, y = problem(rng)
    with pytest.raises(ValueError, match=r"b1 has shape \(1, 5\); expected \(1, 6\)"):
        kernels.two_layer_loss(W1, b1[:5].reshape(1, 5), W2, b2, X, y)
    with pytest.raises(ValueError, match=r"b must be 1-dimensional, got shape \(2, 6\)"):
        kernels.affine_forward(X, W1, np.vstack([b1, b1]))


def test_masked_labels_with_masked_entries_are_refused_by_the_kernels():
    from fusednet import kernels
    scores = np.zeros((4, 3))
    y = np.ma.masked_array([0, 1, 7, 2], mask=[False, False, True, False])
    with pytest.raises(ValueError, match="y is a masked array with 1 masked entries"):
        kernels.softmax_loss(scores, y)
    loss, _ = kernels.softmax_loss(scores, np.ma.masked_array([0, 1, 2, 2]))  # nothing masked
    assert loss == pytest.approx(np.log(3), rel=1e-15)
