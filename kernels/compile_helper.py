"""A second process that compiles kernels while a cold first call compiles
its loop.

Numba compiles on one core, one kernel after the other: a cold first
training call types its loop, compiling each callee as the loop reaches it.
A second process can compile some of them at the same time, into the same
cache (its files are written whole and checked on load, see
``kernels.cache``); when the call reaches them it loads them. What the
helper takes (:func:`signatures`) is what the call reaches last: the
scoring of the epoch boundary, the update, and the product's C entry point
(``kernels.matmul``, ~2 s), which the call's kernels reach through a cell
filled only before they run, so the call never waits for it while typing;
with the split loop (the helper is told on stdin, :data:`SPLIT`), region B
first; when the first call is not the training loop's (a notebook's first
loss), the entry point first. Then the step's passes from the last one
back, should the call not have reached them yet.

The two never compile one kernel twice at once: the helper reports on
stdout each kernel it starts and, once it is in the cache, ends
(``start K`` / ``end K``); a call that misses a kernel the helper is
compiling waits for it and loads it (:func:`wait_if_compiling`, through
``kernels.cache.after_miss``), and the end of the call's outermost compile
waits for the entry point (:func:`wait_entry`). On this project's 2-core
machine, empty caches (``fusednet bench --first-call``, import to the last
number): the CS231n toy's loss, train and predict 5.7 s against 9.2 with the
first helper (small kernels only) and 9.0-10.2 without; the CIFAR shape's
train and predict 8.6 s against 16.4 and 14.7-16.

In a fresh environment (the cache holds none of the product's loops for
these sources) the import starts a helper that sets Numba up and waits,
idle, for its dtype (:func:`start_if_cold`): it then starts at once.
:func:`start` runs at the first compile of a fusednet kernel with float
arrays in a process (``compiling.ON_MISS``), once a process and dtype,
and only where it can help: the kernels compile (no ``NUMBA_DISABLE_JIT``)
into a cache this process may write, two cores are usable, and
``FUSEDNET_COMPILE_HELPER`` is not ``0``. The helper is ended when this
process exits; it ends itself on any error or when it can no longer write
the cache, and a call waits for it at most :data:`WAIT` seconds (then it
compiles what it waited for itself). A child forked from the process
neither waits on nor ends its parent's helper. A test checks that a
training call after the helper compiles none of its kernels again.

    python -m fusednet.kernels.compile_helper float64 [train|split]
"""
import atexit
import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
from numba.core import event

from . import cache, compiling

#: Set to "0" to never start the helper (the tests do, but in their own test).
ENV = "FUSEDNET_COMPILE_HELPER"
#: Set in the helper's environment, so that it never starts one itself.
_INSIDE = "FUSEDNET_COMPILE_HELPER_PROCESS"

#: Seconds a compile waits for the helper to finish what it is compiling
#: before compiling that itself (a helper that stalls must not stall the call).
WAIT = 120.0
#: Written to the helper's stdin when the call compiles the training loop:
#: ``train``, or ``split`` for its split path (``kernels.split``); ``step``
#: when it compiles the fused step first (a notebook's first loss).
TRAIN, SPLIT, STEP = b"train\n", b"split\n", b"step\n"
#: Seconds a helper told its dtype waits for the first hint (the first
#: compile is the input checks'; the loop's or the step's follows ~0.2 s
#: later).
HINT_WAIT = 0.4

_started = {}
#: A helper started at import in a fresh environment, waiting, its Numba set
#: up, to be told its dtype (:func:`start_if_cold`).
_spare = None
_lock = threading.Lock()
#: Guards and signals what the helpers report (below).
_reports = threading.Condition()
#: By dtype name: set once the helper has written the product's entry point
#: to the cache or has ended.
_entry_written = {}
#: By dtype name: the kernels (:func:`key`) the helper is compiling now.
_busy = {}
#: The process that started the helpers: a child forked from it has their
#: records but neither their pipes' readers nor a claim on them.
_owner = os.getpid()


def key(func, args):
    """What a kernel's compile for argument types ``args`` is known by
    between the processes."""
    return f"{func.__module__}.{func.__qualname__}{tuple(args)}"


