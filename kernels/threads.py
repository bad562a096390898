"""Threads, in one place: Numba's threading layer, the one thread-count knob,
when a ``parallel=True`` kernel may run, and the kernels' BLAS thread count.
(How many threads a training chunk gets is chosen by ``net.chunks``.)

Measured here (2 cores; see the README's Parallelism section):
- Layer: ``tbb`` (the ``tbb`` wheel, loaded as below) is fork-safe and safe
  under concurrent calls from Python threads, and its idle workers do not
  spin against OpenBLAS's. ``omp`` spins (a GEMM + prange epilogue took 8 ms
  against 0.56 ms) and aborts a forked child; ``workqueue`` aborts when two
  Python threads enter a parallel region at once. The user's choice
  (``NUMBA_THREADING_LAYER``) is respected; the unsafe cases below then run
  the serial kernels instead, with one warning.
- ``pip install tbb`` alone is ignored by Numba in a virtual environment: its
  ``libtbb.so.12`` is not on the loader's path. Opening it first with
  ``RTLD_GLOBAL`` makes Numba's tbb pool load it.
- Inside a parallel region BLAS must be single-threaded (a batched product
  with BLAS threads inside prange ran 9.5 ms against 1.0 ms).
"""
import ctypes
import os
import sys
import threading
import warnings
from contextlib import contextmanager

import numba

#: Environment variable for the thread count (also ``set_num_threads``).
ENV = "FUSEDNET_NUM_THREADS"


def available_cores():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _load_tbb():
    """Open the tbb wheel's library so Numba's tbb layer finds it; True if loaded."""
    import site
    prefixes = [sys.prefix, sys.base_prefix, site.getuserbase()]
    for path in (os.path.join(p, "lib", "libtbb.so.12") for p in prefixes):
        if os.path.exists(path):
            try:
                lib = ctypes.CDLL(path, mode=ctypes.RTLD_GLOBAL)
                if lib.TBB_runtime_interface_version() >= 12060:  # what Numba requires
                    return True
            except (OSError, AttributeError):
                pass
    return False


def _choose_layer():
    """``tbb`` when the user chose no layer and tbb loads; otherwise the
    user's layer (tbb is loaded for it too, should it name or allow tbb)."""
    tbb = _load_tbb()
    if os.environ.get("NUMBA_THREADING_LAYER") or numba.config.THREADING_LAYER != "default":
        return numba.config.THREADING_LAYER
    if tbb:
        numba.config.THREADING_LAYER = "tbb"
        return "tbb"
    # Without tbb: workqueue is fork-safe and does not spin; the lock below
    # keeps two threads out of it at once.
    numba.config.THREADING_LAYER = "workqueue"
    return "workqueue"


LAYER = _choose_layer()
_pid = os.getpid()
_used_in_pid = None
_broken = False
_region = threading.Lock()
_warned = set()


def _warn_once(key, message):
    if key not in _warned:
        _warned.add(key)
        warnings.warn(f"fusednet: {message}; running the serial kernels instead", RuntimeWarning,
                      stacklevel=3)


def _initial_threads():
    value = os.environ.get(ENV)
    if value is None:
        return min(available_cores(), numba.config.NUMBA_NUM_THREADS)
    try:
        n = int(value)
    except ValueError:
        raise ValueError(f"{ENV} must be a positive integer, got {value!r}") from None
    if n < 1:
        raise ValueError(f"{ENV} must be a positive integer, got {value!r}")
    return min(n, available_cores(), numba.config.NUMBA_NUM_THREADS)


_threads = _initial_threads()


def _launch():
    """Start Numba's thread pool now, before any kernel runs.

    The training loop is a cached serial kernel that calls a parallel one
    (the regions of ``split.split_iteration``). Numba starts its pool, and registers the
    pool's functions with the compiled code, when a parallel kernel is loaded
    or compiled; a kernel compiled in a process that loaded its parallel
    callee from the cache, then loaded itself from the cache, misses that
    start and crashed here (a segfault, Numba 0.68, even on its serial path;
    ``tests/test_parallel.py`` replays the orders). Starting the pool first
    makes every order safe.

    A layer the user named that cannot load (``tbb`` or ``safe`` without the
    tbb library) is replaced by ``workqueue``, which always loads and which
    ``parallel_region`` keeps to one thread at a time, with one warning: with
    no pool at all, loading any cached kernel that holds a parallel region
    (the split loop, L-BFGS's blocks) raised "No threading layer could be
    loaded", even on its serial path. Only if that fails too is the layer
    remembered as broken, and every kernel then runs serially.
    """
    global _broken, _used_in_pid, LAYER
    try:
        numba.get_num_threads()  # starts the pool
    except ValueError as exc:  # the layer the user named cannot load
        named, LAYER = LAYER, "workqueue"
        numba.config.THREADING_LAYER = LAYER
        try:
            numba.get_num_threads()
        except ValueError:
            _broken = True
            _warn_once("layer", f"Numba's threading layer {named!r} did not load ({exc})")
            return
        warnings.warn(f"fusednet: Numba's threading layer {named!r} did not load "
                      f"({str(exc).splitlines()[0]}); using 'workqueue', one parallel call at "
                      "a time", RuntimeWarning, stacklevel=2)
    if LAYER == "omp":
        _used_in_pid = os.getpid()  # a forked child must not enter omp's pool


