"""Hyper-parameter search over hidden size, learning rate, regularization and
decay. On one machine every setting trains in one compiled parallel call
(:func:`train_many`); for more than one machine, through joblib: worker
processes, or a Dask cluster through joblib's ``'dask'`` backend.

Every setting trains from ``np.random.seed(seed)`` in whatever process runs
it, so the results are the same serially, in parallel and on a cluster. A
setting whose loss diverges is recorded as diverged and the others go on.
A search whose models would not fit in memory together is refused first.
"""
import itertools
import math

import numpy as np

from ..kernels.checks import check_number
from .inputs import as_array, as_class_labels, as_rows
from ..kernels import threads
from . import memory
from .many import SETTING, check_setting, class_count, memory_needed, train_many
from .precompile import precompile
from . import signals
from .training import TrainingDiverged, TrainingInterrupted, interrupted
from .two_layer_net import TwoLayerNet


def _train_one(X, y, X_val, y_val, hidden_size, learning_rate, reg, decay, num_iters,
               batch_size, std, seed, num_classes):
    np.random.seed(seed)
    net = TwoLayerNet(X.shape[1], hidden_size, num_classes, std=std, dtype=X.dtype)
    result = {"hidden_size": hidden_size, "learning_rate": learning_rate, "reg": reg,
              "learning_rate_decay": decay, "diverged": False, "diverged_at": None}
    try:
        stats = net.train(X, y, X_val, y_val, learning_rate=learning_rate,
                          learning_rate_decay=decay, reg=reg, num_iters=num_iters,
                          batch_size=batch_size)
        val_acc = float(np.mean(net.predict(X_val) == y_val))
    except TrainingDiverged as exc:
        stats = exc.history
        finite = [a for a in stats.get("val_acc_history", []) if math.isfinite(a)]
        val_acc = finite[-1] if finite else math.nan
        result.update(diverged=True, diverged_at=exc.iteration)
    return dict(result, val_acc=float(val_acc), history=stats,
                params={k: v.copy() for k, v in net.params.items()})


def _values(name, values):
    """A list of the values of one axis of the grid (any iterable but a string)."""
    if isinstance(values, (str, bytes)) or not isinstance(values, (list, tuple, np.ndarray,
                                                                    range)):
        raise TypeError(f"{name} must be a list of values, got {type(values).__name__} {values!r}")
    return list(values)


def _data(data):
    """``(X, y, X_val, y_val, num_classes)`` from ``data``, checked and converted once."""
    if not isinstance(data, dict) or any(k not in data for k in ("X_train", "y_train", "X_val",
                                                                   "y_val")):
        raise TypeError("data must be a dict with X_train, y_train, X_val and y_val")
    X = as_array("data['X_train']", data["X_train"])
    dtype = X.dtype if X.dtype in (np.float32, np.float64) else np.dtype(np.float64)
    X = as_rows("data['X_train']", X, X.shape[1] if X.ndim == 2 else None, dtype)
    X_val = as_rows("data['X_val']", data["X_val"], X.shape[1], dtype)
    labels = []
    for key, n in (("y_train", X.shape[0]), ("y_val", X_val.shape[0])):
        y = as_array(f"data[{key!r}]", data[key])
        if y.ndim != 2 and y.dtype.kind not in "iu":  # one-hot rows (N, C) may be floats
            raise TypeError(f"data[{key!r}] must hold integer class labels, got dtype {y.dtype}")
        labels.append((f"data[{key!r}]", y, n))
    num_classes = class_count(*(y for _, y, _ in labels))
    y, y_val = (as_class_labels(name, y, n, num_classes) for name, y, n in labels)
    return X, y, X_val, y_val, num_classes


