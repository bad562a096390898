"""A fully-connected net of any depth over one flat parameter vector.

Layer ``l`` maps ``sizes[l] -> sizes[l+1]``: ``a_l = act_l(a_{l-1} W_l + b_l
[+ a_{l-1}])`` (the identity skip where ``residual[l]``), ``a_{-1} = X``, the
last activation is the identity and its output the scores. ``W_l`` and
``b_l`` are views into ``theta``: W_l at ``w_off[l]`` (row-major), b_l right
after it, so every layer lives in one buffer that the optimizer updates in a
single pass. Activations and deltas of layer l are views into flat buffers
too (``N * sum(widths before l)`` onwards), so any depth compiles once.

Loss = the head's mean loss (``kernels.heads``: softmax cross-entropy,
logistic cross-entropy or squared error) + 0.5 c sum_l |W_l|^2 (c = 2 reg
or reg). Backward, from the head's dS (softmax: (softmax - onehot) / N):
  dW_l = a_{l-1}^T d_l,  db_l = sum_rows d_l,
  d_{l-1} = (d_l W_l^T [+ d_l]) * act'_{l-1}(a_{l-1})  (mask and bias sum fused),
  dX = d_0 W_0^T [+ d_0].
"""
from typing import NamedTuple

import numpy as np
from numba import njit

from .activations import IDENTITY
from .config import JIT
from .epilogues import add_into, bias_act, grad_colsum, l2_fold
from .heads import POISSON, SQUARED, SQUARED_MEAN, count_matches, head_loss
from .matmul import matmul
from .sparse import add_input, input_grad, input_product, take_rows


class Net(NamedTuple):
    """A net of the layout above over one flat parameter vector.

    theta, grad: (P,) parameters and their gradient, same layout; sizes
    (L+1,) widths; w_off (L,) where each W starts in theta; codes (L,)
    activation codes (the last IDENTITY); residual (L,) identity skip per
    layer; head: the output head's code (``kernels.heads``).
    """
    theta: np.ndarray
    grad: np.ndarray
    sizes: np.ndarray
    w_off: np.ndarray
    codes: np.ndarray
    residual: np.ndarray
    head: int


class Scratch(NamedTuple):
    """What a forward and backward pass over up to B rows writes besides the
    gradient, made once and reused.

    acts, deltas: (B * sum(sizes[1:]),) per-layer activations and deltas,
    layer after layer; row_loss (B,) and col_acc (max width,) float64
    scratch; dX (B, D) the input gradient, or (0, D) when none is wanted;
    w (B,) float64 the batch's row weights, filled by the caller, or (0,)
    for none; loop_max: the ``(X W, X^T dZ, dZ W^T)`` limits of
    ``config.loop_max``: products of each form with ``m * n * k`` at or
    below its limit run as loops (``kernels.matmul``).
    """
    acts: np.ndarray
    deltas: np.ndarray
    row_loss: np.ndarray
    col_acc: np.ndarray
    dX: np.ndarray
    w: np.ndarray
    loop_max: tuple


def offsets(sizes):
    """``(w_off, total)``: where each layer's W starts in theta, and theta's size."""
    w_off = np.zeros(len(sizes) - 1, np.int64)
    total = 0
    for l, (fi, fo) in enumerate(zip(sizes[:-1], sizes[1:])):
        w_off[l] = total
        total += fi * fo + fo
    return w_off, total


def scratch(sizes, dtype, rows, loop_max, need_dX=False, weighted=False):
    """A :class:`Scratch` for a net of widths ``sizes`` and up to ``rows`` rows
    (with a row-weight buffer when ``weighted``); ``loop_max`` as
    ``config.loop_max(dtype)`` gives it."""
    n = rows * int(sizes[1:].sum())
    return Scratch(np.empty(n, dtype), np.empty(n, dtype), np.empty(rows),
                   np.empty(int(sizes.max())),
                   np.empty((rows if need_dX else 0, int(sizes[0])), dtype),
                   np.empty(rows if weighted else 0), limits(loop_max))


