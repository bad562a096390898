"""Matrix product for the kernels: plain loops when tiny, BLAS otherwise."""
import numpy as np
from numba import njit

from .config import JIT


@njit(**JIT)
def matmul(A, B, out, loop_max):
    """``out[:] = A @ B`` for A (m, k), B (k, n), out (m, n) C-contiguous.

    A and B may be transposed views. Products with ``m * n * k <= loop_max``
    run as loops: at the toy sizes a BLAS call (``np.dot``, which goes to
    SciPy's OpenBLAS) costs more than the arithmetic.
    """
    m, k = A.shape
    n = B.shape[1]
    if m * n * k > loop_max:
        np.dot(A, B, out)
        return
    for i in range(m):
        for j in range(n):
            out[i, j] = 0
        for p in range(k):
            a = A[i, p]
            for j in range(n):
                out[i, j] += a * B[p, j]
