"""The estimators' outputs as scikit-learn's: one logistic unit for two
classes, a logistic unit per label (multilabel), identity outputs for
MLPRegressor; and the same model as scikit-learn's for the same settings
and random_state (initial draws, shuffles, optimizer, per-call counters),
pinned against scikit-learn's own numbers."""
import pickle
import warnings

import numpy as np
import pytest
from sklearn import neural_network as theirs
from sklearn.datasets import load_digits, make_multilabel_classification, make_regression
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from fusednet import MLP, MLPClassifier, MLPRegressor
from fusednet.kernels import config


@pytest.fixture(scope="module")
def binary():
    X, y = load_digits(n_class=2, return_X_y=True)
    return X[:200] / 16.0, y[:200]


@pytest.fixture(scope="module")
def regression():
    X, y = make_regression(n_samples=300, n_features=8, n_targets=3, noise=5.0, random_state=0)
    return StandardScaler().fit_transform(X), y / y.std(axis=0)


def _both(cls, theirs_cls, X, y, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return cls(**kw).fit(X, y), theirs_cls(**kw).fit(X, y)


@pytest.mark.parametrize("activation", ["relu", "logistic"])
def test_two_classes_get_one_logistic_unit_drawn_as_scikit_learn_draws_it(binary, activation):
    X, y = binary
    # A negligible rate: after one epoch the weights are the initial ones.
    ours, ref = _both(MLPClassifier, theirs.MLPClassifier, X, y, hidden_layer_sizes=(7,),
                      activation=activation, max_iter=1, learning_rate_init=1e-300,
                      random_state=3)
    assert ours.out_activation_ == ref.out_activation_ == "logistic"
    assert ours.n_outputs_ == ref.n_outputs_ == 1
    for a, b in zip(ours.coefs_ + ours.intercepts_, ref.coefs_ + ref.intercepts_):
        assert a.shape == b.shape
        np.testing.assert_array_equal(a, b)
    proba = ours.predict_proba(X)
    assert proba.shape == (200, 2)
    np.testing.assert_allclose(proba, ref.predict_proba(X), rtol=1e-12)


@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_binary_training_follows_scikit_learns_loss_curve(binary, solver):
    X, y = binary
    kw = dict(hidden_layer_sizes=(16,), solver=solver, max_iter=15, shuffle=False, batch_size=32,
              learning_rate_init=0.05 if solver == "sgd" else 0.005, random_state=0, tol=0.0)
    ours, ref = _both(MLPClassifier, theirs.MLPClassifier, X, y, **kw)
    # The same model, batches and update: the same numbers but for rounding
    # (scikit-learn clips probabilities at eps in its reported loss).
    np.testing.assert_allclose(ours.loss_curve_, ref.loss_curve_, rtol=1e-9)
    for a, b in zip(ours.coefs_, ref.coefs_):
        np.testing.assert_allclose(a, b, rtol=1e-7, atol=1e-12)
    assert (ours.predict(X) == ref.predict(X)).all()


def _problems():
    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    Xr, Yr = make_regression(n_samples=400, n_features=10, n_targets=2, noise=3.0,
                             random_state=0)
    Xm, Ym = make_multilabel_classification(n_samples=150, n_classes=3, random_state=0)
    return {"multiclass": (X, y, "MLPClassifier"), "binary": (X[y < 2], y[y < 2], "MLPClassifier"),
            "multilabel": (Xm, Ym, "MLPClassifier"), "regression": (Xr, Yr / Yr.std(axis=0),
                                                                   "MLPRegressor")}


PROBLEMS = _problems()


@pytest.mark.parametrize("problem", sorted(PROBLEMS))
@pytest.mark.parametrize("solver, schedule", [("sgd", "constant"), ("sgd", "invscaling"),
                                              ("adam", "constant")])
def test_fit_and_partial_fit_give_scikit_learns_model(problem, solver, schedule):
    # Shuffled epochs, scikit-learn's scheme: each epoch permutes the last
    # one's order, from the random state drawn afresh at each call.
    X, y, name = PROBLEMS[problem]
    kw = dict(hidden_layer_sizes=(20,), solver=solver, learning_rate=schedule, max_iter=8,
              random_state=0, tol=0.0, learning_rate_init=0.01 if schedule == "constant" else 0.1,
              batch_size=64)
    mine = MLPClassifier if name == "MLPClassifier" else MLPRegressor
    ours, ref = _both(mine, getattr(theirs, name), X, y, **kw)
    assert ours.n_iter_ == ref.n_iter_ == 8 and ours.t_ == ref.t_
    np.testing.assert_allclose(ours.loss_curve_, ref.loss_curve_, rtol=1e-12)
    for a, b in zip(ours.coefs_ + ours.intercepts_, ref.coefs_ + ref.intercepts_):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-13)
    # partial_fit: one epoch a call, each from a fresh draw of the random state.
    ours = mine(**kw)
    ref = getattr(theirs, name)(**kw)
    extra = {} if problem == "regression" else {"classes": np.arange(y.shape[1]) if y.ndim == 2
                                                 else np.unique(y)}
    for _ in range(4):
        ours.partial_fit(X, y, **extra)
        ref.partial_fit(X, y, **extra)
    assert ours.n_iter_ == ref.n_iter_ == 1 and ours.t_ == ref.t_
    np.testing.assert_allclose(ours.loss_curve_, ref.loss_curve_, rtol=1e-12)
    for a, b in zip(ours.coefs_, ref.coefs_):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("problem", sorted(PROBLEMS))
