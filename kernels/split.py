"""One iteration of two-layer training split into blocks, run over threads.

Two ``prange`` regions an iteration, each block's products on single-threaded
BLAS (the driver sets it), the passes fused into the block that made their
data, so they run on the core whose cache holds it:

  A, rows of the minibatch in an even number of blocks of at most ROWS:
      gather the rows; h = act(X W1 + b1); s = h W2 + b2; each row's softmax
      loss and dS = (softmax(s) - onehot(y)) / N; dH = dS W2^T
  serial: the mean loss (stop here if it is not finite), dW2 = h^T dS,
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
A step of under MIN_FLOPS runs unsplit: there the launch of a region
(2-30 us) costs more than the second core gains; so does one above
MAX_FLOPS, where OpenBLAS's threads, sharing their packed operands, win.
"""
import numpy as np
from numba import njit, prange

from .activations import IDENTITY
from .config import JIT
from .epilogues import bias_act, gather, grad_colsum, l2_fold, mean_loss, softmax_rows
from .matmul import matmul
from .optim import update

#: At most this many minibatch rows per block of region A (two blocks for
#: the usual 200-256: each block packs all of W1 for its product, so more
#: blocks cost more).
ROWS = 128
#: At most this many rows of W1 (input features) per block of region B.
FEATURES = 512
#: Steps whose products take fewer flops (6 N (D H + H C)) run unsplit:
#: measured, digits (7.7e6) tied, CIFAR (3.7e8) and MNIST (6.2e8) gained
#: 10-27% on 2 threads.
MIN_FLOPS = 5e7
#: Steps above this run unsplit too: there each block's products repack
#: operands that OpenBLAS's own threads share (all of W1 per row block, dH
#: per feature block); at 1024 x 3072 -> 1024 (1.9e10) the split step was
#: 5-11% slower than OpenBLAS's two threads.
MAX_FLOPS = 5e9


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
    return MIN_FLOPS <= flops <= MAX_FLOPS, feature_blocks(D)


@njit(**JIT)
def _span(k, blocks, total):
    """Block k of ``blocks`` near-equal blocks of ``range(total)``."""
    size = (total + blocks - 1) // blocks
    return min(total, k * size), min(total, (k + 1) * size)


@njit(**JIT)
def _rows_block(k, data, idx, n, W1, b1, W2, b2, code, Xb, yb, h, dh, s, row_loss, loop_max):
    """Region A's block k of the minibatch of n rows."""
    i0, i1 = _span(k, row_blocks(n), n)
    if i1 <= i0:
        return
    gather(data.X, data.y, idx[i0:i1], i1 - i0, Xb[i0:i1], yb[i0:i1])
    hb, sb = h[i0:i1], s[i0:i1]
    matmul(Xb[i0:i1], W1, hb, loop_max)
    bias_act(hb, b1, code)
    matmul(hb, W2, sb, loop_max)
    bias_act(sb, b2, IDENTITY)
    softmax_rows(sb, yb[i0:i1], sb, row_loss[i0:], 1.0 / n)
    matmul(sb, W2.T, dh[i0:i1], loop_max)


@njit(**JIT)
def _features_block(k, Xb, dh, W1, dW1, c, opt, lr, t, theta, grad, l2_part, loop_max):
    """Region B's block k of W1's rows (W1 is the first entries of theta and
    grad): their gradient, L2 term and update."""
    D, H = W1.shape
    d0, d1 = _span(k, feature_blocks(D), D)
    l2_part[k] = 0.0
    if d1 <= d0:
        return
    matmul(Xb[:, d0:d1].T, dh, dW1[d0:d1], loop_max)
    if c != 0:
        l2_part[k] = l2_fold(dW1[d0:d1], W1[d0:d1], c)
    a, b = d0 * H, d1 * H
    update(theta[a:b], grad[a:b], opt.s1[a:b], opt.s2[a:b], opt.backup[a:b], opt.rule, lr,
           opt.p1, opt.p2, opt.eps, t)


@njit(parallel=True, **JIT)
def split_iteration(views, net, opt, progress, data, idx, n, c, code, buf, h, dh, s, parallel):
    """Loss, gradient and update of one iteration on minibatch rows ``idx[:n]``.

    views: (W1, b1, W2, b2, dW1, db1, dW2, db2) over net.theta and net.grad.
    Returns the loss; when the data loss is not finite it returns it before
    any update, with the parameters unchanged.
    """
    W1, b1, W2, b2, dW1, db1, dW2, db2 = views
    Xb, yb = buf.Xb[:n], buf.yb[:n]
    h, dh, s = h[:n], dh[:n], s[:n]
    n_rows = row_blocks(n)
    if parallel:
        for k in prange(n_rows):
            _rows_block(np.int64(k), data, idx, n, W1, b1, W2, b2, code, Xb, yb, h, dh, s,
                        buf.row_loss, buf.loop_max)
    else:
        for k in range(n_rows):
            _rows_block(k, data, idx, n, W1, b1, W2, b2, code, Xb, yb, h, dh, s, buf.row_loss,
                        buf.loop_max)
    loss = mean_loss(buf.row_loss, n)
    if not np.isfinite(loss):
        return loss
    matmul(h.T, s, dW2, buf.loop_max)
    grad_colsum(s, s, IDENTITY, s, db2, buf.col_acc)
    grad_colsum(dh, h, code, dh, db1, buf.col_acc)
    progress.step[0] += 1
    t, lr = progress.step[0], progress.lr[0]
    theta, grad = net.theta, net.grad
    n_features = feature_blocks(W1.shape[0])
    l2 = buf.l2_part
    if parallel:
        for k in prange(n_features):
            _features_block(np.int64(k), Xb, dh, W1, dW1, c, opt, lr, t, theta, grad, l2,
                            buf.loop_max)
    else:
        for k in range(n_features):
            _features_block(k, Xb, dh, W1, dW1, c, opt, lr, t, theta, grad, l2, buf.loop_max)
    if c != 0:
        penalty = 0.0
        for k in range(n_features):
            penalty += l2[k]
        loss += 0.5 * c * (penalty + l2_fold(dW2, W2, c))
    a = W1.size
    update(theta[a:], grad[a:], opt.s1[a:], opt.s2[a:], opt.backup[a:], opt.rule, lr, opt.p1,
           opt.p2, opt.eps, t)
    return loss
