"""One iteration of two-layer training split into blocks, run over threads.

Two ``prange`` regions an iteration, each block's products on single-threaded
BLAS (the driver sets it), the passes fused into the block that made their
data, so they run on the core whose cache holds it:

  A, rows of the minibatch in an even number of blocks of at most ROWS:
      gather the rows; h = act(X W1 + b1); s = h W2 + b2; each row's head
      loss and dS (softmax: (softmax(s) - onehot(y)) / N); dH = dS W2^T
  serial: the mean loss (return here if it is not finite), dW2 = h^T dS,
      db2, the mask dH *= act'(h) with db1 (column sums in row order)
  B, rows of W1 in a multiple of 4 blocks of at most FEATURES:
      dW1 = X^T dH; dW1 += c W1 and its sum of squares; the update of W1's rows
  serial: L2 of W2, the update of b1, W2 and b2.

The blocks are fixed by the shape, never by the thread count, and run either
way (``parallel`` False runs them one after the other), so the numbers do not
depend on the threads. Their counts are even (A) and multiples of 4 (B), of
equal sizes, so 2 or 4 threads share them evenly; with Numba's chunk
size 1 (the driver sets it) each thread takes the next block when it is
free, so a thread slowed by another program takes fewer. Against the unsplit kernel they differ only in the
loss's last bits (W1's sum of squares is summed block by block); the
parameters are those of the same products and passes (tested bit for bit).
A step of under ``config.MIN_FLOPS`` runs unsplit: there the launch of a
region (2-30 us) costs more than the second core gains; so does one above
``config.MAX_FLOPS``, where OpenBLAS's threads, sharing their packed
operands, win. Block sizes: ``config.ROWS`` and ``config.FEATURES``.

The iteration computes the loss, the gradients and the update only; the
loop's ``finish_iteration`` records, counts and evaluates.
"""
import numpy as np
from numba import njit, prange

from . import config
from .activations import IDENTITY
from .config import FEATURES, JIT, ROWS
from .epilogues import bias_act, gather, grad_colsum, l2_fold, mean_loss
from .heads import head_rows, weigh_rows, weight_sum
from .matmul import matmul
from .optim import update_range


