"""The training loop, compiled: minibatch gather, loss and gradient, update,
epoch-boundary accuracies and learning-rate decay, with no Python per step.

One :class:`Trainee` holds everything a model's training changes or reads
besides the data (its net, objective, optimizer, progress, schedule,
buffers and history), built once per training call by ``net.training``.
Each loop takes ``(trainee, data, idx, lens, it0)`` and runs the iterations
of one chunk: ``idx`` (K, B) minibatch rows of which ``lens[k]`` are used in
iteration ``it0 + k``. One loop, :func:`train`, for every net: a
two-layer net without skips through the fused two-layer kernel, any other
through ``kernels.mlp``, and a two-layer net large enough in blocks over
threads (``kernels.split``), a branch Numba prunes at compile time where the
session does not split, so only sessions that split compile the parallel
kernels. Every
iteration ends in :func:`finish_iteration` (the divergence check, the
update, the loss record, the step count) and :func:`epoch_ends` (the
accuracies, the best parameters, the decay).

A loop returns ``-1``, or the iteration whose loss was not finite; see
:func:`finish_iteration` for the parameters it leaves.
"""
from typing import NamedTuple

import numpy as np
from numba import njit

from .checks import _first_nonfinite
from .config import JIT
from .epilogues import copy_into, gather_weights
from .mlp import Net, Scratch, bias, layer_rows, loss_grad, score, scratch, weight
from .optim import Optimizer, update
from .sparse import CSR, batch_buffer, gather_rows, take_rows
from .split import split_iteration, splits
from .two_layer import TwoLayer, two_layer_step


class Objective(NamedTuple):
    """The L2 term ``0.5 c sum |W|^2`` added to the mean cross-entropy.

    ``c``, the L2 factor (``kernels.checks.l2_factor``), is 2 reg (full
    convention) or reg (half); with ``per_row`` it is divided by the batch's
    rows (its weight, when the rows are weighted) each step (scikit-learn's
    ``alpha``).
    """
    c: float
    per_row: bool


class Progress(NamedTuple):
    """What changes from step to step and outlives a chunk, one slot each.

    lr: the learning rate now; step: updates made so far (Adam's t);
    best_val: the best validation accuracy recorded (-1: none yet); epochs:
    epoch boundaries passed (the next row of the accuracy histories); kept:
    after a non-finite loss, the iteration whose starting parameters theta
    holds (see :func:`finish_iteration`).
    """
    lr: np.ndarray        # (1,) float64
    step: np.ndarray      # (1,) float64
    best_val: np.ndarray  # (1,) float64
    epochs: np.ndarray    # (1,) int64
    kept: np.ndarray      # (1,) int64


class Schedule(NamedTuple):
    """At iterations with ``it % epoch_len == 0`` (never when epoch_len is 0)
    the minibatch's train score (after its update) and the validation
    score (``mlp.score``: accuracy, R^2 for a squared-error head) are
    recorded and, every ``decay_every``-th such epoch, the learning rate is
    multiplied by ``decay``."""
    epoch_len: int
    decay: float
    decay_every: int


class Data(NamedTuple):
    """X (N, D) (dense, or a ``sparse.CSR``) and y (N,) labels or (N, C) targets (as the net's head
    takes) to draw minibatches from; X_val (V, D), y_val likewise, for the
    validation score (V may be 0 when epoch_len is 0); w (N,) float64 row
    weights (scikit-learn's ``sample_weight``), or (0,) for none."""
    X: np.ndarray
    y: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray
    w: np.ndarray = np.empty(0)


class Buffers(NamedTuple):
    """Scratch for batches of up to B rows, made once per training call.

    Xb (B, D) (a ``sparse.CSR`` of up to B rows for CSR data), yb (B,) or
    (B, C): the gathered minibatch; work: the forward and
    backward scratch (``kernels.mlp.Scratch``, no input gradient); best (P,)
    theta at the best validation accuracy, or (0,) to keep none; fused: the
    net has two layers and no skips (the fused two-layer kernel trains it);
    split: its iterations run in blocks (``kernels.split``), over threads
    when ``parallel``; l2_part: the blocks' float64 L2 sums (a slot a block of
    W1's rows).
    """
    Xb: np.ndarray
    yb: np.ndarray
    work: Scratch
    best: np.ndarray
    fused: bool
    split: bool
    parallel: bool
    l2_part: np.ndarray


class History(NamedTuple):
    """loss (num_iters,), train_acc and val_acc (epochs,), filled as they run."""
    loss: np.ndarray
    train_acc: np.ndarray
    val_acc: np.ndarray


