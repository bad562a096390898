"""The elementwise passes fused around the matrix products.

They are serial on purpose; the matrix products run on OpenBLAS's threads.
Split over Numba's threads (rows, or whole columns for the column sums), they
compute the same numbers, but inside a training step on a 2-core machine no
split made the step faster (``python -m fusednet.bench.passes``; the README's
Parallelism section): a split ReLU pass of 200 x 100 took 30-36 us against 3
serially (the pool sleeps during the products), and a split SGD update took
1.3-4x its serial time (the other core just wrote its data). ``parallel=True``
would also cost every first run ~65% more compile time (10 -> 17 s).
"""
import numpy as np
from numba import njit

from .activations import activate, derivative
from .config import JIT
from .exp import exp_nonpositive


@njit(**JIT)
def gather(X, y, idx, n, Xb, yb):
    """The minibatch: rows ``idx[:n]`` of X (N, D) and y (N,) or (N, C)
    into Xb and yb."""
    for i in range(n):
        r = idx[i]
        copy_target(y, r, yb, i)
        for j in range(X.shape[1]):
            Xb[i, j] = X[r, j]


@njit(**JIT)
def copy_target(y, r, yb, i):
    """``yb[i] = y[r]``: a label (y (N,)) or a row of targets (y (N, C)).
    Not inlined: Numba prunes the ``ndim`` branch per type only in a
    function of its own."""
    if y.ndim == 1:
        yb[i] = y[r]
    else:
        for k in range(y.shape[1]):
            yb[i, k] = y[r, k]


@njit(**JIT)
def copy_into(dst, src):
    """``dst[:] = src`` for 1-d arrays (the first ``min`` of their lengths).
    A loop, not Numba's slice assignment, which compiles its shape-mismatch
    message (integer formatting and all: ~0.4 s of every cold first call
    per place it was written)."""
    for i in range(min(dst.shape[0], src.shape[0])):
        dst[i] = src[i]


@njit(**JIT)
def gather_weights(w, idx, n, wb):
    """The minibatch's row weights ``w[idx[:n]]`` into wb; returns their sum."""
    total = 0.0
    for i in range(n):
        wb[i] = w[idx[i]]
        total += wb[i]
    return total


@njit(**JIT)
def bias_act(z, b, code):
    """In place ``z[:] = act(z + b)``; z (N, M) C-contiguous, b (M,)."""
    for i in range(z.shape[0]):
        for j in range(z.shape[1]):
            z[i, j] = activate(z[i, j] + b[j], code)


@njit(**JIT)
def add_into(z, r):
    """In place ``z += r`` for two C-contiguous arrays of one shape."""
    zf = z.reshape(-1)
    rf = r.reshape(-1)
    for i in range(zf.size):
        zf[i] += rf[i]


@njit(inline="always", **JIT)
def _mask_colsum(dout, a, code, dz, db, acc):
    m = dz.shape[1]
    for j in range(m):
        acc[j] = 0.0
    for i in range(dz.shape[0]):
        for j in range(m):
            g = dout[i, j] * derivative(a[i, j], code)
            dz[i, j] = g
            acc[j] += g
    for j in range(m):
        db[j] = acc[j]


@njit(**JIT)
def grad_colsum(dout, a, code, dz, db, acc):
    """``dz = dout * act'(a)`` and ``db = dz.sum(axis=0)`` in one pass.

    dout, a, dz (N, M), C-contiguous; dz may be dout itself. db (M,);
    acc (>= M,) float64 scratch so the column sums are accumulated in float64,
    each column in row order.
    """
    # In place, the body gets one array twice, so LLVM sees one pointer and
    # vectorizes. Given two names for one buffer, its run-time overlap check
    # fails and the scalar loop runs: 5x slower (15 vs 2.4 us at 200 x 100).
    if dz.ctypes.data == dout.ctypes.data:
        _mask_colsum(dz, a, code, dz, db, acc)
    else:
        _mask_colsum(dout, a, code, dz, db, acc)


@njit(**JIT)
def softmax_xent(s, y, ds, row_loss):
    """Mean softmax cross-entropy of logits s (N, C) with labels y (N,).

    Writes ``ds = (softmax(s) - onehot(y)) / N`` (ds may be s itself) and
    returns ``mean(logsumexp(s_i) - s_i[y_i])``, max-shifted so any finite
    logits give a finite loss. row_loss (>= N,) float64 scratch.
    """
    n = s.shape[0]
    softmax_rows(s, y, ds, row_loss, 1.0 / n)
    return mean_loss(row_loss, n)