def limits(loop_max):
    """``loop_max`` as the kernels type it: three int64 (one compiled type)."""
    xw, xt_dz, dz_wt = (int(v) for v in loop_max)
    return (xw, xt_dz, dz_wt)


@njit(**JIT)
def weight(flat, net, l):
    """W_l (sizes[l], sizes[l+1]) as a view of ``flat`` (net.theta or net.grad)."""
    fi, fo = net.sizes[l], net.sizes[l + 1]
    return flat[net.w_off[l]:net.w_off[l] + fi * fo].reshape((fi, fo))


@njit(**JIT)
def bias(flat, net, l):
    """b_l (sizes[l+1],) as a view of ``flat`` (net.theta or net.grad)."""
    fi, fo = net.sizes[l], net.sizes[l + 1]
    start = net.w_off[l] + fi * fo
    return flat[start:start + fo]


@njit(**JIT)
def layer_rows(buf, sizes, n, l):
    """The (n, sizes[l+1]) block of layer l in a flat per-layer buffer."""
    start = 0
    for k in range(l):
        start += sizes[k + 1]
    return buf[n * start:n * (start + sizes[l + 1])].reshape((n, sizes[l + 1]))


@njit(**JIT)
def _layer_forward(net, l, inp, out, loop_max):
    """Layer l of the net on ``inp`` into ``out``: act(inp W_l + b_l [+ inp])."""
    input_product(inp, weight(net.theta, net, l), out, loop_max)
    if net.residual[l]:
        add_input(out, inp)
    bias_act(out, bias(net.theta, net, l), net.codes[l])


@njit(**JIT)
def forward(net, X, sc):
    """Run the net on X (n, D), dense or ``sparse.CSR``; returns the scores,
    a view into ``sc.acts``."""
    n = X.shape[0]
    # Layer 0 as a run-time integer: a literal 0 would compile these callees
    # again, specialised for it (~0.5 s of a cold first call).
    first = np.intp(0)
    out = layer_rows(sc.acts, net.sizes, n, first)
    _layer_forward(net, first, X, out, sc.loop_max)
    for l in range(1, len(net.w_off)):
        inp, out = out, layer_rows(sc.acts, net.sizes, n, l)
        _layer_forward(net, l, inp, out, sc.loop_max)
    return out


@njit(**JIT)
def loss_grad(net, X, y, c, sc, need_dX):
    """Loss of (X, y) (n rows, X dense or ``sparse.CSR``; y labels (n,) or
    targets (n, C), as the head takes; weighted by ``sc.w[:n]`` unless it is
    empty) and its gradient into ``net.grad``, with L2 factor ``c``; with
    ``need_dX`` also the input gradient into ``sc.dX[:n]``.
    The scores' block of ``sc.acts`` is left holding dscores.
    """
    scores = forward(net, X, sc)
    loss = head_loss(net.head, scores, y, scores, sc.row_loss, sc.w)
    backward(net, X, scores, sc, need_dX)
    if c != 0:
        loss += 0.5 * c * l2_penalty(net, c)
    return loss


@njit(**JIT)
def backward(net, X, d, sc, need_dX):
    """From dscores ``d`` (n, C) (after :func:`forward` of X into ``sc``):
    every layer's gradient into ``net.grad``, without the L2 term, and with
    ``need_dX`` the input gradient into ``sc.dX[:n]``."""
    n = X.shape[0]
    L = len(net.w_off)
    sizes, theta, grad = net.sizes, net.theta, net.grad
    grad_colsum(d, d, np.intp(IDENTITY), d, bias(grad, net, L - 1), sc.col_acc)  # see forward
    for l in range(L - 1, 0, -1):
        inp = layer_rows(sc.acts, sizes, n, l - 1)
        matmul(inp.T, d, weight(grad, net, l), sc.loop_max)
        d_in = layer_rows(sc.deltas, sizes, n, l - 1)
        matmul(d, weight(theta, net, l).T, d_in, sc.loop_max)
        if net.residual[l]:
            add_into(d_in, d)
        # Mask (derivative of the previous activation) and that layer's bias
        # gradient in one pass.
        grad_colsum(d_in, inp, net.codes[l - 1], d_in, bias(grad, net, l - 1), sc.col_acc)
        d = d_in
    first = np.intp(0)  # not a literal: see forward
    input_grad(X, d, weight(grad, net, first), sc.loop_max)
    if need_dX:
        matmul(d, weight(theta, net, first).T, sc.dX[:n], sc.loop_max)
        if net.residual[0]:
            add_into(sc.dX[:n], d)


