"""fusednet.cs231n as CS231n's notebooks use it: the gradient_check helpers
(sampling, printing, return values, blobs) and the 2016 half-L2 net, against
independent NumPy computations."""
import random

import numpy as np
import pytest

from fusednet.cs231n import (
    TwoLayerNet,
    TwoLayerNet2016,
    eval_numerical_gradient,
    eval_numerical_gradient_blobs,
    eval_numerical_gradient_net,
    grad_check_sparse,
    rel_error,
)
from fusednet.kernels import reference
from fusednet.net.classic import ClassicTwoLayerNet


def test_grad_check_sparse_draws_with_pythons_random_and_leaves_np_random_alone(capsys):
    rng = np.random.default_rng(0)
    A = rng.standard_normal((5, 5))
    x = rng.standard_normal((5, 4))
    grad = 2 * A.T @ A @ x
    touched = []

    def f(x):
        touched.append(tuple(int(i) for i in np.argwhere(x != base)[0]))
        return float(np.sum((A @ x) ** 2))
    base = x.copy()
    np.random.seed(7)
    random.seed(3)
    assert grad_check_sparse(f, x, grad, num_checks=6) is None
    after = (random.random(), np.random.rand())
    random.seed(3)
    expected = [tuple([random.randrange(m) for m in x.shape]) for _ in range(6)]
    np.random.seed(7)
    assert after == (random.random(), np.random.rand())    # one stream moved, the other not
    assert touched == [ix for ix in expected for _ in range(2)]   # x + h, then x - h
    np.testing.assert_array_equal(x, base)
    lines = capsys.readouterr().out.splitlines()
    h = 1e-5
    for line, ix in zip(lines, expected):
        plus, minus = base.copy(), base.copy()
        plus[ix] += h
        minus[ix] -= h
        num = (np.sum((A @ plus) ** 2) - np.sum((A @ minus) ** 2)) / (2 * h)
        err = abs(num - grad[ix]) / (abs(num) + abs(grad[ix]))
        assert line == "numerical: %f analytic: %f, relative error: %e" % (num, grad[ix], err)
    assert len(lines) == 6


def test_grad_check_sparse_prints_nan_where_both_gradients_are_zero(capsys):
    x = np.zeros((2, 2))
    grad_check_sparse(lambda x: 0.0, x, np.zeros((2, 2)), num_checks=1, seed=0)
    assert capsys.readouterr().out == "numerical: 0.000000 analytic: 0.000000, relative error: nan\n"


class Blob:
    """The course's blob: values and the gradient flowing into them."""

    def __init__(self, vals, diffs=None):
        self.vals = vals
        self.diffs = np.zeros_like(vals) if diffs is None else diffs


def test_blob_gradients_of_a_product_equal_the_chain_rule():
    rng = np.random.default_rng(1)
    x, w = Blob(rng.standard_normal((3, 4))), Blob(rng.standard_normal((4, 2)))
    out = Blob(np.zeros((3, 2)), rng.standard_normal((3, 2)))

    def product(x, w, out):
        out.vals[...] = x.vals @ w.vals
    x0 = x.vals.copy()
    dx, dw = eval_numerical_gradient_blobs(product, (x, w), out)
    # d sum(out * dout) / dx = dout w^T, / dw = x^T dout.
    assert rel_error(dx, out.diffs @ w.vals.T) < 1e-8
    assert rel_error(dw, x.vals.T @ out.diffs) < 1e-8
    assert dx.shape == x.diffs.shape and dw.shape == w.diffs.shape
    np.testing.assert_array_equal(x.vals, x0)


def test_net_gradients_come_from_its_own_forward():
    rng = np.random.default_rng(2)

    class SquareNet:
        def __init__(self):
            self.x = Blob(rng.standard_normal(5))
            self.out = Blob(np.zeros(5), rng.standard_normal(5))

        def forward(self):
            self.out.vals[...] = self.x.vals ** 2

    net = SquareNet()
    (dx,) = eval_numerical_gradient_net(net, (net.x,), net.out)
    assert rel_error(dx, 2 * net.x.vals * net.out.diffs) < 1e-8


def toy():
    """CS231n's toy problem: TwoLayerNet(4, 10, 3, std=1e-1) under seed 0,
    X = 10 * randn(5, 4) under seed 1, y = [0, 1, 2, 2, 1]."""
    np.random.seed(1)
    return 10 * np.random.randn(5, 4), np.array([0, 1, 2, 2, 1])


def test_the_2016_net_gives_the_2016_notebook_numbers_with_half_l2():
    np.random.seed(0)
    net = TwoLayerNet2016(4, 10, 3, std=1e-1)
    X, y = toy()
    loss, grads = net.loss(X, y, reg=0.1)
    assert abs(loss - 1.30378789133) < 1e-12               # the 2016 notebook's bound
    ref = reference.two_layer_loss(*(net.params[k] for k in ("W1", "b1", "W2", "b2")), X, y,
                                   reg=0.1, l2="half")
    assert loss == pytest.approx(ref[0], rel=1e-14)
    for name, expected in zip(("W1", "b1", "W2", "b2"), ref[1:]):
        np.testing.assert_allclose(grads[name], expected, rtol=1e-12, atol=1e-15)
        f = lambda W: net.loss(X, y, reg=0.1)[0]  # noqa: E731
        assert rel_error(eval_numerical_gradient(f, net.params[name], verbose=False),
                         grads[name]) < 1e-8
    np.random.seed(0)
    assert TwoLayerNet(4, 10, 3, std=1e-1, l2="half").loss(X, y, reg=0.1)[0] == loss
    with pytest.raises(ValueError, match="l2 must be 'full' or 'half'"):
        TwoLayerNet(4, 10, 3, l2="quarter")


def test_the_2016_nets_default_training_equals_the_2017_class_at_half_the_strength():
    # 0.5 * 1e-5 * |W|^2 (2016 default) is 5e-6 * |W|^2 (2017 default): the
    # same loss and the same gradient 1e-5 W at every step.
    X, y = toy()
    np.random.seed(0)
    net = TwoLayerNet2016(4, 10, 3, std=1e-1)
    np.random.seed(0)
    classic = ClassicTwoLayerNet(4, 10, 3, std=1e-1)
    np.random.seed(2)
    got = net.train(X, y, X, y, learning_rate=1e-1, num_iters=100)
    np.random.seed(2)
    expected = classic.train(X, y, X, y, learning_rate=1e-1, num_iters=100)
    np.testing.assert_allclose(got["loss_history"], expected["loss_history"], rtol=1e-12)
    assert got["val_acc_history"] == pytest.approx(expected["val_acc_history"], abs=1e-15)
    # An explicit l2 still wins over the net's: 'full' is the classic's loss.
    classic.params = {k: v.copy() for k, v in net.params.items()}
    assert net.loss(X, y, reg=0.1, l2="full")[0] == pytest.approx(classic.loss(X, y, reg=0.1)[0],
                                                                 rel=1e-14)
