"""Hyper-parameter search over hidden size, learning rate, regularization and
decay, run in parallel through joblib: worker processes locally, or a Dask
cluster through joblib's ``'dask'`` backend.

Every setting trains from ``np.random.seed(seed)`` in whatever process runs
it, so the results are the same serially, in parallel and on a cluster.
"""
import itertools

import numpy as np

from .training import precompile
from .two_layer_net import TwoLayerNet


def _train_one(X, y, X_val, y_val, hidden_size, learning_rate, reg, decay, num_iters,
               batch_size, std, seed):
    np.random.seed(seed)
    net = TwoLayerNet(X.shape[1], hidden_size, int(max(y.max(), y_val.max())) + 1, std=std,
                      dtype=X.dtype if X.dtype in (np.float32, np.float64) else np.float64)
    stats = net.train(X, y, X_val, y_val, learning_rate=learning_rate,
                      learning_rate_decay=decay, reg=reg, num_iters=num_iters,
                      batch_size=batch_size)
    return {"hidden_size": hidden_size, "learning_rate": learning_rate, "reg": reg,
            "learning_rate_decay": decay,
            "val_acc": float(np.mean(net.predict(X_val) == y_val)),
            "history": stats, "params": {k: v.copy() for k, v in net.params.items()}}


def search(data, hidden_sizes, learning_rates, regs, decays=(0.95,), *, num_iters=1000,
           batch_size=200, std=1e-2, seed=0, n_jobs=1, backend=None, settings=None):
    """Train a :class:`TwoLayerNet` for every combination and rank them.

    Parameters
    ----------
    data : dict with ``X_train, y_train, X_val, y_val``.
    hidden_sizes, learning_rates, regs, decays : the values to combine.
    num_iters, batch_size, std : training length, minibatch and init scale.
    seed : every setting starts from ``np.random.seed(seed)``.
    settings : optional list of ``(hidden_size, learning_rate, reg, decay)``
        to run instead of the full grid (e.g. a random sample of it).
    n_jobs : parallel workers (-1: one per core); ``backend`` is a joblib
        backend name, e.g. ``'dask'`` inside a ``distributed.Client``
        context, or None for joblib's default (worker processes).

    Returns
    -------
    list of dicts (``hidden_size, learning_rate, reg, learning_rate_decay,
    val_acc, history, params``), best validation accuracy first; ties keep
    the grid order.
    """
    import joblib
    X, y = np.asarray(data["X_train"]), np.asarray(data["y_train"])
    X_val, y_val = np.asarray(data["X_val"]), np.asarray(data["y_val"])
    grid = (list(settings) if settings is not None
            else list(itertools.product(hidden_sizes, learning_rates, regs, decays)))
    if not grid:
        raise ValueError("the search grid is empty")
    precompile((X.dtype if X.dtype in (np.float32, np.float64) else np.float64,))
    tasks = (joblib.delayed(_train_one)(X, y, X_val, y_val, h, lr, reg, decay, num_iters,
                                        batch_size, std, seed)
             for h, lr, reg, decay in grid)
    options = {"n_jobs": n_jobs} if backend is None else {"n_jobs": n_jobs, "backend": backend}
    with joblib.parallel_config(**options):
        results = joblib.Parallel()(tasks)
    order = sorted(range(len(results)), key=lambda i: (-results[i]["val_acc"], i))
    return [results[i] for i in order]


def best_net(result):
    """The :class:`TwoLayerNet` of one entry of :func:`search`'s results."""
    return TwoLayerNet.from_params(result["params"])
