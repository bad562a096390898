"""The logistic, squared-error and Poisson heads' losses and gradients, one pass per
row (``kernels.heads``; softmax's is ``kernels.softmax``)."""
import numpy as np

from .checks import as_input, as_output, check_nonnegative_targets, check_unit_targets, float_dtype
from .heads import LOGISTIC, POISSON, SQUARED, head_loss


def _head(head, name, scores, t, dscores):
    dtype = float_dtype("scores", scores)
    scores = as_input("scores", scores, 2, dtype)
    t = as_input("t", t, 2, dtype, scores.shape)
    if head == LOGISTIC:
        check_unit_targets("t", t, f"the {name} loss")
    if head == POISSON:
        check_nonnegative_targets("t", t, f"the {name} loss")
    dscores = as_output("dscores", dscores, scores.shape, dtype, (scores, t))
    no_weights = np.empty(0)
    loss = head_loss(head, scores, t, dscores, np.empty(scores.shape[0]), no_weights)
    return float(loss), dscores


def logistic_loss(scores, t, dscores=None):
    """Binary cross-entropy of ``sigmoid(scores)`` against ``t`` and its gradient.

    ``loss = mean_i sum_k softplus(s_ik) - t_ik s_ik`` (finite for any finite
    scores) and ``dscores = (sigmoid(scores) - t) / N``.

    Parameters
    ----------
    scores : (N, C) float32 or float64 logits.
    t : (N, C) targets in [0, 1] of scores' dtype (one column per label).
    dscores : optional (N, C) C-contiguous buffer of scores' dtype.

    Returns
    -------
    (loss, dscores) : float, (N, C) array.
    """
    return _head(LOGISTIC, "logistic", scores, t, dscores)


def squared_loss(scores, t, dscores=None):
    """``0.5 * sum((scores - t)**2) / N`` and its gradient ``(scores - t) / N``;
    scores and t (N, C) of one float dtype, dscores as :func:`logistic_loss`'s."""
    return _head(SQUARED, "squared-error", scores, t, dscores)


def poisson_loss(scores, t, dscores=None):
    """Half the Poisson deviance of ``exp(scores)`` against counts ``t`` and
    its gradient: ``loss = mean_i sum_k t log(t / exp(s)) - t + exp(s)`` and
    ``dscores = (exp(scores) - t) / N``; t >= 0, shapes and dtypes as
    :func:`logistic_loss`'s."""
    return _head(POISSON, "Poisson", scores, t, dscores)
