"""A second process that compiles the small kernels while a first call
compiles its loop.

Numba compiles on one core, and a cold first training call spends most of
its time typing and lowering kernels one after the other: the loop's own
callees first (the minibatch gather, then ``matmul``'s C entry point, ~2.5
s), the passes after (bias and activation, the head's loss, the column sums,
the L2 term, the update, scoring). Those passes call no product, so another
process can compile them at the same time, into the same cache; when the
first call's loop reaches them they are loaded (the cache's files are
written whole and checked on load, see ``kernels.cache``). On this project's
2-core machine the cold CS231n toy call took 8.4 s with the helper against
11.3 s without (alternated, empty caches).

:func:`start` runs when a compile is still going after ``compiling.DELAY``
(the cold case, when the message is printed), once a process, for the dtype
of that compile, and only where it can help: the kernels compile (no ``NUMBA_DISABLE_JIT``) into a
cache this process may write, two cores are usable, and
``FUSEDNET_COMPILE_HELPER`` is not ``0``. The helper is ended when this
process exits, and it ends itself on any error (then the first call compiles
all as it would have). Its kernels and their argument types are
:func:`signatures`; a test checks that a training call then compiles none of
them again.

    python -m fusednet.kernels.compile_helper float64
"""
import atexit
import os
import subprocess
import sys
import threading

import numpy as np

from . import compiling

#: Set to "0" to never start the helper (the tests do, but in their own test).
ENV = "FUSEDNET_COMPILE_HELPER"
#: Set in the helper's environment, so that it never starts one itself.
_INSIDE = "FUSEDNET_COMPILE_HELPER_PROCESS"

_started = {}
_lock = threading.Lock()


def signatures(dtype):
    """``[(kernel, argument types)]`` of the passes a training call of a net
    of ``dtype`` (float32 or float64) with class labels compiles, in the
    order the helper compiles them: those the loop reaches last first."""
    from numba import types, typeof

    from . import epilogues, heads, loop, optim
    f = types.float32 if np.dtype(dtype) == np.float32 else types.float64
    d, i = types.float64, types.int64
    A1, A2 = types.Array(f, 1, "C"), types.Array(f, 2, "C")
    D1, L1 = types.Array(d, 1, "C"), types.Array(i, 1, "C")
    opt = typeof(optim.optimizer("sgd", {"learning_rate": 1.0}, np.zeros(1, dtype))[0])
    return [
        (optim._apply, (opt, A1, A1, A1, A1, A1, d, d)),
        (optim.update_range, (opt, A1, A1, d, d, i, i)),
        (epilogues.copy_into, (A1, A1)),
        (loop.restore_if_nonfinite, (A1, A1)),
        (epilogues.add_into, (A2, A2)),
        (heads.count_matches, (A2, L1, i)),
        (epilogues.l2_fold, (A2, A2, d)),
        (epilogues.grad_colsum, (A2, A2, i, A2, A1, D1)),
        (heads.head_loss, (i, A2, L1, A2, D1, D1)),
        (heads.head_rows, (i, A2, L1, A2, D1, d)),
        (heads.weigh_rows, (A2, D1, D1)),
        (heads.weight_sum, (D1, i)),
        (epilogues.mean_loss, (D1, i)),
        (epilogues.bias_act, (A2, A1, i)),
    ]


def compile_all(dtype):
    """Compile (or load) every kernel of :func:`signatures` for ``dtype``."""
    for kernel, args in signatures(dtype):
        kernel.compile(args)


def allowed():
    """Whether a helper may start here (see the module)."""
    from numba import config as numba_config

    from . import config
    if os.environ.get(ENV, "1") == "0" or os.environ.get(_INSIDE):
        return False
    if numba_config.DISABLE_JIT or not config.JIT.get("cache"):
        return False
    from . import cache
    if cache._shipping:  # building a shipped cache: its own processes, its own targets
        return False
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return cores >= 2 and _cache_writable()


def _cache_writable():
    """Whether this process writes the kernels' cache, and may still."""
    from . import cache, epilogues
    path = getattr(epilogues.copy_into._cache, "_cache_path", None)  # a NullCache has none
    return bool(cache._writing and path and os.path.isdir(path) and os.access(path, os.W_OK))


def start(dtype):
    """Start the helper for ``dtype`` unless one ran in this process already
    or it is not :func:`allowed`; returns the process or None."""
    name = np.dtype(dtype).name
    if name not in ("float32", "float64"):
        return None
    with _lock:
        if name in _started:
            return None
        _started[name] = None
        if not allowed():
            return None
        try:
            proc = subprocess.Popen(
                [sys.executable, "-m", f"{__package__.rpartition('.')[0]}.kernels.compile_helper",
                 name],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                env=dict(os.environ, **{_INSIDE: "1"}))
        except OSError:
            return None
        _started[name] = proc
    return proc


compiling.ON_COLD.append(start)


@atexit.register
def _end_helpers():
    for proc in _started.values():
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    compile_all(argv[0] if argv else "float64")


if __name__ == "__main__":
    main()
