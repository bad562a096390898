"""The course material's worked examples, each with its numbers."""
import numpy as np
import pytest

from fusednet import kernels
from fusednet.kernels import reference
from fusednet.net import parameter_count
from fusednet.net.gradcheck import eval_numerical_gradient, rel_error
from helpers import assert_matches, norm_rel_error


def one(v):
    return np.array([[v]], dtype=np.float64)


def test_residual_block_values_and_gradients():
    # x1 = relu(x0 w0 + b0), y1 = x1 w1 + b1, z = relu(y1 + x0):
    # x1 = relu(1.0 * 0.3 + 0.1) = 0.4; y1 = 0.4 * -0.2 - 0.3 = -0.38;
    # z = relu(-0.38 + 1.0) = 0.62. Backward from dz = 1 (z > 0, x1 > 0):
    # dz/dw1 = x1 = 0.4, dz/db1 = 1, dz/dw0 = w1 x0 = -0.2, dz/db0 = w1 = -0.2,
    # dz/dx0 = 1 (skip) + w1 w0 = 0.94.
    x0, w0, b0, w1, b1 = one(1.0), one(0.3), np.array([0.1]), one(-0.2), np.array([-0.3])
    x1 = kernels.affine_relu_forward(x0, w0, b0)
    z = kernels.affine_act_forward(x1, w1, b1, "relu", residual=x0)
    assert x1[0, 0] == pytest.approx(0.4) and z[0, 0] == pytest.approx(0.62)

    dz_pre = np.empty((1, 1))
    dx1, dw1, db1 = kernels.affine_relu_backward(one(1.0), x1, w1, z, dz=dz_pre)
    _, dw0, db0 = kernels.affine_relu_backward(dx1, x0, w0, x1, need_dX=False)
    dx0_block, _, _ = kernels.affine_relu_backward(dx1, x0, w0, x1)
    dx0 = dz_pre + dx0_block
    assert dw1[0, 0] == pytest.approx(0.4)
    assert db1[0] == pytest.approx(1.0)
    assert dw0[0, 0] == pytest.approx(-0.2)
    assert db0[0] == pytest.approx(-0.2)
    assert dx0[0, 0] == pytest.approx(0.94)


def test_softmax_cross_entropy_gradient_is_p_minus_onehot():
    # scores (1, 2, 3): p = e^s / sum e^s = (0.09003057, 0.24472847, 0.66524096);
    # with y = 2 the gradient is p - (0, 0, 1) and the loss is -log p_2 = 0.40760596.
    scores = np.array([[1.0, 2.0, 3.0]])
    loss, dscores = kernels.softmax_loss(scores, np.array([2]))
    np.testing.assert_allclose(dscores[0], [0.09003057, 0.24472847, 0.66524096 - 1], atol=1e-8)
    assert loss == pytest.approx(0.40760596, abs=1e-8)
    # For a batch, each row is (p - y) / N.
    rng = np.random.default_rng(0)
    S = rng.standard_normal((4, 6))
    y = np.array([0, 5, 2, 2])
    p = np.exp(S) / np.exp(S).sum(axis=1, keepdims=True)
    onehot = np.eye(6)[y]
    np.testing.assert_allclose(kernels.softmax_loss(S, y)[1] * 4, p - onehot, rtol=1e-12, atol=1e-15)


def test_window_net_150_tanh_100_5_half_l2_gradients_including_the_input():
    # CS224d's window model: a window of 3 word vectors of 50 dimensions
    # (150 inputs) -> 100 tanh units -> 5 classes, L2 as 0.5 * reg * |W|^2.
    # The input gradient updates the word vectors themselves.
    rng = np.random.default_rng(224)
    N, D, H, C = 3, 150, 100, 5
    W1 = rng.standard_normal((D, H)) * np.sqrt(6 / (D + H))
    b1 = np.zeros(H)
    W2 = rng.standard_normal((H, C)) * np.sqrt(6 / (H + C))
    b2 = np.zeros(C)
    x = rng.standard_normal((N, D))
    y = np.array([1, 4, 0])
    reg = 1e-3

    def f(_=None):
        return kernels.two_layer_loss(W1, b1, W2, b2, x, y, reg, activation="tanh", l2="half",
                                      need_dX=True)

    _, *grads = (np.array(g, copy=True) if isinstance(g, np.ndarray) else g for g in f())
    for param, grad in zip((W1, b1, W2, b2, x), grads):
        numeric = eval_numerical_gradient(lambda _: f()[0], param, verbose=False)
        assert norm_rel_error(numeric, grad) < 1e-7
        # Entrywise too, wherever an entry stands above the difference's noise.
        big = np.abs(grad) > 1e-3
        assert rel_error(numeric[big], grad[big]) < 1e-7


