"""``train_many``: K two-layer nets (different hidden sizes, learning rates,
regularization, decay; the same data) trained at once in one compiled
``parallel=True`` call, one model per thread at a time, BLAS single-threaded.

Each model gets exactly the numbers :class:`TwoLayerNet` gives it alone: it
starts from ``np.random.seed(seed)`` (its weights drawn as the class draws
them), then draws its minibatches from that same stream
(``np.random.choice(N, batch_size)`` per iteration), so a search on one
machine returns what one process per model, or a Dask cluster, returns.
``np.random``'s global state is left as it was.
"""
import math

import numpy as np

from ..kernels import loop as L
from ..kernels.checks import l2_factor
from . import sampling, training
from .inputs import as_class_labels, as_rows
from .two_layer_net import TwoLayerNet


def _model(D, C, hidden, std, seed, dtype):
    """The TwoLayerNet that ``np.random.seed(seed); TwoLayerNet(D, hidden, C,
    std)`` makes, and the stream positioned where its training draws would
    start; drawn from a private RandomState, so that threads running this at
    once do not share ``np.random``'s global state."""
    stream = np.random.RandomState(seed)
    W1 = std * stream.randn(D, hidden)
    W2 = std * stream.randn(hidden, C)
    net = TwoLayerNet.from_params({"W1": W1.astype(dtype), "b1": np.zeros(hidden, dtype),
                                   "W2": W2.astype(dtype), "b2": np.zeros(C, dtype)})
    return net, stream


def train_many(X, y, X_val, y_val, settings, *, num_iters=1000, batch_size=200, std=1e-2,
               seed=0):
    """Train one :class:`TwoLayerNet` per setting ``(hidden_size,
    learning_rate, reg, learning_rate_decay)`` with the course's SGD loop
    (``TwoLayerNet.train``'s schedule: an epoch every ``max(N // batch_size,
    1)`` iterations), all at once.

    Returns a list, in the order of ``settings``, of dicts with
    ``hidden_size, learning_rate, reg, learning_rate_decay, val_acc,
    history, params, diverged, diverged_at``. A model whose loss (or update)
    became NaN or Inf stops there: ``diverged`` is True, ``diverged_at`` that
    iteration, ``val_acc`` the last validation accuracy it recorded (NaN if
    none), ``params`` its last good parameters; the others go on. Ctrl-C raises
    :class:`TrainingInterrupted` whose ``history`` is the list of every
    model's histories so far.

    Threads: up to ``fusednet.get_num_threads()``; one model runs in one
    thread at a time, so a busy core only slows the models it runs.
    """
    settings = [tuple(s) for s in settings]
    if not settings:
        raise ValueError("settings is empty; expected (hidden_size, learning_rate, reg, "
                         "learning_rate_decay) tuples")
    for s in settings:
        if len(s) != 4:
            raise ValueError(f"each setting must be (hidden_size, learning_rate, reg, "
                             f"learning_rate_decay), got {s!r}")
    X0 = np.asarray(X)
    dtype = X0.dtype if X0.dtype in (np.float32, np.float64) else np.dtype(np.float64)
    classes = max(2, int(max(np.max(y), np.max(y_val))) + 1)
    models = [_model(X0.shape[1], classes, int(h), std, seed, dtype) for h, *_ in settings]
    D = X0.shape[1] if X0.ndim == 2 else None
    X, X_val = as_rows("X", X0, D, dtype), as_rows("X_val", X_val, D, dtype)
    N = X.shape[0]
    data = L.Data(X, as_class_labels("y", y, N, classes), X_val,
                  as_class_labels("y_val", y_val, len(X_val), classes))
    num_iters = int(num_iters)
    samplers = [sampling.Replacement(N, int(batch_size), sampling.RandomStateSource(stream))
                for _, stream in models]
    sessions = []
    for (net, _), (_, lr, reg, decay), sampler in zip(models, settings, samplers):
        packed = net.packed()
        sessions.append(training.Session(
            packed, data, batch_rows=sampler.batch_rows, num_iters=num_iters,
            l2_factor=l2_factor(reg, "full"),
            optimizer=training.Optimizer("sgd", None, lr, packed.theta),
            schedule=L.Schedule(sampler.epoch_len, float(decay), 1)))
    status = training.run_many(sessions, data, [s.draw for s in samplers], num_iters)
    results = []
    for (net, _), setting, s, st in zip(models, settings, sessions, status):
        stop = training.finished(s, st)
        at = None if st < 0 else int(st)
        if st < 0 and stop > 0 and s.restore_if_nonfinite():
            at = stop - 1
        history = s.history(stop)
        if at is None:
            val_acc = float(np.mean(net.predict(data.X_val) == data.y_val))
        else:  # the last validation accuracy recorded while it was finite
            val_acc = history["val_acc_history"][-1] if history["val_acc_history"] else math.nan
        results.append({"hidden_size": int(setting[0]), "learning_rate": float(setting[1]),
                        "reg": float(setting[2]), "learning_rate_decay": float(setting[3]),
                        "diverged": at is not None, "diverged_at": at, "val_acc": float(val_acc),
                        "history": history,
                        "params": {k: v.copy() for k, v in net.params.items()}})
    return results
