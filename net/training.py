"""The one training driver. ``MLP.train`` (and through it ``TwoLayerNet.train``
and EECS 498's ``nn_train``) calls :func:`train`; ``MLPClassifier`` runs a
:class:`Session` epoch by epoch; ``train_many`` runs many sessions at once
through :func:`run_many`. All of them go through the same chunk loop: it
draws minibatch indices a chunk at a time (``net.sampling``), calls the
compiled loop once per chunk (``kernels.loop``) on threads chosen by
measuring (``net.chunks``), and turns Ctrl-C and divergence into exceptions.

Failures keep the finished work: a non-finite loss, or parameters made
non-finite by the last update of a call, raise :class:`TrainingDiverged` and
leave the parameters of the last iteration with a finite loss (the message
names them); Ctrl-C raises :class:`TrainingInterrupted` and leaves those of
the last finished iteration. Both carry the history so far.
"""
import signal
import time

import numpy as np
from numba.typed import List

from ..kernels import config, optim
from ..kernels import loop as L
from ..kernels import many as M
from . import chunks, signals


class TrainingDiverged(FloatingPointError):
    """The loss (or the parameters) became NaN or Inf; the model keeps the
    parameters the message names (those of the last iteration with a finite
    loss), ``history`` holds what was recorded until then, and ``iteration``
    is the iteration whose loss, or whose update, was not finite."""

    def __init__(self, message, history, iteration=None):
        super().__init__(message)
        self.history = history
        self.iteration = iteration


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C (or SIGTERM, SIGHUP: ``net.signals``) during training; the
    model keeps the parameters of the last finished iteration, ``history``
    holds the histories until then, ``signum`` is the signal (SIGINT for
    Ctrl-C). Left uncaught after SIGTERM or SIGHUP, the process ends by that
    signal."""

    def __init__(self, message, history, signum=signal.SIGINT):
        super().__init__(message)
        self.history = history
        self.signum = signum


def interrupted(exc, what):
    """The start of an interruption's message: ``what`` (e.g. "training")
    "interrupted", or "stopped by SIGTERM"."""
    signum = signals.signum_of(exc)
    if signum == signal.SIGINT:
        return f"{what} interrupted"
    return f"{what} stopped by {signal.Signals(signum).name}"


class Optimizer:
    """An update rule with its state and its learning-rate schedule, as
    scikit-learn's optimizers are: what outlives one training call when a
    caller keeps it (``partial_fit``, a warm start).

    ``state`` is the compiled rule and its arrays (``kernels.optim``),
    ``progress`` the learning rate and step count the compiled loop reads and
    writes; ``schedule`` (``net.schedules``) changes the rate between epochs
    through :meth:`iteration_ends` and :meth:`trigger_stopping`.
    """

    def __init__(self, rule, config_, learning_rate, theta, schedule=None):
        if config_ is not None and not isinstance(config_, dict):
            raise TypeError(f"optim_config must be a dict or None, got {type(config_).__name__}")
        self.state, lr = optim.optimizer(rule, dict(config_ or {}, learning_rate=learning_rate),
                                         theta)
        self.progress = L.progress_struct(lr)
        self.learning_rate_init = lr
        self.schedule = schedule

    @property
    def learning_rate(self):
        return float(self.progress.lr[0])

    @learning_rate.setter
    def learning_rate(self, value):
        self.progress.lr[0] = value

    @property
    def steps(self):
        """Updates made so far."""
        return int(self.progress.step[0])

    def iteration_ends(self, time_step):
        """After an epoch of ``time_step`` samples seen in all: the schedule's new rate."""
        if self.schedule is not None:
            self.schedule.iteration_ends(self, time_step)

    def trigger_stopping(self, msg, verbose):
        """No improvement for a while: True to stop, or False when the
        schedule lowered the rate instead."""
        if self.schedule is None:
            if verbose:
                print(msg + " Stopping.")
            return True
        return self.schedule.trigger_stopping(self, msg, verbose)