def init_toy_model_and_data():
    """CS231n two_layer_net.ipynb: TwoLayerNet(4, 10, 3, std=1e-1) under seed 0,
    X = 10 * randn(5, 4) under seed 1, y = [0, 1, 2, 2, 1]."""
    np.random.seed(0)
    W1 = 1e-1 * np.random.randn(4, 10)
    b1 = np.zeros(10)
    W2 = 1e-1 * np.random.randn(10, 3)
    b2 = np.zeros(3)
    np.random.seed(1)
    X = 10 * np.random.randn(5, 4)
    y = np.array([0, 1, 2, 2, 1])
    return (W1, b1, W2, b2), X, y


def test_toy_net_4_10_3_on_5_inputs_gives_the_notebook_numbers():
    (W1, b1, W2, b2), X, y = init_toy_model_and_data()
    scores = kernels.affine_forward(kernels.affine_relu_forward(X, W1, b1), W2, b2)
    correct_scores = np.asarray([
        [-0.81233741, -1.27654624, -0.70335995],
        [-0.17129677, -1.18803311, -0.47310444],
        [-0.51590475, -1.01354314, -0.8504215],
        [-0.15419291, -0.48629638, -0.52901952],
        [-0.00618733, -0.12435261, -0.15226949]])
    assert np.sum(np.abs(scores - correct_scores)) < 1e-7  # the notebook's bound
    loss, *grads = kernels.two_layer_loss(W1, b1, W2, b2, X, y, reg=0.05)
    assert abs(loss - 1.30378789133) < 1e-12  # the notebook's bound
    # CS231n 2016 wrote the same penalty as 0.5 * reg with reg = 0.1.
    assert abs(kernels.two_layer_loss(W1, b1, W2, b2, X, y, reg=0.1, l2="half")[0]
               - 1.30378789133) < 1e-12
    for param, grad in zip((W1, b1, W2, b2), grads):
        numeric = eval_numerical_gradient(
            lambda _: kernels.two_layer_loss(W1, b1, W2, b2, X, y, reg=0.05)[0], param,
            verbose=False)
        assert rel_error(numeric, grad) < 1e-8  # "less than 1e-8 or so"


def test_net_30_1024_512_1_has_557057_parameters_whose_gradients_match_the_reference():
    # (30*1024 + 1024) + (1024*512 + 512) + (512*1 + 1) = 31744 + 524800 + 513.
    sizes = [30, 1024, 512, 1]
    assert parameter_count(sizes) == 557_057
    # Each of them gets its gradient from the kernels' backward passes, equal
    # to the plain NumPy reference's (float64-tight).
    rng = np.random.default_rng(3)
    X = rng.standard_normal((8, 30))
    layers = [(rng.standard_normal((i, o)) / np.sqrt(i), 0.1 * rng.standard_normal(o))
              for i, o in zip(sizes, sizes[1:])]
    acts = ["relu", "relu", "identity"]
    inputs, outputs, a = [], [], X
    for (W, b), act in zip(layers, acts):
        inputs.append(a)
        a = kernels.affine_act_forward(a, W, b, act)
        assert_matches(a, reference.affine_act_forward(inputs[-1], W, b, act), np.float64)
        outputs.append(a)
    d_ours = d_ref = rng.standard_normal(a.shape) / len(a)
    got, want = [], []
    for (W, b), act, x, out in reversed(list(zip(layers, acts, inputs, outputs))):
        d_ours, dW, db = kernels.affine_act_backward(d_ours, x, W, out, act)
        d_ref, dW_r, db_r = reference.affine_act_backward(d_ref, x, W, out, act)
        assert_matches(d_ours, d_ref, np.float64)
        got += [dW, db]
        want += [dW_r, db_r]
    assert sum(g.size for g in got) == 557_057
    for g, w in zip(got, want):
        assert_matches(g, w, np.float64)
    assert all(np.abs(g).max() > 0 for g in got)   # no layer left with an all-zero gradient


def test_softmax_gradient_needs_the_full_jacobian_not_its_diagonal():
    # dL/ds_k = sum_j dL/dp_j dp_j/ds_k with dp_j/ds_k = p_j (delta_jk - p_k).
    # Keeping only the diagonal p_k (1 - p_k), as some notes do, gives
    # -y_k (1 - p_k): zero off the target, where the true gradient is p_k.
    rng = np.random.default_rng(7)
    scores = rng.standard_normal((1, 5))
    y = np.array([3])
    p = np.exp(scores) / np.exp(scores).sum()
    dL_dp = -np.eye(5)[y] / p
    diagonal_only = dL_dp * p * (1 - p)
    full = dL_dp @ (np.diagflat(p) - p.T @ p)
    numeric = eval_numerical_gradient(lambda s: kernels.softmax_loss(s, y)[0], scores, verbose=False)
    _, ours = kernels.softmax_loss(scores, y)
    assert rel_error(ours, numeric) < 1e-7
    assert rel_error(full, numeric) < 1e-7
    assert rel_error(diagonal_only, numeric) > 0.5
    np.testing.assert_allclose(diagonal_only[0, [0, 1, 2, 4]], 0)
