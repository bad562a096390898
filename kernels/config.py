"""Settings for the compiled kernels, in one place.

The matrix products call NumPy's OpenBLAS (see ``blas``), which runs its
own threads (``threadpoolctl`` limits them, ``threads`` chooses how many).
Three kernels use ``prange``: ``many.train_models`` (many models at once)
and the two regions of ``split.split_iteration`` (one two-layer iteration of
at least ``MIN_FLOPS``, in blocks, with single-threaded BLAS inside); the
elementwise passes on their own stay serial (see ``epilogues`` for why).

Every tunable lives here with the measurement behind it. The thresholds that
the Python side reads (the looped products' ``LOOP_MAX_*`` through
:func:`loop_max`, the split's flop bounds, the chunking and thread-choice
constants) are read at every call and passed to the kernels as arguments:
Numba freezes globals into its cache, so a global changed at run time would
be ignored by cached code. ``ROWS`` and ``FEATURES`` are read by compiled
code and are constants.
"""
import os
import warnings
from pathlib import Path

import numpy as np

#: Matrix products with ``m * n * k`` at or below these run as the
#: register-blocked loops of ``kernels.matmul``, larger ones call BLAS: one
#: limit for each form of product, ``X W`` (forward), ``X^T dZ`` (weight
#: gradient, X^T a transposed view) and ``dZ W^T`` (input gradient, W^T a
#: transposed view), the last one also for each dtype. A BLAS call costs
#: ~0.1 us from compiled code and OpenBLAS packs its operands; the loops do
#: neither. Measured 2026-12-04 (``python -m fusednet.bench.thresholds
#: --repeats 9``; 86 shapes a form and dtype, rows 16/64/200 x fan_in 4-400
#: x fan_out 3-300, up to 4e6; ``bench/results/2026-12-04-thresholds-
#: blas{2,1}.json``), the largest size at which the loops never took over
#: 1.05x BLAS's time / the first size where they did:
#:
#:                     BLAS on 2 threads (its default)   BLAS on 1 thread
#:     float64 X W       800,000 / 819,200               every size (to 3.84e6)
#:     float64 X^T dZ    614,400 / 640,000               every size
#:     float64 dZ W^T     16,384 / 19,200                every size
#:     float32 X W       720,000 / 800,000               every size
#:     float32 X^T dZ    720,000 / 800,000               every size
#:     float32 dZ W^T     12,288 / 16,000                12,288 / 16,000
#:
#: The loops' time over BLAS's, medians over the shapes: 0.5-0.7 up to 1e4
#: and 0.5-0.85 up to 3e5 for X W and X^T dZ, 0.7-0.95 for dZ W^T. From ~2.6e5
#: OpenBLAS runs its two threads; X W and X^T dZ are set a little under
#: where they lost to those (with the other core free; 614,400-819,200 in
#: three runs that day). dZ W^T lost only at 16 rows a batch (1.06-1.13x:
#: copying W^T to the stack costs as much for 16 rows as for 200), at 64
#: and 200 rows not below 640,000.
LOOP_MAX_XW = 600_000
LOOP_MAX_XT_DZ = 600_000
LOOP_MAX_DZ_WT = 16_384
LOOP_MAX_DZ_WT_F32 = 12_288


def loop_max(dtype):
    """The ``(X W, X^T dZ, dZ W^T)`` limits above for products of ``dtype``,
    as the kernels take them (their ``loop_max`` argument)."""
    dz_wt = LOOP_MAX_DZ_WT_F32 if np.dtype(dtype) == np.float32 else LOOP_MAX_DZ_WT
    return (int(LOOP_MAX_XW), int(LOOP_MAX_XT_DZ), int(dz_wt))


