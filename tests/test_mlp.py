"""net.MLP: any depth, residual skips, optimizers, the loop's bookkeeping, files."""
import numpy as np
import pytest

from fusednet.kernels import optim
from fusednet.net import sampling
from fusednet.net import MLP, TrainingDiverged, TwoLayerNet, parameter_count
from fusednet.net.gradcheck import eval_numerical_gradient, rel_error
from helpers import blobs, norm_rel_error


@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid"])
def test_residual_mlp_gradients_match_numerical_for_parameters_and_input(rng, activation):
    model = MLP([5, 6, 6, 6, 3], activation=activation, residual=True, seed=1)
    assert list(model._skip) == [False, True, True, False]
    X = rng.standard_normal((4, 5))
    y = rng.integers(0, 3, 4)
    _, grads, dX = model.loss(X, y, reg=0.05, need_dX=True)
    f = lambda _: model.loss(X, y, reg=0.05)[0]  # noqa: E731
    for name, grad in grads.items():
        assert rel_error(eval_numerical_gradient(f, model.params[name], verbose=False), grad) < 1e-7, name
    assert rel_error(eval_numerical_gradient(f, X, verbose=False), dX) < 1e-7


def test_deep_net_gradients_and_parameter_count():
    model = MLP([30, 64, 32, 16, 4], activation="tanh", seed=2)
    assert model.num_parameters == parameter_count([30, 64, 32, 16, 4])
    assert model.num_parameters == sum(p.size for p in model.params.values())
    rng = np.random.default_rng(3)
    X, y = rng.standard_normal((6, 30)), rng.integers(0, 4, 6)
    _, grads = model.loss(X, y, reg=1e-3, l2="half")
    f = lambda _: model.loss(X, y, reg=1e-3, l2="half")[0]  # noqa: E731
    for name, grad in grads.items():
        assert norm_rel_error(eval_numerical_gradient(f, model.params[name], verbose=False), grad) < 1e-7


def test_two_layer_mlp_is_the_two_layer_net():
    np.random.seed(0)
    two = TwoLayerNet(6, 7, 3, std=0.3)
    model = MLP([6, 7, 3], seed=0)
    for k in two.params:
        model.params[k] = two.params[k]
    X, y = blobs(20, 6)
    a, b = two.loss(X, y, reg=0.1), model.loss(X, y, reg=0.1)
    assert a[0] == pytest.approx(b[0], rel=1e-13)
    for k in a[1]:
        np.testing.assert_allclose(a[1][k], b[1][k], rtol=1e-12, atol=1e-15)


def numpy_update(rule, w, dw, state, cfg):
    """CS231n's optim.py rules, written out in NumPy."""
    lr = cfg["learning_rate"]
    if rule == "sgd":
        return w - lr * dw
    if rule == "sgd_momentum":
        state["v"] = cfg["momentum"] * state.get("v", 0) - lr * dw
        return w + state["v"]
    if rule == "nesterov":
        v_prev = state.get("v", np.zeros_like(w))
        state["v"] = cfg["momentum"] * v_prev - lr * dw
        return w - cfg["momentum"] * v_prev + (1 + cfg["momentum"]) * state["v"]
    if rule == "rmsprop":
        state["c"] = cfg["decay_rate"] * state.get("c", 0) + (1 - cfg["decay_rate"]) * dw ** 2
        return w - lr * dw / (np.sqrt(state["c"]) + cfg["epsilon"])
    state["t"] = state.get("t", 0) + 1
    state["m"] = cfg["beta1"] * state.get("m", 0) + (1 - cfg["beta1"]) * dw
    if rule == "adam_folded":  # scikit-learn's AdamOptimizer
        state["v"] = cfg["beta2"] * state.get("v", 0) + (1 - cfg["beta2"]) * dw ** 2
        lr_t = lr * np.sqrt(1 - cfg["beta2"] ** state["t"]) / (1 - cfg["beta1"] ** state["t"])
        return w - lr_t * state["m"] / (np.sqrt(state["v"]) + cfg["epsilon"])
    mt = state["m"] / (1 - cfg["beta1"] ** state["t"])
    state["v"] = cfg["beta2"] * state.get("v", 0) + (1 - cfg["beta2"]) * dw ** 2
    vt = state["v"] / (1 - cfg["beta2"] ** state["t"])
    return w - lr * mt / (np.sqrt(vt) + cfg["epsilon"])