def search(data, hidden_sizes, learning_rates, regs, decays=(0.95,), *, num_iters=1000,
           batch_size=200, std=1e-2, seed=0, n_jobs=-1, backend=None, settings=None):
    """Train a :class:`TwoLayerNet` for every combination and rank them.

    Parameters
    ----------
    data : dict with ``X_train (N, D), y_train (N,), X_val (M, D), y_val (M,)``
        (labels, or one-hot rows (N, C) and (M, C)).
    hidden_sizes, learning_rates, regs, decays : the values to combine:
        integers >= 1, numbers > 0, >= 0 and >= 0.
    num_iters, batch_size : integers >= 1; std : initial weight scale >= 0.
    seed : every setting starts from ``np.random.seed(seed)``, 0 <= seed < 2**32.
    settings : optional list of ``(hidden_size, learning_rate, reg, decay)``
        to run instead of the full grid (e.g. a random sample of it).
    n_jobs : threads or workers, a non-zero integer (-1: one per core).
    backend : None (or ``'threads'``) trains every setting in one compiled
        parallel call, :func:`train_many`, on up to ``n_jobs`` threads; any
        other name is a joblib backend: ``'loky'`` (worker processes), or
        ``'dask'`` inside a ``distributed.Client`` context. The results are
        the same whichever runs them.

    Everything is checked, by name, before any training starts, and so is
    the memory of the models that train at once (all of them in one call;
    as many as workers in worker processes): MemoryError saying how much
    they need and how much is available.

    Returns
    -------
    list of dicts (``hidden_size, learning_rate, reg, learning_rate_decay,
    val_acc, diverged, diverged_at, history, params``), best validation
    accuracy first, ties in grid order. A setting whose loss became NaN or
    Inf has ``diverged`` True, ``diverged_at`` the iteration, ``val_acc`` the
    last finite validation accuracy recorded (NaN if none), the history up to
    then and the parameters of the last finite step; diverged settings come
    last.

    Ctrl-C (or SIGTERM, SIGHUP) raises :class:`TrainingInterrupted` with
    ``results``, ranked the same way: with one parallel call every setting's
    result for the iterations it finished (``interrupted`` True), with
    worker processes or Dask the settings that had finished.
    """
    X, y, X_val, y_val, num_classes = _data(data)
    if settings is not None:
        grid = [check_setting(f"settings[{i}]", s) for i, s in enumerate(_values("settings", settings))]
    else:
        axes = [[check_number(f"{name}[{i}]", v, **rule) for i, v in enumerate(_values(name, values))]
                for name, values, (_, rule) in zip(
                    ("hidden_sizes", "learning_rates", "regs", "decays"),
                    (hidden_sizes, learning_rates, regs, decays), SETTING)]
        grid = list(itertools.product(*axes))
    if not grid:
        raise ValueError("the search grid is empty")
    num_iters = check_number("num_iters", num_iters, 1, integer=True)
    batch_size = check_number("batch_size", batch_size, 1, integer=True)
    std = check_number("std", std, 0)
    seed = check_number("seed", seed, 0, 2**32 - 1, integer=True)  # np.random.seed's range
    n_jobs = check_number("n_jobs", n_jobs, integer=True)
    if n_jobs == 0:
        raise ValueError("n_jobs must be a positive number of workers or negative (-1: one per "
                         "core), got 0")
    if backend is not None and not isinstance(backend, str):
        raise TypeError(f"backend must be None or a joblib backend name, got {backend!r}")
    if backend not in (None, "threads", "dask"):  # train_many checks its own; Dask's is remote
        workers = n_jobs if n_jobs > 0 else max(1, threads.available_cores() + 1 + n_jobs)
        need, nets = memory_needed(X.shape[1], max(s[0] for s in grid), num_classes, batch_size,
                                   max(len(X), len(X_val)), X.dtype, min(len(grid), workers))
        memory.check_fits(need, f"{nets} in worker processes with batch_size {batch_size}",
                          "use fewer or smaller settings, a smaller batch_size or fewer n_jobs")
    if backend in (None, "threads"):
        before = threads.get_num_threads()
        cores = threads.available_cores()  # joblib's reading of n_jobs: -1 all, -2 all but one
        threads.set_num_threads(max(1, cores + 1 + n_jobs) if n_jobs < 0 else n_jobs)
        try:
            results = train_many(X, y, X_val, y_val, grid, num_iters=num_iters,
                                 batch_size=batch_size, std=std, seed=seed)
        except TrainingInterrupted as exc:
            exc.results = ranked(exc.results)
            raise
        finally:
            threads.set_num_threads(before)
    else:
        import joblib
        precompile((X.dtype,))  # before workers start: they only load the cache
        tasks = (joblib.delayed(_train_one)(X, y, X_val, y_val, h, lr, reg, decay, num_iters,
                                            batch_size, std, seed, num_classes)
                 for h, lr, reg, decay in grid)
        results = []  # as they finish: a stopped search keeps them
        try:
            with joblib.parallel_config(n_jobs=n_jobs, backend=backend), \
                    signals.stop_on_terminate():
                try:
                    parallel = joblib.Parallel(return_as="generator_unordered")
                except ValueError:  # a backend that cannot (multiprocessing): all at the end
                    parallel = joblib.Parallel()
                for result in parallel(tasks):
                    results.append(result)
        except KeyboardInterrupt as exc:
            stopped = TrainingInterrupted(
                f"{interrupted(exc, 'search')} after {len(results)} of {len(grid)} settings; "
                "their results are kept", [r["history"] for r in results],
                signals.signum_of(exc))
            stopped.results = ranked(results)
            raise stopped from None
        order = {setting: i for i, setting in enumerate(grid)}
        results.sort(key=lambda r: order[tuple(r[k] for k in _FIELDS)])
    return ranked(results)


#: The fields of a result that name its setting, in a setting's order.
_FIELDS = ("hidden_size", "learning_rate", "reg", "learning_rate_decay")


def ranked(results):
    """``results`` best first (:func:`rank_key`), ties in their order."""
    return [results[i] for i in sorted(range(len(results)), key=lambda i: rank_key(results[i], i))]


def rank_key(result, position):
    """Sort key: settings that trained to the end by validation accuracy, best
    first, then diverged ones (latest divergence first); ties keep ``position``."""
    if result["diverged"]:
        return (1, -result["diverged_at"], position)
    return (0, -result["val_acc"], position)


def best_net(result):
    """The :class:`TwoLayerNet` of one entry of :func:`search`'s results."""
    return TwoLayerNet.from_params(result["params"])
