"""Numerical stability: huge logits and a dead ReLU layer."""
import numpy as np
import pytest

from fusednet import kernels
from fusednet.kernels import reference
from helpers import TOL, assert_all_match, upcast


@pytest.mark.parametrize("dtype, size", [(np.float64, 1e4), (np.float32, 100.0)])
def test_extreme_logits_give_finite_loss_and_closed_form_gradient(rng, dtype, size):
    N, C = 64, 7
    # Every logit is +size or -size, and each row's maximum is unique, so the
    # softmax is exactly one-hot at the argmax (the rest underflow) and the
    # loss of a row is s_max - s_target.
    scores = np.full((N, C), -size, dtype)
    top = rng.integers(0, C, N)
    scores[np.arange(N), top] = size
    y = rng.integers(0, C, N)
    loss, dscores = kernels.softmax_loss(scores, y)
    assert np.isfinite(loss)
    assert loss == pytest.approx(np.mean(2 * size * (top != y)), rel=TOL[np.dtype(dtype)])
    expected = np.zeros((N, C))
    expected[np.arange(N), top] += 1.0 / N
    expected[np.arange(N), y] -= 1.0 / N
    np.testing.assert_allclose(dscores, expected, atol=1e-7 / N)
    assert dscores.dtype == dtype


@pytest.mark.parametrize("dtype, size", [(np.float64, 1e4), (np.float32, 100.0)])
def test_two_layer_loss_stays_finite_with_extreme_logits(rng, dtype, size):
    N, D, H, C = 16, 3, 3, 4
    X = rng.standard_normal((N, D)).astype(dtype)
    W1 = np.eye(D, H, dtype=dtype)
    W2 = np.full((H, C), size, dtype) * rng.choice([-1, 1], (H, C)).astype(dtype)
    b1, b2 = np.zeros(H, dtype), np.zeros(C, dtype)
    y = rng.integers(0, C, N)
    loss, *grads = kernels.two_layer_loss(W1, b1, W2, b2, X, y, activation="identity")
    assert np.isfinite(loss) and loss > 1
    assert all(np.isfinite(g).all() for g in grads)
    ref = reference.two_layer_loss(*upcast(W1, b1, W2, b2, X), y, activation="identity")
    assert loss == pytest.approx(ref[0], rel=TOL[np.dtype(dtype)])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_all_dead_relu_layer_passes_no_gradient_to_the_first_layer(rng, dtype):
    N, D, H, C = 10, 6, 8, 3
    X = rng.standard_normal((N, D)).astype(dtype)
    W1 = rng.standard_normal((D, H)).astype(dtype)
    b1 = np.full(H, -100.0, dtype)  # every hidden unit is off for every input
    W2 = rng.standard_normal((H, C)).astype(dtype)
    b2 = rng.standard_normal(C).astype(dtype)
    y = rng.integers(0, C, N)
    loss, dW1, db1, dW2, db2, dX = kernels.two_layer_loss(W1, b1, W2, b2, X, y, 0.0, need_dX=True)
    for g in (dW1, db1, dW2, dX):
        assert not g.any()
    # The scores are b2 alone, so the loss is the cross-entropy of b2.
    assert loss == pytest.approx(kernels.softmax_loss(np.tile(b2, (N, 1)), y)[0], rel=TOL[np.dtype(dtype)])
    assert np.abs(db2).max() > 0
    expected = reference.two_layer_loss(*upcast(W1, b1, W2, b2, X), y, 0.0, need_dX=True)
    assert_all_match([dW1, db1, dW2, db2, dX], expected[1:], dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_confident_prediction_keeps_full_relative_accuracy_of_the_target_gradient(dtype):
    # Target logit 20 above the others: 1 - p_t = 4 e^-20 / (1 + 4 e^-20) = 8.2e-9,
    # below float32's eps and barely above float64's. Written as
    # -others / total it keeps its relative accuracy instead of cancelling.
    scores = np.array([[0.0, 0.0, 20.0, 0.0, 0.0]], dtype)
    _, dscores = kernels.softmax_loss(scores, np.array([2]))
    small = 4 * np.exp(-20.0) / (1 + 4 * np.exp(-20.0))
    assert dscores[0, 2] == pytest.approx(-small, rel=10 * float(np.finfo(dtype).eps))
    assert dscores[0, 0] == pytest.approx(np.exp(-20.0) / (1 + 4 * np.exp(-20.0)),
                                          rel=10 * float(np.finfo(dtype).eps))
