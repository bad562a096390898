"""Settings for the compiled kernels, in one place.

The matrix products call NumPy's OpenBLAS (see ``blas``), which runs its
own threads (``threadpoolctl`` limits them, ``threads`` chooses how many).
Two kernels use ``prange``: ``many.train_models`` (many models at once) and
``split.split_iteration`` (one two-layer iteration of at least
``split.MIN_FLOPS``, in blocks, with single-threaded BLAS inside); the
elementwise passes on their own stay serial (see ``epilogues`` for why).

The thresholds are read by the Python wrappers at every call and passed to
the kernels as arguments (Numba freezes globals into its cache, so a global
changed at run time would be ignored by cached code).
"""
import hashlib
import os
import warnings
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


def _cache_writable():
    """Whether Numba can write its on-disk cache for this package's kernels.

    Numba looks, in order, at ``NUMBA_CACHE_DIR``, the ``__pycache__`` beside
    the sources, and a per-user cache directory (``~/.cache/numba`` on Linux);
    a read-only install uses the last. With none writable, ``cache=True``
    would make every ``@njit`` raise at import ("no locator available"), so the
    kernels then compile in memory, each process anew.
    """
    from numba.core import caching
    locators = [caching.UserProvidedCacheLocator, caching.InTreeCacheLocator,
                caching.UserWideCacheLocator]
    return any(loc.from_function(_cache_writable, __file__) is not None for loc in locators)


CACHE = _cache_writable()
if not CACHE:
    warnings.warn("fusednet: no writable directory for Numba's cache (the install is read-only "
                  "and so is the per-user cache); kernels compile in memory in every process. "
                  "Set NUMBA_CACHE_DIR to a writable directory to keep them.", RuntimeWarning,
                  stacklevel=2)

#: Compile options shared by every kernel.
JIT = dict(nogil=True, cache=CACHE, fastmath=set(FASTMATH), error_model="numpy")


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