@pytest.mark.parametrize("solver, extra", [
    ("sgd", {"learning_rate": "adaptive", "learning_rate_init": 0.2}),
    ("adam", {"early_stopping": True}), ("lbfgs", {})], ids=["sgd-adaptive", "adam-early", "lbfgs"])
def test_a_warm_start_refit_gives_scikit_learns_model(problem, solver, extra):
    # A warm start continues from the fitted weights with a new optimizer
    # and random state, counting n_iter_ afresh, as scikit-learn's.
    X, y, name = PROBLEMS[problem]
    mine = MLPClassifier if name == "MLPClassifier" else MLPRegressor
    kw = dict(hidden_layer_sizes=(20,), solver=solver, random_state=0, batch_size=64,
              max_iter=10 if solver == "lbfgs" else 4, warm_start=True, tol=1e-3,
              n_iter_no_change=2, **extra)
    ours, ref = mine(**kw), getattr(theirs, name)(**kw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for _ in range(3):
            ours.fit(X, y)
            ref.fit(X, y)
            assert ours.n_iter_ == ref.n_iter_
            for a, b in zip(ours.coefs_ + ours.intercepts_, ref.coefs_ + ref.intercepts_):
                np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-13)
    if solver != "lbfgs":
        assert ours.t_ == ref.t_
        np.testing.assert_allclose(ours.loss_curve_, ref.loss_curve_, rtol=1e-12)


@pytest.mark.parametrize("problem", sorted(PROBLEMS))
@pytest.mark.parametrize("solver, extra", [("sgd", {}), ("adam", {"early_stopping": True}),
                                           ("lbfgs", {})], ids=["sgd", "adam-early", "lbfgs"])
def test_sample_weight_gives_scikit_learns_weighted_model(problem, solver, extra, monkeypatch):
    # Rows weighted as scikit-learn weighs them: each row's loss and
    # gradient times its weight, the batch's weight in place of its rows
    # (for the mean and for alpha); the split, the validation score weighted.
    X, y, name = PROBLEMS[problem]
    w = np.random.default_rng(1).uniform(0.2, 3.0, len(X))
    mine = MLPClassifier if name == "MLPClassifier" else MLPRegressor
    kw = dict(hidden_layer_sizes=(20,), solver=solver, random_state=0, tol=0.0,
              learning_rate_init=0.01, batch_size=64, max_iter=20 if solver == "lbfgs" else 6,
              **extra)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours = mine(**kw).fit(X, y, sample_weight=w)
        ref = getattr(theirs, name)(**kw).fit(X, y, sample_weight=w)
        if problem == "multiclass" and solver == "sgd":
            # The split iteration weighs its row blocks the same way.
            monkeypatch.setattr(config, "MIN_FLOPS", 0)
            split = mine(**kw).fit(X, y, sample_weight=w)
            for a, b in zip(split.coefs_, ref.coefs_):
                np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-13)
    assert ours.n_iter_ == ref.n_iter_
    for a, b in zip(ours.coefs_ + ours.intercepts_, ref.coefs_ + ref.intercepts_):
        # L-BFGS's line searches carry the rounding of the gradient's sums
        # (ours sum in another order) from step to step: after 20 iterations
        # up to 9e-13 of the layer's largest entry (multilabel; 3e-14 for the
        # others, 3e-16 for SGD's 6 epochs), over 1e-10 of a small entry.
        scale = 1e-11 * np.abs(b).max() if solver == "lbfgs" else 1e-13
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=scale)
    if extra:
        np.testing.assert_allclose(ours.validation_scores_, ref.validation_scores_, rtol=1e-12)
    # Weights of one are no weights.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ones = mine(**kw).fit(X, y, sample_weight=np.ones(len(X)))
        plain = mine(**kw).fit(X, y)
    for a, b in zip(ones.coefs_, plain.coefs_):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("problem", sorted(PROBLEMS))
