"""Many two-layer nets trained at once: ``prange`` over models, each model's
iterations running serially in its thread (the loop of ``kernels.loop``,
with BLAS single-threaded around the call).

Each model owns its structures (its own shapes, optimizer, buffers and
history); the data are shared and only read. A model's numbers do not depend
on which thread runs it, nor on how many there are: it computes exactly what
``train_two_layer`` computes for it alone.
"""
import numpy as np
from numba import njit, prange

from .config import JIT
from .loop import train_two_layer


@njit(parallel=True, **JIT)
def train_models(nets, objectives, opts, progresses, schedules, data, idx, lens, it0, bufs,
                 hists, status):
    """Iterations ``it0 .. it0 + idx.shape[1] - 1`` of every model whose
    ``status`` is -1; ``idx`` (K, k, B) are model m's minibatch rows in
    ``idx[m]``. ``status[m]`` becomes the iteration of a non-finite loss."""
    for j in prange(len(nets)):
        m = np.int64(j)  # prange's index is unsigned; the lists take a signed one
        if status[m] < 0:
            status[m] = train_two_layer(nets[m], objectives[m], opts[m], progresses[m],
                                        schedules[m], data, idx[m], lens, it0, bufs[m], hists[m])


@njit(**JIT)
def train_models_serial(nets, objectives, opts, progresses, schedules, data, idx, lens, it0,
                        bufs, hists, status):
    """:func:`train_models` one model after the other (where a parallel call
    is not safe, or one thread is asked for)."""
    for m in range(len(nets)):
        if status[m] < 0:
            status[m] = train_two_layer(nets[m], objectives[m], opts[m], progresses[m],
                                        schedules[m], data, idx[m], lens, it0, bufs[m], hists[m])