class Trainee(NamedTuple):
    """One model in training: what its iterations read and write besides the
    data, passed whole to every compiled loop (see the classes above)."""
    net: Net
    objective: Objective
    optimizer: Optimizer
    progress: Progress
    schedule: Schedule
    buffers: Buffers
    history: History


def progress_struct(lr):
    return Progress(np.array([float(lr)]), np.zeros(1), np.array([-1.0]), np.zeros(1, np.int64),
                    np.zeros(1, np.int64))


def buffers_struct(net, X, y, batch_rows, best, loop_max, weighted=False):
    """:class:`Buffers` for ``net`` (a :class:`~kernels.mlp.Net`), batches
    of up to ``batch_rows`` rows of X (dense, or a ``sparse.CSR``: the batch
    is one too) and of ``y``'s kind (labels or targets), with a row-weight
    buffer when ``weighted``; ``best`` is the (P,) array for the best
    parameters, or an empty one. A fused dense net large enough
    (``split.splits``) runs its iterations in blocks; ``parallel`` starts
    False (the driver sets it for each chunk)."""
    sizes, dtype = net.sizes, net.theta.dtype
    fused = len(net.w_off) == 2 and not net.residual.any()
    sparse = isinstance(X, CSR)
    split, blocks = splits(batch_rows, sizes) if fused and not sparse else (False, 0)
    Xb = (batch_buffer(X, batch_rows) if sparse
          else np.empty((batch_rows, int(sizes[0])), dtype))
    return Buffers(Xb, np.empty((batch_rows,) + y.shape[1:], y.dtype),
                   scratch(sizes, dtype, batch_rows, loop_max, weighted=weighted), best,
                   bool(fused), bool(split),
                   False, np.zeros(blocks))


def history_struct(num_iters, n_epochs):
    return History(np.zeros(num_iters), np.zeros(n_epochs), np.zeros(n_epochs))


@njit(**JIT)
def batch_l2_factor(objective, n):
    """The L2 factor c for a batch of n rows (or of weight n)."""
    return objective.c / n if objective.per_row else objective.c


@njit(inline="always", **JIT)
def finish_iteration(net, opt, progress, history, it, loss, updated):
    """The end of iteration ``it`` of a trainee, after its loss and gradient
    (``net``, ``opt``, ``progress``, ``history``: its parts): returns -1 to
    go on, or ``it`` to stop because ``loss`` is not finite.

    Going on: the update (unless ``updated``: the split iteration makes its
    own), the loss recorded and the step counted; the loop then checks for
    an epoch boundary (:func:`epoch_ends`). Stopping, ``net.theta`` is left
    holding the parameters iteration ``it - 1`` started from (the last with a
    finite loss), or those iteration ``it`` started from when ``it`` is 0 or
    ``updated`` (a finite data loss whose L2 sum overflowed, seen only after
    the split update); ``progress.kept`` says which.

    The parts, not the trainee: the loops take them out of it once a chunk.
    In Numba each read of a field of a structure of arrays, and each pass of
    one into an inlined function, costs a reference-count pair per array it
    holds: reading them from the trainee every iteration made the toy step
    3.5 us instead of 2.4.
    """
    if not np.isfinite(loss):
        if updated or it > 0:
            copy_into(net.theta, opt.backup)
        progress.kept[0] = it if updated or it == 0 else it - 1
        return it
    if not updated:
        update(opt, net.theta, net.grad, progress.lr[0], progress.step[0] + 1)
    history.loss[it] = loss
    progress.step[0] += 1
    return -1


@njit(inline="always", **JIT)
def epoch_ends(schedule, it):
    """Whether iteration ``it`` is an epoch boundary (never when epoch_len is 0)."""
    return schedule.epoch_len > 0 and it % schedule.epoch_len == 0


@njit(inline="always", **JIT)
def _epoch_boundary(net, progress, hist, schedule, Xb, yb, work, best, X_val, y_val, n, two):
    """Record the minibatch's (first n rows of Xb, yb) and the validation
    (X_val, y_val) score into ``hist``, keep the best parameters in
    ``best`` (unless empty), and decay the rate (``schedule``). ``two``:
    a two-layer net's ``(W1, b1, W2, b2)``, or None (``mlp.score``).

    The trainee's parts, taken out once a chunk, not the trainee (see
    :func:`finish_iteration`): reading them from it at every boundary cost
    the course toy, whose every iteration is one, ~1 us a step."""
    e = progress.epochs[0]
    hist.train_acc[e] = score(net, take_rows(Xb, 0, n), yb[:n], work, two)
    val = score(net, X_val, y_val, work, two)
    hist.val_acc[e] = val
    if val > progress.best_val[0]:
        progress.best_val[0] = val
        if best.size:
            copy_into(best, net.theta)
    progress.epochs[0] = e + 1
    if (e + 1) % schedule.decay_every == 0:
        progress.lr[0] *= schedule.decay


