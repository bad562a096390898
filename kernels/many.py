"""Many two-layer nets trained at once: ``prange`` over trainees, each
model's iterations running serially in its thread (the loop of
``kernels.loop``, with BLAS single-threaded around the call).

Each trainee owns its structures (its own shapes, optimizer, buffers and
history); the data are shared and only read. A model's numbers do not depend
on which thread runs it, nor on how many there are: it computes exactly what
``loop.train`` computes for it alone. The trainees come as one typed list of
``loop.Trainee``: a typed list compiles its helpers once per item type, so
one list of these costs one compilation where a list per structure cost seven.
"""
import numpy as np
from numba import njit, prange

from .config import JIT
from .loop import train


@njit(parallel=True, **JIT)
def train_models(trainees, data, idx, lens, it0, status):
    """Iterations ``it0 .. it0 + idx.shape[1] - 1`` of every trainee whose
    ``status`` is -1; ``idx`` (K, k, B): trainee m's minibatch rows in
    ``idx[m]``. ``status[m]`` becomes the iteration of a non-finite loss."""
    for j in prange(len(trainees)):
        m = np.int64(j)  # prange's index is unsigned; the list takes a signed one
        if status[m] < 0:
            status[m] = _train_one(trainees[m], data, idx[m], lens, it0)


@njit(**JIT)
def train_models_serial(trainees, data, idx, lens, it0, status):
    """:func:`train_models` one trainee after the other (where a parallel
    call is not safe, or one thread is asked for)."""
    for m in range(len(trainees)):
        if status[m] < 0:
            status[m] = _train_one(trainees[m], data, idx[m], lens, it0)


@njit(**JIT)
def _train_one(tr, data, idx, lens, it0):
    """One trainee's iterations, split (its blocks one after the other: the
    threads run models here) or not, as the model would train alone."""
    if tr.buffers.split:  # the models here are two-layer nets: split or fused
        return train(tr, data, idx, lens, it0, True, None, None)
    return train(tr, data, idx, lens, it0, None, True, None)
