"""The training loop, compiled: minibatch gather, loss and gradient, update,
epoch-boundary accuracies and learning-rate decay, with no Python per step.

Python draws the minibatch indices for a chunk of iterations up front and
calls :func:`train_chunk` once per chunk (for progress reports and bounded
memory); everything per iteration happens here.
"""
import numpy as np
from numba import njit

from .config import JIT
from .mlp import bias, count_correct, layer_rows, loss_grad, weight
from .optim import update
from .two_layer import _two_layer_loss


@njit(**JIT)
def _gather(X, y, idx, n, Xb, yb):
    for i in range(n):
        r = idx[i]
        yb[i] = y[r]
        for j in range(X.shape[1]):
            Xb[i, j] = X[r, j]


@njit(**JIT)
def train_chunk(net, opt, sched, data, idx, lens, it0, bufs, hist):
    """Run iterations ``it0 .. it0 + len(idx) - 1``.

    net   = (theta, grad, sizes, w_off, codes, residual, c, c_per_row): L2 factor
            c, or c / n for a batch of n rows when c_per_row (scikit-learn's alpha)
    opt   = (s1, s2, backup, code, p1, p2, eps, state) with state float64
            [lr, t, best_val, n_epochs]
    sched = (epoch_len, decay, decay_every): at iterations with
            ``it % epoch_len == 0`` (never when epoch_len is 0) the train
            accuracy of the minibatch (after its update) and the validation
            accuracy are recorded and, every ``decay_every``-th such epoch,
            ``lr *= decay``.
    data  = (X, y, X_val, y_val); idx (K, B) minibatch rows, lens (K,) used
            rows of each; bufs = (Xb, yb, acts, deltas, row_loss, col_acc, dX,
            best, loop_max); hist = (loss, train_acc, val_acc). ``best`` gets
            theta at each new best validation accuracy, unless it is empty.

    Returns -1, or the iteration whose loss was not finite: theta then holds
    the parameters of the previous iteration, the last with a finite loss.
    """
    theta, grad, sizes, w_off, codes, residual, c, c_per_row = net
    s1, s2, backup, code, p1, p2, eps, state = opt
    epoch_len, decay, decay_every = sched
    X, y, X_val, y_val = data
    Xb, yb, acts, deltas, row_loss, col_acc, dX, best, loop_max = bufs
    loss_hist, train_hist, val_hist = hist
    # A two-layer net without skips runs the fused two-layer kernel on views
    # made once here: a view of the flat buffers costs ~19 ns, and a toy step
    # made 16 of them in the general path.
    two = len(w_off) == 2 and not residual[0] and not residual[1]
    # (Layer 1's views fall back to layer 0 when there is no layer 1: they are
    # unused then, and must not index past the offsets.)
    second = 1 if two else 0
    W1, b1 = weight(theta, sizes, w_off, 0), bias(theta, sizes, w_off, 0)
    W2, b2 = weight(theta, sizes, w_off, second), bias(theta, sizes, w_off, second)
    dW1, db1 = weight(grad, sizes, w_off, 0), bias(grad, sizes, w_off, 0)
    dW2, db2 = weight(grad, sizes, w_off, second), bias(grad, sizes, w_off, second)
    B = Xb.shape[0]
    h, dh = layer_rows(acts, sizes, B, 0), layer_rows(deltas, sizes, B, 0)
    s = layer_rows(acts, sizes, B, second)
    for k in range(idx.shape[0]):
        it = it0 + k
        n = lens[k]
        _gather(X, y, idx[k], n, Xb, yb)
        c_n = c / n if c_per_row else c
        if two:
            loss = _two_layer_loss(W1, b1, W2, b2, Xb[:n], yb[:n], c_n, codes[0], False,
                                   loop_max, h, dh, s, dW1, db1, dW2, db2, dX, row_loss, col_acc)
        else:
            loss = loss_grad(theta, grad, sizes, w_off, codes, residual, Xb[:n], yb[:n], c_n,
                             acts, deltas, row_loss, col_acc, dX, False, loop_max)
        if not np.isfinite(loss):
            if it > 0:
                theta[:] = backup
            return it
        loss_hist[it] = loss
        state[1] += 1
        update(theta, grad, s1, s2, backup, code, state[0], p1, p2, eps, state[1])
        if epoch_len > 0 and it % epoch_len == 0:
            e = int(state[3])
            train_hist[e] = count_correct(theta, sizes, w_off, codes, residual, Xb[:n], yb[:n],
                                          acts, Xb.shape[0], loop_max) / n
            val = count_correct(theta, sizes, w_off, codes, residual, X_val, y_val, acts,
                                Xb.shape[0], loop_max) / max(X_val.shape[0], 1)
            val_hist[e] = val
            if val > state[2]:
                state[2] = val
                if best.size:  # empty when the caller keeps no best parameters
                    best[:] = theta
            state[3] = e + 1
            if (e + 1) % decay_every == 0:
                state[0] *= decay
    return -1
