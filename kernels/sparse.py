"""Sparse inputs: rows in compressed-row form, and the first layer's products
on them, never densified.

A :class:`CSR` holds the rows of an (n, D) matrix as scipy.sparse's
``csr_matrix`` does. The kernels take the net's input ``X`` through the
functions below, which Numba specialises on its type: a dense (n, D) array
goes to ``matmul`` and plain copies as before, a :class:`CSR` to loops over
its stored entries. So one training loop, one forward and one backward pass
serve both, and a dense caller compiles what it compiled before.

For CSR rows the products visit the stored entries in order, as SciPy's
``csr @ dense`` and ``csr.T @ dense`` do, so a row's sums round as
scikit-learn's do on the same matrix:
  out[i] = sum_{k in row i} data[k] W[indices[k]]          (X @ W)
  dW[indices[k]] += data[k] d[i]  for the rows i in order   (X^T d)
"""
from typing import NamedTuple

import numpy as np
from numba import njit, types
from numba.extending import overload

from .config import JIT
from .epilogues import add_into, copy_target, gather
from .matmul import matmul


class CSR(NamedTuple):
    """Rows i of an (n, D) matrix: entries ``data[indptr[i]:indptr[i+1]]``
    in columns ``indices[...]``. data (>= nnz,) the net's dtype; indices
    (>= nnz,) int32 in [0, D); indptr (n + 1,) int64, non-decreasing; shape
    ``(n, D)``. A block of rows shares data and indices (its indptr is a
    slice, not starting at 0)."""
    data: np.ndarray
    indices: np.ndarray
    indptr: np.ndarray
    shape: tuple


def _is_csr(X):
    return isinstance(X, types.BaseNamedTuple) and X.instance_class is CSR


def batch_buffer(X, rows):
    """A :class:`CSR` to gather up to ``rows`` rows of CSR ``X`` into: room
    for the ``rows`` fullest rows' entries, so no draw can overrun it."""
    counts = np.diff(X.indptr)
    cap = int(np.sort(counts)[-rows:].sum()) if rows else 0
    return CSR(np.empty(cap, X.data.dtype), np.empty(cap, np.int32),
               np.zeros(rows + 1, np.int64), (int(rows), int(X.shape[1])))


# -- the kernels on CSR rows ---------------------------------------------------------


@njit(**JIT)
def csr_product(X, W, out):
    """``out[:] = X @ W``: X CSR (n, D), W (D, M), out (n, M)."""
    for i in range(X.shape[0]):
        for m in range(out.shape[1]):
            out[i, m] = 0
        for k in range(X.indptr[i], X.indptr[i + 1]):
            v = X.data[k]
            j = X.indices[k]
            for m in range(out.shape[1]):
                out[i, m] += v * W[j, m]


@njit(**JIT)
def csr_transpose_product(X, d, dW):
    """``dW[:] = X^T @ d``: X CSR (n, D), d (n, M), dW (D, M)."""
    dW[:] = 0
    for i in range(X.shape[0]):
        for k in range(X.indptr[i], X.indptr[i + 1]):
            v = X.data[k]
            j = X.indices[k]
            for m in range(dW.shape[1]):
                dW[j, m] += v * d[i, m]


@njit(**JIT)
def csr_add_into(z, X):
    """In place ``z += X``: z (n, D) dense, X CSR (n, D)."""
    for i in range(X.shape[0]):
        for k in range(X.indptr[i], X.indptr[i + 1]):
            z[i, X.indices[k]] += X.data[k]


@njit(**JIT)
def csr_gather(X, y, idx, n, Xb, yb):
    """Rows ``idx[:n]`` of CSR X and of y into the CSR batch Xb (made by
    :func:`batch_buffer`) and yb."""
    pos = 0
    for i in range(n):
        r = idx[i]
        for k in range(X.indptr[r], X.indptr[r + 1]):
            Xb.data[pos] = X.data[k]
            Xb.indices[pos] = X.indices[k]
            pos += 1
        Xb.indptr[i + 1] = pos
        copy_target(y, r, yb, i)


# -- one name per operation, for dense and CSR inputs alike -------------------------
# Each is a Python function (what runs under NUMBA_DISABLE_JIT) and an
# overload that Numba resolves on X's type at compile time.


def input_product(X, W, out, loop_max):
    """``out[:] = X @ W`` for the net's input X (n, D), dense or CSR."""
    if isinstance(X, CSR):
        csr_product(X, W, out)
    else:
        matmul(X, W, out, loop_max)


def input_grad(X, d, dW, loop_max):
    """``dW[:] = X^T @ d`` for the net's input X (n, D), dense or CSR."""
    if isinstance(X, CSR):
        csr_transpose_product(X, d, dW)
    else:
        matmul(X.T, d, dW, loop_max)


def add_input(z, X):
    """``z += X`` (the identity skip from the input), X dense or CSR."""
    if isinstance(X, CSR):
        csr_add_into(z, X)
    else:
        add_into(z, X)


def take_rows(X, start, stop):
    """Rows ``start .. stop - 1`` of X, dense or CSR, without copying."""
    if isinstance(X, CSR):
        return CSR(X.data, X.indices, X.indptr[start:stop + 1], (stop - start, X.shape[1]))
    return X[start:stop]


def gather_rows(X, y, idx, n, Xb, yb):
    """The minibatch: rows ``idx[:n]`` of X (dense or CSR) and y into Xb
    (of X's kind) and yb."""
    if isinstance(X, CSR):
        csr_gather(X, y, idx, n, Xb, yb)
    else:
        gather(X, y, idx, n, Xb, yb)


@overload(input_product, jit_options=JIT)
def _input_product(X, W, out, loop_max):
    if _is_csr(X):
        return lambda X, W, out, loop_max: csr_product(X, W, out)
    return lambda X, W, out, loop_max: matmul(X, W, out, loop_max)


@overload(input_grad, jit_options=JIT)
def _input_grad(X, d, dW, loop_max):
    if _is_csr(X):
        return lambda X, d, dW, loop_max: csr_transpose_product(X, d, dW)
    return lambda X, d, dW, loop_max: matmul(X.T, d, dW, loop_max)


@overload(add_input, jit_options=JIT)
def _add_input(z, X):
    if _is_csr(X):
        return lambda z, X: csr_add_into(z, X)
    return lambda z, X: add_into(z, X)


@overload(take_rows, jit_options=JIT)
def _take_rows(X, start, stop):
    if _is_csr(X):
        return lambda X, start, stop: CSR(X.data, X.indices, X.indptr[start:stop + 1],
                                          (stop - start, X.shape[1]))
    return lambda X, start, stop: X[start:stop]


@overload(gather_rows, jit_options=JIT)
def _gather_rows(X, y, idx, n, Xb, yb):
    if _is_csr(X):
        return lambda X, y, idx, n, Xb, yb: csr_gather(X, y, idx, n, Xb, yb)
    return lambda X, y, idx, n, Xb, yb: gather(X, y, idx, n, Xb, yb)
