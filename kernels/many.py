"""Many two-layer nets trained at once: ``prange`` over models, each model's
iterations running serially in its thread (the loop of ``kernels.loop``,
with BLAS single-threaded around the call).

Each model owns its structures (its own shapes, optimizer, buffers and
history); the data are shared and only read. A model's numbers do not depend
on which thread runs it, nor on how many there are: it computes exactly what
``train_two_layer`` (or, for a model that splits, ``train_two_layer_split``)
computes for it alone.
"""
from typing import NamedTuple

import numpy as np
from numba import njit, prange

from .config import JIT
from .loop import train_two_layer, train_two_layer_split


class Model(NamedTuple):
    """One model's structures (see ``kernels.loop``), as one list item: a
    typed list compiles its helpers once per item type, so one list of
    these costs one compilation where seven lists cost seven."""
    net: tuple
    objective: tuple
    optimizer: tuple
    progress: tuple
    schedule: tuple
    buffers: tuple
    history: tuple


@njit(parallel=True, **JIT)
def train_models(models, data, idx, lens, it0, status):
    """Iterations ``it0 .. it0 + idx.shape[1] - 1`` of every model whose
    ``status`` is -1; ``idx`` (K, k, B) are model m's minibatch rows in
    ``idx[m]``. ``status[m]`` becomes the iteration of a non-finite loss."""
    for j in prange(len(models)):
        m = np.int64(j)  # prange's index is unsigned; the list takes a signed one
        if status[m] < 0:
            status[m] = _train_model(models[m], data, idx[m], lens, it0)


@njit(**JIT)
def train_models_serial(models, data, idx, lens, it0, status):
    """:func:`train_models` one model after the other (where a parallel call
    is not safe, or one thread is asked for)."""
    for m in range(len(models)):
        if status[m] < 0:
            status[m] = _train_model(models[m], data, idx[m], lens, it0)


@njit(**JIT)
def _train_model(md, data, idx, lens, it0):
    """One model's iterations, split (its blocks one after the other: the
    threads run models here) or not, as the model would train alone."""
    if md.buffers.split:
        return train_two_layer_split(md.net, md.objective, md.optimizer, md.progress,
                                     md.schedule, data, idx, lens, it0, md.buffers, md.history)
    return train_two_layer(md.net, md.objective, md.optimizer, md.progress, md.schedule, data,
                           idx, lens, it0, md.buffers, md.history)
