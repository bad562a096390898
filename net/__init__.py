"""The trainer and its public classes (built on ``kernels``)."""
from . import gradcheck
from .architecture import parameter_count
from .eecs498 import (
    find_best_net,
    nn_forward_backward,
    nn_forward_pass,
    nn_get_search_params,
    nn_predict,
    nn_train,
)
from ..kernels.threads import get_num_threads, set_num_threads
from .many import train_many
from .mlp import MLP
from .plots import plot_history, plot_predictions, plot_weights
from .search import search
from .precompile import precompile
from .training import TrainingDiverged, TrainingInterrupted


def __getattr__(name):
    # scikit-learn is an optional dependency: import the estimator on first use.
    if name in ("MLPClassifier", "MLPRegressor"):
        from . import estimator
        return getattr(estimator, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


from .two_layer_net import TwoLayerNet

__all__ = [
    "MLP",
    "MLPClassifier",
    "MLPRegressor",
    "TrainingDiverged",
    "TrainingInterrupted",
    "TwoLayerNet",
    "find_best_net",
    "get_num_threads",
    "gradcheck",
    "nn_forward_backward",
    "nn_forward_pass",
    "nn_get_search_params",
    "nn_predict",
    "nn_train",
    "parameter_count",
    "plot_history",
    "plot_predictions",
    "plot_weights",
    "precompile",
    "search",
    "set_num_threads",
    "train_many",
]