@njit(**JIT)
def ordered_sum(a, n):
    """``sum(a[:n])`` (float64) in a fixed order: eight accumulators over
    ``a[:n - n % 8]`` (element i into accumulator i % 8), added pairwise,
    then the last ``n % 8`` in turn; NumPy's order for n <= 128. Fixed, so
    the same bits wherever LLVM inlines it (no ``reassoc``: see
    ``config.FASTMATH``), with the error of a pairwise sum, not of one chain."""
    s0 = s1 = s2 = s3 = s4 = s5 = s6 = s7 = np.float64(0.0)  # float64 also as Python
    tail = n - n % 8
    for i in range(0, tail, 8):
        s0 += a[i]
        s1 += a[i + 1]
        s2 += a[i + 2]
        s3 += a[i + 3]
        s4 += a[i + 4]
        s5 += a[i + 5]
        s6 += a[i + 6]
        s7 += a[i + 7]
    total = ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))
    for i in range(tail, n):
        total += a[i]
    return total


@njit(**JIT)
def mean_loss(row_loss, n):
    """The mean of the first n rows' losses (:func:`ordered_sum`)."""
    return ordered_sum(row_loss, n) / n


@njit(**JIT)
def softmax_rows(s, y, ds, row_loss, inv_n):
    """:func:`softmax_xent` of some rows of a batch of ``1 / inv_n`` rows:
    ``ds = (softmax(s) - onehot(y)) * inv_n`` and ``row_loss[i]``, the
    loss of row i; s, ds (n, C), y and row_loss (>= n,)."""
    n, c = s.shape
    for i in range(n):
        m = -np.inf
        for k in range(c):
            m = max(m, s[i, k])
        row_loss[i] = m - s[i, y[i]]  # read before ds, which may be s itself, is written
        for k in range(c):
            ds[i, k] = s[i, k] - m
    # One flat pass over all N*C shifted logits: rows are too short (C
    # entries) for the exp to vectorize row by row.
    flat = ds.reshape(-1)
    for j in range(flat.size):
        flat[j] = exp_nonpositive(flat[j])
    for i in range(n):
        t = y[i]
        # p_t - 1 is written as -others / total (summed in float64): no
        # cancellation when the net is confident and 1 - p_t is below eps.
        others = np.float64(0.0)  # float64 also when run as Python (NEP 50)
        for k in range(t):
            others += ds[i, k]
        for k in range(t + 1, c):
            others += ds[i, k]
        total = others + ds[i, t]
        row_loss[i] += np.log(total)
        scale = inv_n / total
        for k in range(c):
            ds[i, k] *= scale
        ds[i, t] = -others * scale


@njit(**JIT)
def l2_fold(dW, W, c):
    """``dW += c * W`` (c the L2 factor); returns ``sum(W**2)`` (float64), in one pass.

    The sum runs in eight accumulators, column ``j`` of each row into
    accumulator ``j % 8`` (the row's last ``n % 8`` columns into the first),
    added pairwise at the end: a fixed order, so the same bits wherever LLVM
    inlines it, and independent chains a core runs in parallel (one
    accumulator made W1's sum at CIFAR size ~8x slower without ``reassoc``).
    """
    s0 = s1 = s2 = s3 = s4 = s5 = s6 = s7 = np.float64(0.0)  # float64 also as Python
    n = W.shape[1]
    tail = n - n % 8
    for i in range(W.shape[0]):
        for j in range(0, tail, 8):
            w0, w1, w2, w3 = W[i, j], W[i, j + 1], W[i, j + 2], W[i, j + 3]
            w4, w5, w6, w7 = W[i, j + 4], W[i, j + 5], W[i, j + 6], W[i, j + 7]
            s0 += w0 * w0
            s1 += w1 * w1
            s2 += w2 * w2
            s3 += w3 * w3
            s4 += w4 * w4
            s5 += w5 * w5
            s6 += w6 * w6
            s7 += w7 * w7
            dW[i, j] += c * w0
            dW[i, j + 1] += c * w1
            dW[i, j + 2] += c * w2
            dW[i, j + 3] += c * w3
            dW[i, j + 4] += c * w4
            dW[i, j + 5] += c * w5
            dW[i, j + 6] += c * w6
            dW[i, j + 7] += c * w7
        for j in range(tail, n):
            w = W[i, j]
            s0 += w * w
            dW[i, j] += c * w
    return ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))
