"""Matrix product for the kernels: register-blocked loops when small, BLAS otherwise.

The loops compute ``out`` in panels of up to three Vectors (``simd``: 4
float64 or 8 float32 columns each) and blocks of rows, the block's outputs
in 8-12 vector accumulators while ``p`` runs over the whole inner dimension:

    for each panel of columns j .. j + w (w <= 3 lanes):
        for each block of rows i .. i + r:
            acc[row][v] = sum_p A[i + row, p] * B[p, j + v lanes : ...]   (one FMA each)

4 rows x 3 Vectors, 6 x 2 or 8 x 1, the panel's last Vector masked to the
columns that remain. A row beyond ``m`` in the last block repeats row
``m - 1`` and is not stored. B is read a row of a panel at a time, one
vector load; a B whose rows are not contiguous (``dZ W^T``: W^T) is first
copied, a panel at a time, to the stack; a narrow ``X^T dZ`` runs as
``(dZ^T X)^T``, Vectors along its rows. Each output is one chain of FMAs in
the order of ``p`` whichever way, so a row's result depends neither on the
blocking nor on the other rows nor on the thread. A single output column
(``n == 1``, a one-output net) runs as dot products instead (reassociated
along a row of A, or column updates where A's columns are contiguous).

Which products run as loops: ``loop_max``, a ``(X W, X^T dZ, dZ W^T)`` triple
of size limits (``config.loop_max``), read by the Python side at each call.
"""
import numpy as np
from numba import njit
from numba.extending import overload

from . import simd
from .blas import NO_TRANS, ROW_MAJOR, TRANS, dgemm, sgemm
from .config import JIT

#: ``loop_max`` slots: the forms of product the kernels run.
XW, XT_DZ, DZ_WT = 0, 1, 2
#: The largest k of a ``dZ W^T`` the loops run: a panel of W^T (k x 3
#: Vectors) is copied to the stack (``simd.SCRATCH``); larger ones go to BLAS.
MAX_TRANSPOSED_K = simd.SCRATCH // (3 * simd.BYTES)


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
def form(A, B):
    """Which ``loop_max`` slot a product ``A @ B`` uses: DZ_WT when B's rows are
    not contiguous (a transposed weight), XT_DZ when A's are not (a transposed
    input), else XW."""
    k, n = B.shape
    if not (n == 1 or B.strides[1] == B.itemsize):
        return DZ_WT
    if not (k == 1 or A.strides[1] == A.itemsize):
        return XT_DZ
    return XW


@njit(inline="always", **JIT)
def _fits_stack(k):
    """Whether a panel of k rows of a transposed B fits ``simd.SCRATCH``."""
    return k <= MAX_TRANSPOSED_K


@njit(**JIT)
def matmul(A, B, out, loop_max):
    """``out[:] = A @ B`` for A (m, k), B (k, n), out (m, n).

    A and B may be transposed views. Products with ``m * n * k`` at or below
    their form's limit in ``loop_max`` (see :func:`form`; a ``dZ W^T`` also
    with k <= ``MAX_TRANSPOSED_K``), and operands BLAS cannot take (strided
    views), run as the loops of this module: at these sizes a BLAS call and
    its packing cost more than the arithmetic. Larger products call NumPy's
    ``cblas_?gemm`` (see ``blas``).
    """
    m, k = A.shape
    n = B.shape[1]
    if m == 0 or n == 0:
        return
    if k == 0:
        out[:] = 0
        return
    f = form(A, B)
    if m * n * k > loop_max[f] or (f == DZ_WT and not _fits_stack(k)):
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
    loops(A, B, out)


@njit(inline="always", **JIT)
def loops(A, B, out):
    """``out[:] = A @ B`` (m, k, n >= 1) by the register-blocked loops."""
    if B.shape[1] == 1:
        _column(A, B, out)
    else:
        _panels(A, B, out)


