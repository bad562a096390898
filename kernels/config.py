"""Settings for the compiled kernels, in one place.

The kernels are serial; the matrix products inside them call SciPy's
OpenBLAS, which runs its own threads (``threadpoolctl`` limits them). No
kernel uses ``prange``, so Numba's threading layer is never started (see
``epilogues`` for why).

On CPUs with AVX-512 (Zen 4 here), OpenBLAS 0.3.30 picks its AVX2
("Haswell") kernels; its AVX-512 ("SkylakeX") ones ran the same GEMMs 1.8x
faster here (float64 112 -> 200 GFLOP/s, float32 245 -> 463). SciPy's
OpenBLAS, the one the kernels call, is loaded lazily, so this module selects
them before it loads (see ``_prefer_avx512_blas``).

The thresholds are read by the Python wrappers at every call and passed to
the kernels as arguments (Numba freezes globals into its cache, so a global
changed at run time would be ignored by cached code).
"""
import hashlib
import os
import sys
from pathlib import Path

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


#: AVX-512 subsets OpenBLAS's SkylakeX kernels use.
_AVX512 = {"avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl"}


def _prefer_avx512_blas():
    """Ask OpenBLAS libraries loaded from now on for their AVX-512 kernels.

    Only when the CPU has every AVX-512 subset those kernels use, when the
    user has not chosen (``OPENBLAS_CORETYPE`` unset, ``FUSEDNET_KEEP_BLAS``
    unset), and before SciPy's BLAS is loaded (afterwards it has no effect).
    Returns the core type set, or None.
    """
    if os.environ.get("OPENBLAS_CORETYPE") or os.environ.get("FUSEDNET_KEEP_BLAS"):
        return None
    if "scipy.linalg.cython_blas" in sys.modules:
        return None
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((set(line.split(":", 1)[1].split()) for line in f
                          if line.startswith("flags")), set())
    except OSError:
        return None
    if not _AVX512 <= flags:
        return None
    os.environ["OPENBLAS_CORETYPE"] = "SkylakeX"
    return "SkylakeX"


_drop_stale_cache()
#: The OpenBLAS core type this module requested, or None.
BLAS_CORETYPE = _prefer_avx512_blas()
