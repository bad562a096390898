"""Matrix product for the kernels: register-blocked loops when small, BLAS otherwise.

The loops compute ``out`` in panels of up to three Vectors (``simd``: 4
float64 or 8 float32 columns each) and blocks of rows, the block's outputs
in 8-12 vector accumulators while ``p`` runs over the whole inner dimension:

    for each panel of columns j .. j + w (w <= 3 lanes):
        for each block of rows i .. i + r:
            acc[row][v] = sum_p A[i + row, p] * B[p, j + v lanes : ...]   (one FMA each)

4 rows x 3 Vectors, 6 x 2 or 8 x 1, the panel's last Vector masked to the
columns that remain (a single output column, ``n == 1``, too). A row beyond
``m`` in the last block repeats row ``m - 1`` and is not stored. B is read a
row of a panel at a time, one vector load; a B whose rows are not contiguous
(``dZ W^T``: W^T) is first copied, a panel at a time, to the stack; a narrow
``X^T dZ`` runs as ``(dZ^T X)^T``, Vectors along its rows. Each output is one
chain of FMAs in the order of ``p`` whichever way (no ``reassoc`` in
``config.FASTMATH``, no partial sums), so a row's result depends neither on
the blocking nor on the other rows nor on the thread, nor on where the code
was compiled. Operands of other strides (no kernel passes them) run as plain
loops, each output again a chain in the order of ``p``.

The whole product (the choice between BLAS and the loops, and the loops) is
compiled once a dtype, as a C entry point (:func:`_entry`) that kernels call
with pointers, shapes and strides, whatever the layouts: ``matmul`` itself,
compiled into every kernel for each layout it is passed, is that call (it
held the choice and the BLAS call: ~0.3 s of compile a layout). The call
goes through a cell holding the entry point's address, which compiled code
names (as it names ``blas``'s functions), so a kernel compiles before its
entry point exists: on a cold first call the compile helper
(``kernels.compile_helper``) compiles the entry point (~3 s) while this
process compiles the kernels, and it is loaded before any of them runs
(:func:`_settle`).

Which products run as loops: ``loop_max``, a ``(X W, X^T dZ, dZ W^T)`` triple
of size limits (``config.loop_max``), read by the Python side at each call.
"""
import ctypes

import numpy as np
from llvmlite import binding as llvm, ir
from numba import config as numba_config, njit, types
from numba.core import cgutils, event
from numba.core.ccallback import CFunc
from numba.core.compiler_lock import global_compiler_lock
from numba.extending import intrinsic, register_jitable

from . import cache, compiling, simd
from .blas import NO_TRANS, ROW_MAJOR, TRANS, dgemm, sgemm
from .config import JIT

#: The loops' C entry points' names, by dtype (see :func:`_entry`); named
#: after this module, so two copies of the package in one process keep theirs.
ENTRIES = {types.float64: f"{__name__}.loops_f64", types.float32: f"{__name__}.loops_f32"}
#: The cells holding the entry points' addresses (0 until compiled or
#: loaded), by dtype, and the names compiled code knows them by.
_CELLS = {dtype: ctypes.c_int64(0) for dtype in ENTRIES}
_CELL_NAMES = {dtype: name + ".address" for dtype, name in ENTRIES.items()}
#: ``loop_max`` slots: the forms of product the kernels run.
XW, XT_DZ, DZ_WT = 0, 1, 2
#: The largest k of a ``dZ W^T`` the loops run: a panel of W^T (k x 3
#: Vectors) is copied to the stack (``simd.SCRATCH``); larger ones go to BLAS.
MAX_TRANSPOSED_K = simd.SCRATCH // (3 * simd.BYTES)
#: The largest k of any product the loops run (larger ones go to BLAS
#: whatever the limit): each output is one chain of k FMAs, and a long
#: float32 chain drifts from BLAS's few-output paths (1 x 3072 @ 3072 x 1:
#: 3.1e-5 of the result against 2.6e-6). The limits were measured with k up
#: to 400 (fan_in) and 200 (rows); every product the benchmark shapes loop
#: has k <= 200.
MAX_LOOP_K = 256


@register_jitable
def looped(form, k):
    """Whether a product of ``form`` (``XW``, ``XT_DZ``, ``DZ_WT``) and inner
    size k may run as loops at all (then by its size against its limit).
    The one rule: :func:`_product` compiles it, the Python side (the thread
    probe, the thresholds benchmark) calls it."""
    return k <= MAX_LOOP_K and (form != DZ_WT or k <= MAX_TRANSPOSED_K)


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


