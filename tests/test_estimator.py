"""net.MLPClassifier (and, in scikit-learn's checks, MLPRegressor) as a
scikit-learn estimator."""
import warnings

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.neural_network import MLPClassifier as SklearnMLP
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from fusednet.net import MLPClassifier, MLPRegressor


@parametrize_with_checks([MLPClassifier(max_iter=100), MLPRegressor(max_iter=100)])
def test_passes_scikit_learn_estimator_checks(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        check(estimator)


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return train_test_split(X / 16.0, y, random_state=0)


def test_digits_accuracy_matches_scikit_learn_with_the_same_settings(digits):
    Xtr, Xte, ytr, yte = digits
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours = MLPClassifier(random_state=0).fit(Xtr, ytr).score(Xte, yte)
        theirs = SklearnMLP(random_state=0).fit(Xtr, ytr).score(Xte, yte)
    assert ours >= theirs - 0.01
    assert ours > 0.95


def test_works_in_a_pipeline_and_a_grid_search(digits):
    Xtr, Xte, ytr, yte = digits
    pipe = make_pipeline(StandardScaler(), MLPClassifier(max_iter=30, random_state=0))
    grid = GridSearchCV(pipe, {"mlpclassifier__hidden_layer_sizes": [(16,), (32,)],
                               "mlpclassifier__alpha": [1e-4, 1e-2]}, cv=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        grid.fit(Xtr, ytr)
    assert set(grid.best_params_) == {"mlpclassifier__hidden_layer_sizes", "mlpclassifier__alpha"}
    assert grid.score(Xte, yte) > 0.9


def test_string_labels_probabilities_and_fitted_attributes(digits):
    Xtr, _, ytr, _ = digits
    names = np.array(["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"])
    clf = MLPClassifier(hidden_layer_sizes=(20, 12), max_iter=40, random_state=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(Xtr, names[ytr])
    assert list(clf.classes_) == sorted(names)
    assert set(clf.predict(Xtr[:50])) <= set(names)
    proba = clf.predict_proba(Xtr[:50])
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert (clf.classes_[proba.argmax(axis=1)] == clf.predict(Xtr[:50])).all()
    assert [c.shape for c in clf.coefs_] == [(64, 20), (20, 12), (12, 10)]
    assert [b.shape for b in clf.intercepts_] == [(20,), (12,), (10,)]
    assert clf.n_iter_ == len(clf.loss_curve_) == 40 and clf.n_features_in_ == 64
    assert clf.n_layers_ == 4 and clf.out_activation_ == "softmax"


def test_alpha_is_half_alpha_sum_w2_over_the_batch(digits):
    Xtr, _, ytr, _ = digits
    X, y = Xtr[:100], ytr[:100]
    clf = MLPClassifier(hidden_layer_sizes=(8,), solver="sgd", momentum=0.0, alpha=3.0,
                        learning_rate_init=1e-300, batch_size=100, max_iter=1, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, y)
    # With a vanishing step the parameters stay at their start, so the one
    # epoch's loss is the loss there: cross-entropy + 0.5 alpha |W|^2 / n.
    W1, W2 = clf.coefs_
    b1, b2 = clf.intercepts_
    s = np.maximum(X @ W1 + b1, 0) @ W2 + b2
    s -= s.max(axis=1, keepdims=True)
    ce = np.mean(np.log(np.exp(s).sum(axis=1)) - s[np.arange(100), np.searchsorted(clf.classes_, y)])
    assert clf.loss_ == pytest.approx(ce + 0.5 * 3.0 * (np.sum(W1 ** 2) + np.sum(W2 ** 2)) / 100,
                                      rel=1e-12)


def test_partial_fit_needs_classes_first_then_keeps_learning(digits):
    Xtr, _, ytr, _ = digits
    clf = MLPClassifier(hidden_layer_sizes=(32,), random_state=0)
    with pytest.raises(ValueError, match="classes must be passed on the first call"):
        clf.partial_fit(Xtr, ytr)
    clf.partial_fit(Xtr[:300], ytr[:300], classes=np.arange(10))
    for _ in range(15):
        clf.partial_fit(Xtr, ytr)
    # As scikit-learn counts: n_iter_ the epochs of the last call, t_ and the
    # loss curve over all of them.
    assert clf.n_iter_ == 1 and len(clf.loss_curve_) == 16
    assert clf.t_ == 300 + 15 * len(Xtr)
    assert clf.loss_curve_[-1] < 0.5 * clf.loss_curve_[0]
    with pytest.raises(ValueError, match="is not the same as on last call to partial_fit"):
        clf.partial_fit(Xtr, ytr, classes=np.arange(11))


def test_early_stopping_and_tol_stop_before_max_iter(digits):
    Xtr, _, ytr, _ = digits
    clf = MLPClassifier(early_stopping=True, n_iter_no_change=3, max_iter=500, random_state=0,
                        learning_rate_init=1e-2).fit(Xtr, ytr)
    assert clf.n_iter_ < 500
    assert clf.best_validation_score_ == max(clf.validation_scores_)
    plain = MLPClassifier(tol=1e-2, n_iter_no_change=2, max_iter=500, random_state=0).fit(Xtr, ytr)
    assert plain.n_iter_ < 500


@pytest.mark.parametrize("solver, schedule", [("sgd", "constant"), ("sgd", "invscaling"),
                                              ("sgd", "adaptive"), ("adam", "constant")])
def test_solvers_and_schedules_learn(digits, solver, schedule):
    Xtr, Xte, ytr, yte = digits
    init = 0.5 if schedule == "invscaling" else 0.05 if solver == "sgd" else 1e-3
    clf = MLPClassifier(solver=solver, learning_rate=schedule, learning_rate_init=init,
                        max_iter=60, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(Xtr, ytr)
    assert clf.score(Xte, yte) > 0.9


def test_same_random_state_same_model_and_float32_is_kept(digits):
    Xtr, _, ytr, _ = digits
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        a = MLPClassifier(max_iter=5, random_state=3).fit(Xtr, ytr)
        b = MLPClassifier(max_iter=5, random_state=3).fit(Xtr, ytr)
        c = MLPClassifier(max_iter=5, random_state=3).fit(Xtr.astype(np.float32), ytr)
    for x, y_ in zip(a.coefs_, b.coefs_):
        np.testing.assert_array_equal(x, y_)
    assert c.coefs_[0].dtype == np.float32
    np.testing.assert_allclose(c.loss_curve_, a.loss_curve_, rtol=1e-3)


def test_bad_input_gives_scikit_learn_errors(digits):
    Xtr, _, ytr, _ = digits
    clf = MLPClassifier(max_iter=2)
    bad = Xtr.copy()
    bad[3, 4] = np.nan
    with pytest.raises(ValueError, match="Input X contains NaN"):
        clf.fit(bad, ytr)
    with pytest.raises(ValueError, match="Unknown label type"):
        clf.fit(Xtr, ytr + 0.5)
    with pytest.raises(ValueError, match="'solver' parameter of MLPClassifier must be a str among"):
        MLPClassifier(solver="newton").fit(Xtr, ytr)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(Xtr, ytr)
    with pytest.raises(ValueError, match="X has 10 features, but MLPClassifier is expecting 64"):
        clf.predict(Xtr[:, :10])


@pytest.mark.parametrize("name, value", [
    ("momentum", 1.5), ("momentum", -0.1), ("beta_1", 1.0), ("beta_2", 1.0), ("epsilon", 0.0),
    ("learning_rate_init", 0.0), ("alpha", -1e-4), ("validation_fraction", 1.0),
    ("max_iter", 0), ("batch_size", 0), ("n_iter_no_change", 0), ("alpha", "x"),
    ("shuffle", "yes"), ("learning_rate", "fast"), ("hidden_layer_sizes", 0),
])
def test_parameters_are_refused_as_strictly_as_scikit_learn_refuses_them(digits, name, value):
    from sklearn.neural_network import MLPClassifier as Theirs
    Xtr, _, ytr, _ = digits
    with pytest.raises(ValueError, match=f"'{name}' parameter of MLPClassifier must be"):
        MLPClassifier(**{name: value}).fit(Xtr[:50], ytr[:50])
    with pytest.raises(ValueError, match=f"'{name}' parameter of MLPClassifier must be"):
        Theirs(**{name: value}).fit(Xtr[:50], ytr[:50])


def test_an_empty_validation_fraction_is_refused_where_scikit_learn_would_fail_later(digits):
    Xtr, _, ytr, _ = digits
    with pytest.raises(ValueError, match="'validation_fraction' parameter of MLPClassifier must"):
        MLPClassifier(validation_fraction=0.0).fit(Xtr[:50], ytr[:50])


def test_partial_fit_checks_parameters_too(digits):
    Xtr, _, ytr, _ = digits
    with pytest.raises(ValueError, match="'momentum' parameter"):
        MLPClassifier(solver="sgd", momentum=2.0).partial_fit(Xtr[:50], ytr[:50], classes=np.arange(10))


def test_divergence_raises_training_diverged_and_keeps_finite_weights(digits):
    from fusednet import TrainingDiverged
    Xtr, _, ytr, _ = digits
    clf = MLPClassifier(hidden_layer_sizes=(20,), solver="sgd", momentum=0.0,
                        learning_rate_init=1e300, max_iter=3, random_state=0)
    with pytest.raises(TrainingDiverged, match="epoch 1: training diverged") as info:
        clf.fit(Xtr * 1000, ytr)
    assert all(np.isfinite(w).all() for w in clf.coefs_ + clf.intercepts_)
    assert info.value.history == {"loss_curve": []}
