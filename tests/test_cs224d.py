"""fusednet.cs224d.forward_backward_prop called as CS224d assignment 1 calls it
(its sanity check under its gradient checker), against an independent NumPy
computation of the course's formula."""
import random

import numpy as np
import pytest

from fusednet.cs224d import forward_backward_prop


def gradcheck_naive(f, x):
    """The course's checker, by its conventions: f returns (cost, grad); each
    entry of x is moved by h = 1e-4 both ways with Python's random state
    restored before every call; the relative difference, scaled by
    max(1, |numeric|, |analytic|), must stay within 1e-5. Prints the course's
    message and returns whether it passed."""
    state = random.getstate()
    random.setstate(state)
    _, grad = f(x)
    h = 1e-4
    for ix in np.ndindex(x.shape):
        old = x[ix]
        x[ix] = old + h
        random.setstate(state)
        plus = f(x)[0]
        x[ix] = old - h
        random.setstate(state)
        minus = f(x)[0]
        x[ix] = old
        numeric = (plus - minus) / (2 * h)
        if abs(numeric - grad[ix]) / max(1, abs(numeric), abs(grad[ix])) > 1e-5:
            print("Gradient check failed.")
            return False
    print("Gradient check passed!")
    return True


def sanity_problem():
    """The course's sanity check: 20 rows, dimensions [10, 5, 10], one-hot
    labels drawn with Python's random, params from np.random.randn."""
    N, dimensions = 20, [10, 5, 10]
    data = np.random.randn(N, dimensions[0])
    labels = np.zeros((N, dimensions[2]))
    for i in range(N):
        labels[i, random.randint(0, dimensions[2] - 1)] = 1
    params = np.random.randn((dimensions[0] + 1) * dimensions[1] + (dimensions[1] + 1) * dimensions[2])
    return data, labels, params, dimensions


def reference(data, labels, params, dimensions, activation="sigmoid", reg=0.0):
    """The course's formula in plain NumPy: (cost, flat grad, d data)."""
    Dx, H, Dy = dimensions
    W1 = params[:Dx * H].reshape(Dx, H)
    b1 = params[Dx * H:Dx * H + H]
    W2 = params[Dx * H + H:Dx * H + H + H * Dy].reshape(H, Dy)
    b2 = params[-Dy:]
    z = data @ W1 + b1
    h = 1 / (1 + np.exp(-z)) if activation == "sigmoid" else np.tanh(z)
    s = h @ W2 + b2
    p = np.exp(s - s.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    cost = -np.sum(labels * np.log(p)) + 0.5 * reg * (np.sum(W1 ** 2) + np.sum(W2 ** 2))
    d_s = p - labels
    d_h = d_s @ W2.T
    d_z = d_h * (h * (1 - h) if activation == "sigmoid" else 1 - h ** 2)
    grad = np.concatenate([(data.T @ d_z + reg * W1).ravel(), d_z.sum(axis=0),
                           (h.T @ d_s + reg * W2).ravel(), d_s.sum(axis=0)])
    return cost, grad, d_z @ W1.T


def rel(a, b):
    return float(np.max(np.abs(np.asarray(a) - b)) / np.max(np.abs(b)))


def test_the_courses_sanity_check_passes_its_gradient_checker(capsys):
    np.random.seed(0)
    random.seed(0)
    data, labels, params, dimensions = sanity_problem()
    assert gradcheck_naive(lambda params: forward_backward_prop(data, labels, params, dimensions),
                           params)
    assert capsys.readouterr().out == "Gradient check passed!\n"


def test_a_wrong_gradient_fails_the_same_checker():
    np.random.seed(1)
    data, labels, params, dimensions = sanity_problem()

    def halved_b2(p):
        cost, grad = forward_backward_prop(data, labels, p, dimensions)
        grad[-1] *= 0.5
        return cost, grad
    assert not gradcheck_naive(halved_b2, params)


def test_cost_is_the_sum_over_rows_and_grad_is_flat_in_the_courses_order():
    np.random.seed(2)
    data, labels, params, dimensions = sanity_problem()
    cost, grad = forward_backward_prop(data, labels, params, dimensions)
    ref_cost, ref_grad, _ = reference(data, labels, params, dimensions)
    assert cost == pytest.approx(ref_cost, rel=1e-13)
    assert grad.shape == params.shape and grad.dtype == params.dtype
    assert rel(grad, ref_grad) < 1e-13
    # Sum, not mean: twice the rows (each repeated) is twice the cost and gradient.
    cost2, grad2 = forward_backward_prop(np.vstack([data, data]), np.vstack([labels, labels]),
                                         params, dimensions)
    assert cost2 == pytest.approx(2 * cost, rel=1e-13)
    assert rel(grad2, 2 * grad) < 1e-13


def test_leaving_out_activation_means_sigmoid_not_relu():
    np.random.seed(3)
    data, labels, params, dimensions = sanity_problem()
    default = forward_backward_prop(data, labels, params, dimensions)[0]
    assert default == forward_backward_prop(data, labels, params, dimensions,
                                            activation="sigmoid")[0]
    assert abs(default - forward_backward_prop(data, labels, params, dimensions,
                                               activation="relu")[0]) > 1e-3


def test_tanh_window_variant_with_half_l2_and_the_input_gradient():
    # The window model: 3 word vectors of 50 -> 100 tanh units -> 5 classes.
    rng = np.random.default_rng(224)
    dimensions = (150, 100, 5)
    data = rng.standard_normal((4, 150))
    labels = np.eye(5)[[1, 4, 0, 0]]
    params = 0.1 * rng.standard_normal(151 * 100 + 101 * 5)
    cost, grad, d_data = forward_backward_prop(data, labels, params, dimensions,
                                               activation="tanh", reg=1e-3, need_dX=True)
    ref_cost, ref_grad, ref_d_data = reference(data, labels, params, dimensions, "tanh", 1e-3)
    assert cost == pytest.approx(ref_cost, rel=1e-13)
    assert rel(grad, ref_grad) < 1e-12
    assert d_data.shape == data.shape and rel(d_data, ref_d_data) < 1e-12


def test_integer_labels_give_the_one_hot_numbers_and_float32_follows_float64():
    np.random.seed(4)
    data, labels, params, dimensions = sanity_problem()
    cost, grad = forward_backward_prop(data, labels, params, dimensions)
    cost_int, grad_int = forward_backward_prop(data, labels.argmax(axis=1), params, dimensions)
    assert cost_int == cost and np.array_equal(grad_int, grad)
    cost32, grad32 = forward_backward_prop(data, labels, params.astype(np.float32), dimensions)
    assert grad32.dtype == np.float32
    assert cost32 == pytest.approx(cost, rel=1e-5)
    assert rel(grad32, grad) < 1e-5


def test_bad_labels_and_params_are_refused_naming_them():
    np.random.seed(5)
    data, labels, params, dimensions = sanity_problem()
    labels[3] = 0
    labels[3, :2] = 1
    with pytest.raises(ValueError, match=r"labels holds one-hot rows .* row 3 is \[1\.0, 1\.0, 0\.0"):
        forward_backward_prop(data, labels, params, dimensions)
    with pytest.raises(ValueError, match=r"params has shape \(114,\); dimensions \(10, 5, 10\) "
                                         r"need a flat vector of .* = 115 entries"):
        forward_backward_prop(data, np.eye(10)[np.arange(20) % 10], params[:-1], dimensions)
    with pytest.raises(ValueError, match=r"data must be an \(M, 10\) array"):
        forward_backward_prop(data[:, :9], labels, params, dimensions)