class Session:
    """One model's training call: its :class:`~kernels.loop.Trainee`, the
    data, the compiled loop that runs it and whether the best parameters are
    kept.

    Parameters
    ----------
    net : a ``kernels.mlp.Net`` (``MLP.packed()``), trained in place.
    data : a ``kernels.loop.Data`` of validated arrays.
    batch_rows : the largest minibatch. optimizer : an :class:`Optimizer`.
    l2_factor, per_row : the objective's ``c`` (per row of a batch when
        ``per_row``, scikit-learn's ``alpha``).
    schedule : a ``kernels.loop.Schedule`` (when to evaluate and decay).
    num_iters : sizes the loss history (iterations 0 .. num_iters - 1).
    keep_best : keep the parameters of the best validation accuracy, put
        back by :meth:`restore_best`.
    """

    def __init__(self, net, data, *, batch_rows, optimizer, l2_factor, per_row=False,
                 schedule=L.Schedule(0, 1.0, 1), num_iters, keep_best=False, batch_counts=None):
        n_epochs = num_iters // schedule.epoch_len + 1 if schedule.epoch_len else 0
        best = net.theta.copy() if keep_best else net.theta[:0].copy()
        loop_max = config.loop_max(net.theta.dtype)
        buf = L.buffers_struct(net, data.X, data.y, batch_rows, best, loop_max,
                               weighted=data.w.size > 0)
        self.trainee = L.Trainee(net, L.Objective(float(l2_factor), bool(per_row)),
                                 optimizer.state, optimizer.progress, schedule, buf,
                                 L.history_struct(num_iters, n_epochs))
        self.data = data
        self.split = buf.split
        self.paths = L.paths(buf)  # the loop's path flags
        self.keep_best = keep_best
        self._remembered = False
        self.flops = chunks.step_flops(net.sizes, batch_rows)
        # Its thread policy's kind: a float32 step's timings (or a split
        # one's) must not steer a float64 one's choice at the same flops.
        self.kind = (net.theta.dtype.str, bool(self.split))
        # A split step's numbers never depend on the thread count; an unsplit
        # one's may, through BLAS, and then its count is fixed (net.chunks).
        # Its batches take the sampler's row counts (full, or also an epoch's
        # last: N % B rows), and at epoch boundaries the validation set is
        # scored in chunks of B and V % B rows (forward products only). Only
        # those products at those counts are probed: one that no step runs
        # (digits' 100 rows with replacement, float64; or the input gradient
        # dZ W1^T, which training never computes) would fix the thread count
        # of a step that does not depend on it (1.3x slower quiet).
        counts = (batch_rows, data.X.shape[0] % batch_rows) if batch_counts is None else batch_counts
        scored = (data.X_val.shape[0] % batch_rows,) if schedule.epoch_len else ()
        self.invariant = bool(self.split) or chunks.blas_count_invariant(
            net.sizes, counts, net.theta.dtype, loop_max,
            dense_input=isinstance(data.X, np.ndarray), scored=scored)

    @property
    def batch_rows(self):
        return self.trainee.buffers.Xb.shape[0]

    @property
    def steps(self):
        return int(self.trainee.progress.step[0])

    def parallel(self, flag):
        """The trainee with its split blocks over threads (``flag``) or not."""
        tr = self.trainee
        return tr._replace(buffers=tr.buffers._replace(parallel=flag))

    def history(self, n_iters):
        """The histories of the first ``n_iters`` iterations, as lists."""
        tr = self.trainee
        n_epochs = int(tr.progress.epochs[0])
        return {"loss_history": tr.history.loss[:n_iters].tolist(),
                "train_acc_history": tr.history.train_acc[:n_epochs].tolist(),
                "val_acc_history": tr.history.val_acc[:n_epochs].tolist()}

    def loss(self, it):
        return float(self.trainee.history.loss[it])

    def remember_best(self):
        """Keep the parameters now as the best (for a caller that scores them
        itself between runs, as the estimator's early stopping does)."""
        self.trainee.buffers.best[:] = self.trainee.net.theta
        self._remembered = True

    def restore_best(self):
        """Put the best parameters back, if any were kept: recorded at an
        epoch boundary of the loop, or by :meth:`remember_best`."""
        tr = self.trainee
        if self.keep_best and (self._remembered or tr.progress.best_val[0] >= 0):
            tr.net.theta[:] = tr.buffers.best

    def restore_if_nonfinite(self):
        """After a call's last update: True (and the parameters before it put
        back) if it made a parameter NaN or Inf."""
        return L.restore_if_nonfinite(self.trainee.net.theta, self.trainee.optimizer.backup)