_launch()


def get_num_threads():
    """Threads fusednet's parallel kernels and its BLAS calls use at most."""
    return _threads


def set_num_threads(n):
    """Use at most ``n`` threads (clamped to the cores this process may run
    on and to ``NUMBA_NUM_THREADS``) in parallel kernels and in BLAS calls
    made by the training loop. Also ``FUSEDNET_NUM_THREADS`` at import."""
    global _threads
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    _threads = min(n, available_cores(), numba.config.NUMBA_NUM_THREADS)
    return _threads


class parallel_region:
    """``with parallel_region() as ok:`` guards one call of a parallel kernel.

    ``ok`` is False where a parallel call is not safe: one thread, a forked
    child of a process whose ``omp`` pool had started, ``workqueue`` already
    busy in another thread, or Numba's JIT disabled. Then the caller runs its
    serial kernel. Inside, Numba uses :func:`get_num_threads` threads.
    """

    def __enter__(self):
        global _used_in_pid
        self.locked = False
        if _threads < 2 or numba.config.DISABLE_JIT or _broken:
            return False
        if LAYER == "omp" and _used_in_pid is not None and _used_in_pid != os.getpid():
            _warn_once("omp-fork", "the omp threading layer cannot run in a forked child")
            return False
        if LAYER == "workqueue" or LAYER == "default":
            if not _region.acquire(blocking=False):
                _warn_once("workqueue", "Numba's workqueue layer is busy in another thread")
                return False
            self.locked = True
        _used_in_pid = os.getpid()
        self.before = numba.get_num_threads()  # the caller's (Numba's count is per thread)
        numba.set_num_threads(_threads)
        return True

    def __exit__(self, kind, value, tb):
        global _broken
        if getattr(self, "before", None) is not None:
            numba.set_num_threads(self.before)
        if self.locked:
            _region.release()
        if kind is ValueError and "threading layer" in str(value):
            # The layer the user named cannot load (e.g. tbb not installed).
            _broken = True
            _warn_once("layer", f"Numba's threading layer {LAYER!r} did not load ({value})")
        return False


@contextmanager
def stealing_region():
    """``with stealing_region() as ok:`` a :class:`parallel_region` whose
    ``prange`` loops hand out one iteration at a time (Numba's chunk size 1):
    a free thread takes the next block or model, so one slowed by another
    program takes fewer."""
    with parallel_region() as ok:
        if not ok:
            yield False
            return
        chunk = numba.set_parallel_chunksize(1)
        try:
            yield True
        finally:
            numba.set_parallel_chunksize(chunk)


class _Blas:
    """The thread count of the BLAS the kernels call (NumPy's OpenBLAS), set
    directly: ~2 us a call, where a threadpoolctl context costs ~1 ms."""

    def __init__(self):
        self.lib = None
        try:
            from threadpoolctl import ThreadpoolController
            from .blas import _numpy_blas_path
            path = _numpy_blas_path()
            for c in ThreadpoolController().lib_controllers:
                if c.filepath == path:
                    self.lib = c
        except Exception:  # no threadpoolctl-visible BLAS: nothing to set
            self.lib = None

    def get(self):
        return self.lib.get_num_threads() if self.lib is not None else 1

    def set(self, n):
        if self.lib is not None:
            # threadpoolctl lets only the first Python thread that set
            # OpenBLAS's count set it again (a call from any other is
            # silently dropped: training in a second thread ran on the first's
            # count); ``blas_threads`` coordinates the threads itself.
            getattr(self.lib, "_real_set_num_threads", self.lib.set_num_threads)(n)


_blas = None


def blas():
    global _blas
    if _blas is None:
        _blas = _Blas()
    return _blas


_requests = {}  # Python thread -> the BLAS thread counts its open blas_threads asked for
_requests_lock = threading.Lock()
_before = None  # the count found when the first of them opened


class blas_threads:
    """``with blas_threads(n):`` the kernels' BLAS runs n threads, then the
    count before (the user's, or threadpoolctl's limit) comes back.

    OpenBLAS's count is one for the process. While several Python threads
    are inside such blocks at once, it is the smallest count they asked for,
    and the count found before comes back only when the last one leaves: a
    thread's exit never lands inside another's chunk with the wrong count.
    """

    def __init__(self, n):
        self.n = n

    def __enter__(self):
        global _before
        me = threading.get_ident()
        with _requests_lock:
            if not _requests:
                _before = blas().get()
            _requests.setdefault(me, []).append(self.n)
            _apply()
        return self

    def __exit__(self, *exc):
        me = threading.get_ident()
        with _requests_lock:
            mine = _requests[me]
            mine.pop()
            if not mine:
                del _requests[me]
            if _requests:
                _apply()
            elif blas().get() != _before:
                blas().set(_before)
        return False


def _apply():
    """Set BLAS to the smallest count the open blocks ask for (lock held)."""
    n = min(counts[-1] for counts in _requests.values())
    if blas().get() != n:
        blas().set(n)