def _panels(A, B, out):
    """:func:`loops` for n >= 2, by panels: :func:`_direct` when B's rows are
    contiguous, else :func:`_transposed_b`; a narrow, tall ``X^T dZ`` as
    :func:`_along_rows`. Compiled, an overload resolved on the layouts: a C
    B (``X W``, ``X^T dZ``) never compiles the transposed path, nor an F one
    (``dZ W^T``) the direct one, nor a C A (``X W``) the path along rows;
    each compiles into every kernel that calls ``matmul``."""
    if B.strides[1] != B.itemsize:
        _transposed_b(A, B, out)
    elif A.strides[0] == A.itemsize:
        _along_rows(A, B, out)
    else:
        _direct(A, B, out)


@overload(_panels, jit_options=JIT, inline="always")
def _panels_by_layout(A, B, out):
    if B.layout == "C" and A.layout == "F":
        return lambda A, B, out: _along_rows(A, B, out)
    if B.layout == "C":
        return lambda A, B, out: _direct(A, B, out)
    if B.layout == "F":
        return lambda A, B, out: _transposed_b(A, B, out)
    return _panels


@njit(inline="always", **JIT)
def _along_rows(A, B, out):
    """``X^T dZ`` (A's columns contiguous) with fewer output columns than a
    Vector's lanes and at least two Vectors of rows (the weight gradient of
    a layer of few outputs): as ``out^T = dZ^T X``, Vectors along the rows
    of out, stored lane by lane. 400 x 16 @ 16 x 3 in float32: 1.2x BLAS's
    time the direct way (3 of 8 lanes used), 0.60x this way."""
    m, n = out.shape
    L = simd.lanes(out)
    if n < L and m >= 2 * L:
        _direct(B.T, A.T, out.T)
    else:
        _direct(A, B, out)


@njit(inline="always", **JIT)
def _direct(A, B, out):
    """``out[:] = A @ B`` (n >= 2) for B whose rows are contiguous."""
    n = B.shape[1]
    L = simd.lanes(out)
    for j in range(0, n, 3 * L):
        _panel(A, B, j, out, j, min(3 * L, n - j))


@njit(inline="always", **JIT)
def _transposed_b(A, B, out):
    """:func:`loops` for B whose rows are not contiguous (``dZ W^T``): each
    panel of B is first copied to a C array on the stack (k w values, once a
    call; read lane by lane in every block of rows instead, 200 x 10 @ 10 x
    100 took 2.0x BLAS's time in float32 and 1.17x in float64, copied 0.90x
    and 0.83x), by L x L tiles transposed in registers when k >= L. With k
    too large for a panel on the stack (``simd.SCRATCH``: k > 170; matmul
    sends those to BLAS unless it cannot take them, a strided view), plain
    loops."""
    k, n = B.shape
    L = simd.lanes(out)
    if not _fits_stack(k):
        _plain(A, B, out)
        return
    Bt = B.T  # (n, k): rows contiguous when B is a transposed C array
    for j in range(0, n, 3 * L):
        w = min(3 * L, n - j)
        P = simd.scratch(out, k, w)
        if k < L:
            for p in range(k):
                for q in range(w):
                    P[p, q] = B[p, j + q]
        else:
            for q in range(0, w, L):
                for p in range(0, k, L):
                    simd.transpose(Bt, j + q, p, min(L, w - q), min(L, k - p), P, p, q)
        _panel(A, P, np.int64(0), out, j, w)


@njit(**JIT)
def _panel(A, B, jb, out, j, w):
    """``out[:, j:j + w] = A @ B[:, jb:jb + w]`` (w <= 3 lanes), block by block
    of rows. A function of its own, compiled once for each layout of A, B and
    out, not into every caller of ``matmul`` (the blocks inlined there made
    the first training call compile 3x as long); one call a panel."""
    m = A.shape[0]
    L = simd.lanes(out)
    if w > 2 * L:
        for i in range(0, m, 4):
            _block_4x3(A, B, jb, out, i, min(4, m - i), j, w)
    elif w > L:
        for i in range(0, m, 6):
            _block_6x2(A, B, jb, out, i, min(6, m - i), j, w)
    else:
        for i in range(0, m, 8):
            _block_8x1(A, B, jb, out, i, min(8, m - i), j, w)


