"""scikit-learn's own tests of its MLP (``sklearn/neural_network/tests/
test_mlp.py`` of the installed scikit-learn), run against ours.

The file is read from the installed scikit-learn at collection time, its
import of ``MLPClassifier, MLPRegressor`` rewritten to fusednet's, and the
tests below taken from it; nothing of it is copied into this repository.
``SUPPORTED`` lists the tests that need only what fusednet offers; the others
read scikit-learn's private internals (``LEFT_OUT`` says which), and this file
checks that every test of scikit-learn's is in one list or the other, so a
new one in a later scikit-learn is noticed.
"""
import pathlib

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
    "test_mlp_diverging_loss", "test_minimum_input_sample_size", "test_lbfgs_classification",
    "test_lbfgs_regression", "test_lbfgs_classification_maxfun", "test_lbfgs_regression_maxfun",
    "test_multilabel_classification", "test_multioutput_regression",
    "test_predict_proba_multilabel", "test_warm_start",
    "test_mlp_sample_weight_with_early_stopping", "test_sparse_matrices",
    "test_mlp_vs_poisson_glm_equivalent",
]

#: The tests that read scikit-learn's private internals, and which.
LEFT_OUT = {
    "test_gradient": "scikit-learn's private _loss_grad_lbfgs",
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


@pytest.fixture(params=[42, 0, 7])
def global_random_seed(request):
    """scikit-learn's fixture of that name (its conftest gives 42 unless told
    otherwise); three seeds here."""
    return request.param


def test_every_scikit_learn_test_is_run_or_said_to_be_left_out():
    theirs = {name for name in _SUITE if name.startswith("test_")}
    assert theirs == set(SUPPORTED) | set(LEFT_OUT)
    assert not set(SUPPORTED) & set(LEFT_OUT)


for _name in SUPPORTED:
    globals()[_name] = _SUITE[_name]
