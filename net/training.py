"""The one training driver: ``MLP.train`` (and through it ``TwoLayerNet.train``
and EECS 498's ``nn_train``) and ``MLPClassifier.fit`` / ``partial_fit`` all
run their iterations through :func:`run` on a :class:`Session`.

A session holds the named structures of ``kernels.loop`` for one model and
one dataset, built once per training call; :func:`run` draws minibatch
indices a chunk at a time and calls the compiled loop once per chunk. Chunks
are sized by time (about :data:`CHUNK_SECONDS` each), so Python sees Ctrl-C,
reports progress and calls back within a fraction of a second at any shape,
while the per-chunk cost stays negligible.

Failures keep the finished work: a non-finite loss, or parameters made
non-finite by the last update of a call, raise :class:`TrainingDiverged` and
leave the parameters of the last iteration with a finite loss; Ctrl-C raises
:class:`TrainingInterrupted` and leaves those of the last finished iteration.
Both carry the history so far.
"""
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..kernels import config, threads
from ..kernels import loop as L
from ..kernels.optim import hyper

#: Target wall time of one compiled chunk: Ctrl-C, progress and callbacks
#: wait at most about this long. At 0.25 s the per-chunk Python cost (drawing
#: indices, dispatch: ~30 us) is ~0.01% of the chunk.
CHUNK_SECONDS = 0.25

#: Most minibatch rows drawn at once (bounds the index array to 8 MB).
CHUNK_ROWS = 1 << 20


class TrainingDiverged(FloatingPointError):
    """The loss (or the parameters) became NaN or Inf; the model keeps the
    parameters of the last iteration with a finite loss, ``history`` holds
    what was recorded until then, and ``iteration`` is the iteration whose
    loss, or whose update, was not finite."""

    def __init__(self, message, history, iteration=None):
        super().__init__(message)
        self.history = history
        self.iteration = iteration


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C during training; the model keeps the parameters of the last
    finished iteration, ``history`` holds the histories until then."""

    def __init__(self, message, history):
        super().__init__(message)
        self.history = history


def optimizer(rule, config_, learning_rate, theta):
    """``(Optimizer, Progress)`` for update rule ``rule`` with CS231n-style
    ``config_`` keys, over parameters ``theta``."""
    if config_ is not None and not isinstance(config_, dict):
        raise TypeError(f"optim_config must be a dict or None, got {type(config_).__name__}")
    code, lr, p1, p2, eps = hyper(rule, dict(config_ or {}, learning_rate=learning_rate))
    return L.optimizer_struct(code, p1, p2, eps, theta), L.progress_struct(lr)


@dataclass
class Session:
    """The compiled loop's inputs for one training call (see ``kernels.loop``)."""
    net: L.Net
    objective: L.Objective
    optimizer: L.Optimizer
    progress: L.Progress
    schedule: L.Schedule
    data: L.Data
    buffers: L.Buffers
    history: L.History
    loop: Callable

    @property
    def batch_rows(self):
        return self.buffers.Xb.shape[0]


def session(net, data, *, batch_rows, optimizer_state, l2_factor, per_row=False,
            schedule=L.Schedule(0, 1.0, 1), num_iters, keep_best=False):
    """A :class:`Session` for ``net`` (a ``kernels.loop.Net``, from
    ``MLP.packed()``) on ``data`` (a ``kernels.loop.Data`` of validated arrays).

    ``optimizer_state`` is :func:`optimizer`'s pair; ``l2_factor`` the
    objective's ``c``; ``schedule`` when to evaluate and decay; ``num_iters``
    sizes the loss history (iterations 0 .. num_iters - 1 of this session).
    """
    opt, progress = optimizer_state
    n_epochs = num_iters // schedule.epoch_len + 1 if schedule.epoch_len else 0
    best = net.theta.copy() if keep_best else net.theta[:0].copy()
    two_layer = len(net.w_off) == 2 and not net.residual.any()
    buf = L.buffers_struct(net.sizes, net.theta.dtype, batch_rows, best, config.GEMM_LOOP_MAX,
                           split_ok=two_layer)
    loop = (L.train_two_layer_split if buf.split else L.train_two_layer) if two_layer \
        else L.train_layers
    return Session(net, L.Objective(float(l2_factor), bool(per_row)), opt, progress, schedule,
                   data, buf, L.history_struct(num_iters, n_epochs), loop)


def history(s, n_iters):
    """The histories of a session's first ``n_iters`` iterations, as lists."""
    n_epochs = int(s.progress.epochs[0])
    return {"loss_history": s.history.loss[:n_iters].tolist(),
            "train_acc_history": s.history.train_acc[:n_epochs].tolist(),
            "val_acc_history": s.history.val_acc[:n_epochs].tolist()}


