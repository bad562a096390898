"""Output heads: the last layer's activation and its loss, in one pass over
the scores s (N, C) of a batch of N rows.

A head is an integer code, as activations are. Each writes each row's loss
(summed in float64) and ``ds = dL/ds`` (over s itself when asked), with
``L`` the mean of the rows' losses:

  softmax    labels y (N,) in [0, C):  loss_i = logsumexp(s_i) - s_i[y_i],
             ds = (softmax(s) - onehot(y)) / N
  logistic   targets t (N, C) in [0, 1] (one column for two classes, one per
             label for multilabel):  loss_i = sum_k softplus(s_ik) - t_ik s_ik
             (the binary cross-entropy of sigmoid(s)), ds = (sigmoid(s) - t) / N
  squared    targets t (N, C):  loss_i = 0.5 sum_k (s_ik - t_ik)^2,  ds = (s - t) / N
  poisson    counts t (N, C) >= 0, exponential outputs (the prediction is
             exp(s)):  loss_i = sum_k t log(t / exp(s)) - t + exp(s) (half the
             Poisson deviance, scikit-learn's), ds = (exp(s) - t) / N
  squared_mean  scikit-learn's report of the squared error, 0.5 mean_k
             (s_ik - t_ik)^2, with ``squared``'s ds: scikit-learn follows the
             gradient of the sum over outputs and reports their mean (the
             same for one output).

With row weights w (scikit-learn's ``sample_weight``), each row's loss and
ds are multiplied by w_i and N becomes sum_i w_i (the batch's weight).

Every loss is finite for finite scores: softplus(z) - t z is computed as
``max(z, 0) - t z + log1p(exp(-|z|))``, the exponent never positive.
Labels (an integer vector) select softmax; targets (a float matrix) the
others: Numba compiles one branch per type of y, so the softmax path pays
nothing for the others.
"""
import numpy as np
from numba import njit

from .activations import SIGMOID, activate
from .config import JIT
from .epilogues import mean_loss, ordered_sum, softmax_rows
from .exp import exp_nonpositive

SOFTMAX, LOGISTIC, SQUARED, SQUARED_MEAN, POISSON = 0, 1, 2, 3, 4

#: Public names of the heads and their codes.
CODES = {"softmax": SOFTMAX, "logistic": LOGISTIC, "squared_error": SQUARED, "poisson": POISSON}
#: With the estimators' own: scikit-learn's report of the squared error.
ALL_CODES = dict(CODES, squared_mean=SQUARED_MEAN)


def head_code(head):
    """The integer code of ``head`` (a name of ``ALL_CODES``), or ValueError
    naming the public ones."""
    try:
        return ALL_CODES[head]
    except (KeyError, TypeError):
        raise ValueError(f"head must be one of {sorted(CODES)}, got {head!r}") from None


@njit(**JIT)
def head_rows(head, s, y, ds, row_loss, inv_n):
    """Some rows of a batch of ``1 / inv_n`` rows: ``ds`` (the rows' part of
    dL/ds) and ``row_loss[i]``, the loss of row i; s, ds (n, C); y (n,)
    labels or (n, C) targets; row_loss (>= n,) float64."""
    if y.ndim == 1:
        softmax_rows(s, y, ds, row_loss, inv_n)
    elif head == LOGISTIC:
        _logistic_rows(s, y, ds, row_loss, inv_n)
    elif head == POISSON:
        _poisson_rows(s, y, ds, row_loss, inv_n)
    else:
        _squared_rows(s, y, ds, row_loss, inv_n, 0.5 / s.shape[1] if head == SQUARED_MEAN else 0.5)


@njit(**JIT)
def head_loss(head, s, y, ds, row_loss, w):
    """The mean loss of a batch, ``ds = dL/ds`` written (ds may be s); with
    row weights ``w`` (>= n,) the weighted mean (w empty: none)."""
    n = s.shape[0]
    if w.size == 0:
        head_rows(head, s, y, ds, row_loss, 1.0 / n)
        return mean_loss(row_loss, n)
    sw = weight_sum(w, n)
    head_rows(head, s, y, ds, row_loss, 1.0 / sw)
    weigh_rows(ds, row_loss, w)
    return weight_sum(row_loss, n) / sw


@njit(**JIT)
def weight_sum(w, n):
    """The sum of the first n weights (float64, ``epilogues.ordered_sum``)."""
    return ordered_sum(w, n)


@njit(**JIT)
def weigh_rows(ds, row_loss, w):
    """Row i of ds and row_loss[i] times w[i], for the rows of ds."""
    for i in range(ds.shape[0]):
        row_loss[i] *= w[i]
        for k in range(ds.shape[1]):
            ds[i, k] *= w[i]


@njit(**JIT)
def _logistic_rows(s, t, ds, row_loss, inv_n):
    for i in range(s.shape[0]):
        total = np.float64(0.0)  # float64 also when run as Python (NEP 50)
        for k in range(s.shape[1]):
            z = np.float64(s[i, k])
            total += max(z, 0.0) - t[i, k] * z + np.log1p(exp_nonpositive(-abs(z)))
            ds[i, k] = (activate(s[i, k], SIGMOID) - t[i, k]) * inv_n
        row_loss[i] = total


@njit(**JIT)
def _poisson_rows(s, t, ds, row_loss, inv_n):
    for i in range(s.shape[0]):
        total = np.float64(0.0)
        for k in range(s.shape[1]):
            p = np.exp(np.float64(s[i, k]))  # may overflow: an Inf loss stops training
            tk = np.float64(t[i, k])
            total += (tk * np.log(tk / p) if tk > 0 else 0.0) - tk + p
            ds[i, k] = (np.exp(s[i, k]) - t[i, k]) * inv_n
        row_loss[i] = total


@njit(**JIT)
def _squared_rows(s, t, ds, row_loss, inv_n, half):
    for i in range(s.shape[0]):
        total = np.float64(0.0)
        for k in range(s.shape[1]):
            r = s[i, k] - t[i, k]
            total += np.float64(r) * r
            ds[i, k] = r * inv_n
        row_loss[i] = half * total


@njit(**JIT)
def count_matches(s, y, r):
    """How many rows i of the scores s get row r + i of y right: its label
    the highest score (softmax labels y (N,)), or every label on exactly
    where y's is (logistic targets y (N, C): subset accuracy, as
    scikit-learn's classifiers score). One call a block of rows: a call a
    row cost the toy's epoch boundary ~1 us."""
    correct = 0
    for i in range(s.shape[0]):
        if y.ndim == 1:
            best = 0
            for k in range(1, s.shape[1]):
                if s[i, k] > s[i, best]:
                    best = k
            correct += best == y[r + i]
        else:
            on = True
            for k in range(s.shape[1]):
                if (s[i, k] > 0) != (y[r + i, k] > 0.5):
                    on = False
            correct += on
    return correct