@njit(**JIT)
def _plain(A, B, out):
    """``out[:] = A @ B`` by rows: ``out[i] = sum_p A[i, p] B[p]``."""
    m, k = A.shape
    n = B.shape[1]
    for i in range(m):
        a = A[i, 0]
        for j in range(n):
            out[i, j] = a * B[0, j]
        for p in range(1, k):
            a = A[i, p]
            for j in range(n):
                out[i, j] += a * B[p, j]


@njit(inline="always", **JIT)
def _column(A, B, out):
    """``out[:, 0] = A @ B[:, 0]``: with A's rows contiguous, one dot product a
    row (vectorized along p); otherwise (A a transposed view) column updates
    ``out[:, 0] += B[p, 0] A[:, p]``, vectorized along the rows."""
    m, k = A.shape
    if k == 1 or A.strides[1] == A.itemsize:
        for i in range(m):
            acc = A[i, 0] * B[0, 0]
            for p in range(1, k):
                acc += A[i, p] * B[p, 0]
            out[i, 0] = acc
        return
    b = B[0, 0]
    for i in range(m):
        out[i, 0] = A[i, 0] * b
    for p in range(1, k):
        b = B[p, 0]
        for i in range(m):
            out[i, 0] += A[i, p] * b


# The blocks: out[i:i + rows, j:j + w] = A[i:i + rows] @ B[:, jb:jb + w], with
# rows <= the block's rows and w within its Vectors (the last one masked to
# what remains). A row past the block's ``rows`` repeats the last one (read,
# never stored), so every block runs its full register pattern.

@njit(inline="always", **JIT)
def _block_4x3(A, B, jb, out, i, rows, j, w):
    """4 rows x 3 Vectors (2 lanes < w <= 3 lanes): 12 accumulators."""
    k = A.shape[1]
    L = simd.lanes(out)
    j1, j2, w2 = j + L, j + 2 * L, w - 2 * L
    jb1, jb2 = jb + L, jb + 2 * L
    r0, r1, r2, r3 = i, i + min(1, rows - 1), i + min(2, rows - 1), i + min(3, rows - 1)
    c00 = simd.zeros(out)
    c01 = c02 = c10 = c11 = c12 = c20 = c21 = c22 = c30 = c31 = c32 = c00
    for p in range(k):
        b0 = simd.load(B, p, jb, L)
        b1 = simd.load(B, p, jb1, L)
        b2 = simd.load(B, p, jb2, w2)
        a = A[r0, p]
        c00 = simd.fma(a, b0, c00)
        c01 = simd.fma(a, b1, c01)
        c02 = simd.fma(a, b2, c02)
        a = A[r1, p]
        c10 = simd.fma(a, b0, c10)
        c11 = simd.fma(a, b1, c11)
        c12 = simd.fma(a, b2, c12)
        a = A[r2, p]
        c20 = simd.fma(a, b0, c20)
        c21 = simd.fma(a, b1, c21)
        c22 = simd.fma(a, b2, c22)
        a = A[r3, p]
        c30 = simd.fma(a, b0, c30)
        c31 = simd.fma(a, b1, c31)
        c32 = simd.fma(a, b2, c32)
    simd.store(out, r0, j, c00, L)
    simd.store(out, r0, j1, c01, L)
    simd.store(out, r0, j2, c02, w2)
    if rows > 1:
        simd.store(out, r1, j, c10, L)
        simd.store(out, r1, j1, c11, L)
        simd.store(out, r1, j2, c12, w2)
    if rows > 2:
        simd.store(out, r2, j, c20, L)
        simd.store(out, r2, j1, c21, L)
        simd.store(out, r2, j2, c22, w2)
    if rows > 3:
        simd.store(out, r3, j, c30, L)
        simd.store(out, r3, j1, c31, L)
        simd.store(out, r3, j2, c32, w2)