@njit(**JIT)
def l2_penalty(net, c):
    """``c W_l`` added into every layer's weight gradient; returns sum_l |W_l|^2."""
    penalty = 0.0
    for l in range(len(net.w_off)):
        penalty += l2_fold(weight(net.grad, net, l), weight(net.theta, net, l), c)
    return penalty


@njit(**JIT)
def score(net, X, y, sc, two=None):
    """The net's score on (X, y), run as many rows at a time as ``sc`` holds:
    the fraction of rows it gets right (``heads.count_matches``; 0 for no
    rows), or for a squared-error or Poisson head R^2 (of the predictions:
    the scores, or exp(scores)), averaged over the outputs as scikit-learn's
    ``r2_score`` does. ``two``: for a two-layer net without skips, its
    ``(W1, b1, W2, b2)`` (see :func:`_scores`), or None."""
    if y.ndim == 2:
        if net.head == SQUARED or net.head == SQUARED_MEAN or net.head == POISSON:
            return _r2(net, X, y, sc, two)
    chunk = sc.row_loss.shape[0]
    correct = 0
    for start in range(0, X.shape[0], chunk):
        stop = min(start + chunk, X.shape[0])
        correct += count_matches(_scores(net, take_rows(X, start, stop), sc, two), y, start)
    return correct / max(X.shape[0], 1)


@njit(**JIT)
def _scores(net, X, sc, two):
    """:func:`forward`'s scores of X. With ``two`` (W1, b1, W2, b2, the
    views of a two-layer net without skips) its two layers run on those
    arrays, into the same buffers and through the same calls, so the same
    bits: passing the net through each layer's calls cost a score of the
    toy ~1 us in reference counts, most of a 5-row score."""
    if two is None:
        return forward(net, X, sc)
    W1, b1, W2, b2 = two
    n = X.shape[0]
    h = layer_rows(sc.acts, net.sizes, n, np.intp(0))
    s = layer_rows(sc.acts, net.sizes, n, np.intp(1))
    input_product(X, W1, h, sc.loop_max)
    bias_act(h, b1, net.codes[0])
    input_product(h, W2, s, sc.loop_max)
    bias_act(s, b2, net.codes[1])
    return s


@njit(**JIT)
def _r2(net, X, y, sc, two):
    """Mean over outputs of 1 - sum (y - s)^2 / sum (y - mean y)^2 (an
    output with constant targets scores 1 if predicted exactly, else 0, as
    scikit-learn's ``force_finite``); 0 for no rows. Called once an epoch:
    its three (C,) accumulators are allocated here."""
    n, C = y.shape
    if n == 0:
        return 0.0
    mean, res, tot = np.zeros(C), np.zeros(C), np.zeros(C)
    for r in range(n):
        for k in range(C):
            mean[k] += y[r, k]
    mean /= n
    chunk = sc.row_loss.shape[0]
    for start in range(0, n, chunk):
        stop = min(start + chunk, n)
        scores = _scores(net, take_rows(X, start, stop), sc, two)
        for i in range(stop - start):
            for k in range(C):
                pred = np.float64(scores[i, k])
                if net.head == POISSON:
                    pred = np.exp(pred)
                e = np.float64(y[start + i, k]) - pred
                d = np.float64(y[start + i, k]) - mean[k]
                res[k] += e * e
                tot[k] += d * d
    total = 0.0
    for k in range(C):
        if tot[k] > 0:
            total += 1.0 - res[k] / tot[k]
        elif res[k] == 0:
            total += 1.0
    return total / C
