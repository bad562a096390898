"""The training loop, compiled: minibatch gather, loss and gradient, update,
epoch-boundary accuracies and learning-rate decay, with no Python per step.

Its inputs are the named structures below, each built by one function
(``fusednet.net.training`` builds them for every caller). Two loops share the
per-iteration bookkeeping (:func:`_step`, :func:`_epoch_boundary`): ``train_two_layer``
runs the fused two-layer kernel on views made once per call,
``train_two_layer_split`` the same iteration in blocks over threads
(``kernels.split``), ``train_layers`` the general kernel of any depth. Which
one runs is decided in Python, once.

Both run the iterations of one chunk, ``idx`` (K, B) minibatch rows of which
``lens[k]`` are used in iteration ``it0 + k``, and return ``-1``, or the
iteration whose loss was not finite: ``theta`` then holds the parameters of
the iteration before, the last with a finite loss.
"""
from typing import NamedTuple

import numpy as np
from numba import njit

from .checks import _first_nonfinite
from .config import JIT
from .epilogues import gather
from .mlp import bias, count_correct, layer_rows, loss_grad, weight
from .optim import SGD, ADAM, ADAM_FOLDED, update
from .split import split_iteration, splits
from .two_layer import _two_layer_loss


class Net(NamedTuple):
    """A net over one flat parameter vector (see ``kernels.mlp``).

    theta, grad: (P,) parameters and their gradient, same layout; sizes (L+1,)
    widths; w_off (L,) where each W starts in theta; codes (L,) activation
    codes (the last IDENTITY); residual (L,) identity skip per layer.
    """
    theta: np.ndarray
    grad: np.ndarray
    sizes: np.ndarray
    w_off: np.ndarray
    codes: np.ndarray
    residual: np.ndarray


class Objective(NamedTuple):
    """The L2 term ``0.5 c sum |W|^2`` added to the mean cross-entropy.

    ``c`` is 2 reg (full convention) or reg (half); with ``per_row`` it is
    divided by the batch's rows each step (scikit-learn's ``alpha``).
    """
    c: float
    per_row: bool


class Optimizer(NamedTuple):
    """An update rule of ``kernels.optim`` and its state.

    rule: the rule's code; p1 (momentum, decay_rate or beta1), p2 (beta2),
    eps; s1, s2 (P,) the rule's state (empty where it keeps none); backup (P,)
    receives theta before each update, to restore after a non-finite loss.
    """
    rule: int
    p1: float
    p2: float
    eps: float
    s1: np.ndarray
    s2: np.ndarray
    backup: np.ndarray


class Progress(NamedTuple):
    """What changes from step to step and outlives a chunk, one slot each.

    lr: the learning rate now; step: updates made so far (Adam's t);
    best_val: the best validation accuracy recorded (-1: none yet); epochs:
    epoch boundaries passed (the next row of the accuracy histories).
    """
    lr: np.ndarray        # (1,) float64
    step: np.ndarray      # (1,) float64
    best_val: np.ndarray  # (1,) float64
    epochs: np.ndarray    # (1,) int64


class Schedule(NamedTuple):
    """At iterations with ``it % epoch_len == 0`` (never when epoch_len is 0)
    the minibatch's train accuracy (after its update) and the validation
    accuracy are recorded and, every ``decay_every``-th such epoch, the
    learning rate is multiplied by ``decay``."""
    epoch_len: int
    decay: float
    decay_every: int


class Data(NamedTuple):
    """X (N, D) and y (N,) to draw minibatches from; X_val (V, D), y_val (V,)
    for the validation accuracy (V may be 0 when epoch_len is 0)."""
    X: np.ndarray
    y: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray


class Buffers(NamedTuple):
    """Scratch for batches of up to B rows, made once per training call.

    Xb (B, D), yb (B,): the gathered minibatch; acts, deltas: flat per-layer
    activations and deltas (B * sum(sizes[1:]),); row_loss (B,), col_acc
    (max width,) float64; dX (0, D) (no input gradient in training); best
    (P,) theta at the best validation accuracy, or (0,) to keep none;
    loop_max: products with m*n*k at or below it run as loops (not BLAS);
    split: a two-layer iteration runs in blocks (``kernels.split``), over
    threads when ``parallel``; l2_part: its float64 scratch (a slot a block
    of W1's rows).
    """
    Xb: np.ndarray
    yb: np.ndarray
    acts: np.ndarray
    deltas: np.ndarray
    row_loss: np.ndarray
    col_acc: np.ndarray
    dX: np.ndarray
    best: np.ndarray
    loop_max: int
    split: bool
    parallel: bool
    l2_part: np.ndarray