@njit(inline="always", **JIT)
def _block_6x2(A, B, jb, out, i, rows, j, w):
    """6 rows x 2 Vectors (1 lane < w <= 2 lanes): 12 accumulators."""
    k = A.shape[1]
    L = simd.lanes(out)
    j1, jb1, w1 = j + L, jb + L, w - L
    r0, r1, r2 = i, i + min(1, rows - 1), i + min(2, rows - 1)
    r3, r4, r5 = i + min(3, rows - 1), i + min(4, rows - 1), i + min(5, rows - 1)
    c00 = simd.zeros(out)
    c01 = c10 = c11 = c20 = c21 = c30 = c31 = c40 = c41 = c50 = c51 = c00
    for p in range(k):
        b0 = simd.load(B, p, jb, L)
        b1 = simd.load(B, p, jb1, w1)
        a = A[r0, p]
        c00 = simd.fma(a, b0, c00)
        c01 = simd.fma(a, b1, c01)
        a = A[r1, p]
        c10 = simd.fma(a, b0, c10)
        c11 = simd.fma(a, b1, c11)
        a = A[r2, p]
        c20 = simd.fma(a, b0, c20)
        c21 = simd.fma(a, b1, c21)
        a = A[r3, p]
        c30 = simd.fma(a, b0, c30)
        c31 = simd.fma(a, b1, c31)
        a = A[r4, p]
        c40 = simd.fma(a, b0, c40)
        c41 = simd.fma(a, b1, c41)
        a = A[r5, p]
        c50 = simd.fma(a, b0, c50)
        c51 = simd.fma(a, b1, c51)
    simd.store(out, r0, j, c00, L)
    simd.store(out, r0, j1, c01, w1)
    if rows > 1:
        simd.store(out, r1, j, c10, L)
        simd.store(out, r1, j1, c11, w1)
    if rows > 2:
        simd.store(out, r2, j, c20, L)
        simd.store(out, r2, j1, c21, w1)
    if rows > 3:
        simd.store(out, r3, j, c30, L)
        simd.store(out, r3, j1, c31, w1)
    if rows > 4:
        simd.store(out, r4, j, c40, L)
        simd.store(out, r4, j1, c41, w1)
    if rows > 5:
        simd.store(out, r5, j, c50, L)
        simd.store(out, r5, j1, c51, w1)


@njit(inline="always", **JIT)
def _block_8x1(A, B, jb, out, i, rows, j, w):
    """8 rows x 1 Vector (w <= 1 lane): 8 accumulators."""
    k = A.shape[1]
    r0, r1, r2, r3 = i, i + min(1, rows - 1), i + min(2, rows - 1), i + min(3, rows - 1)
    r4, r5, r6, r7 = (i + min(4, rows - 1), i + min(5, rows - 1), i + min(6, rows - 1),
                      i + min(7, rows - 1))
    c0 = simd.zeros(out)
    c1 = c2 = c3 = c4 = c5 = c6 = c7 = c0
    for p in range(k):
        b = simd.load(B, p, jb, w)
        c0 = simd.fma(A[r0, p], b, c0)
        c1 = simd.fma(A[r1, p], b, c1)
        c2 = simd.fma(A[r2, p], b, c2)
        c3 = simd.fma(A[r3, p], b, c3)
        c4 = simd.fma(A[r4, p], b, c4)
        c5 = simd.fma(A[r5, p], b, c5)
        c6 = simd.fma(A[r6, p], b, c6)
        c7 = simd.fma(A[r7, p], b, c7)
    simd.store(out, r0, j, c0, w)
    if rows > 1:
        simd.store(out, r1, j, c1, w)
    if rows > 2:
        simd.store(out, r2, j, c2, w)
    if rows > 3:
        simd.store(out, r3, j, c3, w)
    if rows > 4:
        simd.store(out, r4, j, c4, w)
    if rows > 5:
        simd.store(out, r5, j, c5, w)
    if rows > 6:
        simd.store(out, r6, j, c6, w)
    if rows > 7:
        simd.store(out, r7, j, c7, w)
