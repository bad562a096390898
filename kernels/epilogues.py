"""The elementwise passes fused around the matrix products.

Each pass has three levels: a serial body over a block of rows or columns, a
``parallel=True`` driver looping ``prange`` over blocks, and a dispatcher that
picks one by size. Every block owns its output (rows, or columns for the
column sums), and each column is always summed over the batch in row order,
so the serial and parallel paths give bit-identical results whatever the
thread count.
"""
import numpy as np
from numba import njit, prange

from .activations import TANH, activate, cost, derivative
from .config import JIT, PARALLEL_BLOCKS


@njit(**JIT)
def _blocks(n):
    """How many blocks to split ``n`` rows or columns into for ``prange``.

    A constant, not the thread count: ``numba.get_num_threads()`` in a kernel
    makes it uncacheable, and more blocks than threads cost nothing here.
    """
    return min(n, PARALLEL_BLOCKS)


# -- forward: z = act(z + b), rows -------------------------------------------

@njit(**JIT)
def _bias_act_rows(z, b, code, r0, r1):
    for i in range(r0, r1):
        for j in range(z.shape[1]):
            z[i, j] = activate(z[i, j] + b[j], code)


@njit(parallel=True, **JIT)
def _bias_act_parallel(z, b, code):
    n = z.shape[0]
    nb = _blocks(n)
    for t in prange(nb):
        _bias_act_rows(z, b, code, t * n // nb, (t + 1) * n // nb)


@njit(**JIT)
def bias_act(z, b, code, par_min):
    """In place ``z[:] = act(z + b)``; z (N, M) C-contiguous, b (M,)."""
    if z.size * cost(code) >= par_min:
        _bias_act_parallel(z, b, code)
    else:
        _bias_act_rows(z, b, code, 0, z.shape[0])


@njit(**JIT)
def add_into(z, r):
    """In place ``z += r`` for two C-contiguous arrays of one shape."""
    zf = z.reshape(-1)
    rf = r.reshape(-1)
    for i in range(zf.size):
        zf[i] += rf[i]


# -- backward: dz = dout * act'(a), db = sum_rows dz, columns -----------------

@njit(**JIT)
def _grad_colsum_cols(dout, a, code, dz, db, acc, c0, c1):
    for j in range(c0, c1):
        acc[j] = 0.0
    for i in range(dz.shape[0]):
        for j in range(c0, c1):
            g = dout[i, j] * derivative(a[i, j], code)
            dz[i, j] = g
            acc[j] += g
    for j in range(c0, c1):
        db[j] = acc[j]


@njit(parallel=True, **JIT)
def _grad_colsum_parallel(dout, a, code, dz, db, acc):
    m = dz.shape[1]
    nb = _blocks(m)
    for t in prange(nb):
        _grad_colsum_cols(dout, a, code, dz, db, acc, t * m // nb, (t + 1) * m // nb)


@njit(**JIT)
def grad_colsum(dout, a, code, dz, db, acc, par_min):
    """``dz = dout * act'(a)`` and ``db = dz.sum(axis=0)`` in one pass.

    dout, a, dz (N, M), C-contiguous; dz may be dout itself. db (M,);
    acc (>= M,) float64 scratch so the column sums are accumulated in float64.
    """
    if dz.size >= par_min:
        _grad_colsum_parallel(dout, a, code, dz, db, acc)
    else:
        _grad_colsum_cols(dout, a, code, dz, db, acc, 0, dz.shape[1])


# -- softmax cross-entropy, rows ----------------------------------------------

@njit(**JIT)
def _softmax_xent_rows(s, y, ds, row_loss, r0, r1):
    inv_n = 1.0 / s.shape[0]
    for i in range(r0, r1):
        t = y[i]
        m = -np.inf
        for k in range(s.shape[1]):
            m = max(m, s[i, k])
        others = 0.0
        for k in range(s.shape[1]):
            if k != t:
                others += np.exp(s[i, k] - m)
        e_t = np.exp(s[i, t] - m)
        total = others + e_t
        row_loss[i] = np.log(total) + m - s[i, t]
        # p_t - 1 is written as -others / total: no cancellation when the net
        # is confident, where 1 - p_t is far below float eps. exp is taken
        # again rather than stored so float32 scores still get float64 p's;
        # ds may be s itself, and each s[i, k] is read before ds[i, k] is set.
        scale = inv_n / total
        for k in range(s.shape[1]):
            if k != t:
                ds[i, k] = np.exp(s[i, k] - m) * scale
        ds[i, t] = -others * scale


@njit(parallel=True, **JIT)
def _softmax_xent_parallel(s, y, ds, row_loss):
    n = s.shape[0]
    nb = _blocks(n)
    for t in prange(nb):
        _softmax_xent_rows(s, y, ds, row_loss, t * n // nb, (t + 1) * n // nb)


@njit(**JIT)
def softmax_xent(s, y, ds, row_loss, par_min):
    """Mean softmax cross-entropy of logits s (N, C) with labels y (N,).

    Writes ``ds = (softmax(s) - onehot(y)) / N`` (ds may be s itself) and
    returns the loss ``mean(logsumexp(s_i) - s_i[y_i])``, max-shifted so any
    finite logits give a finite loss. row_loss (>= N,) float64 scratch; the
    per-row losses are summed in row order so threads do not change the sum.
    """
    n = s.shape[0]
    if s.size * cost(TANH) >= par_min:  # two exps per element
        _softmax_xent_parallel(s, y, ds, row_loss)
    else:
        _softmax_xent_rows(s, y, ds, row_loss, 0, n)
    loss = 0.0
    for i in range(n):
        loss += row_loss[i]
    return loss / n


# -- L2 ------------------------------------------------------------------------

@njit(**JIT)
def l2_fold(dW, W, scale):
    """``dW += scale * W``; returns ``sum(W**2)`` (float64), in one pass."""
    total = 0.0
    for i in range(W.shape[0]):
        for j in range(W.shape[1]):
            w = W[i, j]
            total += w * w
            dW[i, j] += scale * w
    return total