#: Split two-layer iterations (``kernels.split``): at most this many
#: minibatch rows per block of region A (two blocks for the usual 200-256:
#: each block packs all of W1 for its product, so more blocks cost more).
ROWS = 128
#: At most this many rows of W1 (input features) per block of region B.
FEATURES = 512
#: Full-batch evaluations (L-BFGS, ``kernels.full_batch``): an even number of
#: blocks of at most this many rows, each block's products on one BLAS
#: thread. Read at the call.
FULL_BATCH_ROWS = 256
#: Steps whose products take fewer flops (6 N (D H + H C)) run unsplit:
#: measured, digits (7.7e6) tied, CIFAR (3.7e8) and MNIST (6.2e8) gained
#: 10-27% on 2 threads.
MIN_FLOPS = 5e7
#: Steps above this run unsplit too: there each block's products repack
#: operands that OpenBLAS's own threads share (all of W1 per row block, dH
#: per feature block); at 1024 x 3072 -> 1024 (1.9e10) the split step was
#: 5-11% slower than OpenBLAS's two threads.
MAX_FLOPS = 5e9

#: Target wall time of one compiled chunk of training iterations: Ctrl-C,
#: progress and callbacks wait at most about this long. At 0.25 s the
#: per-chunk Python cost (drawing indices, dispatch: ~30 us) is ~0.01%.
CHUNK_SECONDS = 0.25
#: Most minibatch rows drawn at once (bounds the index array to 8 MB).
CHUNK_ROWS = 1 << 20
#: The first chunk of a call assumes this optimistic speed (flop/s) and a
#: fifth of CHUNK_SECONDS, so short calls run in one chunk and a large
#: net's step is not repeated blind before it has been timed.
FIRST_CHUNK_FLOPS = 50e9

#: Thread choice by measuring (``net.chunks.ThreadPolicy``): seconds of
#: training before the first probe of the other thread count; each probe
#: that confirms the current count doubles the wait, up to PROBE_EVERY_MAX
#: (a probe of a slow count costs one slow chunk).
PROBE_EVERY = 2.0
PROBE_EVERY_MAX = 32.0
#: A probe runs this fraction of a chunk's iterations.
PROBE_FRACTION = 1 / 8
#: A call's first chunk slower per iteration than this many times its count's
#: last timing paid a compile (new types), not a busy core (2-6x), and is
#: not recorded.
COMPILE_RATIO = 20.0
#: A chunk this much slower per iteration than the last one with the same
#: count (the machine got busy, or quiet) makes the next chunk a probe.
CHANGED = 1.5
#: A probe must be this much faster (fraction of the current count's time
#: per iteration) to switch.
SWITCH = 0.9
#: Other thread pools spin for a while after their last job (OpenBLAS's
#: ~2**28 cycles, 0.1 s here; OpenMP's up to 0.2 s) and a parallel chunk
#: meanwhile shares a core with them: after a caller's 2-thread NumPy
#: product, a split CIFAR step ran 2x slower for 0.11 s (measured). In this
#: many seconds from a call's start its chunks neither probe nor count as
#: a slowdown, unless the whole call is expected to end within twice that
#: (then they are all it has to go by).
SETTLE_SECONDS = 0.25

#: A step whose numbers depend on the BLAS thread count (``net.chunks
#: .blas_count_invariant``: float32 here) gets a count fixed by its size,
#: not measured: all threads from this many flops, one below. Two threads
#: gained 1.2x quiet at cs224d and digits (6e6 and 9e6 flops) but lost 4x
#: with a core busy; from CIFAR (3.7e8) up they gain 1.8-1.9x quiet.
BLAS_THREADS_FLOPS = 5e7

#: A conversion copy of a model's input at least this large is announced
#: once per kind (``net.inputs``): 2,000,000 x 100 float32 for a float64
#: model is 1.6 GB.
COPY_WARN_BYTES = 256 << 20

#: LLVM fast-math flags for the kernels; ``nnan``/``ninf`` stay off so that
#: NaN and Inf checks stay correct. ``reassoc`` stays off too: with it, how a
#: product like ``dout * (1 - a) * (1 + a)`` is associated depends on what
#: LLVM inlined around it, and a kernel compiled in the process (its callees
#: resolved to copies compiled earlier) and the same kernel loaded from the
#: cache gave other bits (a tanh 8 -> 16 -> 16 -> 3 net's gradients, float64;
#: the first run of a fresh install trained another model than later runs).
#: Reductions that need several accumulators to be fast write them out
#: (``epilogues.l2_fold``).
FASTMATH = frozenset({"contract", "arcp", "nsz"})
#: For sums whose value cannot depend on their order (``checks``: sums of
#: ``x * 0``, each 0 or NaN), reassociation is safe and lets them vectorize.
ORDER_FREE_FASTMATH = FASTMATH | {"reassoc"}