@njit(inline="always", **JIT)
def two_layer_views(tr):
    """A :class:`~kernels.two_layer.TwoLayer` over the trainee's parameters,
    gradient and buffers (views, B rows; a view of the flat buffers costs
    ~19 ns, so they are made once a chunk, not once a step). For a net of
    one layer, its second layer's views repeat the first (and go unused)."""
    net, buf = tr.net, tr.buffers
    theta, grad, sizes, work = net.theta, net.grad, net.sizes, buf.work
    B = buf.Xb.shape[0]
    f, k = np.intp(0), min(1, len(net.w_off) - 1)  # f: not a literal (see mlp.forward)
    return TwoLayer(weight(theta, net, f), bias(theta, net, f), weight(theta, net, k),
                    bias(theta, net, k), weight(grad, net, f), bias(grad, net, f),
                    weight(grad, net, k), bias(grad, net, k), layer_rows(work.acts, sizes, B, f),
                    layer_rows(work.deltas, sizes, B, f), layer_rows(work.acts, sizes, B, k),
                    work.dX, work.row_loss, work.col_acc)


def paths(buffers):
    """The flags :func:`train` takes for a trainee's ``buffers``: ``(split,
    fused, general)``, one True and the others None."""
    if buffers.split:
        return True, None, None
    return (None, True, None) if buffers.fused else (None, None, True)


@njit(**JIT)
def train(tr, data, idx, lens, it0, split, fused, general):
    """Iterations ``it0 .. it0 + len(idx) - 1`` of ``tr`` (see the module).

    Which path each iteration takes is given by the flag that is True, the
    others None (:func:`paths`): ``split``, in blocks (``split
    .split_iteration``, over threads when ``tr.buffers.parallel``);
    ``fused``, the fused two-layer kernel; ``general``, ``mlp.loss_grad``.
    Numba prunes a branch before typing only on an argument that is None
    (a False would compile it all the same), so a loop compiles just the
    path its session takes: the general path alone cost a cold first call
    of the toy net ~3 s. The fused kernel takes the views' fields, taken
    out once a chunk.
    """
    net, opt, progress, history = tr.net, tr.optimizer, tr.progress, tr.history
    objective, schedule = tr.objective, tr.schedule
    Xb, yb, work, best = tr.buffers.Xb, tr.buffers.yb, tr.buffers.work, tr.buffers.best
    X_val, y_val = data.X_val, data.y_val
    if general is None:
        v = two_layer_views(tr)
        W1, b1, W2, b2, dW1, db1, dW2, db2, h, dh, scores, dX, row_loss, col_acc = v
        # False here (the loop's scratch has no rows for dX), but not a
        # constant: the fused kernel then has the signature the public
        # ``two_layer_loss`` compiles, and a notebook's first loss and first
        # train share one compile of it.
        need_dX = dX.shape[0] > 0
    weighted = work.w.size > 0
    for k in range(idx.shape[0]):
        it, n = it0 + k, lens[k]
        # The batch's rows, or its weight: scikit-learn divides by that.
        size = gather_weights(data.w, idx[k], n, work.w) if weighted else np.float64(n)
        c = batch_l2_factor(objective, size)
        if split is not None:
            loss, updated = split_iteration(tr, v, data, idx[k], n, size, c)
        if split is None:
            gather_rows(data.X, data.y, idx[k], n, Xb, yb)
            Xn = take_rows(Xb, 0, n)
            updated = False
        if fused is not None:
            loss = two_layer_step(W1, b1, W2, b2, dW1, db1, dW2, db2, h, dh, scores, dX,
                                  row_loss, col_acc, work.w, Xn, yb[:n], c, net.codes[0],
                                  net.head, need_dX, work.loop_max)
        if general is not None:
            loss = loss_grad(net, Xn, yb[:n], c, work, False)
        if finish_iteration(net, opt, progress, history, it, loss, updated) >= 0:
            return it
        if epoch_ends(schedule, it):
            # Two calls: one variable holding the views on one path and None
            # on the other would type as an optional, and compile both.
            if general is None:
                _epoch_boundary(net, progress, history, schedule, Xb, yb, work, best, X_val,
                                y_val, n, (W1, b1, W2, b2))
            else:
                _epoch_boundary(net, progress, history, schedule, Xb, yb, work, best, X_val,
                                y_val, n, None)
    return -1


@njit(**JIT)
def restore_if_nonfinite(theta, backup):
    """After the last update of a call: if theta holds a NaN or Inf, put back
    the parameters before that update and return True."""
    if _first_nonfinite(theta) < 0:
        return False
    copy_into(theta, backup)
    return True