@pytest.mark.parametrize("rule", sorted(optim.RULES))
def test_each_update_rule_matches_its_numpy_formulation(rng, rule):
    code, defaults = optim.RULES[rule]
    cfg = dict(defaults, learning_rate=0.05)
    w = rng.standard_normal(50)
    theta = w.copy()
    opt, lr = optim.optimizer(rule, cfg, theta)
    assert opt.rule == code and lr == 0.05
    # The state the trainer allocates, one meaning a slot: m the running mean
    # of gradients (velocity, Adam's m), v of squared gradients (RMSprop's
    # cache, Adam's v).
    assert (opt.m.size, opt.v.size) == {"sgd": (0, 0), "rmsprop": (0, 50)}.get(
        rule, (50, 50) if rule.startswith("adam") else (50, 0))
    state = {}
    for t in range(1, 8):
        dw = rng.standard_normal(50)
        before = theta.copy()
        optim.update(opt, theta, dw, lr, float(t))
        w = numpy_update(rule, w, dw, state, cfg)
        np.testing.assert_allclose(theta, w, rtol=1e-12, atol=1e-15)
        np.testing.assert_array_equal(opt.backup, before)
    # A range of the vector: the rest stays as it was.
    kept = theta.copy()
    optim.update_range(opt, theta, rng.standard_normal(50), lr, 8.0, 10, 20)
    np.testing.assert_array_equal(theta[:10], kept[:10])
    np.testing.assert_array_equal(theta[20:], kept[20:])
    assert not np.array_equal(theta[10:20], kept[10:20])


def test_update_rules_are_checked():
    with pytest.raises(ValueError, match="update rule must be one of"):
        optim.settings("adagrad", {})
    with pytest.raises(ValueError, match=r"unknown adam config keys \['momentum'\]"):
        optim.settings("adam", {"momentum": 0.9})
    with pytest.raises(ValueError, match=r"optim_config\['beta1'\] must be finite"):
        optim.settings("adam", {"beta1": float("nan")})


@pytest.mark.parametrize("rule", sorted(optim.RULES))
def test_every_update_rule_learns_separable_blobs(rule):
    X, y = blobs()
    model = MLP([10, 32, 3], seed=4)
    lr = 1e-3 if rule in ("adam", "adam_folded", "rmsprop") else 1e-2
    stats = model.train(X, y, X, y, learning_rate=lr, num_iters=300, batch_size=32, update=rule,
                        learning_rate_decay=1.0)
    assert stats["loss_history"][-1] < 0.5 * stats["loss_history"][0]
    assert np.mean(model.predict(X) == y) > 0.9


def test_same_seed_same_numbers_and_step_decay():
    X, y = blobs()
    runs = []
    for _ in range(2):
        model = MLP([10, 16, 3], seed=7)
        runs.append((model.train(X, y, X, y, learning_rate=1e-2, num_iters=50, batch_size=24,
                                 sampling="epochs", decay_every=3, update="sgd_momentum"),
                     model.params["W1"].copy()))
    assert runs[0][0] == runs[1][0]
    np.testing.assert_array_equal(runs[0][1], runs[1][1])
    # 240 rows in batches of 24: 10 iterations an epoch, 5 epoch boundaries.
    assert len(runs[0][0]["val_acc_history"]) == 5


def test_shuffled_epochs_visit_every_row_once():
    model = MLP([3, 4, 2], seed=0)
    sampler = sampling.Epochs(23, 5, model._source)
    assert sampler.epoch_len == 5 and sampler.batch_rows == 5
    idx, lens = sampler.draw(0, 5)
    assert list(lens) == [5, 5, 5, 5, 3]
    rows = np.concatenate([idx[k, :lens[k]] for k in range(5)])
    assert sorted(rows) == list(range(23))