def test_lbfgs_takes_scikit_learns_steps(problem):
    # SciPy's L-BFGS-B on scikit-learn's packing of the same loss and
    # gradient: the same iterates but for the compiled sums' rounding.
    X, y, name = PROBLEMS[problem]
    mine = MLPClassifier if name == "MLPClassifier" else MLPRegressor
    kw = dict(hidden_layer_sizes=(20,), solver="lbfgs", max_iter=20, random_state=0, alpha=1e-3)
    ours, ref = _both(mine, getattr(theirs, name), X, y, **kw)
    assert ours.n_iter_ == ref.n_iter_
    assert ours.loss_ == pytest.approx(ref.loss_, rel=1e-10)
    for a, b in zip(ours.coefs_ + ours.intercepts_, ref.coefs_ + ref.intercepts_):
        np.testing.assert_allclose(a, b, rtol=1e-8, atol=1e-12)
    assert not hasattr(ours, "loss_curve_") and not hasattr(ref, "loss_curve_")
    with pytest.warns(ConvergenceWarning, match="lbfgs failed to converge after 2 iteration"):
        mine(**dict(kw, max_iter=2)).fit(X, y)
    assert not hasattr(mine(solver="lbfgs"), "partial_fit")


@pytest.mark.parametrize("solver, extra", [("sgd", {}), ("adam", {"early_stopping": True}),
                                           ("lbfgs", {})], ids=["sgd", "adam-early", "lbfgs"])
@pytest.mark.parametrize("outputs", [1, 2])
def test_the_poisson_regressor_gives_scikit_learns_model(solver, extra, outputs):
    rng = np.random.default_rng(5)
    X = rng.uniform(-1, 1, (300, 6))
    Y = rng.poisson(np.exp(X[:, :outputs] - 0.5 * X[:, 2:3]))
    y = Y[:, 0] if outputs == 1 else Y
    kw = dict(loss="poisson", hidden_layer_sizes=(10,), solver=solver, random_state=0, tol=0.0,
              learning_rate_init=0.01, batch_size=50, max_iter=30 if solver == "lbfgs" else 8,
              **extra)
    ours, ref = _both(MLPRegressor, theirs.MLPRegressor, X, y, **kw)
    assert ours.out_activation_ == ref.out_activation_ == "exp"
    assert ours.n_iter_ == ref.n_iter_
    for a, b in zip(ours.coefs_ + ours.intercepts_, ref.coefs_ + ref.intercepts_):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(ours.predict(X), ref.predict(X), rtol=1e-10)
    assert ours.score(X, y) == pytest.approx(ref.score(X, y), rel=1e-10)
    if solver == "lbfgs":
        assert ours.loss_ == pytest.approx(ref.loss_, rel=1e-10)
    else:
        np.testing.assert_allclose(ours.loss_curve_, ref.loss_curve_, rtol=1e-10)
    if extra:
        np.testing.assert_allclose(ours.validation_scores_, ref.validation_scores_, rtol=1e-10)
    with pytest.raises(ValueError, match=r"loss='poisson' needs targets y >= 0"):
        MLPRegressor(loss="poisson").fit(X, -np.ones(300))


def test_multilabel_predicts_the_indicator_matrix_and_each_labels_probability():
    X, Y = make_multilabel_classification(n_samples=120, n_classes=4, random_state=0)
    clf = MLPClassifier(hidden_layer_sizes=(30,), max_iter=300, random_state=0,
                        learning_rate_init=0.01)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, Y)
    assert clf.out_activation_ == "logistic" and clf.n_outputs_ == 4
    assert clf.coefs_[-1].shape == (30, 4)
    pred = clf.predict(X)
    assert pred.shape == Y.shape and set(np.unique(pred)) <= {0, 1}
    proba = clf.predict_proba(X)
    np.testing.assert_array_equal(proba > 0.5, pred == 1)
    assert np.abs(proba.sum(axis=1) - 1).max() > 0.1  # not a softmax
    np.testing.assert_allclose(clf.predict_log_proba(X), np.log(proba), rtol=1e-7, atol=1e-12)
    assert clf.score(X, Y) == np.mean(np.all(pred == Y, axis=1)) > 0.9


def test_multilabel_follows_scikit_learns_loss_curve():
    X, Y = make_multilabel_classification(n_samples=100, n_classes=3, random_state=1)
    ours, ref = _both(MLPClassifier, theirs.MLPClassifier, X, Y, hidden_layer_sizes=(10,),
                      max_iter=10, shuffle=False, random_state=2, tol=0.0)
    np.testing.assert_allclose(ours.loss_curve_, ref.loss_curve_, rtol=1e-9)


