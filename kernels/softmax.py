"""Softmax cross-entropy loss and its gradient in one pass per row."""
import numpy as np

from .checks import as_input, as_labels, as_output, float_dtype
from .epilogues import softmax_xent


def softmax_loss(scores, y, dscores=None):
    """Mean softmax cross-entropy and its gradient.

    ``loss = mean_i(logsumexp(s_i) - s_i[y_i])`` and
    ``dscores = (softmax(scores) - onehot(y)) / N``, max-shifted so that any
    finite logits give a finite loss.

    Parameters
    ----------
    scores : (N, C) float32 or float64 array of logits.
    y : (N,) integer labels in [0, C), or (N, C) one-hot rows.
    dscores : optional (N, C) C-contiguous buffer of scores' dtype.

    Returns
    -------
    (loss, dscores) : float, (N, C) array.
    """
    dtype = float_dtype("scores", scores)
    scores = as_input("scores", scores, 2, dtype)
    N, C = scores.shape
    y = as_labels("y", y, N, C)
    dscores = as_output("dscores", dscores, (N, C), dtype, (scores,))
    row_loss = np.empty(N, np.float64)
    loss = softmax_xent(scores, y, dscores, row_loss)
    return float(loss), dscores