def test_divergence_stops_with_the_iteration_and_keeps_last_good_parameters():
    X, y = blobs()
    X = X * 1e3
    kw = dict(learning_rate=1e6, learning_rate_decay=1.0, reg=0.0, num_iters=200, batch_size=16)
    model = MLP([10, 32, 3], seed=5)
    with pytest.raises(TrainingDiverged, match=r"the loss at iteration (\d+) is not finite") as info:
        model.train(X, y, X, y, **kw)
    bad = int(info.value.args[0].split("iteration ")[1].split(" ")[0])
    assert bad >= 1 and len(info.value.history["loss_history"]) == bad
    assert np.isfinite(info.value.history["loss_history"]).all()
    # The same run stopped just before: the parameters the loss was last finite at.
    twin = MLP([10, 32, 3], seed=5)
    twin.train(X, y, X, y, **dict(kw, num_iters=bad - 1))
    for k in model.params:
        np.testing.assert_array_equal(model.params[k], twin.params[k])
    assert all(np.isfinite(p).all() for p in model.params.values())


def test_callback_is_called_every_k_iterations():
    X, y = blobs()
    calls = []
    model = MLP([10, 8, 3], seed=0)
    stats = model.train(X, y, X, y, num_iters=95, batch_size=10, callback=lambda i, l: calls.append((i, l)),
                        callback_every=20)
    assert [i for i, _ in calls] == [19, 39, 59, 79, 94]
    assert [l for _, l in calls] == [stats["loss_history"][i] for i, _ in calls]


def test_keep_best_leaves_the_best_validation_parameters():
    X, y = blobs(seed=1)
    Xv, yv = blobs(seed=2)
    model = MLP([10, 16, 3], seed=3)
    stats = model.train(X, y, Xv, yv, learning_rate=1e-1, num_iters=200, batch_size=8, keep_best=True)
    assert model.best_val_acc == max(stats["val_acc_history"])
    assert np.mean(model.predict(Xv) == yv) == pytest.approx(model.best_val_acc)


def test_save_and_load_round_trip_and_refuse_a_mismatch(tmp_path):
    X, y = blobs()
    model = MLP([10, 12, 12, 3], activation="tanh", residual=True, dtype=np.float32, seed=1)
    model.train(X, y, X, y, num_iters=20, batch_size=16)
    path = tmp_path / "model.npz"
    model.save(path)
    again = MLP.load(path)
    assert again.layer_sizes == model.layer_sizes and again.activation == "tanh"
    assert again.residual and again.dtype == np.float32
    np.testing.assert_array_equal(again.predict(X), model.predict(X))
    fresh = MLP([10, 12, 12, 3], activation="tanh", residual=True, dtype=np.float32, seed=9)
    fresh.load_params(path)
    np.testing.assert_array_equal(fresh.params["W2"], model.params["W2"])
    for other in (MLP([10, 12, 3], activation="tanh", dtype=np.float32),
                  MLP([10, 12, 12, 3], activation="relu", residual=True, dtype=np.float32),
                  MLP([10, 12, 12, 3], activation="tanh", residual=True)):
        with pytest.raises(ValueError, match="expected layer_sizes="):
            other.load_params(path)
    np.random.seed(0)
    two = TwoLayerNet(10, 6, 3, std=0.1)
    two.save(tmp_path / "two.npz")
    back = TwoLayerNet.load(tmp_path / "two.npz")
    assert isinstance(back, TwoLayerNet)
    np.testing.assert_array_equal(back.params["W1"], two.params["W1"])
    with pytest.raises(ValueError, match="not a relu two-layer net"):
        TwoLayerNet.load(path)
    np.savez(tmp_path / "plain.npz", W1=np.zeros((10, 12)))
    with pytest.raises(ValueError, match="not a fusednet model file"):
        MLP.load(tmp_path / "plain.npz")


