"""The reusable buffers of :func:`two_layer_loss` and their checks.

A workspace is made once; a caller may replace any of its buffers since, so
every call checks each buffer against what a batch of N rows touches before
the kernel runs (one fast test a buffer; the slow path says what is wrong),
and refuses buffers that overlap each other or an input.
"""
import numpy as np
from numba import literal_unroll, njit

from .checks import check_bool, check_float_dtype, check_number
from .config import JIT

_F64 = np.dtype(np.float64)

#: The buffers, in the order they are checked (the first unfit one is named).
BUFFERS = ("h", "dh", "scores", "dW1", "db1", "dW2", "db2", "dX", "row_loss", "col_acc")
#: The gradients, whose shapes are exact; the others need at least N rows.
_EXACT = frozenset({"dW1", "db1", "dW2", "db2"})


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

    def buffers(self):
        """The buffers by name, as they are (unchecked)."""
        return {name: getattr(self, name) for name in BUFFERS}

    def __repr__(self):
        N, D, H, C = self.shape
        return (f"TwoLayerWorkspace(batch_size={N}, input_size={D}, hidden_size={H}, "
                f"num_classes={C}, dtype={self.dtype.name}, need_dX={self.need_dX})")


def checked_buffers(ws, N, D, H, C, dtype, need_dX, inputs):
    """The buffers of workspace ``ws`` by name, each checked against what a
    batch of N rows touches, whatever was assigned to it since: a NumPy
    array, C-contiguous and writeable, of the right dtype, at least N rows
    (h, dh, scores, dX, row_loss) or exactly the gradient's shape; no two
    overlapping, nor any of them overlapping an array of ``inputs`` (a dict
    of C-contiguous arrays by name, which may share memory among themselves).
    """
    if not isinstance(ws, TwoLayerWorkspace):
        raise TypeError(f"workspace must be a TwoLayerWorkspace, got {type(ws).__name__}")
    wN, wD, wH, wC = ws.shape
    if ws.dtype != dtype or (wD, wH, wC) != (D, H, C) or wN < N:
        raise ValueError(
            f"workspace is {ws!r}; these arrays need batch_size >= {N}, "
            f"input_size={D}, hidden_size={H}, num_classes={C}, dtype={dtype.name}")
    if need_dX and not ws.need_dX:
        raise ValueError("need_dX=True but the workspace was made with need_dX=False")
    # (rows, trailing shape, dtype); rows exact for the gradients, a minimum otherwise.
    need = dict(dW1=(D, (H,), dtype), db1=(H, (), dtype), dW2=(H, (C,), dtype),
                db2=(C, (), dtype), h=(N, (H,), dtype), dh=(N, (H,), dtype),
                scores=(N, (C,), dtype), dX=(N if need_dX else 0, (D,), dtype),
                row_loss=(N, (), _F64), col_acc=(max(H, C), (), _F64))
    bufs = ws.buffers()
    for name, a in bufs.items():
        rows, tail, dt = need[name]
        exact = name in _EXACT
        if type(a) is not np.ndarray or a.dtype != dt:
            _explain(name, a, rows, tail, dt, exact)
        shape, flags = a.shape, a.flags
        if not (flags.c_contiguous and flags.writeable and shape[1:] == tail
                and (shape[0] == rows if exact else shape[0] >= rows)):
            _explain(name, a, rows, tail, dt, exact)
    arrays = tuple(inputs.values()) + tuple(bufs.values())
    k = _first_overlap(arrays, len(inputs))
    if k >= 0:
        names = list(inputs) + [f"workspace.{b}" for b in bufs]
        first, second = names[k // len(arrays)], names[k % len(arrays)]
        raise ValueError(f"{first} overlaps {second}: the kernel writes there while "
                         f"reading it; pass separate arrays")
    return bufs


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