class History(NamedTuple):
    """loss (num_iters,), train_acc and val_acc (epochs,), filled as they run."""
    loss: np.ndarray
    train_acc: np.ndarray
    val_acc: np.ndarray


def net_struct(theta, sizes, w_off, codes, residual):
    """A :class:`Net` over ``theta`` with a fresh gradient buffer (written
    before it is read, so left uninitialised)."""
    return Net(theta, np.empty_like(theta), sizes, w_off, codes, residual)


def optimizer_struct(rule, p1, p2, eps, theta):
    """An :class:`Optimizer` with zeroed state where rule ``rule`` keeps
    state: s1 for all but sgd, s2 for Adam."""
    n1 = theta.size if rule != SGD else 0
    n2 = theta.size if rule in (ADAM, ADAM_FOLDED) else 0
    return Optimizer(rule, float(p1), float(p2), float(eps), np.zeros(n1, theta.dtype),
                     np.zeros(n2, theta.dtype), np.empty_like(theta))


def progress_struct(lr):
    return Progress(np.array([float(lr)]), np.zeros(1), np.array([-1.0]), np.zeros(1, np.int64))


def buffers_struct(sizes, dtype, batch_rows, best, loop_max, split_ok=True):
    """:class:`Buffers` for a net of widths ``sizes`` and batches of up to
    ``batch_rows`` rows; ``best`` is the (P,) array for the best parameters,
    or an empty one. A two-layer net large enough (``split.splits``) runs
    its iterations in blocks unless ``split_ok`` is False (nets with skips);
    ``parallel`` starts False (the driver sets it for each chunk)."""
    n = batch_rows * int(np.sum(sizes[1:]))
    D = int(sizes[0])
    split, blocks = splits(batch_rows, sizes) if len(sizes) == 3 and split_ok else (False, 0)
    return Buffers(np.empty((batch_rows, D), dtype), np.empty(batch_rows, np.intp),
                   np.empty(n, dtype), np.empty(n, dtype), np.empty(batch_rows),
                   np.empty(int(np.max(sizes))), np.empty((0, D), dtype), best, int(loop_max),
                   bool(split), False, np.zeros(blocks))


def history_struct(num_iters, n_epochs):
    return History(np.zeros(num_iters), np.zeros(n_epochs), np.zeros(n_epochs))


@njit(**JIT)
def _l2_factor(objective, n):
    return objective.c / n if objective.per_row else objective.c


@njit(**JIT)
def _step(it, loss, net, opt, progress, hist):
    """Record iteration ``it``'s loss and update the parameters."""
    hist.loss[it] = loss
    progress.step[0] += 1
    update(net.theta, net.grad, opt.s1, opt.s2, opt.backup, opt.rule, progress.lr[0],
           opt.p1, opt.p2, opt.eps, progress.step[0])


@njit(**JIT)
def _epoch_boundary(n, net, progress, schedule, data, buf, hist):
    """Record the minibatch's (first n rows of buf) and the validation
    accuracy, keep the best parameters, and decay the learning rate."""
    e = progress.epochs[0]
    B = buf.Xb.shape[0]
    hist.train_acc[e] = count_correct(net.theta, net.sizes, net.w_off, net.codes, net.residual,
                                      buf.Xb[:n], buf.yb[:n], buf.acts, B, buf.loop_max) / n
    val = count_correct(net.theta, net.sizes, net.w_off, net.codes, net.residual, data.X_val,
                        data.y_val, buf.acts, B, buf.loop_max) / max(data.X_val.shape[0], 1)
    hist.val_acc[e] = val
    if val > progress.best_val[0]:
        progress.best_val[0] = val
        if buf.best.size:
            buf.best[:] = net.theta
    progress.epochs[0] = e + 1
    if (e + 1) % schedule.decay_every == 0:
        progress.lr[0] *= schedule.decay