def train(net, data, sampler, optimizer, *, l2_factor, per_row=False, decay=1.0, decay_every=1,
          eval_every=None, num_iters, keep_best=False, callback=None, callback_every=0,
          verbose=False):
    """Train ``net`` for ``num_iters`` iterations on minibatches of
    ``sampler`` (``net.sampling``) with ``optimizer``; the learning rate is
    multiplied by ``decay`` every ``decay_every`` epochs (the sampler's, or
    ``eval_every`` iterations; 0: never evaluate nor decay). Returns the
    histories; with ``keep_best`` the net ends with its best parameters.
    See :func:`run` for the callback, ``verbose`` and the failures."""
    epoch_len = sampler.epoch_len if eval_every is None else int(eval_every)
    s = Session(net, data, batch_rows=sampler.batch_rows, optimizer=optimizer,
                l2_factor=l2_factor, per_row=per_row, num_iters=num_iters, keep_best=keep_best,
                schedule=L.Schedule(epoch_len, float(decay), int(decay_every)),
                batch_counts=sampler.batch_counts)
    run(s, sampler.draw, 0, num_iters, callback=callback, callback_every=callback_every,
        verbose=verbose)
    s.restore_best()
    return s.history(num_iters)


def run(s, draw, start, stop, *, callback=None, callback_every=0, verbose=False,
        num_iters=None):
    """Run iterations ``start .. stop - 1`` of session ``s``.

    ``draw(it, k)`` returns ``(idx, lens)`` (see ``net.sampling``).
    ``callback(it, loss)`` is called after iterations ``it`` with ``(it + 1)
    % callback_every == 0`` and after the last; ``verbose`` prints every
    100th loss as the course's loop does (``num_iters`` for its "/ total").
    """
    steps0 = s.steps
    total = stop if num_iters is None else num_iters
    plan = _Plan(s.flops, s.batch_rows, 1, invariant=s.invariant, kind=s.kind)
    it = start

    def step(parallel):
        return L.train(s.parallel(parallel), s.data, idx, lens, it, *s.paths)

    try:
        with signals.stop_on_terminate():
            while it < stop:
                n_threads, probing, k = plan.next(stop - it)
                k = min(k, stop - it)
                if callback is not None and callback_every:
                    k = min(k, callback_every - (it - start) % callback_every)
                idx, lens = (np.ascontiguousarray(a, np.int64) for a in draw(it, k))
                t0 = time.perf_counter()
                status = chunks.call_chunk(step, s.split and n_threads >= 2, n_threads)
                plan.done(n_threads, probing, k, time.perf_counter() - t0)
                end = it + k if status < 0 else status
                if verbose:
                    for i in range(-(-it // 100) * 100, end, 100):
                        print("iteration %d / %d: loss %f" % (i, total, s.loss(i)))
                if status >= 0:
                    raise TrainingDiverged(
                        f"training diverged: the loss at iteration {status} is not finite; "
                        + _kept(status, s) + " (try a smaller learning rate)",
                        s.history(status), status)
                it = end
                if callback is not None and (it == stop or (callback_every and
                                                            (it - start) % callback_every == 0)):
                    callback(it - 1, s.loss(it - 1))
    except KeyboardInterrupt as exc:
        done = start + s.steps - steps0
        raise TrainingInterrupted(
            f"{interrupted(exc, 'training')} after iteration {done - 1}; the model keeps the "
            f"parameters of that iteration", s.history(done), signals.signum_of(exc)) from None
    if stop > start and s.restore_if_nonfinite():
        raise TrainingDiverged(
            f"training diverged: the update of iteration {stop - 1} made parameters NaN or "
            f"Inf; the model keeps the parameters iteration {stop - 1} started from, the last "
            "with a finite loss (try a smaller learning rate)", s.history(stop), stop - 1)


def run_many(sessions, data, draws, num_iters):
    """Iterations ``0 .. num_iters - 1`` of every session at once (two-layer
    nets on the same data, as ``train_many`` makes them), in one compiled
    call per chunk: ``prange`` over the models, each one's iterations serial
    in its thread, BLAS single-threaded. ``draws[m](it, k)`` gives model m's
    minibatch rows (all of B rows).

    Returns ``status``: per model -1, or the iteration whose loss was not
    finite (that model stopped there; the others went on). Ctrl-C raises
    :class:`TrainingInterrupted` carrying every model's history so far.
    """
    K = len(sessions)
    B = sessions[0].batch_rows
    trainees = List([s.trainee for s in sessions])
    status = np.full(K, -1, np.int64)
    plan = _Plan(sum(s.flops for s in sessions), B, K, adaptive=False)
    it = 0

    def step(parallel):
        kernel = M.train_models if parallel else M.train_models_serial
        kernel(trainees, data, idx, lens, it, status)

    try:
        with signals.stop_on_terminate():
            while it < num_iters and (status < 0).any():
                _, _, k = plan.next(num_iters - it)
                k = min(k, num_iters - it)
                idx = np.empty((K, k, B), np.int64)
                for m, draw in enumerate(draws):
                    if status[m] < 0:
                        idx[m] = draw(it, k)[0]
                lens = np.full(k, B, np.int64)
                t0 = time.perf_counter()
                # Models differ in size, and a busy core should get fewer: one
                # model per thread at a time, handed out one by one.
                chunks.call_chunk(step, True, 1)
                plan.done(1, False, k, time.perf_counter() - t0)
                it += k
    except KeyboardInterrupt as exc:
        stopped = TrainingInterrupted(
            f"{interrupted(exc, 'training')}; each model keeps the parameters of its last "
            "finished iteration",
            [s.history(finished(s, st)) for s, st in zip(sessions, status)],
            signals.signum_of(exc))
        stopped.status = status  # which models had stopped on a non-finite loss
        raise stopped from None
    return status


def finished(s, status):
    """Iterations session ``s`` finished: up to its non-finite one, or all
    the updates it made."""
    return int(status) if status >= 0 else s.steps


class _Plan:
    """The chunks of one call: how many iterations each, on how many threads
    (``chunks.ThreadPolicy`` when ``adaptive``), within ``config.CHUNK_ROWS``
    drawn rows.

    The first chunk of the first call a policy serves is not timed and never
    probes: it may pay for compiling or loading the loop. Later calls time
    their first chunk too (and may probe with it), because a short call is
    often one chunk (an estimator's epoch, a notebook's 200-iteration
    call): untimed, a loop of such calls never measured anything and kept
    the first count however slow (digits epochs: 0.68 s a fit on 2 threads
    against 0.30 on 1, measured). A first chunk over ``config.COMPILE_RATIO``
    times its count's last timing is taken for a compile of new types and
    not recorded.

    A call expected to run past twice ``config.SETTLE_SECONDS`` neither
    probes nor takes a slowdown as one in its first SETTLE_SECONDS: what ran
    before it (the caller's NumPy products, ``predict``) may have left another
    thread pool spinning on the second core for that long, and a probe then
    moved a notebook's loop of ``train`` and ``predict`` calls at the CIFAR
    shape to one thread (1.9x slower) on a quiet machine."""

    def __init__(self, flops, batch_rows, models, adaptive=True, invariant=True, kind=None):
        self.policy = chunks.thread_policy(flops, invariant, kind) if adaptive else None
        self.untimed = self.policy is None or not self.policy.calls
        if self.policy is not None:
            self.policy.calls += 1
        self.k = max(1, chunks.first_chunk(flops))
        self.cap = max(1, config.CHUNK_ROWS // (batch_rows * models))
        self.first = True
        self.start = time.perf_counter()
        self.settling = False

    def next(self, remaining):
        """``(threads, probing, iterations)`` of the next chunk, with
        ``remaining`` iterations left in the call."""
        now = time.perf_counter()
        self.settling = self._settling(now, remaining)
        if self.policy is None:
            n, probing = 1, False
        elif (self.first and self.untimed) or self.settling:
            n, probing = self.policy.current, False
        else:
            n, probing = self.policy.next(now)
        k = max(1, int(self.k * config.PROBE_FRACTION)) if probing else self.k
        return n, probing, min(k, self.cap)

    def _settling(self, now, remaining):
        """Whether a chunk starting ``now`` falls in the call's first
        SETTLE_SECONDS while the call, at its count's last timing, runs on
        past twice that (see the class)."""
        per = self.policy.per_it.get(self.policy.current) if self.policy is not None else None
        return (per is not None and now - self.start < config.SETTLE_SECONDS
                and remaining * per > 2 * config.SETTLE_SECONDS)

    def done(self, n_threads, probing, k, elapsed):
        if self.policy is not None and not (self.first and self.untimed):
            before, per = self.policy.per_it.get(n_threads), elapsed / k
            compiled = self.first and before and per > config.COMPILE_RATIO * before
            spun_down = self.settling and before and per > config.CHANGED * before
            if not (compiled or spun_down):
                self.policy.record(n_threads, per, probing)
        self.first = False
        if not probing:
            self.k = chunks.next_chunk(k, elapsed)


def _kept(it, s):
    """Which parameters the model keeps after iteration ``it``'s loss was
    not finite (``kernels.loop.finish_iteration`` says, in ``progress.kept``)."""
    kept = int(s.trainee.progress.kept[0])
    if kept == it - 1:
        return (f"the model keeps the parameters iteration {kept} started from, the last with "
                "a finite loss")
    if it == 0:
        return "the model keeps the parameters it had before this iteration"
    return (f"its data loss was finite but its L2 term overflowed after the update; the model "
            f"keeps the parameters iteration {it} started from")
