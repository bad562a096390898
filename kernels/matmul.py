"""Matrix product for the kernels: plain loops when tiny, BLAS otherwise."""
import numpy as np
from numba import njit

from .config import JIT


@njit(**JIT)
def matmul(A, B, out, loop_max):
    """``out[:] = A @ B`` for A (m, k), B (k, n), out (m, n) C-contiguous.

    A and B may be transposed views. Products with ``m * n * k <= loop_max``
    run as loops: at the toy sizes a BLAS call (``np.dot``, which goes to
    SciPy's OpenBLAS) costs more than the arithmetic. Below 8 output columns
    each entry is one dot product (the row update's inner loop would be too
    short: 54 vs 182 ns for 5x10 @ 10x3); otherwise rows are updated.
    """
    m, k = A.shape
    n = B.shape[1]
    if m * n * k > loop_max:
        np.dot(A, B, out)
        return
    if n < 8:
        for i in range(m):
            for j in range(n):
                acc = A[i, 0] * B[0, j]
                for p in range(1, k):
                    acc += A[i, p] * B[p, j]
                out[i, j] = acc
        return
    for i in range(m):
        for j in range(n):
            out[i, j] = 0
        for p in range(k):
            a = A[i, p]
            for j in range(n):
                out[i, j] += a * B[p, j]
