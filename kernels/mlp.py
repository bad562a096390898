"""A fully-connected net of any depth over one flat parameter vector.

Layer ``l`` maps ``sizes[l] -> sizes[l+1]``: ``a_l = act_l(a_{l-1} W_l + b_l
[+ a_{l-1}])`` (the identity skip where ``residual[l]``), ``a_{-1} = X``, the
last activation is the identity and its output the scores. ``W_l`` and
``b_l`` are views into ``theta``: W_l at ``w_off[l]`` (row-major), b_l right
after it, so every layer lives in one buffer that the optimizer updates in a
single pass. Activations and deltas of layer l are views into flat buffers
too (``N * sum(widths before l)`` onwards), so any depth compiles once.

Loss = mean softmax cross-entropy + 0.5 c sum_l |W_l|^2 (c = 2 reg or reg).
Backward, from dS = (softmax - onehot) / N:
  dW_l = a_{l-1}^T d_l,  db_l = sum_rows d_l,
  d_{l-1} = (d_l W_l^T [+ d_l]) * act'_{l-1}(a_{l-1})  (mask and bias sum fused),
  dX = d_0 W_0^T [+ d_0].
"""
import numpy as np
from numba import njit

from .activations import IDENTITY
from .config import JIT
from .epilogues import add_into, bias_act, grad_colsum, l2_fold, softmax_xent
from .matmul import matmul


def offsets(sizes):
    """``(w_off, total)``: where each layer's W starts in theta, and theta's size."""
    w_off = np.zeros(len(sizes) - 1, np.int64)
    total = 0
    for l, (fi, fo) in enumerate(zip(sizes[:-1], sizes[1:])):
        w_off[l] = total
        total += fi * fo + fo
    return w_off, total


@njit(**JIT)
def weight(theta, sizes, w_off, l):
    fi, fo = sizes[l], sizes[l + 1]
    return theta[w_off[l]:w_off[l] + fi * fo].reshape((fi, fo))


@njit(**JIT)
def bias(theta, sizes, w_off, l):
    fi, fo = sizes[l], sizes[l + 1]
    start = w_off[l] + fi * fo
    return theta[start:start + fo]


@njit(**JIT)
def layer_rows(buf, sizes, n, l):
    """The (n, sizes[l+1]) block of layer l in a flat per-layer buffer."""
    start = 0
    for k in range(l):
        start += sizes[k + 1]
    return buf[n * start:n * (start + sizes[l + 1])].reshape((n, sizes[l + 1]))


@njit(**JIT)
def forward(theta, sizes, w_off, codes, residual, X, acts, loop_max):
    """Run the net on X (n, D); returns the scores, a view into ``acts``."""
    n = X.shape[0]
    inp = X
    for l in range(len(w_off)):
        out = layer_rows(acts, sizes, n, l)
        matmul(inp, weight(theta, sizes, w_off, l), out, loop_max)
        if residual[l]:
            add_into(out, inp)
        bias_act(out, bias(theta, sizes, w_off, l), codes[l])
        inp = out
    return inp


@njit(**JIT)
def loss_grad(theta, grad, sizes, w_off, codes, residual, X, y, c, acts, deltas,
              row_loss, col_acc, dX, need_dX, loop_max):
    """Loss of (X, y) and its gradient into ``grad`` (same layout as theta).

    ``acts`` and ``deltas``: flat (>= n * sum(sizes[1:]),) buffers; row_loss
    (>= n,) and col_acc (>= max width,) float64 scratch; dX (n, D) when
    ``need_dX``. The scores' block of ``acts`` is left holding dscores.
    """
    n = X.shape[0]
    L = len(w_off)
    scores = forward(theta, sizes, w_off, codes, residual, X, acts, loop_max)
    loss = softmax_xent(scores, y, scores, row_loss)
    d = scores
    grad_colsum(d, d, IDENTITY, d, bias(grad, sizes, w_off, L - 1), col_acc)
    for l in range(L - 1, -1, -1):
        inp = X if l == 0 else layer_rows(acts, sizes, n, l - 1)
        W = weight(theta, sizes, w_off, l)
        matmul(inp.T, d, weight(grad, sizes, w_off, l), loop_max)
        if l == 0 and not need_dX:
            break
        d_in = dX if l == 0 else layer_rows(deltas, sizes, n, l - 1)
        matmul(d, W.T, d_in, loop_max)
        if residual[l]:
            add_into(d_in, d)
        if l > 0:
            # Mask (derivative of the previous activation) and that layer's
            # bias gradient in one pass.
            grad_colsum(d_in, inp, codes[l - 1], d_in, bias(grad, sizes, w_off, l - 1), col_acc)
        d = d_in
    if c != 0:
        penalty = 0.0
        for l in range(L):
            penalty += l2_fold(weight(grad, sizes, w_off, l), weight(theta, sizes, w_off, l), c)
        loss += 0.5 * c * penalty
    return loss


@njit(**JIT)
def count_correct(theta, sizes, w_off, codes, residual, X, y, acts, chunk, loop_max):
    """How many rows of X the net labels as y, run ``chunk`` rows at a time."""
    correct = 0
    for start in range(0, X.shape[0], chunk):
        stop = min(start + chunk, X.shape[0])
        scores = forward(theta, sizes, w_off, codes, residual, X[start:stop], acts, loop_max)
        for i in range(stop - start):
            best = 0
            for k in range(1, scores.shape[1]):
                if scores[i, k] > scores[i, best]:
                    best = k
            if best == y[start + i]:
                correct += 1
    return correct