@njit(**JIT)
def row_blocks(n):
    """Blocks of region A for a minibatch of n rows: even, at most ROWS rows."""
    return 2 * ((n + 2 * ROWS - 1) // (2 * ROWS))


@njit(**JIT)
def feature_blocks(D):
    """Blocks of region B for D input features: a multiple of 4, at most
    FEATURES rows of W1 each."""
    return 4 * ((D + 4 * FEATURES - 1) // (4 * FEATURES))


def splits(batch_rows, sizes):
    """Whether a two-layer net of widths ``sizes`` trained on batches of
    ``batch_rows`` runs split, and the size of its L2 scratch."""
    D, H, C = (int(v) for v in sizes)
    flops = 6.0 * batch_rows * (D * H + H * C)
    return config.MIN_FLOPS <= flops <= config.MAX_FLOPS, feature_blocks(D)


@njit(**JIT)
def _span(k, blocks, total):
    """Block k of ``blocks`` near-equal blocks of ``range(total)``."""
    size = (total + blocks - 1) // blocks
    return min(total, k * size), min(total, (k + 1) * size)


@njit(**JIT)
def _rows_block(k, n, size, idx, data, v, code, head, Xb, yb, w, loop_max):
    """Region A's block k of the minibatch of n rows.

    k: the block; n: the minibatch's rows; size: n, or the rows' weight
    when they are weighted; idx (>= n,): their rows in data;
    data: the ``loop.Data``; v: the ``two_layer.TwoLayer`` views (its h,
    scores, dh and row_loss rows of this block are written); code: the
    hidden activation; head: the output head; Xb (n, D), yb (n,) or (n, C):
    the minibatch buffers (this block's rows are written); w (n,): the
    rows' weights, or empty for none; loop_max: the ``(X W, X^T dZ, dZ W^T)``
    limits at or below which products run as loops.
    """
    i0, i1 = _span(k, row_blocks(n), n)
    if i1 <= i0:
        return
    gather(data.X, data.y, idx[i0:i1], i1 - i0, Xb[i0:i1], yb[i0:i1])
    hb, sb = v.h[i0:i1], v.scores[i0:i1]
    matmul(Xb[i0:i1], v.W1, hb, loop_max)
    bias_act(hb, v.b1, code)
    matmul(hb, v.W2, sb, loop_max)
    bias_act(sb, v.b2, np.intp(IDENTITY))  # not a literal: see two_layer_step
    head_rows(head, sb, yb[i0:i1], sb, v.row_loss[i0:], 1.0 / size)
    if w.size:
        weigh_rows(sb, v.row_loss[i0:], w[i0:i1])
    matmul(sb, v.W2.T, v.dh[i0:i1], loop_max)


@njit(**JIT)
def _features_block(k, Xb, dh, v, c, opt, theta, grad, lr, t, l2_part, loop_max):
    """Region B's block k of W1's rows: their gradient, L2 term and update.

    (A parallel region takes flat structures only: Numba's refuses a nested
    one such as the trainee, so its parts come one by one.)
    k: the block; Xb (n, D): the minibatch; dh (n, H): the masked hidden
    gradient; v: the ``two_layer.TwoLayer`` views (W1 read, dW1's rows of
    this block written); c: the L2 factor; opt: the ``optim.Optimizer``
    (its state of these rows updated); theta, grad (P,): the flat
    parameters and gradient, W1 their first ``D * H`` entries; lr: the
    learning rate; t: Adam's step count after this update; l2_part: slot k
    receives these rows' sum of squares; loop_max: as :func:`_rows_block`'s.
    """
    D, H = v.W1.shape
    d0, d1 = _span(k, feature_blocks(D), D)
    l2_part[k] = 0.0
    if d1 <= d0:
        return
    matmul(Xb[:, d0:d1].T, dh, v.dW1[d0:d1], loop_max)
    if c != 0:
        l2_part[k] = l2_fold(v.dW1[d0:d1], v.W1[d0:d1], c)
    update_range(opt, theta, grad, lr, t, d0 * H, d1 * H)


@njit(parallel=True, **JIT)
def _rows_region(n, size, idx, data, v, code, head, Xb, yb, w, loop_max, parallel):
    """Region A: every block of :func:`_rows_block`, over threads when
    ``parallel``. (Numba's parallel regions find a named tuple only among
    their function's arguments, so the regions are functions of their own.)"""
    n_rows = row_blocks(n)
    if parallel:
        for k in prange(n_rows):
            _rows_block(np.int64(k), n, size, idx, data, v, code, head, Xb, yb, w, loop_max)
    else:
        for k in range(n_rows):
            _rows_block(k, n, size, idx, data, v, code, head, Xb, yb, w, loop_max)


@njit(parallel=True, **JIT)
def _features_region(Xb, dh, v, c, opt, theta, grad, lr, t, l2_part, loop_max, parallel):
    """Region B: every block of :func:`_features_block` (its arguments), over
    threads when ``parallel``."""
    n_features = feature_blocks(v.W1.shape[0])
    if parallel:
        for k in prange(n_features):
            _features_block(np.int64(k), Xb, dh, v, c, opt, theta, grad, lr, t, l2_part,
                            loop_max)
    else:
        for k in range(n_features):
            _features_block(k, Xb, dh, v, c, opt, theta, grad, lr, t, l2_part, loop_max)


@njit(**JIT)
def split_iteration(tr, v, data, idx, n, size, c):
    """Loss, gradient and update of one iteration on minibatch rows ``idx[:n]``.

    tr: the ``loop.Trainee`` (``tr.buffers.parallel``: blocks over threads);
    v: ``two_layer.TwoLayer`` views of its parameters, gradient and buffers;
    size: n, or the rows' weight (weights in ``tr.buffers.work.w``, gathered
    by the loop); c: the L2 factor. Returns ``(loss, updated)``: when the
    data loss is not finite, it and False, before any update, the parameters
    unchanged; else the loss with its L2 term and True.
    """
    buf = tr.buffers
    Xb, yb = buf.Xb[:n], buf.yb[:n]
    code = tr.net.codes[0]
    loop_max = buf.work.loop_max
    w = buf.work.w  # the rows' weights, or empty
    _rows_region(n, size, idx, data, v, code, tr.net.head, Xb, yb, w, loop_max, buf.parallel)
    loss = weight_sum(v.row_loss, n) / size if w.size else mean_loss(v.row_loss, n)
    if not np.isfinite(loss):
        return loss, False
    h, dh, s = v.h[:n], v.dh[:n], v.scores[:n]
    matmul(h.T, s, v.dW2, loop_max)
    grad_colsum(s, s, np.intp(IDENTITY), s, v.db2, v.col_acc)  # see two_layer_step
    grad_colsum(dh, h, code, dh, v.db1, v.col_acc)
    opt, theta, grad = tr.optimizer, tr.net.theta, tr.net.grad
    lr, t = tr.progress.lr[0], tr.progress.step[0] + 1
    l2 = buf.l2_part
    _features_region(Xb, dh, v, c, opt, theta, grad, lr, t, l2, loop_max, buf.parallel)
    if c != 0:
        penalty = 0.0
        for k in range(feature_blocks(v.W1.shape[0])):
            penalty += l2[k]
        loss += 0.5 * c * (penalty + l2_fold(v.dW2, v.W2, c))
    update_range(opt, theta, grad, lr, t, v.W1.size, theta.size)
    return loss, True
