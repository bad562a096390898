"""Output heads (``kernels.heads``): logistic cross-entropy, squared error
and the Poisson deviance beside softmax, against the NumPy reference, centred differences and torch's
autograd, at extreme logits, on every path that trains them."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fusednet import kernels
from fusednet.kernels import config, reference
from fusednet.net import MLP, modelfile
from fusednet.net.gradcheck import eval_numerical_gradient, rel_error
from helpers import TOL, assert_matches, blobs, norm_rel_error

HEADS = ["softmax", "logistic", "squared_error", "poisson"]


def targets(rng, head, n, C):
    """Labels for softmax, 0/1 indicators for logistic, reals for squared
    error, counts (zeros among them) for Poisson."""
    if head == "softmax":
        return rng.integers(0, C, n)
    if head == "logistic":
        return (rng.random((n, C)) < 0.4).astype(np.float64)
    if head == "poisson":
        return rng.poisson(1.5, (n, C)).astype(np.float64)
    return rng.standard_normal((n, C))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", ["logistic", "squared", "poisson"])
def test_head_losses_match_the_numpy_reference(rng, name, dtype):
    s = (3 * rng.standard_normal((9, 4))).astype(dtype)
    head = {"logistic": "logistic", "squared": "squared_error", "poisson": "poisson"}[name]
    t = targets(rng, head, 9, 4).astype(dtype)
    loss, ds = getattr(kernels, f"{name}_loss")(s, t)
    ref = getattr(reference, f"{name}_loss")
    ref_loss, ref_ds = ref(s.astype(np.float64), t.astype(np.float64))
    assert ds.dtype == dtype
    assert loss == pytest.approx(ref_loss, rel=TOL[np.dtype(dtype)])
    assert_matches(ds, ref_ds, dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_logistic_loss_is_finite_and_exact_at_extreme_logits(dtype):
    # softplus(z) - t z at |z| = 1e4: exp never overflows, the loss is the
    # margin itself for a wrong confident output and 0 for a right one.
    s = np.array([[1e4, -1e4, 1e4, -1e4]], dtype)
    t = np.array([[1.0, 0.0, 0.0, 1.0]], dtype)
    loss, ds = kernels.logistic_loss(s, t)
    assert loss == pytest.approx(2e4, rel=1e-6)
    np.testing.assert_array_equal(ds, np.array([[0, 0, 1, -1]], dtype))
    loss, ds = kernels.squared_loss(s, t)
    assert np.isfinite(loss) and np.all(np.isfinite(ds))


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 6), st.integers(1, 5), st.floats(-50, 50), st.integers(0, 2**31))
def test_logistic_loss_is_nonnegative_with_gradients_bounded_by_one_over_n(n, C, shift, seed):
    rng = np.random.default_rng(seed)
    s = shift + 10 * rng.standard_normal((n, C))
    t = rng.random((n, C))
    loss, ds = kernels.logistic_loss(s, t)
    ref_loss, _ = reference.logistic_loss(s, t)
    # Against t's own entropy: the loss is at least sum of the targets' entropies.
    with np.errstate(divide="ignore", invalid="ignore"):
        entropy = -np.nansum(t * np.log(t) + (1 - t) * np.log1p(-t)) / n
    assert loss >= entropy - 1e-9
    assert np.all(np.abs(ds) <= 1.0 / n + 1e-15)
    assert loss == pytest.approx(ref_loss, rel=1e-12, abs=1e-12)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 6), st.integers(1, 5), st.floats(1e-3, 1e3), st.integers(0, 2**31))
def test_squared_loss_is_half_the_mean_row_sum_with_gradient_r_over_n(n, C, scale, seed):
    rng = np.random.default_rng(seed)
    s, t = scale * rng.standard_normal((n, C)), scale * rng.standard_normal((n, C))
    loss, ds = kernels.squared_loss(s, t)
    ref_loss, ref_ds = reference.squared_loss(s, t)
    assert loss >= 0 and loss == pytest.approx(ref_loss, rel=1e-12)
    np.testing.assert_allclose(ds, ref_ds, rtol=1e-15, atol=0)


def test_head_losses_check_their_targets():
    s = np.zeros((3, 2))
    with pytest.raises(ValueError, match=r"t must hold targets in \[0, 1\]"):
        kernels.logistic_loss(s, np.full((3, 2), 2.0))
    with pytest.raises(ValueError, match="t"):
        kernels.squared_loss(s, np.zeros((3, 3)))
    with pytest.raises(TypeError, match="t"):
        kernels.squared_loss(s, np.zeros((3, 2), np.float32))


def torch_loss_and_grads(model, X, y, reg):
    """The same net written in torch and differentiated by autograd (float64)."""
    torch = pytest.importorskip("torch")
    L = len(model.layer_sizes) - 1
    Ws = [torch.tensor(model.params[f"W{l + 1}"], requires_grad=True) for l in range(L)]
    bs = [torch.tensor(model.params[f"b{l + 1}"], requires_grad=True) for l in range(L)]
    act = {"relu": torch.relu, "tanh": torch.tanh, "sigmoid": torch.sigmoid,
           "identity": lambda z: z}[model.activation]
    a = torch.tensor(X, requires_grad=True)
    inp = a
    for l in range(L):
        z = inp @ Ws[l] + bs[l]
        if model._skip[l]:
            z = z + inp
        inp = act(z) if l < L - 1 else z
    s, n = inp, X.shape[0]
    if model.head == "softmax":
        data = torch.nn.functional.cross_entropy(s, torch.tensor(y))
    elif model.head == "logistic":
        data = torch.nn.functional.binary_cross_entropy_with_logits(
            s, torch.tensor(y), reduction="sum") / n
    elif model.head == "poisson":
        t = torch.tensor(y)
        data = (torch.xlogy(t, t) - t * s - t + torch.exp(s)).sum() / n
    else:
        data = 0.5 * ((s - torch.tensor(y)) ** 2).sum() / n
    loss = data + reg * sum((W * W).sum() for W in Ws)
    loss.backward()
    grads = {f"W{l + 1}": Ws[l].grad.numpy() for l in range(L)}
    grads.update({f"b{l + 1}": bs[l].grad.numpy() for l in range(L)})
    return float(loss.detach()), grads, a.grad.numpy()


@pytest.mark.parametrize("head", HEADS)
@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid", "identity"])
@pytest.mark.parametrize("sizes, residual", [([5, 3], False), ([5, 7, 3], False),
                                             ([5, 6, 6, 3], True), ([5, 6, 6, 4, 3], False)])
def test_every_head_matches_autograd_at_every_activation_depth_and_skip(rng, head, activation,
                                                                         sizes, residual):
    model = MLP(sizes, activation, residual=residual, seed=4, head=head)
    X = rng.standard_normal((7, sizes[0]))
    y = targets(rng, head, 7, sizes[-1])
    loss, grads, dX = model.loss(X, y, reg=0.03, need_dX=True)
    t_loss, t_grads, t_dX = torch_loss_and_grads(model, X, y, 0.03)
    assert loss == pytest.approx(t_loss, rel=1e-12)
    for name, g in grads.items():
        assert rel_error(g, t_grads[name]) < 1e-9, name
    assert rel_error(dX, t_dX) < 1e-9


@pytest.mark.parametrize("head", ["logistic", "squared_error", "poisson"])
def test_head_gradients_match_centred_differences(rng, head):
    model = MLP([4, 6, 2], "tanh", seed=2, head=head)
    X = rng.standard_normal((5, 4))
    y = targets(rng, head, 5, 2)
    _, grads = model.loss(X, y, reg=0.01)
    f = lambda _: model.loss(X, y, reg=0.01)[0]  # noqa: E731
    for name, g in grads.items():
        assert rel_error(eval_numerical_gradient(f, model.params[name], verbose=False), g) < 1e-7


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_float32_head_gradients_match_float64(rng, dtype):
    X = rng.standard_normal((8, 5))
    for head in ("logistic", "squared_error"):
        y = targets(rng, head, 8, 3)
        m64 = MLP([5, 6, 3], "sigmoid", seed=3, head=head)
        m = MLP([5, 6, 3], "sigmoid", seed=3, head=head, dtype=dtype)
        for k in m.params:
            m.params[k][...] = m64.params[k]
        _, g64 = m64.loss(X, y, reg=0.02)
        _, g = m.loss(X.astype(dtype), y, reg=0.02)
        for k in g:
            assert_matches(g[k], g64[k], dtype)


def test_a_binary_logistic_net_learns_from_labels_and_predicts_them():
    X, y = blobs(300, 6, 2, seed=1)
    model = MLP([6, 16, 1], head="logistic", seed=0)
    h = model.train(X, y, X[:80], y[:80], learning_rate=0.05, num_iters=300, batch_size=32,
                    update="adam")
    assert h["val_acc_history"][-1] > 0.95
    assert model.predict(X).shape == (300,)
    assert set(np.unique(model.predict(X))) <= {0, 1}
    p = model.predict_proba(X)
    assert p.shape == (300, 2)
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    np.testing.assert_array_equal(model.predict(X), p[:, 1] > 0.5)


def test_a_multilabel_net_scores_every_label_of_a_row():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((400, 5))
    Y = np.stack([X[:, 0] > 0, X[:, 1] + X[:, 2] > 0, X[:, 3] < 0.5], axis=1).astype(float)
    model = MLP([5, 32, 3], head="logistic", seed=0)
    h = model.train(X, Y, X[:100], Y[:100], learning_rate=0.02, num_iters=601, batch_size=40,
                    update="adam", eval_every=100)  # the last boundary: the last iteration
    pred = model.predict(X[:100])
    assert pred.shape == (100, 3)
    subset = np.mean(np.all(pred == Y[:100], axis=1))
    assert h["val_acc_history"][-1] == pytest.approx(subset)  # the compiled subset accuracy
    assert model.score(X[:100], Y[:100]) == h["val_acc_history"][-1]
    assert subset > 0.85


@pytest.mark.parametrize("outputs", [1, 3])
def test_a_regression_net_fits_and_records_r2(outputs):
    rng = np.random.default_rng(1)
    X = rng.standard_normal((500, 6))
    W = rng.standard_normal((6, outputs))
    Y = np.tanh(X @ W) + 0.05 * rng.standard_normal((500, outputs))
    y = Y[:, 0] if outputs == 1 else Y
    model = MLP([6, 32, outputs], "tanh", head="squared_error", seed=0)
    h = model.train(X, y, X[:100], y[:100], learning_rate=0.01, num_iters=801, batch_size=50,
                    update="adam", eval_every=200)  # the last boundary: the last iteration
    pred = model.predict(X[:100])
    assert pred.shape == y[:100].shape
    Yv = Y[:100]
    r2 = np.mean(1 - ((Yv - pred.reshape(Yv.shape)) ** 2).sum(0)
                 / ((Yv - Yv.mean(0)) ** 2).sum(0))
    assert h["val_acc_history"][-1] == pytest.approx(r2, rel=1e-9)
    assert model.score(X[:100], y[:100]) == h["val_acc_history"][-1]  # the same compiled score
    assert r2 > 0.9
    assert h["loss_history"][-1] < 0.1 * h["loss_history"][0]


def test_a_poisson_net_fits_counts_and_predicts_their_means():
    rng = np.random.default_rng(3)
    X = rng.uniform(-1, 1, (2000, 3))
    rate = np.exp(0.8 * X[:, 0] - 0.5 * X[:, 1] + 0.5)
    y = rng.poisson(rate).astype(float)
    model = MLP([3, 16, 1], "tanh", head="poisson", seed=0)
    h = model.train(X, y, X[:500], y[:500], learning_rate=0.01, num_iters=1001, batch_size=100,
                    update="adam", eval_every=250)
    pred = model.predict(X[:500])
    assert pred.shape == (500,) and (pred > 0).all()
    np.testing.assert_allclose(pred, np.exp(model.scores(X[:500])[:, 0]), rtol=1e-15)
    # The recorded score is R^2 of the predicted means, as for squared error.
    r2 = 1 - ((y[:500] - pred) ** 2).sum() / ((y[:500] - y[:500].mean()) ** 2).sum()
    assert h["val_acc_history"][-1] == pytest.approx(r2, rel=1e-9)
    # The rates themselves are learnt (the counts' noise caps R^2 on y).
    assert np.abs(pred / rate[:500] - 1).mean() < 0.1


def test_targets_are_checked_against_the_head_before_training():
    X = np.zeros((4, 3))
    with pytest.raises(ValueError, match=r"y must hold targets in \[0, 1\]"):
        MLP([3, 2], head="logistic").train(X, np.full((4, 2), 3.0), X, np.zeros((4, 2)))
    with pytest.raises(ValueError, match=r"y has shape \(4, 3\); the squared_error head of 2"):
        MLP([3, 2], head="squared_error").train(X, np.zeros((4, 3)), X, np.zeros((4, 2)))
    with pytest.raises(ValueError, match="y_val contains a non-finite"):
        MLP([3, 1], head="squared_error").train(X, np.zeros(4), X, np.array([0, 1, np.nan, 0]))
    with pytest.raises(ValueError,
                       match=r"y must hold targets >= 0 for the poisson head .*; row 2 is \[-1.0\]"):
        MLP([3, 1], head="poisson").train(X, np.array([0, 1, -1, 0]), X, np.zeros(4))
    with pytest.raises(ValueError, match="head must be one of"):
        MLP([3, 2], head="hinge")
    with pytest.raises(ValueError, match="head='logistic'"):
        MLP([3, 1])
    with pytest.raises(ValueError, match="predict_proba needs"):
        MLP([3, 2], head="squared_error").predict_proba(X)


@pytest.mark.parametrize("head", ["logistic", "squared_error", "poisson"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_the_split_iteration_trains_every_head_as_the_unsplit_one(monkeypatch, head, dtype):
    # A two-layer net large enough to split trains as the unsplit one, up to
    # rounding (as softmax, tests/test_split.py).
    rng = np.random.default_rng(2)
    X = rng.standard_normal((300, 40)).astype(dtype)
    y = targets(rng, head, 300, 3)
    runs = {}
    for split in (False, True):
        monkeypatch.setattr(config, "MIN_FLOPS", 0 if split else float("inf"))
        model = MLP([40, 24, 3], head=head, seed=1, dtype=dtype)
        h = model.train(X, y, X[:50], y[:50], learning_rate=0.01, num_iters=30, batch_size=40,
                        update="adam", reg=1e-3, eval_every=10)
        runs[split] = (model, h)
    (a, ha), (b, hb) = runs[False], runs[True]
    tol = TOL[np.dtype(dtype)] * 10
    np.testing.assert_allclose(ha["loss_history"], hb["loss_history"], rtol=tol)
    for k in a.params:
        assert norm_rel_error(a.params[k], b.params[k]) <= tol, k
    np.testing.assert_allclose(ha["val_acc_history"], hb["val_acc_history"], atol=0.02)


def test_model_files_keep_the_head_and_old_files_load_as_softmax(tmp_path):
    m = MLP([3, 4, 2], head="squared_error", seed=0)
    path = m.save(tmp_path / "m")
    back = MLP.load(path)
    assert back.head == "squared_error"
    X = np.ones((2, 3))
    np.testing.assert_array_equal(back.predict(X), m.predict(X))
    with pytest.raises(ValueError, match="head='squared_error'; expected .*head='softmax'"):
        MLP.load(path, expect=MLP([3, 4, 2]))
    # A file written before heads: its record has no head.
    soft = MLP([3, 4, 2], seed=1)
    meta = dict(layer_sizes=[3, 4, 2], activation="relu", residual=False, dtype="float64",
                cls="MLP")
    old = modelfile.write(tmp_path / "old", meta, soft.params)
    loaded = MLP.load(old)
    assert loaded.head == "softmax"
    np.testing.assert_array_equal(loaded.predict(X), soft.predict(X))
