"""Analytic gradients against centred differences, in float64."""
import numpy as np
import pytest

from fusednet import kernels
from fusednet.net.gradcheck import eval_numerical_gradient, eval_numerical_gradient_array, rel_error

ACTIVATIONS = ["relu", "tanh", "sigmoid", "identity"]


def toy_net(rng, N=6, D=5, H=7, C=4):
    params = dict(W1=0.5 * rng.standard_normal((D, H)), b1=0.1 * rng.standard_normal(H),
                  W2=0.5 * rng.standard_normal((H, C)), b2=0.1 * rng.standard_normal(C))
    X = rng.standard_normal((N, D))
    y = rng.integers(0, C, N)
    return params, X, y


@pytest.mark.parametrize("l2", ["full", "half"])
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_two_layer_gradients_match_numerical_for_every_parameter_and_the_input(rng, activation, l2):
    params, X, y = toy_net(rng)
    reg = 0.05

    def loss(_=None):
        return kernels.two_layer_loss(params["W1"], params["b1"], params["W2"], params["b2"],
                                      X, y, reg, activation=activation, l2=l2, need_dX=True)

    value, dW1, db1, dW2, db2, dX = (np.array(a, copy=True) if isinstance(a, np.ndarray) else a
                                     for a in loss())
    analytic = dict(W1=dW1, b1=db1, W2=dW2, b2=db2)
    for name, grad in analytic.items():
        numeric = eval_numerical_gradient(lambda _: loss()[0], params[name], verbose=False)
        assert rel_error(numeric, grad) < 1e-7, name
    numeric_dX = eval_numerical_gradient(lambda _: loss()[0], X, verbose=False)
    assert rel_error(numeric_dX, dX) < 1e-7


def test_l2_conventions_differ_by_exactly_half_the_penalty(rng):
    params, X, y = toy_net(rng)
    args = (params["W1"], params["b1"], params["W2"], params["b2"], X, y, 0.3)
    full = [np.array(a, copy=True) for a in kernels.two_layer_loss(*args, l2="full")[1:]]
    loss_full = kernels.two_layer_loss(*args, l2="full")[0]
    loss_half, dW1h, db1h, dW2h, db2h = kernels.two_layer_loss(*args, l2="half")
    penalty = 0.3 * (np.sum(params["W1"] ** 2) + np.sum(params["W2"] ** 2))
    assert loss_full - loss_half == pytest.approx(0.5 * penalty, rel=1e-12)
    np.testing.assert_allclose(full[0] - dW1h, 0.3 * params["W1"], rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(full[2] - dW2h, 0.3 * params["W2"], rtol=1e-12, atol=1e-15)
    # Biases are never regularized.
    np.testing.assert_array_equal(full[1], db1h)
    np.testing.assert_array_equal(full[3], db2h)


@pytest.mark.parametrize("residual", [False, True])
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_affine_act_backward_matches_numerical(rng, activation, residual):
    N, D, M = 4, 5, 3
    X = rng.standard_normal((N, D))
    # Scaled to keep tanh and sigmoid off their flat tails, where gradients of
    # 1e-8 would leave only the centred difference's own error to compare.
    W = 0.5 * rng.standard_normal((D, M))
    b = 0.1 * rng.standard_normal(M)
    R = 0.5 * rng.standard_normal((N, M)) if residual else None
    dout = rng.standard_normal((N, M))

    def forward(_=None):
        return kernels.affine_act_forward(X, W, b, activation, residual=R)

    a = forward()
    dz = np.empty((N, M))
    dX, dW, db = kernels.affine_act_backward(dout, X, W, a, activation, dz=dz)
    assert rel_error(eval_numerical_gradient_array(forward, X, dout), dX) < 1e-7
    assert rel_error(eval_numerical_gradient_array(forward, W, dout), dW) < 1e-7
    assert rel_error(eval_numerical_gradient_array(forward, b, dout), db) < 1e-7
    if residual:
        # The gradient flowing into the skip input is dz.
        assert rel_error(eval_numerical_gradient_array(forward, R, dout), dz) < 1e-7


def test_softmax_loss_gradient_matches_numerical(rng):
    scores = rng.standard_normal((6, 5))
    y = rng.integers(0, 5, 6)
    _, dscores = kernels.softmax_loss(scores, y)
    numeric = eval_numerical_gradient(lambda s: kernels.softmax_loss(s, y)[0], scores, verbose=False)
    assert rel_error(numeric, dscores) < 1e-7


def _printed_errors(text):
    return [float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if "relative error" in line]


def test_gradcheck_helpers_tell_a_right_gradient_from_a_wrong_one(rng, capsys):
    from fusednet.net.gradcheck import grad_check_sparse
    A = rng.standard_normal((4, 4))
    x = rng.standard_normal((4, 3))
    f = lambda x: float(np.sum((A @ x) ** 2))  # noqa: E731
    right = 2 * A.T @ A @ x
    assert grad_check_sparse(f, x, right, num_checks=6, seed=0) is None   # as the course's
    errors = _printed_errors(capsys.readouterr().out)
    assert len(errors) == 6 and max(errors) < 1e-7
    grad_check_sparse(f, x, 1.5 * right, num_checks=6, seed=0)
    assert min(_printed_errors(capsys.readouterr().out)) > 0.1
    assert rel_error(eval_numerical_gradient(f, x, verbose=False), right) < 1e-7
    # x is restored after every perturbation.
    before = x.copy()
    eval_numerical_gradient(f, x, verbose=False)
    np.testing.assert_array_equal(x, before)
