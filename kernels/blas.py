"""The BLAS the kernels call: NumPy's own ``cblas_?gemm``.

Numba's ``np.dot`` calls SciPy's BLAS. With pip wheels that is a second
OpenBLAS (0.3.30 here, beside NumPy's 0.3.31) with a second thread pool. The
same products ran up to 20% slower through it than through NumPy's (X^T dH at
CIFAR size, float64: 1458 vs 1307 us, medians in one process), and a step
that alternates NumPy's pool and SciPy's on 2 cores leaves each spinning while
the other works. So the kernels call the ``cblas_dgemm`` and ``cblas_sgemm``
of the library NumPy loaded, found with threadpoolctl. (Numba still loads
SciPy's library when it starts; nothing calls it.)

Their addresses are registered with LLVM under fixed names
(``fusednet_dgemm``, ``fusednet_sgemm``) before any kernel loads: compiled
code refers to the names and resolves them at load time, so Numba's on-disk
cache stays valid in every process.

The integer arguments are declared 64-bit. On x86-64 (and AArch64 Linux) an
integer argument fills a whole register or 8-byte stack slot and a 32-bit
(LP64) library reads the low half, so one declaration serves LP64 and ILP64
libraries alike. Elsewhere, when NumPy's CBLAS is not found, or with
``FUSEDNET_BLAS=scipy``, the names resolve to a compiled adapter that calls
``np.dot``, that is SciPy's BLAS.

With ``NUMBA_DISABLE_JIT=1`` the kernels run as plain Python, where an
external function is not callable: ``dgemm`` and ``sgemm`` are then Python
functions with the same signature that view the addresses as arrays and
call ``np.dot`` (decided once, at import; the compiled path is unchanged).
"""
import ctypes
import os
import platform
import sys

import numpy as np
from llvmlite import binding as llvm
from numba import carray, cfunc, config as numba_config, njit, types

from .config import JIT

ROW_MAJOR, NO_TRANS, TRANS = 101, 111, 112

_i64, _ptr = types.int64, types.uintp


def _signature(real, ptr=_ptr):
    """``cblas_?gemm(order, transA, transB, m, n, k, alpha, A, lda, B, ldb,
    beta, C, ldc)``, pointers as integers unless ``ptr`` says otherwise."""
    return types.void(_i64, _i64, _i64, _i64, _i64, _i64, real, ptr, _i64, ptr, _i64,
                      real, ptr, _i64)


dgemm = types.ExternalFunction("fusednet_dgemm", _signature(types.float64))
sgemm = types.ExternalFunction("fusednet_sgemm", _signature(types.float32))


def _view(address, rows, cols, ld, dtype):
    """The row-major (rows, cols) matrix with leading dimension ``ld`` at ``address``."""
    dtype = np.dtype(dtype)
    count = (rows - 1) * ld + cols
    buf = (ctypes.c_char * (count * dtype.itemsize)).from_address(address)
    flat = np.frombuffer(buf, dtype, count)
    return np.lib.stride_tricks.as_strided(flat, (rows, cols), (ld * dtype.itemsize, dtype.itemsize))


def _python_gemm(dtype):
    """``cblas_?gemm`` (row-major) in Python over np.dot, for NUMBA_DISABLE_JIT=1."""
    def gemm(order, ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc):
        a = _view(A, m, k, lda, dtype) if ta == NO_TRANS else _view(A, k, m, lda, dtype).T
        b = _view(B, k, n, ldb, dtype) if tb == NO_TRANS else _view(B, n, k, ldb, dtype).T
        c = _view(C, m, n, ldc, dtype)
        product = alpha * np.dot(a, b)
        c[...] = product if beta == 0 else product + beta * c
    return gemm


if numba_config.DISABLE_JIT:
    dgemm, sgemm = _python_gemm(np.float64), _python_gemm(np.float32)

#: Exported names of ``cblas_dgemm`` to try, most specific first (with "d"
#: replaced by "s" for sgemm): scipy-openblas64 (NumPy's pip wheels),
#: scipy-openblas32, OpenBLAS built with a 64_ suffix, any CBLAS.
_NAMES = ("scipy_cblas_dgemm64_", "scipy_cblas_dgemm", "cblas_dgemm64_", "cblas_dgemm")


def _numpy_blas_path():
    """Path of the BLAS library NumPy loaded, or None."""
    from threadpoolctl import ThreadpoolController
    libs = [c.filepath for c in ThreadpoolController().lib_controllers if c.user_api == "blas"]
    numpy_libs = [p for p in libs if "numpy" in os.path.basename(os.path.dirname(p))]
    if numpy_libs:
        return numpy_libs[0]
    # A shared BLAS (conda, a system NumPy): the only one loaded is NumPy's.
    return libs[0] if len(libs) == 1 else None


def _abi_ok():
    machine = platform.machine().lower()
    return machine in ("x86_64", "amd64") or (machine in ("aarch64", "arm64")
                                               and sys.platform.startswith("linux"))


def _find_numpy_cblas():
    """``(path, dgemm name, sgemm name, dgemm address, sgemm address)`` or None."""
    if os.environ.get("FUSEDNET_BLAS", "numpy") != "numpy" or not _abi_ok():
        return None
    try:
        path = _numpy_blas_path()
        lib = ctypes.CDLL(path) if path else None
    except (ImportError, OSError):
        return None
    for name in _NAMES if lib is not None else ():
        try:
            d, s = getattr(lib, name), getattr(lib, name.replace("dgemm", "sgemm", 1))
        except AttributeError:
            continue
        address = lambda f: ctypes.cast(f, ctypes.c_void_p).value  # noqa: E731
        return path, name, name.replace("dgemm", "sgemm", 1), address(d), address(s)
    return None


@njit(**JIT)
def _gemm_by_dot(ta, tb, m, n, k, A, B, C):
    """``C = op(A) op(B)`` with np.dot on contiguous row-major buffers (the
    only kind the kernels pass: leading dimensions equal to the row length)."""
    c = carray(C, (m, n))
    if ta == NO_TRANS and tb == NO_TRANS:
        np.dot(carray(A, (m, k)), carray(B, (k, n)), c)
    elif ta == NO_TRANS:
        np.dot(carray(A, (m, k)), carray(B, (n, k)).T, c)
    elif tb == NO_TRANS:
        np.dot(carray(A, (k, m)).T, carray(B, (k, n)), c)
    else:
        np.dot(carray(A, (k, m)).T, carray(B, (n, k)).T, c)


def _dot_adapters():
    """C-callable adapters with cblas_?gemm's signature (alpha 1 and beta 0,
    the only values the kernels pass), compiled only when needed."""
    out = []
    for real in (types.float64, types.float32):
        sig = _signature(real, types.CPointer(real))

        def adapter(order, ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc):
            _gemm_by_dot(ta, tb, m, n, k, A, B, C)
        out.append(cfunc(sig)(adapter).address)
    return out


_found = _find_numpy_cblas()
if numba_config.DISABLE_JIT:
    SOURCE = "np.dot from Python (NUMBA_DISABLE_JIT=1)"
elif _found:
    _path, _dname, _sname, _daddr, _saddr = _found
    #: Where the kernels' matrix products go.
    SOURCE = f"NumPy's BLAS: {os.path.basename(_path)} ({_dname}, {_sname})"
else:
    _daddr, _saddr = _dot_adapters()
    SOURCE = "SciPy's BLAS through np.dot"
if not numba_config.DISABLE_JIT:
    llvm.add_symbol("fusednet_dgemm", _daddr)
    llvm.add_symbol("fusednet_sgemm", _saddr)