def _cache_locator():
    """The Numba cache locator (a class) whose directory this package's kernels
    are cached in, or None when no directory is writable.

    Numba looks, in order, at ``NUMBA_CACHE_DIR``, the ``__pycache__`` beside
    the sources, and a per-user cache directory (``~/.cache/numba`` on Linux);
    a read-only install uses the last. With none writable, ``cache=True``
    would make every ``@njit`` raise at import ("no locator available"), so the
    kernels then compile in memory, each process anew. The first writable one
    is kept for the whole process (``cache.install``): a kernel first seen
    after it stopped being writable compiles in memory rather than being
    cached somewhere else.
    """
    from numba.core import caching
    locators = [caching.UserProvidedCacheLocator, caching.InTreeCacheLocator,
                caching.UserWideCacheLocator]
    usable = (loc for loc in locators if loc.from_function(_cache_locator, __file__) is not None)
    return next(usable, None)


def _shipped_cache():
    """The shipped cache's directory (``kernels/cache.py``) and whether this
    process builds it: ``FUSEDNET_SHIPPED_CACHE`` names another directory
    (``off``: none); ``FUSEDNET_SHIP=1`` writes the kernels this process
    compiles there (``fusednet precompile --ship`` sets it)."""
    where = os.environ.get("FUSEDNET_SHIPPED_CACHE", "")
    if where.lower() == "off":
        return None, False
    where = where or str(Path(__file__).resolve().parent / "shipped")
    return where, os.environ.get("FUSEDNET_SHIP") == "1"


SHIPPED, SHIPPING = _shipped_cache()
_LOCATOR = _cache_locator()
CACHE = _LOCATOR is not None or SHIPPING
if CACHE:
    # Damaged, full or read-only, shipped: see kernels/cache.py.
    from .cache import install as _install_cache
    _install_cache(__package__, _LOCATOR, SHIPPED, SHIPPING)
else:
    warnings.warn("fusednet: no writable directory for Numba's cache (the install is read-only "
                  "and so is the per-user cache); kernels compile in memory in every process. "
                  "Set NUMBA_CACHE_DIR to a writable directory to keep them.", RuntimeWarning,
                  stacklevel=2)

#: Compile options shared by every kernel. No C-callable wrapper: nothing
#: takes a kernel's address, and making one for each of the ~50 functions a
#: first call compiles cost ~0.4 s of it.
JIT = dict(nogil=True, cache=CACHE, fastmath=set(FASTMATH), error_model="numpy",
           no_cfunc_wrapper=True)


def _drop_stale_cache():
    """Empty the kernels' on-disk cache when any kernel source has changed.

    Numba's stamp covers only a function's own file, so a kernel whose
    callee in another module was edited loaded stale machine code (seen
    here: a segfault after editing ``epilogues.py``); the cache's stamp now
    holds a digest of every kernel source (``cache.SOURCES``) and such entries
    are misses. This removes their files, which would otherwise stay until
    overwritten, from the in-tree cache of a checkout being edited.
    """
    if os.environ.get("NUMBA_CACHE_DIR"):
        return  # the user manages that cache
    from .cache import SOURCES
    cache = Path(__file__).resolve().parent / "__pycache__"
    stamp = cache / "kernels-sources.sha256"
    try:
        if stamp.read_text() == SOURCES:
            return
    except OSError:
        pass
    try:
        cache.mkdir(exist_ok=True)
        for f in list(cache.glob("*.nbi")) + list(cache.glob("*.nbc")):
            f.unlink(missing_ok=True)
        stamp.write_text(SOURCES)
    except OSError:
        pass  # a read-only install: its sources do not change either


_drop_stale_cache()