@njit(**JIT)
def train_layers(net, objective, opt, progress, schedule, data, idx, lens, it0, buf, hist):
    """Iterations ``it0 .. it0 + len(idx) - 1`` of a net of any depth."""
    for k in range(idx.shape[0]):
        it = it0 + k
        n = lens[k]
        gather(data.X, data.y, idx[k], n, buf.Xb, buf.yb)
        loss = loss_grad(net.theta, net.grad, net.sizes, net.w_off, net.codes, net.residual,
                         buf.Xb[:n], buf.yb[:n], _l2_factor(objective, n), buf.acts, buf.deltas,
                         buf.row_loss, buf.col_acc, buf.dX, False, buf.loop_max)
        if not np.isfinite(loss):
            if it > 0:
                net.theta[:] = opt.backup
            return it
        _step(it, loss, net, opt, progress, hist)
        if schedule.epoch_len > 0 and it % schedule.epoch_len == 0:
            _epoch_boundary(n, net, progress, schedule, data, buf, hist)
    return -1


@njit(**JIT)
def _two_layer_views(net, buf):
    """``((W1, b1, W2, b2, dW1, db1, dW2, db2), h, dh, s)``: the parameters and
    gradients as views of theta and grad, and the hidden activations, their
    gradient and the scores (B rows each) as views of the flat buffers."""
    theta, grad, sizes, w_off = net.theta, net.grad, net.sizes, net.w_off
    views = (weight(theta, sizes, w_off, 0), bias(theta, sizes, w_off, 0),
             weight(theta, sizes, w_off, 1), bias(theta, sizes, w_off, 1),
             weight(grad, sizes, w_off, 0), bias(grad, sizes, w_off, 0),
             weight(grad, sizes, w_off, 1), bias(grad, sizes, w_off, 1))
    B = buf.Xb.shape[0]
    return (views, layer_rows(buf.acts, sizes, B, 0), layer_rows(buf.deltas, sizes, B, 0),
            layer_rows(buf.acts, sizes, B, 1))


@njit(**JIT)
def train_two_layer(net, objective, opt, progress, schedule, data, idx, lens, it0, buf, hist):
    """The same for a two-layer net without skips, through the fused
    two-layer kernel on views made once here (a view of the flat buffers
    costs ~19 ns, and a toy step made 16 of them in the general path)."""
    views, h, dh, s = _two_layer_views(net, buf)
    W1, b1, W2, b2, dW1, db1, dW2, db2 = views
    for k in range(idx.shape[0]):
        it = it0 + k
        n = lens[k]
        gather(data.X, data.y, idx[k], n, buf.Xb, buf.yb)
        loss = _two_layer_loss(W1, b1, W2, b2, buf.Xb[:n], buf.yb[:n], _l2_factor(objective, n),
                               net.codes[0], False, buf.loop_max, h, dh, s, dW1, db1, dW2, db2,
                               buf.dX, buf.row_loss, buf.col_acc)
        if not np.isfinite(loss):
            if it > 0:
                net.theta[:] = opt.backup
            return it
        _step(it, loss, net, opt, progress, hist)
        if schedule.epoch_len > 0 and it % schedule.epoch_len == 0:
            _epoch_boundary(n, net, progress, schedule, data, buf, hist)
    return -1


@njit(**JIT)
def train_two_layer_split(net, objective, opt, progress, schedule, data, idx, lens, it0, buf,
                          hist):
    """The same, each iteration split into blocks (``kernels.split``), run
    over threads when ``buf.parallel``. A loop of its own, so that only
    sessions that split compile the parallel kernel."""
    views, h, dh, s = _two_layer_views(net, buf)
    for k in range(idx.shape[0]):
        it = it0 + k
        n = lens[k]
        # Updates theta itself, after checking the data loss. A finite data
        # loss with an infinite L2 sum (|W| > 1e154) is seen only after the
        # update; theta then goes back to this iteration's.
        loss = split_iteration(views, net, opt, progress, data, idx[k], n,
                               _l2_factor(objective, n), net.codes[0], buf, h, dh, s,
                               buf.parallel)
        if not np.isfinite(loss):
            if it > 0:
                net.theta[:] = opt.backup
            return it
        hist.loss[it] = loss
        if schedule.epoch_len > 0 and it % schedule.epoch_len == 0:
            _epoch_boundary(n, net, progress, schedule, data, buf, hist)
    return -1


@njit(**JIT)
def restore_if_nonfinite(theta, backup):
    """After the last update of a call: if theta holds a NaN or Inf, put back
    the parameters before that update and return True."""
    if _first_nonfinite(theta) < 0:
        return False
    theta[:] = backup
    return True
