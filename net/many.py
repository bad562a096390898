"""``train_many``: K two-layer nets (different hidden sizes, learning rates,
regularization, decay; the same data) trained at once in one compiled
``parallel=True`` call, one model per thread at a time, BLAS single-threaded.

Each model gets exactly the numbers :class:`TwoLayerNet` gives it alone: it
starts from ``np.random.seed(seed)`` (its weights drawn as the class draws
them), then draws its minibatches from that same stream
(``np.random.choice(N, batch_size)`` per iteration), so a search on one
machine returns what one process per model, or a Dask cluster, returns.
``np.random``'s global state is left as it was.

Every argument is checked, by name, before any model is built, and so is the
memory the models would need.
"""
import math

import numpy as np

from ..kernels import loop as L
from ..kernels.checks import check_number, l2_factor
from . import memory, sampling, training
from .architecture import training_bytes
from .inputs import as_array, as_class_labels, as_rows
from .two_layer_net import TwoLayerNet

#: ``(name, check)`` of each entry of a setting ``(hidden_size, learning_rate, reg, decay)``.
SETTING = (("hidden_size", dict(low=1, integer=True)),
           ("learning_rate", dict(low=0, low_open=True)),
           ("reg", dict(low=0)),
           ("learning_rate_decay", dict(low=0)))


def check_setting(name, setting):
    """``(hidden_size, learning_rate, reg, decay)`` checked: an int >= 1, a
    number > 0 and two numbers >= 0, all finite; errors name ``name`` and the
    field (``settings[3] reg must be finite and >= 0``)."""
    if isinstance(setting, (str, bytes)) or not isinstance(setting, (list, tuple)) \
            or len(setting) != len(SETTING):
        raise TypeError(f"{name} must be a tuple (hidden_size, learning_rate, reg, decay), "
                        f"got {setting!r}")
    return tuple(check_number(f"{name} {field}", value, **rule)
                 for (field, rule), value in zip(SETTING, setting))


def class_count(*labels):
    """The number of classes the label arrays ``labels`` describe: the width
    of one-hot rows (N, C) where any holds them, else the largest integer
    label + 1, at least 2. Labels of another kind are left for
    ``as_class_labels`` to refuse by name."""
    for y in labels:
        if y.ndim == 2:
            return max(2, y.shape[1])
    top = [int(y.max()) for y in labels if y.ndim == 1 and y.dtype.kind in "iu" and y.size]
    return max(2, max(top, default=0) + 1)


