"""scikit-learn's own tests of its MLP (``sklearn/neural_network/tests/
test_mlp.py`` of the installed scikit-learn), run against ours.

The file is read from the installed scikit-learn at collection time, its
import of ``MLPClassifier, MLPRegressor`` rewritten to fusednet's, and the
tests below taken from it; nothing of it is copied into this repository.
``SUPPORTED`` lists the tests that need only what fusednet offers; the others
need the 'lbfgs' solver, sparse input, ``sample_weight`` or the Poisson loss
(``LEFT_OUT`` says which), and this file
checks that every test of scikit-learn's is in one list or the other, so a
new one in a later scikit-learn is noticed.
"""
import pathlib
import types

import pytest

sklearn = pytest.importorskip("sklearn")

IMPORT = "from sklearn.neural_network import MLPClassifier, MLPRegressor"

SUPPORTED = [
    "test_alpha", "test_fit", "test_learning_rate_warmstart", "test_partial_fit_classes_error",
    "test_partial_fit_classification", "test_partial_fit_unseen_classes",
    "test_partial_fit_regression", "test_partial_fit_errors", "test_nonfinite_params",
    "test_predict_proba_binary", "test_predict_proba_multiclass", "test_tolerance",
    "test_verbose_sgd", "test_early_stopping", "test_adaptive_learning_rate", "test_shuffle",
    "test_warm_start_full_iteration", "test_n_iter_no_change", "test_n_iter_no_change_inf",
    "test_early_stopping_stratified", "test_mlp_early_stopping_string_labels",
    "test_mlp_classifier_dtypes_casting", "test_mlp_regressor_dtypes_casting",
    "test_mlp_param_dtypes", "test_mlp_loading_from_joblib_partial_fit",
    "test_preserve_feature_names", "test_mlp_warm_start_with_early_stopping",
    "test_mlp_warm_start_no_convergence", "test_mlp_partial_fit_after_fit",
    "test_mlp_diverging_loss", "test_minimum_input_sample_size",
]

#: The tests that need what fusednet does not offer yet, and what.
LEFT_OUT = {
    "test_gradient": "lbfgs (its private _loss_grad_lbfgs)",
    "test_lbfgs_classification": "lbfgs", "test_lbfgs_regression": "lbfgs",
    "test_lbfgs_classification_maxfun": "lbfgs", "test_lbfgs_regression_maxfun": "lbfgs",
    "test_multilabel_classification": "lbfgs", "test_multioutput_regression": "lbfgs",
    "test_predict_proba_multilabel": "lbfgs", "test_warm_start": "lbfgs",
    "test_sparse_matrices": "sparse X",
    "test_mlp_sample_weight_with_early_stopping": "sample_weight",
    "test_mlp_vs_poisson_glm_equivalent": "the Poisson loss",
}


def _load():
    path = pathlib.Path(sklearn.__file__).parent / "neural_network" / "tests" / "test_mlp.py"
    source = path.read_text()
    assert source.count(IMPORT) == 1, f"{path} no longer imports the estimators as expected"
    source = source.replace(IMPORT, "from fusednet import MLPClassifier, MLPRegressor")
    namespace = {"__name__": "sklearn_test_mlp_on_fusednet", "__file__": str(path)}
    exec(compile(source, f"{path} (import rewritten)", "exec"), namespace)
    return namespace


_SUITE = _load()


def test_every_scikit_learn_test_is_run_or_said_to_be_left_out():
    theirs = {name for name in _SUITE if name.startswith("test_")}
    assert theirs == set(SUPPORTED) | set(LEFT_OUT)
    assert not set(SUPPORTED) & set(LEFT_OUT)


#: Parametrized tests of which some cases need what is left out: the values dropped.
LEFT_OUT_CASES = {"test_mlp_warm_start_no_convergence": ("solver", "lbfgs")}


def _without(test, argname, value):
    """``test`` with ``value`` dropped from its parametrization of ``argname``."""
    copy = types.FunctionType(test.__code__, test.__globals__, test.__name__, test.__defaults__,
                              test.__closure__)
    marks = []
    for mark in test.pytestmark:
        if mark.name == "parametrize" and mark.args[0] == argname:
            kept = [v for v in mark.args[1] if v != value]
            assert len(kept) < len(mark.args[1]), (test.__name__, argname, value)
            mark = pytest.mark.parametrize(argname, kept).mark
        marks.append(mark)
    copy.pytestmark = marks
    return copy


for _name in SUPPORTED:
    _test = _SUITE[_name]
    if _name in LEFT_OUT_CASES:
        _test = _without(_test, *LEFT_OUT_CASES[_name])
    globals()[_name] = _test