@njit(**JIT)
def matmul(A, B, out, loop_max):
    """``out[:] = A @ B`` for A (m, k), B (k, n), out (m, n).

    A and B may be transposed views. Products with ``m * n * k`` at or below
    their form's limit in ``loop_max`` (see :func:`form`) and k within
    :func:`looped`'s bounds, and operands BLAS cannot take (strided
    views), run as :func:`_loops`: at these sizes a BLAS call and its
    packing cost more than the arithmetic. Larger products call NumPy's
    ``cblas_?gemm`` (see ``blas``). All of it is :func:`_product`, compiled
    once a dtype as the C entry point: this is a call to it.
    """
    _call_entry(A, B, out, loop_max[XW], loop_max[XT_DZ], loop_max[DZ_WT])


@njit(inline="always", **JIT)
def _product(A, B, out, xw, xt_dz, dz_wt):
    """:func:`matmul`'s work, with its ``loop_max`` as three limits."""
    m, k = A.shape
    n = B.shape[1]
    if m == 0 or n == 0:
        return
    if k == 0:
        out[:] = 0
        return
    f = form(A, B)
    limit = xw if f == XW else (xt_dz if f == XT_DZ else dz_wt)
    if m * n * k > limit or not looped(f, k):
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
    _loops(A, B, out)


def _c_entry(m, k, n, a, a0, a1, b, b0, b1, c, c0, c1, xw, xt_dz, dz_wt):
    """The C entry point: :func:`_product` on A (m, k) at pointer a with
    strides a0, a1 (bytes), B (k, n) at b and out (m, n) at c likewise, with
    the limits xw, xt_dz, dz_wt."""
    _product(simd.array_at(a, m, k, a0, a1), simd.array_at(b, k, n, b0, b1),
             simd.array_at(c, m, n, c0, c1), xw, xt_dz, dz_wt)


@intrinsic
def _call_entry(typingctx, A, B, out, xw, xt_dz, dz_wt):
    """``_product(A, B, out, xw, xt_dz, dz_wt)`` through the C entry point of
    out's dtype: a call to the address in its cell; the entry point is
    compiled, loaded or handed to the compile helper while this is typed
    (:func:`_need_entry`). An empty cell (no path leaves one at run time)
    raises RuntimeError rather than calling address 0."""
    dtype = getattr(out, "dtype", None)
    if dtype not in ENTRIES or not all(isinstance(t, types.Array) and t.ndim == 2
                                       and t.dtype == dtype for t in (A, B, out)):
        return None
    if not all(isinstance(t, types.Integer) for t in (xw, xt_dz, dz_wt)):
        return None
    _need_entry(dtype)
    cell_name = _CELL_NAMES[dtype]

    def codegen(context, builder, signature, args):
        i64 = ir.IntType(64)
        values = []
        for ty, val in zip(signature.args[:3], args[:3]):
            ary = context.make_array(ty)(context, builder, val)
            values.append((builder.ptrtoint(ary.data, i64),
                           cgutils.unpack_tuple(builder, ary.shape),
                           cgutils.unpack_tuple(builder, ary.strides)))
        (a, (m, k), sa), (b, (_, n), sb), (c, _, sc) = values
        limits = [context.cast(builder, v, t, types.int64)
                  for v, t in zip(args[3:], signature.args[3:])]
        cell = builder.module.globals.get(cell_name)
        if cell is None:
            cell = ir.GlobalVariable(builder.module, i64, cell_name)  # defined by the process
        address = builder.load(cell)
        with builder.if_then(cgutils.is_null(builder, address), likely=False):
            context.call_conv.return_user_exc(
                builder, RuntimeError, ("fusednet: the product's entry point is not loaded",))
        fnty = ir.FunctionType(ir.VoidType(), [i64] * 15)
        builder.call(builder.inttoptr(address, fnty.as_pointer()),
                     [m, k, n, a, *sa, b, *sb, c, *sc, *limits])
        return context.get_dummy_value()
    return types.none(A, B, out, xw, xt_dz, dz_wt), codegen


@njit(inline="always", **JIT)
def _loops(A, B, out):
    """``out[:] = A @ B`` for A (m, k), B (k, n), out (m, n), m, k, n >= 1, any
    strides, by the register-blocked loops; the path chosen at run time:

    - out C-contiguous and B C-contiguous: :func:`_direct`, or for a narrow,
      tall ``X^T dZ`` (A's columns contiguous, n < lanes <= m / 2)
      :func:`_along_rows`;
    - out C-contiguous and B^T C-contiguous (``dZ W^T``) with k <=
      ``MAX_TRANSPOSED_K``: :func:`_transposed_b`;
    - any other strides (no kernel passes them): :func:`_plain`.

    Compiled once a dtype, as the C entry point; no kernel compiles a copy.
    """
    m, k = A.shape
    n = B.shape[1]
    L = simd.lanes(out)
    rows_b = _c_contiguous(B)
    if not (_c_contiguous(out) and (rows_b or (_c_contiguous(B.T) and k <= MAX_TRANSPOSED_K))):
        _plain(A, B, out)
    elif not rows_b:
        _transposed_b(A, simd.as_c(B.T), simd.as_c(out))
    elif n < L and m >= 2 * L and _c_contiguous(A.T):
        _along_rows(B.T, simd.as_c(A.T), simd.as_c(out))
    else:
        _direct(A, simd.as_c(B), simd.as_c(out))


