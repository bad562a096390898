"""The whole two-layer step, affine -> act -> affine -> softmax loss, fused.

One compiled call computes the loss and every gradient:

    h  = act(X W1 + b1)            (N, H)   bias and activation on the GEMM result
    s  = h W2 + b2                 (N, C)
    L  = mean_i(logsumexp(s_i) - s_i[y_i]) + 0.5 c (|W1|^2 + |W2|^2)
    dS = (softmax(s) - onehot(y)) / N       written over s, same pass as L
    dW2 = h^T dS + c W2,  db2 = sum_rows dS
    dH  = (dS W2^T) * act'(h),  db1 = sum_rows dH      mask and bias sum in one pass
    dW1 = X^T dH + c W1,  dX = dH W1^T (optional)

with ``c = 2 reg`` (``l2='full'``, loss ``reg |W|^2``) or ``c = reg``
(``l2='half'``, loss ``0.5 reg |W|^2``).
"""
import numpy as np
from numba import literal_unroll, njit

from . import config
from .activations import IDENTITY, activation_code
from .checks import (as_bias, as_input, as_labels, check_bool, check_float_dtype, check_number,
                     float_dtype, l2_scale)
from .config import JIT
from .epilogues import bias_act, grad_colsum, l2_fold, softmax_xent
from .matmul import matmul


