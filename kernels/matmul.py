"""Matrix product for the kernels: plain loops when tiny, BLAS otherwise."""
import numpy as np
from numba import njit

from .blas import NO_TRANS, ROW_MAJOR, TRANS, dgemm, sgemm
from .config import DOT_COLUMNS, JIT


@njit(**JIT)
def _blas_layout(A):
    """``(transpose flag, leading dimension)`` of A (m, n) for row-major CBLAS:
    NO_TRANS when each row is contiguous (rows may be spaced further apart,
    as in a block of columns of a C array), TRANS when each column is (a
    transposed C array, or a block of its columns), ``(0, 0)`` for any other
    strides."""
    m, n = A.shape
    s0, s1 = A.strides
    item = A.itemsize
    if (n == 1 or s1 == item) and (m == 1 or (s0 >= n * item and s0 % item == 0)):
        return NO_TRANS, max(n if m == 1 else s0 // item, 1)
    if (m == 1 or s0 == item) and (n == 1 or (s1 >= m * item and s1 % item == 0)):
        return TRANS, max(m if n == 1 else s1 // item, 1)
    return 0, 0


@njit(**JIT)
def matmul(A, B, out, loop_max):
    """``out[:] = A @ B`` for A (m, k), B (k, n), out (m, n).

    A and B may be transposed views. Products with ``m * n * k <= loop_max``,
    and operands BLAS cannot take (strided views), run as loops: at the toy
    sizes a BLAS call costs more than the arithmetic. Below
    ``config.DOT_COLUMNS`` output columns each entry is one dot product;
    otherwise rows are updated.
    Larger products call NumPy's ``cblas_?gemm`` (see ``blas``).
    """
    m, k = A.shape
    n = B.shape[1]
    if m == 0 or n == 0:
        return
    if k == 0:
        out[:] = 0
        return
    if m * n * k > loop_max:
        ta, lda = _blas_layout(A)
        tb, ldb = _blas_layout(B)
        tc, ldc = _blas_layout(out)
        if ta and tb and tc == NO_TRANS:
            if out.itemsize == 8:
                dgemm(ROW_MAJOR, ta, tb, m, n, k, 1.0, A.ctypes.data, lda,
                      B.ctypes.data, ldb, 0.0, out.ctypes.data, ldc)
            else:
                sgemm(ROW_MAJOR, ta, tb, m, n, k, np.float32(1), A.ctypes.data, lda,
                      B.ctypes.data, ldb, np.float32(0), out.ctypes.data, ldc)
            return
    if n < DOT_COLUMNS:
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
