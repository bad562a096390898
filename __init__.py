"""fusednet: fused Numba kernels and a drop-in trainer for small
fully-connected nets on the CPU.

    from fusednet import TwoLayerNet, MLP, MLPClassifier, MLPRegressor, search, find_best_net
    from fusednet import kernels          # the fused kernels
    from fusednet.kernels import reference  # the same functions in plain NumPy

The repository's folders map into this one package: ``kernels/`` is
``fusednet.kernels``, ``net/`` is ``fusednet.net``, ``scripts/`` is
``fusednet.scripts`` (the ``fusednet`` command), ``bench/`` is
``fusednet.bench`` (the benchmark runner). ``fusednet.cs231n``,
``fusednet.eecs498`` and ``fusednet.cs224d`` hold each course's names.
"""
__version__ = "0.1.0"

__all__ = [
    "MLP",
    "MLPClassifier",
    "MLPRegressor",
    "TrainingDiverged",
    "TrainingInterrupted",
    "TwoLayerNet",
    "__version__",
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

# The names of __all__ are imported from fusednet.net on first use, so that
# ``import fusednet`` (and the command's start-up) does not load Numba until a
# model or kernel is asked for; the benchmark runner sets Numba's environment
# before that happens.
_FROM_NET = set(__all__) - {"__version__"}


def __getattr__(name):
    if name in _FROM_NET:
        from . import net
        return getattr(net, name)
    if name in ("kernels", "net", "scripts", "bench", "cs224d", "cs231n", "eecs498"):
        import importlib
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'fusednet' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | _FROM_NET)