class TwoLayerWorkspace:
    """Buffers for :func:`two_layer_loss`, made once and reused every call.

    Parameters
    ----------
    batch_size : the largest N it serves; smaller batches use its first rows.
    input_size, hidden_size, num_classes : D, H, C.
    dtype : float32 or float64, the parameters' dtype.
    need_dX : also hold dX (N, D), the gradient with respect to the input.

    The gradients returned by ``two_layer_loss(..., workspace=ws)`` are the
    arrays ``ws.dW1, ws.db1, ws.dW2, ws.db2`` (and ``ws.dX[:N]``): the next
    call overwrites them.
    """

    def __init__(self, batch_size, input_size, hidden_size, num_classes,
                 dtype=np.float64, need_dX=False):
        dtype = check_float_dtype("dtype", dtype)
        N, D, H, C = (check_number(name, value, 1, integer=True) for name, value in
                      (("batch_size", batch_size), ("input_size", input_size),
                       ("hidden_size", hidden_size), ("num_classes", num_classes)))
        need_dX = check_bool("need_dX", need_dX)
        self.dtype = dtype
        self.shape = (N, D, H, C)
        self.h = np.empty((N, H), dtype)
        self.dh = np.empty((N, H), dtype)
        self.scores = np.empty((N, C), dtype)
        self.dW1 = np.empty((D, H), dtype)
        self.db1 = np.empty(H, dtype)
        self.dW2 = np.empty((H, C), dtype)
        self.db2 = np.empty(C, dtype)
        self.dX = np.empty((N if need_dX else 0, D), dtype)
        self.row_loss = np.empty(N, np.float64)
        self.col_acc = np.empty(max(H, C), np.float64)

    @property
    def need_dX(self):
        return self.dX.shape[0] > 0

    #: The buffers in :func:`_two_layer_loss`'s order.
    BUFFERS = ("h", "dh", "scores", "dW1", "db1", "dW2", "db2", "dX", "row_loss", "col_acc")

    def buffers(self, N, D, H, C, dtype, need_dX, inputs=()):
        """The buffers in :func:`_two_layer_loss`'s order, each checked against
        what a batch of N rows touches, whatever was assigned to them since:
        a NumPy array, C-contiguous and writeable, of the right dtype, at
        least N rows (h, dh, scores, dX, row_loss, col_acc) and exactly the
        other dimensions; no two overlapping, nor any of them overlapping one
        of ``inputs``, ``(name, array)`` pairs of C-contiguous arrays.
        """
        bufs = (self.h, self.dh, self.scores, self.dW1, self.db1, self.dW2, self.db2, self.dX,
                self.row_loss, self.col_acc)
        # (rows, trailing shape, dtype); rows is a minimum for the first three
        # and the last three, exact for the gradients.
        need = ((N, (H,), dtype), (N, (H,), dtype), (N, (C,), dtype), (D, (H,), dtype),
                (H, (), dtype), (H, (C,), dtype), (C, (), dtype), (N if need_dX else 0, (D,), dtype),
                (N, (), _F64), (max(H, C), (), _F64))
        for i, a in enumerate(bufs):
            rows, tail, dt = need[i]
            # One fast test per buffer; the slow path finds what is wrong.
            if type(a) is not np.ndarray or a.dtype != dt:
                _explain(self.BUFFERS[i], a, rows, tail, dt, 3 <= i <= 6)
            shape, flags = a.shape, a.flags
            if not (flags.c_contiguous and flags.writeable and shape[1:] == tail
                    and (shape[0] == rows if 3 <= i <= 6 else shape[0] >= rows)):
                _explain(self.BUFFERS[i], a, rows, tail, dt, 3 <= i <= 6)
        arrays = tuple(a for _, a in inputs) + bufs
        k = _first_overlap(arrays, len(inputs))
        if k >= 0:
            names = [name for name, _ in inputs] + [f"workspace.{b}" for b in self.BUFFERS]
            first, second = names[k // len(arrays)], names[k % len(arrays)]
            raise ValueError(f"{first} overlaps {second}: the kernel writes there while "
                             f"reading it; pass separate arrays")
        return bufs

    def __repr__(self):
        N, D, H, C = self.shape
        return (f"TwoLayerWorkspace(batch_size={N}, input_size={D}, hidden_size={H}, "
                f"num_classes={C}, dtype={self.dtype.name}, need_dX={self.need_dX})")


_F64 = np.dtype(np.float64)


def _explain(name, a, rows, tail, dt, exact):
    """Raise the error that says how workspace buffer ``name`` is unfit: it
    must be a writeable C-contiguous array of dtype ``dt`` and shape
    ``(rows,) + tail`` (``rows`` a minimum unless ``exact``)."""
    label = f"workspace.{name}"
    if type(a) is not np.ndarray:
        raise TypeError(f"{label} must be a NumPy array, got {type(a).__name__}")
    if a.dtype != dt:
        raise TypeError(f"{label} has dtype {a.dtype}; expected {dt}")
    if a.shape[1:] != tail or (a.shape[0] != rows if exact else a.shape[:1] < (rows,)):
        dims = f"{'' if exact else '>= '}{rows}" + "".join(f", {d}" for d in tail)
        raise ValueError(f"{label} has shape {a.shape}; expected ({dims}{',' if not tail else ''})")
    raise ValueError(f"{label} must be a writeable C-contiguous array")


@njit(**JIT)
def _first_overlap(arrays, n_read):
    """``i * len(arrays) + j`` for the first pair ``i < j`` of non-empty
    C-contiguous arrays whose memory overlaps, at least one of them past the
    first ``n_read`` (those are only read, and may share memory), or -1."""
    n = len(arrays)
    spans = np.empty((n, 2), np.int64)
    i = 0
    for a in literal_unroll(arrays):
        spans[i, 0] = a.ctypes.data
        spans[i, 1] = a.ctypes.data + a.size * a.itemsize
        i += 1
    for i in range(n):
        for j in range(max(i + 1, n_read), n):
            if spans[i, 1] > spans[i, 0] and spans[j, 1] > spans[j, 0] \
                    and spans[i, 0] < spans[j, 1] and spans[j, 0] < spans[i, 1]:
                return i * n + j
    return -1


@njit(**JIT)
def _two_layer_loss(W1, b1, W2, b2, X, y, c, code, need_dX, loop_max,
                    h, dh, s, dW1, db1, dW2, db2, dX, row_loss, col_acc):
    N = X.shape[0]
    h = h[:N]
    dh = dh[:N]
    s = s[:N]
    matmul(X, W1, h, loop_max)
    bias_act(h, b1, code)
    matmul(h, W2, s, loop_max)
    bias_act(s, b2, IDENTITY)
    loss = softmax_xent(s, y, s, row_loss)
    ds = s
    matmul(h.T, ds, dW2, loop_max)
    grad_colsum(ds, ds, IDENTITY, ds, db2, col_acc)
    matmul(ds, W2.T, dh, loop_max)
    grad_colsum(dh, h, code, dh, db1, col_acc)
    matmul(X.T, dh, dW1, loop_max)
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
    c = l2_scale(reg, l2)
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
        ws = TwoLayerWorkspace(N, D, H, C, dtype, need_dX)
        bufs = (ws.h, ws.dh, ws.scores, ws.dW1, ws.db1, ws.dW2, ws.db2, ws.dX, ws.row_loss,
                ws.col_acc)
    else:
        ws = workspace
        if not isinstance(ws, TwoLayerWorkspace):
            raise TypeError(f"workspace must be a TwoLayerWorkspace, got {type(ws).__name__}")
        wN, wD, wH, wC = ws.shape
        if ws.dtype != dtype or (wD, wH, wC) != (D, H, C) or wN < N:
            raise ValueError(
                f"workspace is {ws!r}; these arrays need batch_size >= {N}, "
                f"input_size={D}, hidden_size={H}, num_classes={C}, dtype={dtype.name}")
        if need_dX and not ws.need_dX:
            raise ValueError("need_dX=True but the workspace was made with need_dX=False")
        # The recorded shape is not enough: a buffer may have been replaced.
        bufs = ws.buffers(N, D, H, C, dtype, need_dX, (("W1", W1), ("b1", b1), ("W2", W2),
                                                       ("b2", b2), ("X", X), ("y", y)))
    loss = _two_layer_loss(W1, b1, W2, b2, X, y, c, code, need_dX, config.GEMM_LOOP_MAX, *bufs)
    dW1, db1, dW2, db2 = bufs[3:7]
    # Bias gradients in the caller's bias shapes (the workspace's own arrays for (H,) biases).
    db1 = db1 if len(b1_shape) == 1 else db1.reshape(b1_shape)
    db2 = db2 if len(b2_shape) == 1 else db2.reshape(b2_shape)
    grads = (float(loss), dW1, db1, dW2, db2)
    return grads + (bufs[7][:N],) if need_dX else grads
