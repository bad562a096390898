"""net.TwoLayerNet and the EECS 498 functions against the classic NumPy code."""
import numpy as np
import pytest

import helpers
from fusednet import net
from fusednet.net import TwoLayerNet
from fusednet.kernels import config
from fusednet.net import training
from fusednet.net.classic import ClassicTwoLayerNet


def toy():
    """The course's toy problem: 4 -> 10 -> 3 under seed 0, 5 inputs under seed 1."""
    np.random.seed(0)
    ours = TwoLayerNet(4, 10, 3, std=1e-1)
    np.random.seed(0)
    classic = ClassicTwoLayerNet(4, 10, 3, std=1e-1)
    np.random.seed(1)
    X = 10 * np.random.randn(5, 4)
    y = np.array([0, 1, 2, 2, 1])
    return ours, classic, X, y


def blobs(n=300, seed=3):
    return helpers.blobs(n, 12, 4, seed, spread=3.0)


def assert_params_close(a, b, rtol=1e-12):
    for k in ("W1", "b1", "W2", "b2"):
        np.testing.assert_allclose(a[k], b[k], rtol=rtol, atol=rtol * np.abs(b[k]).max())


def test_initialisation_draws_the_same_numbers_as_the_classic_class():
    ours, classic, _, _ = toy()
    for k in ("W1", "b1", "W2", "b2"):
        np.testing.assert_array_equal(ours.params[k], classic.params[k])
        assert ours.params[k].dtype == np.float64


def test_scores_loss_and_gradients_match_the_classic_class():
    ours, classic, X, y = toy()
    np.testing.assert_allclose(ours.loss(X), classic.loss(X), rtol=1e-12)
    loss, grads = ours.loss(X, y, reg=0.05)
    ref_loss, ref_grads = classic.loss(X, y, reg=0.05)
    assert loss == pytest.approx(ref_loss, rel=1e-12)
    assert_params_close(grads, ref_grads)
    np.testing.assert_array_equal(ours.predict(X), classic.predict(X))


@pytest.mark.parametrize("case", ["toy", "blobs"])
def test_training_trajectory_matches_the_classic_class(case, monkeypatch, capsys):
    # Small chunks, so the run crosses many compiled-call boundaries.
    monkeypatch.setattr(config, "CHUNK_ROWS", 37 * 50)
    if case == "toy":
        ours, classic, X, y = toy()
        Xv, yv, kw = X, y, dict(learning_rate=1e-1, reg=5e-6, num_iters=100)
    else:
        X, y = blobs()
        Xv, yv = blobs(seed=4)
        np.random.seed(5)
        ours = TwoLayerNet(12, 20, 4, std=1e-1)
        np.random.seed(5)
        classic = ClassicTwoLayerNet(12, 20, 4, std=1e-1)
        kw = dict(learning_rate=5e-2, learning_rate_decay=0.9, reg=1e-3, num_iters=250,
                  batch_size=50, verbose=True)
    np.random.seed(11)
    got = ours.train(X, y, Xv, yv, **kw)
    printed_ours = capsys.readouterr().out
    np.random.seed(11)
    expected = classic.train(X, y, Xv, yv, **kw)
    printed_classic = capsys.readouterr().out
    assert len(got["loss_history"]) == kw["num_iters"]
    np.testing.assert_allclose(got["loss_history"], expected["loss_history"], rtol=1e-12)
    assert got["train_acc_history"] == pytest.approx(expected["train_acc_history"], abs=1e-15)
    assert got["val_acc_history"] == pytest.approx(expected["val_acc_history"], abs=1e-15)
    assert_params_close(ours.params, classic.params)
    assert printed_ours == printed_classic
    # Training consumed exactly the classic loop's draws from np.random (one
    # np.random.choice(N, batch_size) per iteration), so a notebook's next
    # draw is the same as after the classic loop.
    next_after_ours = np.random.rand()
    np.random.seed(11)
    for _ in range(kw["num_iters"]):
        np.random.choice(len(X), kw.get("batch_size", 200))
    assert next_after_ours == np.random.rand()


def test_params_are_live_views_and_replacements_are_honoured():
    ours, _, X, y = toy()
    before = ours.loss(X, y)[0]
    ours.params["W2"][0, 0] += 0.5          # in place, as gradient checks do
    moved = ours.loss(X, y)[0]
    assert moved != before
    ours.params["W2"] = ours.params["W2"].copy()
    ours.params["W2"][0, 0] -= 0.5          # on a replacement array
    assert ours.loss(X, y)[0] == pytest.approx(before, rel=1e-15)
    with pytest.raises(ValueError, match=r"params\['b1'\] has shape"):
        ours.params["b1"] = np.zeros(3)
        ours.loss(X, y)


