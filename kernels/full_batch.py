"""The full batch's loss and gradient (L-BFGS) in fixed blocks of rows, over
threads.

The n rows are cut into an even number of blocks of at most
``config.FULL_BATCH_ROWS`` rows, of equal size but the last (so two threads
share them evenly): fixed by n, never by the thread count. Each block runs the net's
forward pass, the head on its rows with the whole batch's 1 / N (1 / sum w
when weighted), and the backward pass into a gradient of its own; then,
serially and in block order, the blocks' loss sums and gradients are added
up and the L2 term folded in:

  loss = sum_b sum_{i in b} loss_i / N + 0.5 c sum_l |W_l|^2
  grad = sum_b grad_b + c W   (b = 0, 1, ... in order)

Parallel or not, on any number of threads, the same sums in the same order:
the same bits. Each block's products run on single-threaded BLAS (the
caller sets it, ``net.chunks.call_chunk``).
"""
from typing import NamedTuple

import numpy as np
from numba import njit, prange

from .config import JIT
from .epilogues import copy_into, ordered_sum
from .heads import head_rows, weigh_rows
from .mlp import Net, Scratch, backward, forward, l2_penalty, limits
from .sparse import CSR, take_rows


class Blocks(NamedTuple):
    """Scratch for the blocks of a full batch of n rows, made once a fit.

    grads (K, P): each block's gradient; losses (K,) float64: each block's
    sum of row losses; acts, deltas (K, rows * sum(sizes[1:])), row_loss
    (K, rows) float64, col_acc (K, max width) float64: each block's
    ``mlp.Scratch``; w (n,) float64 the rows' weights, or (0,); rows: rows a
    block; loop_max (3,) int64: ``mlp.Scratch``'s limits, as an array (a
    parallel region refuses a named tuple holding a tuple).
    """
    grads: np.ndarray
    losses: np.ndarray
    acts: np.ndarray
    deltas: np.ndarray
    row_loss: np.ndarray
    col_acc: np.ndarray
    w: np.ndarray
    rows: int
    loop_max: np.ndarray


def blocks(net, n, rows, loop_max, w=None):
    """:class:`Blocks` for ``net`` (a ``mlp.Net``) and n rows, at most
    ``rows`` a block (see the module), weighted by ``w`` (n,) unless None."""
    K = 1 if n <= rows else 2 * -(-n // (2 * rows))
    rows = -(-n // K)
    K = -(-n // rows)  # none empty (an empty block would leave its gradient unwritten)
    width = rows * int(net.sizes[1:].sum())
    dtype = net.theta.dtype
    return Blocks(np.empty((K, net.theta.size), dtype), np.zeros(K),
                  np.empty((K, width), dtype), np.empty((K, width), dtype),
                  np.empty((K, rows)), np.empty((K, int(net.sizes.max()))),
                  np.empty(0) if w is None else np.ascontiguousarray(w, np.float64),
                  int(rows), np.array(limits(loop_max), np.int64))


@njit(**JIT)
def _block(k, net, X, y, bl, inv_total):
    """Block k: its rows' loss sum into ``bl.losses[k]``, their gradient
    (without L2) into ``bl.grads[k]``."""
    r0 = k * bl.rows
    r1 = min(X.shape[0], r0 + bl.rows)
    Xk = take_rows(X, r0, r1)
    w = bl.w[r0:r1] if bl.w.size else bl.w
    loop_max = (bl.loop_max[0], bl.loop_max[1], bl.loop_max[2])
    sc = Scratch(bl.acts[k], bl.deltas[k], bl.row_loss[k], bl.col_acc[k],
                 np.empty((0, X.shape[1]), bl.acts.dtype), w, loop_max)
    netk = Net(net.theta, bl.grads[k], net.sizes, net.w_off, net.codes, net.residual, net.head)
    scores = forward(netk, Xk, sc)
    head_rows(net.head, scores, y[r0:r1], scores, sc.row_loss, inv_total)
    if w.size:
        weigh_rows(scores, sc.row_loss, w)
    bl.losses[k] = ordered_sum(sc.row_loss, r1 - r0)
    backward(netk, Xk, scores, sc, False)


@njit(parallel=True, **JIT)
def _region(net, X, y, bl, inv_total, parallel):
    """Every block, over threads when ``parallel``; X dense."""
    K = bl.losses.shape[0]
    if parallel:
        for k in prange(K):
            _block(np.int64(k), net, X, y, bl, inv_total)
    else:
        for k in range(K):
            _block(k, net, X, y, bl, inv_total)


@njit(parallel=True, **JIT)
def _csr_region(net, data, indices, indptr, D, y, bl, inv_total, parallel):
    """:func:`_region` for CSR rows, passed as their arrays: Numba's parallel
    regions refuse a named tuple holding a tuple (the CSR's shape), so each
    block builds its own."""
    K = bl.losses.shape[0]
    n = indptr.shape[0] - 1
    if parallel:
        for k in prange(K):
            _block(np.int64(k), net, CSR(data, indices, indptr, (n, D)), y, bl, inv_total)
    else:
        for k in range(K):
            _block(k, net, CSR(data, indices, indptr, (n, D)), y, bl, inv_total)


@njit(**JIT)
def _sum_blocks(net, bl, c, total):
    """The loss and ``net.grad`` from the blocks' sums, in block order, with
    the L2 term."""
    loss = 0.0
    for k in range(bl.losses.shape[0]):
        loss += bl.losses[k]
    loss /= total
    grad = net.grad
    copy_into(grad, bl.grads[0])
    for k in range(1, bl.losses.shape[0]):
        g = bl.grads[k]
        for p in range(grad.size):
            grad[p] += g[p]
    if c != 0:
        loss += 0.5 * c * l2_penalty(net, c)
    return loss


def full_batch_loss_grad(net, X, y, c, bl, total, parallel):
    """The loss of all of (X, y) (X dense or ``sparse.CSR``, n rows; y as
    the head takes it) and its gradient into ``net.grad``, L2 factor ``c``;
    ``total``: n, or the rows' weight sum; the blocks over threads when
    ``parallel``. See the module for the order."""
    if isinstance(X, CSR):
        _csr_region(net, X.data, X.indices, X.indptr, X.shape[1], y, bl, 1.0 / total, parallel)
    else:
        _region(net, X, y, bl, 1.0 / total, parallel)
    return _sum_blocks(net, bl, c, total)