@pytest.mark.parametrize("outputs", [1, 3])
def test_the_regressor_follows_scikit_learns_loss_curve_and_predictions(regression, outputs):
    X, Y = regression
    y = Y[:, 0] if outputs == 1 else Y
    ours, ref = _both(MLPRegressor, theirs.MLPRegressor, X, y, hidden_layer_sizes=(20,),
                      max_iter=25, shuffle=False, random_state=0, tol=0.0,
                      learning_rate_init=0.01)
    assert ours.out_activation_ == ref.out_activation_ == "identity"
    assert ours.n_outputs_ == ref.n_outputs_ == outputs
    # The loss averaged over outputs, as scikit-learn reports it.
    np.testing.assert_allclose(ours.loss_curve_, ref.loss_curve_, rtol=1e-9)
    pred = ours.predict(X)
    assert pred.shape == y.shape
    np.testing.assert_allclose(pred, ref.predict(X), rtol=1e-7, atol=1e-9)
    assert ours.score(X, y) == pytest.approx(ref.score(X, y), abs=1e-8)


def test_the_regressor_stops_early_on_r2_and_keeps_float32(regression):
    X, Y = regression
    reg = MLPRegressor(hidden_layer_sizes=(32,), early_stopping=True, max_iter=400,
                       n_iter_no_change=5, random_state=0, learning_rate_init=0.01)
    reg.fit(X.astype(np.float32), Y.astype(np.float32))
    assert reg.n_iter_ < 400
    assert reg.best_validation_score_ == max(reg.validation_scores_) > 0.9
    assert reg.coefs_[0].dtype == np.float32 and reg.predict(X).dtype == np.float32
    assert reg.best_loss_ is None


def test_the_regressor_works_in_a_pipeline_a_grid_search_cross_validation_and_pickle(regression):
    X, Y = regression
    y = Y[:, 1]
    pipe = make_pipeline(StandardScaler(), MLPRegressor(max_iter=60, random_state=0))
    grid = GridSearchCV(pipe, {"mlpregressor__hidden_layer_sizes": [(8,), (24,)]}, cv=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        grid.fit(X, y)
        scores = cross_val_score(MLPRegressor(max_iter=60, random_state=0), X, y, cv=3)
    assert grid.best_params_["mlpregressor__hidden_layer_sizes"] in [(8,), (24,)]
    assert scores.shape == (3,) and scores.min() > 0.5
    back = pickle.loads(pickle.dumps(grid.best_estimator_))
    np.testing.assert_array_equal(back.predict(X), grid.best_estimator_.predict(X))
    est = back[-1]
    est.coefs_[0][0, 0] += 1.0  # the attributes are the model's arrays
    assert not np.array_equal(back.predict(X), grid.best_estimator_.predict(X))


def test_coefs_set_by_hand_are_the_model_partial_fit_continues_from(binary):
    X, y = binary
    clf = MLPClassifier(hidden_layer_sizes=(5,), max_iter=5, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, y)
    W = np.zeros_like(clf.coefs_[1])
    clf.coefs_[1] = W  # a new array in the list: copied in at the next call
    np.testing.assert_allclose(clf.predict_proba(X[:3])[:, 1],
                               1 / (1 + np.exp(-clf.intercepts_[1][0])))
    assert clf.coefs_[1] is not W  # the model's view again, holding W's values
    np.testing.assert_array_equal(clf.coefs_[1], W)


def test_an_estimator_pickled_before_scikit_learns_outputs_still_predicts(binary):
    X, y = binary
    # What fusednet 0.1.0 pickled for a binary problem: two softmax outputs,
    # a label encoder, no coefs_ in its state.
    model = MLP([64, 6, 2], seed=0)
    old = MLPClassifier(hidden_layer_sizes=(6,))
    from sklearn.preprocessing import LabelEncoder
    state = dict(old.__dict__, _model=model, _label_encoder=LabelEncoder().fit(y),
                 classes_=np.array([0, 1]), n_features_in_=64, n_outputs_=2, n_layers_=3,
                 out_activation_="softmax", n_iter_=1, t_=200, loss_curve_=[0.5])
    clf = MLPClassifier.__new__(MLPClassifier)
    clf.__setstate__(state)
    np.testing.assert_array_equal(clf.predict(X), model.predict(X))
    assert clf.predict_proba(X).shape == (200, 2)
    assert [c.shape for c in clf.coefs_] == [(64, 6), (6, 2)]
    with pytest.raises(ValueError, match="fit it anew"):
        clf.partial_fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, y)  # a new fit: scikit-learn's outputs
    assert clf.coefs_[-1].shape == (6, 1)