@njit(inline="always", **JIT)
def _c_contiguous(a):
    """Whether a (r, c) is C-contiguous (``simd.as_c`` may then type it so)."""
    return a.strides[1] == a.itemsize and a.strides[0] == a.shape[1] * a.itemsize


@njit(inline="always", **JIT)
def _direct(A, B, out):
    """``out[:] = A @ B`` for B (k, n) and out (m, n) C-contiguous: panel after
    panel of 3 Vectors' columns."""
    n = B.shape[1]
    L = simd.lanes(out)
    for j in range(0, n, 3 * L):
        _panel(A, B, j, out, j, min(3 * L, n - j))


@njit(inline="always", **JIT)
def _transposed_b(A, Bt, out):
    """``out[:] = A @ Bt^T`` for Bt (n, k) and out (m, n) C-contiguous, k <=
    ``MAX_TRANSPOSED_K`` (``dZ W^T``: Bt is W): each panel ``Bt[j:j + w]^T``
    (k, w) is first copied to a C array on the stack (k w values, within
    ``simd.SCRATCH`` by the bound on k), once a call, by L x L tiles
    transposed in registers (read lane by lane in every block of rows
    instead, 200 x 10 @ 10 x 100 took 2.0x BLAS's time in float32 and 1.17x
    in float64; copied 0.90x and 0.83x)."""
    n, k = Bt.shape
    L = simd.lanes(out)
    for j in range(0, n, 3 * L):
        w = min(3 * L, n - j)
        P = simd.scratch(out, k, w)
        for q in range(0, w, L):
            for p in range(0, k, L):
                simd.transpose(Bt, j + q, p, min(L, w - q), min(L, k - p), P, p, q)
        _panel(A, P, np.int64(0), out, j, w)


@njit(inline="always", **JIT)
def _along_rows(Bt, At, out):
    """``out[:] = (Bt At)^T`` for Bt (n, k) = B^T, At (k, m) = A^T C-contiguous
    and out (m, n) C-contiguous, n < lanes: ``X^T dZ`` with few output
    columns (the weight gradient of a layer of few outputs), Vectors along
    the rows of out: ``T = Bt At[:, i:i + r]`` (n, r) on the stack, r rows of
    out at a time, then copied into out (n r values against the n r k FMAs
    of the product). 400 x 16 @ 16 x 3 in float32: 1.2x BLAS's time the
    direct way (3 of 8 lanes used), 0.60x this way."""
    n = Bt.shape[0]
    m = At.shape[1]
    L = simd.lanes(out)
    # n r < L r values fit simd.SCRATCH; whole panels
    chunk = simd.SCRATCH // (L * out.itemsize) // (3 * L) * (3 * L)
    for i in range(0, m, chunk):
        r = min(chunk, m - i)
        T = simd.scratch(out, n, r)
        for j in range(0, r, 3 * L):
            _panel(Bt, At, i + j, T, j, min(3 * L, r - j))
        for q in range(r):
            for c in range(n):
                out[i + q, c] = T[c, q]


@njit(**JIT)
def _panel(A, B, jb, out, j, w):
    """``out[:, j:j + w] = A @ B[:, jb:jb + w]`` for A (m, k) of any layout, B
    (k, >= jb + w) and out C-contiguous, 1 <= w <= 3 lanes: block after
    block of rows, each output one FMA chain in the order of p. One
    compiled copy a dtype, one call a panel."""
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


@njit(inline="always", **JIT)
def _plain(A, B, out):
    """``out[:] = A @ B`` by rows, ``out[i] = sum_p A[i, p] B[p]`` (each output
    a chain in the order of p): strided operands BLAS cannot take."""
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


class _Miss(Exception):
    """The entry point is not in the cache (:func:`_entry` with ``load_only``)."""