def test_training_input_is_validated():
    X, y = blobs()
    model = MLP([10, 8, 3], seed=0)
    with pytest.raises(ValueError, match=r"X has shape \(240, 9\); expected \(\*, 10\)"):
        model.train(X[:, :9], y, X, y)
    with pytest.raises(ValueError, match=r"y must hold labels in \[0, 3\)"):
        model.train(X, y + 1, X, y)
    bad = X.copy()
    bad[7, 2] = np.inf
    with pytest.raises(ValueError, match=r"X_val contains a non-finite value \(inf\) at index \(7, 2\)"):
        model.train(X, y, bad, y)
    with pytest.raises(ValueError, match="batch_size must be an integer >= 1, got 0"):
        model.train(X, y, X, y, batch_size=0)
    with pytest.raises(ValueError, match="sampling must be"):
        model.train(X, y, X, y, sampling="bootstrap")
    with pytest.raises(ValueError, match="the last width is the number of classes"):
        MLP([10, 1])
    with pytest.raises(ValueError, match=r"params\['W1'\] contains NaN"):
        model.params["W1"][0, 0] = np.nan
        model.predict(X)


def test_eval_every_sets_the_evaluation_and_decay_interval():
    X, y = blobs()
    model = MLP([10, 8, 3], seed=0)
    stats = model.train(X, y, X, y, num_iters=50, batch_size=10, eval_every=20)
    assert len(stats["val_acc_history"]) == 3      # iterations 0, 20, 40
    assert model.train(X, y, X, y, num_iters=50, batch_size=10, eval_every=0)["val_acc_history"] == []
    with pytest.raises(ValueError, match="eval_every must be an integer >= 0"):
        model.train(X, y, X, y, eval_every=-1)


@pytest.mark.parametrize("sizes, residual", [([10, 3], False), ([10, 10, 3], True),
                                             ([10, 8, 8, 3], False)])
def test_one_two_and_three_layer_nets_train_and_match_their_gradients(sizes, residual):
    # One layer is softmax regression; two layers without skips take the fused
    # two-layer path of the loop; the others the general path.
    X, y = blobs()
    model = MLP(sizes, residual=residual, seed=2)
    stats = model.train(X, y, X, y, learning_rate=5e-2, num_iters=150, batch_size=24, reg=1e-3)
    assert stats["loss_history"][-1] < 0.5 * stats["loss_history"][0]
    assert np.mean(model.predict(X) == y) > 0.9
    Xs, ys = X[:5], y[:5]
    _, grads = model.loss(Xs, ys, reg=1e-3)
    f = lambda _: model.loss(Xs, ys, reg=1e-3)[0]  # noqa: E731
    for name, grad in grads.items():
        assert norm_rel_error(eval_numerical_gradient(f, model.params[name], verbose=False), grad) < 1e-8


@pytest.mark.parametrize("head, rows", [("softmax", 7), ("softmax", 20), ("logistic", 20),
                                        ("squared_error", 7), ("squared_error", 20)])
def test_a_two_layer_nets_score_from_its_views_is_the_general_forwards(head, rows):
    # The epoch boundary of a two-layer net scores through its parameter
    # views (kernels.mlp._scores); it must give the general forward's bits,
    # in chunks of the scratch's rows (7: chunks of 7, 7 and 6) and one chunk.
    from fusednet.kernels import config, mlp as K
    rng = np.random.default_rng(3)
    C = 1 if head == "logistic" else 4
    m = MLP([6, 9, C], seed=2, head=head)
    X = rng.standard_normal((20, 6))
    y = (rng.integers(0, 2, (20, 1)) if head == "logistic" else
         rng.standard_normal((20, C)) if head == "squared_error" else rng.integers(0, C, 20))
    net = m.packed()
    y = m._targets(y, 20)
    sizes = net.sizes
    W1 = net.theta[:6 * 9].reshape(6, 9)
    b1 = net.theta[54:63]
    W2 = net.theta[63:63 + 9 * C].reshape(9, C)
    b2 = net.theta[63 + 9 * C:]
    sc = K.scratch(sizes, np.float64, rows, config.loop_max(np.float64))
    general = K.score(net, X, y, sc)
    assert K.score(net, X, y, sc, (W1, b1, W2, b2)) == general
    assert 0.0 <= general <= 1.0 or head == "squared_error"
    # The views are the net's: a changed weight changes both the same way.
    W2[0] += 3.0
    assert K.score(net, X, y, sc, (W1, b1, W2, b2)) == K.score(net, X, y, sc) != general \
        or head != "squared_error"
