"""Settings for the compiled kernels, in one place.

Importing this module chooses Numba's threading layer, which must happen before
the first parallel launch. On this kind of machine the default layer (GNU
OpenMP) spins idle threads after each parallel region and fights OpenBLAS's
threads, which made a fused step up to 50x slower than NumPy; TBB does not.
The ``tbb`` wheel ships ``libtbb.so.12`` where Numba does not look for it, so it
is opened here first. A layer chosen by the user (``NUMBA_THREADING_LAYER``)
is respected.

The thresholds are read by the Python wrappers at every call and passed to
the kernels as arguments (Numba freezes globals into its cache, so a global
changed at run time would be ignored by cached code).
"""
import ctypes
import hashlib
import os
from pathlib import Path

import numba

#: Elementwise passes whose work (elements times the per-element cost of
#: ``activations.cost``, 1 for ReLU) is below this run serially; at or above
#: it they run as ``prange`` loops. Measured on 2 cores under TBB: bias+ReLU
#: gains from threads from 2**17 elements, bias+tanh from 2**12. Under OpenMP
#: with passive waiting or workqueue a launch costs 50-95 us, so much later.
PARALLEL_MIN_ELEMENTS = 1 << 17

#: A parallel pass splits its rows (or columns) into at most this many blocks.
PARALLEL_BLOCKS = 64

#: Matrix products with ``m * n * k`` at or below this run as plain loops; a
#: BLAS call costs more than the arithmetic of such a product. Measured from
#: compiled code: a BLAS call costs ~0.15 us, loops tie at m*n*k ~ 200-500
#: (5x4 @ 4x10: 0.12 vs 0.15 us) and lose 3x at 2000.
GEMM_LOOP_MAX = 256

#: LLVM fast-math flags for the kernels: reassociation lets reductions
#: vectorize, while keeping ``nnan``/``ninf`` off keeps NaN and Inf checks
#: correct.
FASTMATH = frozenset({"reassoc", "contract", "arcp", "nsz"})

#: Compile options shared by every kernel.
JIT = dict(nogil=True, cache=True, fastmath=set(FASTMATH), error_model="numpy")


def _load_tbb():
    """Open the tbb wheel's libtbb.so.12 globally; return its path or None."""
    try:
        from importlib.metadata import PackageNotFoundError, files
    except ImportError:  # pragma: no cover
        return None
    try:
        candidates = [f for f in (files("tbb") or ()) if f.name.startswith("libtbb.so.12")]
    except PackageNotFoundError:
        return None
    for f in candidates:
        path = str(f.locate())
        try:
            ctypes.CDLL(path, mode=ctypes.RTLD_GLOBAL)
            return path
        except OSError:
            continue
    return None


def _choose_threading_layer():
    chosen = os.environ.get("NUMBA_THREADING_LAYER")
    if chosen and chosen != "default":
        return chosen
    if _load_tbb() is not None:
        numba.config.THREADING_LAYER = "tbb"
        return "tbb"
    # Without TBB: OpenMP with passive waiting does not fight BLAS, but then a
    # launch is expensive, so threads only pay for much larger passes.
    os.environ.setdefault("OMP_WAIT_POLICY", "passive")
    os.environ.setdefault("GOMP_SPINCOUNT", "0")
    global PARALLEL_MIN_ELEMENTS
    PARALLEL_MIN_ELEMENTS = 1 << 20
    return numba.config.THREADING_LAYER


#: The layer requested at import: ``'tbb'`` where the tbb wheel is installed.
THREADING_LAYER = _choose_threading_layer()


def _drop_stale_cache():
    """Empty the kernels' on-disk cache when any kernel source has changed.

    Numba checks only the timestamp of a function's own file, so a kernel
    whose callee in another module was edited would load stale machine code
    (seen here: a segfault after editing ``epilogues.py``). A digest of every
    source in this package, kept beside the cache, catches that.
    """
    if os.environ.get("NUMBA_CACHE_DIR"):
        return  # the user manages that cache
    here = Path(__file__).resolve().parent
    cache = here / "__pycache__"
    digest = hashlib.sha256()
    for src in sorted(here.glob("*.py")):
        digest.update(src.name.encode())
        digest.update(src.read_bytes())
    stamp = cache / "kernels-sources.sha256"
    try:
        if stamp.read_text() == digest.hexdigest():
            return
    except OSError:
        pass
    try:
        cache.mkdir(exist_ok=True)
        for f in list(cache.glob("*.nbi")) + list(cache.glob("*.nbc")):
            f.unlink(missing_ok=True)
        stamp.write_text(digest.hexdigest())
    except OSError:
        pass  # a read-only install: its sources do not change either


_drop_stale_cache()