def signatures(dtype, split=False, train=False):
    """``[(kernel, argument types)]`` the helper compiles for a first call
    of a net of ``dtype`` (float32 or float64) with class labels, in order;
    ``(None, None)`` stands for the product's entry point
    (``kernels.matmul``).

    ``train``: the call compiles the training loop, which needs the entry
    point only when it runs, after its own compile: first what the loop
    reaches last (its scoring, its update), then the entry point, then the
    passes of the step from the last one back. ``split``: first region B of
    ``kernels.split`` (~3.5 s with its passes), which the loop reaches after
    region A. Otherwise (the first call is another: a notebook's first loss,
    whose compile ends ~4 s in and needs the entry point then) the entry
    point first, then the loop's scoring and update."""
    from numba import types, typeof

    from . import epilogues, heads, loop, mlp, optim, split as split_mod, two_layer
    f = types.float32 if np.dtype(dtype) == np.float32 else types.float64
    d, i = types.float64, types.int64
    A1, A2 = types.Array(f, 1, "C"), types.Array(f, 2, "C")
    D1, L1 = types.Array(d, 1, "C"), types.Array(i, 1, "C")
    limits = types.UniTuple(i, 3)
    opt = typeof(optim.optimizer("sgd", {"learning_rate": 1.0}, np.zeros(1, dtype))[0])
    a1, a2, ints = np.zeros(1, dtype), np.zeros((1, 1), dtype), np.zeros(1, np.int64)
    net = typeof(mlp.Net(a1, a1, ints, ints, ints, np.zeros(1, bool), 0))
    sc = typeof(mlp.scratch(np.ones(3, np.int64), dtype, 1, (0, 0, 0)))
    views = typeof(two_layer.TwoLayer(a2, a1, a2, a1, a2, a1, a2, a1, a2, a2, a2, a2,
                                      np.zeros(1), np.zeros(1)))
    first = [
        (mlp.score, (net, A2, L1, sc, types.Tuple((A2, A1, A2, A1)))),
        (optim._apply, (opt, A1, A1, A1, A1, A1, d, d)),
        (epilogues.copy_into, (A1, A1)),
        (loop.restore_if_nonfinite, (A1, A1)),
    ]
    first.insert(len(first) if train or split else 0, (None, None))
    if split:
        first.insert(0, (split_mod._features_region,
                         (A2, A2, views, d, opt, A1, A1, d, d, D1, limits, types.boolean)))
    return first + [
        (optim.update_range, (opt, A1, A1, d, d, i, i)),
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


def compile_all(dtype, hints=(), told=None):
    """Compile (or load) every kernel of :func:`signatures` for ``dtype``,
    in the order the ``hints`` (``"train"``, ``"split"``) and those
    ``told()`` returns (a set, asked before each kernel) give."""
    from numba import types

    from . import matmul
    hints = set(hints) | (told(0 if hints else HINT_WAIT) if told else set())
    split = "split" in hints
    todo = signatures(dtype, split, train=bool(hints & {"train", "split"}))
    while todo:
        if not cache._writing:  # what it compiles would reach no one
            return
        if not split and told is not None and "split" in told():
            split = True
            todo.insert(0, signatures(dtype, True)[0])
        kernel, args = todo.pop(0)
        if kernel is None:
            matmul._entry(getattr(types, np.dtype(dtype).name))
            print("entry", flush=True)
        else:
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


def start(dtype, func=None, args=()):
    """Start the helper for ``dtype`` unless one ran in this process already
    or it is not :func:`allowed`; returns the process or None. ``func`` and
    ``args``: the kernel whose compile calls this and its argument types;
    when it is the training loop's, the helper is told (:data:`TRAIN`,
    :data:`SPLIT`)."""
    name = np.dtype(dtype).name
    if name not in ("float32", "float64"):
        return None
    proc = None
    if os.getpid() != _owner:
        return None
    with _lock:
        if name not in _started:
            _started[name] = None
            if allowed():
                proc = _spawn(name)
        running = _started[name]
    hint = _hint(func, args)
    if running is not None and hint:
        try:
            running.stdin.write(hint)
            running.stdin.flush()
        except (OSError, ValueError):  # it ended
            pass
    return proc


def start_if_cold():
    """At import, in a fresh environment (the cache, and the shipped one,
    hold none of the product's loops compiled from these sources): start a
    helper that sets up Numba (~0.6 s with the interpreter and the imports)
    and waits, idle, for the first compile to tell it its dtype; it then
    starts at once (:func:`_spawn`) instead of 0.6 s later."""
    global _spare
    try:
        if os.getpid() == _owner and allowed() and _cold():
            _spare = _popen(["--wait"])
    except Exception:  # never a reason for an import to fail
        _spare = None


def _cold():
    from . import matmul
    kc = cache.kernel_cache(matmul._c_entry)
    files = (getattr(kc, "_cache_file", None), getattr(kc, "_shipped", None))
    return not any(f is not None and f._load_index() for f in files)


def _popen(args):
    try:
        return subprocess.Popen(
            [sys.executable, "-m", f"{__package__.rpartition('.')[0]}.kernels.compile_helper",
             *args],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            env=dict(os.environ, **{_INSIDE: "1"}))
    except OSError:
        return None


def _spawn(name):
    """The helper for ``name``: the waiting one, told its dtype, or a new one."""
    global _spare
    proc, _spare = _spare, None
    if proc is not None:
        try:
            proc.stdin.write(f"go {name}\n".encode())
            proc.stdin.flush()
        except (OSError, ValueError):  # it ended
            _end(proc)
            proc = None
    if proc is None:
        proc = _popen([name])
        if proc is None:
            return None
    _started[name] = proc
    _entry_written[name] = threading.Event()
    _busy[name] = set()
    threading.Thread(target=_watch, args=(proc, name), daemon=True).start()
    return proc


def _end(proc):
    if proc is not None and proc.poll() is None:
        proc.kill()
        proc.wait()


def _hint(func, args):
    """What to tell the helper when ``func`` compiles for ``args``: the
    training loop's :data:`TRAIN` or :data:`SPLIT`, the fused step's
    :data:`STEP`, else None."""
    from numba import types

    from . import loop, two_layer
    if func is getattr(two_layer.two_layer_step, "py_func", None):
        return STEP
    if func is not getattr(loop.train, "py_func", None) or len(args) != 8:
        return None
    return TRAIN if isinstance(args[5], types.NoneType) else SPLIT


def _watch(proc, name):
    """Read the helper's reports until it ends: ``entry``, and ``start K`` /
    ``end K`` around each kernel it compiles (K: :func:`key`)."""
    try:
        for line in proc.stdout:
            word, _, what = line.decode("utf-8", "replace").rstrip("\n").partition(" ")
            with _reports:
                if word == "entry":
                    _entry_written[name].set()
                elif word == "start":
                    _busy[name].add(what)
                elif word == "end":
                    _busy[name].discard(what)
                _reports.notify_all()
    finally:
        with _reports:
            _entry_written[name].set()
            _busy[name].clear()
            _reports.notify_all()
        proc.stdout.close()


def take_entry(dtype):
    """Whether a helper compiles ``dtype``'s product entry point
    (``kernels.matmul``) now or later, starting one if none ran in this
    process and one is :func:`allowed`. The caller then waits for it with
    :func:`wait_entry` before the code that calls it can run."""
    name = np.dtype(dtype).name
    start(name)
    proc = _started.get(name)
    return (os.getpid() == _owner and proc is not None and proc.poll() is None
            and not _entry_written[name].is_set())


def wait_entry(dtype):
    """Wait until the helper has written ``dtype``'s entry point to the cache
    or has ended (at most :data:`WAIT` seconds); return at once if no helper
    ran for it."""
    written = _entry_written.get(np.dtype(dtype).name) if os.getpid() == _owner else None
    deadline = time.monotonic() + WAIT
    while written is not None and not written.wait(0.05) and time.monotonic() < deadline:
        pass


def wait_if_compiling(what):
    """When a helper is compiling ``what`` (:func:`key`), wait until it has
    finished (at most :data:`WAIT` seconds) and return True: the caller,
    which missed it in the cache, looks again instead of compiling it too."""
    if os.getpid() != _owner:
        return False
    deadline = time.monotonic() + WAIT
    with _reports:
        if not any(what in busy for busy in _busy.values()):
            return False
        while any(what in busy for busy in _busy.values()) and time.monotonic() < deadline:
            _reports.wait(0.05)
    return True


compiling.ON_MISS.append(start)


def _after_miss(func, args):
    return bool(_busy) and wait_if_compiling(key(func, args))


cache.after_miss.append(_after_miss)
if __name__ != "__main__":  # run as the helper, this module is also imported by its name
    compiling.HELPER = sys.modules[__name__]


@atexit.register
def _end_helpers():
    if os.getpid() != _owner:  # a forked child's copies of the records
        return
    for proc in [*_started.values(), _spare]:
        _end(proc)


class _Reporter(event.Listener):
    """In the helper: ``start K`` on stdout when a compile of one of the
    package's kernels starts (K: :func:`key`), ``end K`` once its entry is
    in the cache (Numba saves it after the compile's event ends) or the
    compile failed, so that a call that needs a kernel the helper is
    compiling waits for it and then loads it."""

    def on_start(self, ev):
        self._say("start", ev)

    def on_end(self, ev):
        # (Numba's Event.is_failed is True for no event that failed.)
        exc = getattr(ev, "_exc_details", None)
        if exc is not None and exc[0] is not None:
            self._say("end", ev)

    def _say(self, word, ev):
        func = getattr((ev.data or {}).get("dispatcher"), "py_func", None)
        if func is not None:
            _report(word, func, ev.data["args"])


def _report(word, func, args):
    if func.__module__.startswith(__package__):
        print(word, key(func, args), flush=True)


_unread = b""


def _lines(timeout):
    """The complete lines on stdin (read unbuffered: ``select`` sees only
    what Python has not read ahead), waiting up to ``timeout`` seconds (None:
    for ever) when none is there yet; None at the end of input."""
    import select
    global _unread
    fd = sys.stdin.fileno()
    while b"\n" not in _unread:
        if not select.select([fd], [], [], timeout)[0]:
            break
        chunk = os.read(fd, 4096)
        if not chunk:
            return None
        _unread += chunk
    *lines, _unread = _unread.split(b"\n")
    return [line.decode("ascii", "replace").strip() for line in lines]


def _told(timeout=0.0):
    """The hints (``"train"``, ``"split"``, ``"step"``) the process that
    started the helper has written to its stdin since the last look,
    waiting up to ``timeout`` seconds for the first."""
    try:
        return set(_lines(timeout) or ()) & {"train", "split", "step"}
    except (OSError, ValueError):
        return set()


def main(argv=None):
    """The helper: ``python -m ...compile_helper DTYPE [train|split]``, or
    ``--wait`` (set up, then read ``go DTYPE`` on stdin).
    :func:`compile_all` for DTYPE, reporting as it goes (``entry``;
    ``start K`` and ``end K``), told on stdin (or by its arguments) whether
    the call trains, and split."""
    argv = sys.argv[1:] if argv is None else argv
    # A terminal's Ctrl-C reaches the whole process group: the parent stops
    # its call, and this goes on, so that the parent's next call finds the
    # kernels compiled (the parent ends it at exit).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if argv[:1] == ["--wait"]:
        from numba import njit
        njit(lambda x: x + 1)(1.0)  # Numba's target set up, as a first compile does
        lines = []
        while lines == []:
            lines = _lines(None)
        if not lines or not lines[0].startswith("go "):  # the caller ended without a compile
            return
        argv = lines[0].split()[1:] + lines[1:]  # the dtype, then any hint sent with it
    from . import matmul
    matmul._SETTLE = False  # nothing runs here: the entry point compiles in its turn
    event.register("numba:compile", _Reporter())
    cache.after_save.append(lambda func, args: _report("end", func, args))
    compile_all(argv[0], hints=argv[1:], told=_told)


if __name__ == "__main__":
    main()