def _entry(dtype, load_only=False):
    """Compile :func:`_c_entry` for ``dtype`` (float64 or float32), or load
    it from the kernels' cache, and put its address in its cell; with
    ``load_only``, only load it. Returns whether the cell is filled.

    Called at the first need in a process: when a kernel that calls it is
    typed (:func:`_need_entry`), is about to load from the cache
    (:func:`_entries_named_in`), or at the end of a compile that left it to
    the helper (:func:`_settle`). Compiled code calls it through its cell,
    as ``blas``'s functions by name, so a kernel's code holds a call, not a
    copy of the loops that LLVM would optimize again in every kernel (the
    first training call compiled ~7 s longer that way), and a dtype nobody
    uses is not compiled."""
    with global_compiler_lock:
        if dtype not in _compiled:
            i = types.int64
            ptr = types.CPointer(dtype)
            # JIT's options but the cache (set below) and no_cfunc_wrapper: the
            # C-callable wrapper is the entry point.
            options = {key: value for key, value in JIT.items()
                       if key not in ("cache", "no_cfunc_wrapper")}
            entry = CFunc(_c_entry, ((i, i, i, ptr, i, i, ptr, i, i, ptr, i, i, i, i, i),
                                     types.void), {}, options)
            if JIT["cache"]:
                entry._cache = cache.kernel_cache(_c_entry)

            def miss():
                raise _Miss
            entry._compile_uncached = miss  # what CFunc.compile calls on a cache miss
            try:
                entry.compile()
            except _Miss:
                if load_only:
                    return False
                del entry._compile_uncached
                # Announced as a kernel's compile is (kernels.compiling); a
                # load from the cache takes milliseconds and says nothing.
                with event.trigger_event(compiling.EVENT, data={"dispatcher": entry}):
                    entry.compile()
            _CELLS[dtype].value = entry.address
            _compiled[dtype] = entry  # kept alive: its code is called by address
    return True


def _need_entry(dtype):
    """A kernel calling ``dtype``'s entry point is being typed: load the
    entry point if the cache has it; else, inside a compile, leave it to the
    compile helper where one runs (started here where it may), to be filled
    at the compile's end (:func:`_settle`: by then the helper has compiled it
    while this process compiled the rest); else compile it now."""
    if dtype in _compiled or dtype in _pending or _entry(dtype, load_only=True):
        return
    if _COMPILES.depth:
        compiling.HELPER.take_entry(str(dtype))
        _pending.add(dtype)
    else:
        _entry(dtype)


def _settle():
    """Before compiled code can run (the end of the outermost compile): fill
    the cells left to the helper, from the cache once it has written them,
    or compiled here if it could not. (Compiling one here raises compile
    events of its own: taken off the list first, it is not settled twice.)"""
    while _pending:
        dtype = min(_pending, key=str)
        _pending.discard(dtype)
        try:
            compiling.HELPER.wait_entry(str(dtype))
        except KeyboardInterrupt:
            # Code that calls the entry point exists now: fill its cell first.
            _entry(dtype)
            raise
        _entry(dtype)


class _Compiles(event.Listener):
    """Counts nested ``numba:compile`` events (under Numba's compiler lock);
    at the outermost one's end, :func:`_settle`."""
    depth = 0

    def on_start(self, ev):
        self.depth += 1

    def on_end(self, ev):
        self.depth -= 1
        if self.depth == 0 and _pending and _SETTLE:
            _settle()


def _entries_named_in(data):
    """Before a kernel loads from the cache (``cache.before_load``): the entry
    points whose names its data file (``data``, bytes: machine code and
    bitcode, uncompressed) holds, as a kernel that calls them does; inside a
    compile, as when one is typed (:func:`_need_entry`)."""
    for dtype, name in ENTRIES.items():
        if name.encode() not in data or dtype in _compiled:
            continue
        if _COMPILES.depth:
            _need_entry(dtype)
        elif not _entry(dtype, load_only=True):
            compiling.HELPER.wait_entry(str(dtype))  # when a helper is compiling it
            _entry(dtype)


#: The C entry points compiled or loaded in this process, by dtype.
_compiled = {}
#: Entry points a compile under way left to the compile helper.
_pending = set()
#: False in the compile helper, which runs no code: it compiles the entry
#: points when its list says.
_SETTLE = True
_COMPILES = _Compiles()

if numba_config.DISABLE_JIT:
    # Kernels run as Python: the product is called as it is.
    def _call_entry(A, B, out, xw, xt_dz, dz_wt):
        _product(A, B, out, xw, xt_dz, dz_wt)
else:
    cache.before_load.append(_entries_named_in)
    event.register("numba:compile", _COMPILES)
    for _dtype, _cell in _CELLS.items():
        llvm.add_symbol(_CELL_NAMES[_dtype], ctypes.addressof(_cell))