def test_gradcheck_of_the_net_in_the_notebook_style():
    from fusednet.net.gradcheck import eval_numerical_gradient, rel_error
    ours, _, X, y = toy()
    _, grads = ours.loss(X, y, reg=0.05)
    for name in grads:
        f = lambda W: ours.loss(X, y, reg=0.05)[0]  # noqa: E731
        numeric = eval_numerical_gradient(f, ours.params[name], verbose=False)
        assert rel_error(numeric, grads[name]) < 1e-8


def test_float32_net_trains_in_float32_and_follows_float64():
    X, y = blobs()
    runs = {}
    for dtype in (np.float64, np.float32):
        np.random.seed(2)
        model = TwoLayerNet(12, 16, 4, std=1e-1, dtype=dtype)
        np.random.seed(3)
        runs[dtype] = model.train(X, y, X, y, learning_rate=5e-2, num_iters=60, batch_size=40)
        assert all(v.dtype == dtype for v in model.params.values())
    np.testing.assert_allclose(runs[np.float32]["loss_history"], runs[np.float64]["loss_history"],
                               rtol=1e-3)


def test_eecs498_functions_on_a_params_dict():
    ours, classic, X, y = toy()
    params = {k: v.copy() for k, v in classic.params.items()}
    scores, hidden = net.nn_forward_pass(params, X)
    np.testing.assert_allclose(hidden, np.maximum(0, X @ params["W1"] + params["b1"]), rtol=1e-12)
    np.testing.assert_allclose(scores, classic.loss(X), rtol=1e-12)
    loss, grads = net.nn_forward_backward(params, X, y, reg=0.05)
    ref_loss, ref_grads = classic.loss(X, y, reg=0.05)
    assert loss == pytest.approx(ref_loss, rel=1e-12)
    assert_params_close(grads, ref_grads)
    np.testing.assert_array_equal(net.nn_predict(params, net.nn_forward_backward, X), classic.predict(X))


def test_nn_train_compiled_path_equals_the_python_loop_and_updates_params_in_place():
    X, y = blobs()
    np.random.seed(0)
    start = ClassicTwoLayerNet(12, 10, 4, std=1e-1).params
    fast = {k: v.copy() for k, v in start.items()}
    slow = {k: v.copy() for k, v in start.items()}
    W1 = fast["W1"]
    kw = dict(learning_rate=1e-1, reg=1e-4, num_iters=120, batch_size=32)
    np.random.seed(9)
    got = net.nn_train(fast, net.nn_forward_backward, net.nn_predict, X, y, X, y, **kw)
    np.random.seed(9)
    # Any other loss function takes the Python loop, step by step.
    expected = net.nn_train(slow, lambda *a, **k: net.nn_forward_backward(*a, **k), net.nn_predict,
                            X, y, X, y, **kw)
    assert fast["W1"] is W1
    np.testing.assert_allclose(got["loss_history"], expected["loss_history"], rtol=1e-12)
    assert got["val_acc_history"] == pytest.approx(expected["val_acc_history"], abs=1e-15)
    assert_params_close(fast, slow)


def test_find_best_net_returns_the_best_setting_reproducibly():
    X, y = blobs(n=200)
    Xv, yv = blobs(n=100, seed=8)
    data = dict(X_train=X, y_train=y, X_val=Xv, y_val=yv)
    grid = lambda: ([1e-2, 1e-1], [8, 16], [1e-4], [0.95])  # noqa: E731
    best_net, best_stat, best_acc = net.find_best_net(data, grid, num_iters=60, batch_size=50)
    again = net.find_best_net(data, grid, num_iters=60, batch_size=50)
    assert best_acc == again[2] and best_stat == again[1]
    assert best_acc == pytest.approx(np.mean(best_net.predict(Xv) == yv))
    accs = []
    for lr in (1e-2, 1e-1):
        for hidden in (8, 16):
            np.random.seed(0)
            m = TwoLayerNet(12, hidden, 4, std=1e-2)
            m.train(X, y, Xv, yv, learning_rate=lr, reg=1e-4, num_iters=60, batch_size=50)
            accs.append(np.mean(m.predict(Xv) == yv))
    assert best_acc == max(accs)
    lrs, hs, regs, decays = net.nn_get_search_params()
    assert all(len(v) >= 1 for v in (lrs, hs, regs, decays))