def run(s, draw, start, stop, *, callback=None, callback_every=0, verbose=False,
        num_iters=None):
    """Run iterations ``start .. stop - 1`` of session ``s``.

    ``draw(it, k)`` returns ``(idx, lens)``: (k, B) int64 minibatch rows and
    (k,) rows used, for iterations ``it .. it + k - 1``. ``callback(it,
    loss)`` is called after iterations ``it`` with ``(it + 1) %
    callback_every == 0`` and after the last; ``verbose`` prints every 100th
    loss as the course's loop does (``num_iters`` for its "/ total").
    """
    step0 = float(s.progress.step[0])
    total = stop if num_iters is None else num_iters
    cap = max(1, CHUNK_ROWS // s.batch_rows)
    policy = threads.blas_policy(_flops(s))
    k = first_chunk(s)
    it = start
    first = True
    try:
        while it < stop:
            # The first chunk of a call is not timed (it also pays for
            # dispatch, or compiling), so it never probes.
            n_threads, probing = (policy.current, False) if first else policy.next(time.perf_counter())
            kk = min(max(1, int(k * threads.PROBE_FRACTION)) if probing else k, cap, stop - it)
            if callback is not None and callback_every:
                kk = min(kk, callback_every - (it - start) % callback_every)
            idx, lens = draw(it, kk)
            with _chunk_threads(s, n_threads) as buf:
                t0 = time.perf_counter()
                status = s.loop(s.net, s.objective, s.optimizer, s.progress, s.schedule, s.data,
                                np.ascontiguousarray(idx, np.int64),
                                np.ascontiguousarray(lens, np.int64), it, buf, s.history)
                elapsed = time.perf_counter() - t0
            if not first:
                policy.record(n_threads, elapsed / kk, probing)
            first = False
            end = it + kk if status < 0 else status
            if verbose:
                for i in range(-(-it // 100) * 100, end, 100):
                    print("iteration %d / %d: loss %f" % (i, total, s.history.loss[i]))
            if status >= 0:
                raise TrainingDiverged(
                    f"training diverged: the loss at iteration {status} is not finite; "
                    + _kept(status) + " (try a smaller learning rate)", history(s, status), status)
            it = end
            if callback is not None and (it == stop or (callback_every and
                                                        (it - start) % callback_every == 0)):
                callback(it - 1, float(s.history.loss[it - 1]))
            if not probing:
                k = next_chunk(kk, elapsed)
    except KeyboardInterrupt:
        done = start + int(s.progress.step[0] - step0)
        raise TrainingInterrupted(
            f"training interrupted after iteration {done - 1}; the model keeps the parameters "
            f"of that iteration", history(s, done)) from None
    if stop > start and L.restore_if_nonfinite(s.net.theta, s.optimizer.backup):
        raise TrainingDiverged(
            f"training diverged: the update of iteration {stop - 1} made parameters NaN or "
            f"Inf; the model keeps the parameters of iteration {stop - 1}, the last with a "
            "finite loss (try a smaller learning rate)", history(s, stop), stop - 1)


@contextmanager
def _chunk_threads(s, n):
    """A chunk's threads: for a split iteration (``kernels.split``) with n >= 2
    and a safe parallel region, its blocks over n threads with BLAS on one;
    otherwise the kernels serial with BLAS on n. Yields the buffers to pass."""
    if s.buffers.split and n >= 2:
        with threads.stealing_region() as ok:
            if ok:
                with threads.blas_threads(1):
                    yield s.buffers._replace(parallel=True)
                return
    with threads.blas_threads(n):
        yield s.buffers


def _flops(s):
    """Flops of one iteration's products: 6 B sum(fan_in fan_out)."""
    sizes = s.net.sizes
    return 6.0 * s.batch_rows * float(np.dot(sizes[:-1], sizes[1:]))


def next_chunk(k, elapsed):
    """The next chunk's iterations after ``k`` took ``elapsed`` seconds: towards
    CHUNK_SECONDS of work, growing at most 8x at a time."""
    return max(1, min(8 * k, int(k * CHUNK_SECONDS / max(elapsed, 1e-9))))


def first_chunk(s):
    """Iterations of the first chunk: about a fifth of CHUNK_SECONDS at an
    optimistic 50 GFLOP/s (a step's products take 6 B sum(fan_in fan_out)
    flops), so that short calls run in one chunk and a step of a large net
    is not repeated blind before it has been timed."""
    return max(1, int(0.2 * CHUNK_SECONDS * 50e9 / max(_flops(s), 1.0)))


def _kept(it):
    if it == 0:
        return "the model keeps the parameters it had before this iteration"
    return f"the model keeps the parameters of iteration {it - 1}, the last with a finite loss"


def keep_best(s):
    """Put the parameters of the best validation accuracy back, if any were kept."""
    if s.buffers.best.size and s.progress.best_val[0] >= 0:
        s.net.theta[:] = s.buffers.best


def precompile(dtypes=("float64", "float32")):
    """Compile (or load from the cache) every kernel a training call, a
    prediction and a loss use, for each dtype, drawing nothing from
    ``np.random``. Call it before timing, or before starting worker
    processes: several processes compiling into one cache at once can race."""
    from .mlp import MLP
    rng = np.random.default_rng(0)
    for dtype in dtypes:
        X = rng.standard_normal((6, 3)).astype(dtype)
        y = np.array([0, 1, 0, 1, 1, 0])
        for sizes in ([3, 4, 2], [3, 4, 4, 2]):
            model = MLP(sizes, dtype=dtype, seed=0)
            model.train(X, y, X, y, num_iters=2, batch_size=3)
            model.predict(X)
            model.loss(X, y, reg=0.1)