def memory_needed(num_features, hidden_size, num_classes, batch_size, rows, dtype, at_once):
    """``(bytes, what)``: rough peak bytes of ``at_once`` two-layer nets
    training together, each as large as the largest (``hidden_size``), by
    ``architecture.training_bytes``; ``what`` names them for a message."""
    sizes = [num_features, hidden_size, max(num_classes, 2)]
    need = at_once * training_bytes(sizes, batch_size, rows, dtype)
    return need, f"{at_once} {' -> '.join(map(str, sizes))} net(s) at once"


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
    none), ``params`` its last good parameters; the others go on. Ctrl-C
    (or SIGTERM, SIGHUP) raises :class:`TrainingInterrupted` whose
    ``history`` is the list of every model's histories so far and
    ``results`` every model's result as above, for the iterations it
    finished (``interrupted`` True, ``val_acc`` the last one recorded).

    Threads: up to ``fusednet.get_num_threads()``; one model runs in one
    thread at a time, so a busy core only slows the models it runs.

    Checked, by name, before any work: each setting (an int >= 1, a number
    > 0, two numbers >= 0; errors name the setting's index and field),
    ``num_iters`` an integer >= 0 (0 scores the initial weights),
    ``batch_size`` an integer >= 1, ``std`` finite and >= 0, ``seed`` in
    ``[0, 2**32)``, the data (labels (N,) or one-hot rows (N, C)), and the
    memory the models would need (MemoryError saying how much, and how much
    is available).
    """
    if isinstance(settings, (str, bytes, dict)) or not hasattr(settings, "__iter__"):
        raise TypeError(f"settings must be a list of (hidden_size, learning_rate, reg, "
                        f"learning_rate_decay) tuples, got {type(settings).__name__}")
    settings = list(settings)
    for i, s in enumerate(settings):
        if isinstance(s, (list, tuple)) and len(s) != len(SETTING):
            raise ValueError(f"each setting must be (hidden_size, learning_rate, reg, "
                             f"learning_rate_decay); settings[{i}] is {s!r}")
    settings = [check_setting(f"settings[{i}]", s) for i, s in enumerate(settings)]
    if not settings:
        raise ValueError("settings is empty; expected (hidden_size, learning_rate, reg, "
                         "learning_rate_decay) tuples")
    num_iters = check_number("num_iters", num_iters, 0, integer=True)
    batch_size = check_number("batch_size", batch_size, 1, integer=True)
    std = check_number("std", std, 0)
    seed = check_number("seed", seed, 0, 2**32 - 1, integer=True)  # RandomState's range
    X0 = as_array("X", X)
    dtype = X0.dtype if X0.dtype in (np.float32, np.float64) else np.dtype(np.float64)
    D = X0.shape[1] if X0.ndim == 2 else None
    X, X_val = as_rows("X", X0, D, dtype), as_rows("X_val", X_val, D, dtype)
    N = X.shape[0]
    y, y_val = as_array("y", y), as_array("y_val", y_val)
    classes = class_count(y, y_val)
    data = L.Data(X, as_class_labels("y", y, N, classes), X_val,
                  as_class_labels("y_val", y_val, len(X_val), classes))
    need, nets = memory_needed(X.shape[1], max(s[0] for s in settings), classes, batch_size,
                               max(N, len(X_val)), dtype, len(settings))
    memory.check_fits(need, f"{nets} with batch_size {batch_size}",
                      "train fewer or smaller settings at once, or with a smaller batch_size")
    models = [_model(X.shape[1], classes, h, std, seed, dtype) for h, *_ in settings]
    samplers = [sampling.Replacement(N, batch_size, sampling.RandomStateSource(stream))
                for _, stream in models]
    sessions = []
    for (net, _), (_, lr, reg, decay), sampler in zip(models, settings, samplers):
        packed = net.packed()
        sessions.append(training.Session(
            packed, data, batch_rows=sampler.batch_rows, batch_counts=sampler.batch_counts,
            num_iters=num_iters,
            l2_factor=l2_factor(reg, "full"),
            optimizer=training.Optimizer("sgd", None, lr, packed.theta),
            schedule=L.Schedule(sampler.epoch_len, float(decay), 1)))
    try:
        status = training.run_many(sessions, data, [s.draw for s in samplers], num_iters)
    except training.TrainingInterrupted as exc:
        # Keep the finished work: every model's parameters and histories of
        # its last finished iteration, on the exception.
        exc.results = [_result(net, setting, s, st, data, interrupted=True)
                       for (net, _), setting, s, st in zip(models, settings, sessions,
                                                           exc.status)]
        raise
    return [_result(net, setting, s, st, data)
            for (net, _), setting, s, st in zip(models, settings, sessions, status)]


def _result(net, setting, s, status, data, interrupted=False):
    """The result dict of one model of :func:`train_many` (see there);
    ``status`` is its iteration whose loss was not finite, or -1. An
    ``interrupted`` model's ``val_acc`` is the last one recorded (NaN if
    none), its ``history`` that of its finished iterations."""
    stop = training.finished(s, status)
    at = None if status < 0 else int(status)
    if status < 0 and stop > 0 and s.restore_if_nonfinite():
        at = stop - 1
    history = s.history(stop)
    if at is None and not interrupted:
        val_acc = float(np.mean(net.predict(data.X_val) == data.y_val))
    else:  # the last validation accuracy recorded (while it was finite)
        val_acc = history["val_acc_history"][-1] if history["val_acc_history"] else math.nan
    return {"hidden_size": int(setting[0]), "learning_rate": float(setting[1]),
            "reg": float(setting[2]), "learning_rate_decay": float(setting[3]),
            "diverged": at is not None, "diverged_at": at, "val_acc": float(val_acc),
            "history": history, "params": {k: v.copy() for k, v in net.params.items()},
            **({"interrupted": True} if interrupted else {})}
