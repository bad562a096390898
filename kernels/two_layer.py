"""The whole two-layer step, affine -> act -> affine -> head loss, fused.

One compiled call computes the loss and every gradient:

    h  = act(X W1 + b1)            (N, H)   bias and activation on the GEMM result
    s  = h W2 + b2                 (N, C)
    L  = mean_i(logsumexp(s_i) - s_i[y_i]) + 0.5 c (|W1|^2 + |W2|^2)   (row-weighted with w)
    dS = (softmax(s) - onehot(y)) / N       written over s, same pass as L
         (or another head's loss and dS, ``kernels.heads``)
    dW2 = h^T dS + c W2,  db2 = sum_rows dS
    dH  = (dS W2^T) * act'(h),  db1 = sum_rows dH      mask and bias sum in one pass
    dW1 = X^T dH + c W1,  dX = dH W1^T (optional)

with ``c = 2 reg`` (``l2='full'``, loss ``reg |W|^2``) or ``c = reg``
(``l2='half'``, loss ``0.5 reg |W|^2``).
"""
from typing import NamedTuple

import numpy as np
from numba import njit

from . import config
from .activations import IDENTITY, activation_code
from .checks import as_bias, as_input, as_labels, float_dtype, l2_factor
from .config import JIT
from .epilogues import bias_act, grad_colsum, l2_fold
from .heads import SOFTMAX, head_loss
from .matmul import matmul
from .sparse import input_grad, input_product
from .workspace import TwoLayerWorkspace, checked_buffers


class TwoLayer(NamedTuple):
    """What one fused two-layer call reads and writes, by name.

    W1 (D, H), b1 (H,), W2 (H, C), b2 (C,): the parameters; dW1, db1, dW2,
    db2 their gradients (same shapes). Buffers of at least N rows: h, dh
    (N, H) the hidden activations and their gradient, scores (N, C) the
    scores, then dscores; dX (N, D) the input gradient (0 rows when none is
    wanted); row_loss (N,) and col_acc (max(H, C),) float64 scratch.
    """
    W1: np.ndarray
    b1: np.ndarray
    W2: np.ndarray
    b2: np.ndarray
    dW1: np.ndarray
    db1: np.ndarray
    dW2: np.ndarray
    db2: np.ndarray
    h: np.ndarray
    dh: np.ndarray
    scores: np.ndarray
    dX: np.ndarray
    row_loss: np.ndarray
    col_acc: np.ndarray


@njit(**JIT)
def two_layer_step(W1, b1, W2, b2, dW1, db1, dW2, db2, h, dh, scores, dX, row_loss, col_acc,
                   w, X, y, c, code, head, need_dX, loop_max):
    """The loss of (X, y) and every gradient (see the module), on the fields
    of a :class:`TwoLayer` (W1 ... col_acc, in its order and with its
    meanings). The training loop unpacks them once a chunk and calls this
    every iteration, because each read of a field of a structure of arrays
    costs Numba a reference-count pair per iteration (the toy step took 2.9
    us through the structure, 2.4 this way); :func:`two_layer_loss` calls it
    from Python with the same types, so one compile serves both.
    w: the rows' weights, or empty for none; X (N, D), y (N,)
    or (N, C): the batch (X dense or ``sparse.CSR``); c: the L2 factor; code: the hidden activation;
    head: the output head; need_dX: also dX; loop_max: the ``(X W, X^T dZ,
    dZ W^T)`` limits of ``config.loop_max``, at or below which products run
    as loops."""
    N = X.shape[0]
    h = h[:N]
    dh = dh[:N]
    s = scores[:N]
    input_product(X, W1, h, loop_max)
    bias_act(h, b1, code)
    matmul(h, W2, s, loop_max)
    # The output layer's code as a run-time integer: a literal would compile
    # bias_act and grad_colsum again for it (LLVM hoists the code's branch).
    out = np.intp(IDENTITY)
    bias_act(s, b2, out)
    loss = head_loss(head, s, y, s, row_loss, w)
    ds = s
    matmul(h.T, ds, dW2, loop_max)
    grad_colsum(ds, ds, out, ds, db2, col_acc)
    matmul(ds, W2.T, dh, loop_max)
    grad_colsum(dh, h, code, dh, db1, col_acc)
    input_grad(X, dh, dW1, loop_max)
    if need_dX:
        matmul(dh, W1.T, dX[:N], loop_max)
    if c != 0:
        loss += 0.5 * c * (l2_fold(dW1, W1, c) + l2_fold(dW2, W2, c))
    return loss


def two_layer_loss(W1, b1, W2, b2, X, y, reg=0.0, workspace=None, *,
                   activation="relu", l2="full", need_dX=False):
    """Loss and gradients of a two-layer net in one fused call.

    Parameters
    ----------
    W1 : (D, H), b1 : (H,) or (1, H), W2 : (H, C), b2 : (C,) or (1, C):
        float32 or float64; W1's dtype decides and the others must share it.
        db1 and db2 come back in the shapes of b1 and b2.
    X : (N, D) inputs. y : (N,) integer labels in [0, C), or (N, C) one-hot rows.
    reg : L2 strength; biases are never regularized.
    workspace : optional :class:`TwoLayerWorkspace`; with it nothing is
        allocated and the returned gradients are its buffers.
    activation : hidden activation, 'relu' (default), 'tanh', 'sigmoid' or
        'identity'.
    l2 : 'full' for ``reg * sum(W**2)`` (gradient ``2 reg W``) or 'half' for
        ``0.5 * reg * sum(W**2)`` (gradient ``reg W``).
    need_dX : also return dX (N, D), the gradient with respect to X.

    Returns
    -------
    (loss, dW1, db1, dW2, db2), and dX last when ``need_dX``.
    """
    code = activation_code(activation)
    c = l2_factor(reg, l2)
    dtype = float_dtype("W1", W1)
    W1 = as_input("W1", W1, 2, dtype)
    D, H = W1.shape
    b1, b1_shape = as_bias("b1", b1, dtype, H)   # (H,) or (1, H)
    W2 = as_input("W2", W2, 2, dtype, (H, None))
    C = W2.shape[1]
    b2, b2_shape = as_bias("b2", b2, dtype, C)
    X = as_input("X", X, 2, dtype, (None, D))
    N = X.shape[0]
    y = as_labels("y", y, N, C)
    need_dX = bool(need_dX)
    if workspace is None:
        bufs = TwoLayerWorkspace(N, D, H, C, dtype, need_dX).buffers()
    else:
        # Every buffer checked, whatever was assigned to it since it was made.
        bufs = checked_buffers(workspace, N, D, H, C, dtype, need_dX,
                               dict(W1=W1, b1=b1, W2=W2, b2=b2, X=X, y=y))
    v = TwoLayer(W1, b1, W2, b2, **bufs)
    loss = two_layer_step(*v, v.row_loss[:0], X, y, c, code, SOFTMAX, need_dX,
                          config.loop_max(dtype))
    dW1, db1, dW2, db2 = v.dW1, v.db1, v.dW2, v.db2
    # Bias gradients in the caller's bias shapes (the workspace's own arrays for (H,) biases).
    db1 = db1 if len(b1_shape) == 1 else db1.reshape(b1_shape)
    db2 = db2 if len(b2_shape) == 1 else db2.reshape(b2_shape)
    grads = (float(loss), dW1, db1, dW2, db2)
    return grads + (v.dX[:N],) if need_dX else grads
