"""Say so, once, when the kernels compile.

A fresh environment (a new notebook runtime, a new install, a new dtype)
without a shipped cache pays Numba's compile time on the first call: 6-10 s
on this project's 2-core machine, during which nothing else shows and the
call looks hung.
Numba announces a compile (a cache miss) with a ``numba:compile`` event; a
load from the on-disk cache raises none. ``kernels.matmul`` compiles its C
entry points outside a dispatcher and raises :data:`EVENT` around each
instead (its data: ``{"dispatcher": the CFunc}``); a listener of Numba's own
event sees only dispatchers. When a compile of one of
fusednet's kernels is still running after ``DELAY`` seconds, one line goes
to stderr, once per process; warm calls (everything loaded from the cache)
print nothing. The compile helper (a second process compiling the
product's entry point and the small kernels meanwhile,
``kernels.compile_helper``) starts earlier, at the first such compile of a
kernel with float arrays: a cold first call reaches its first product
~1 s into its compile, and the helper needs most of a second to start.
"""
import sys
import threading

from numba.core import event

#: The event a compile of one of matmul's C entry points raises.
EVENT = "fusednet:compile"

#: Called as ``callback(dtype name, function, argument types)`` when an
#: outermost compile of a kernel with float arrays starts (a cache miss) (``kernels.compile_helper``
#: adds its ``start``; registered there, so that this module, which the
#: kernels import, imports none of them).
ON_MISS = []


class _NoHelper:
    """What the product's entry point (``kernels.matmul``) asks of the compile
    helper, where none is registered: nothing is left to it."""

    @staticmethod
    def take_entry(dtype):
        return False

    @staticmethod
    def wait_entry(dtype):
        pass


#: The compile helper's ``take_entry`` and ``wait_entry`` (the module
#: ``kernels.compile_helper`` registers itself; ``kernels.matmul`` calls them
#: through here, so that neither imports the other).
HELPER = _NoHelper

#: Seconds a compile runs before the line is printed: one new small kernel
#: (a dtype not seen yet) compiles in ~0.1-0.5 s and is not worth a line.
DELAY = 1.0

MESSAGE = ("fusednet: compiling kernels for this machine, once per install and dtype "
           "(about 5-10 s on 2 cores; later runs load them from the cache; "
           "fusednet.precompile(progress=True) pays it up front)")


def _ours(ev):
    dispatcher = (ev.data or {}).get("dispatcher")
    # A dispatcher's function, or a C entry point's (a CFunc's, EVENT).
    func = getattr(dispatcher, "py_func", None) or getattr(dispatcher, "__wrapped__", None)
    module = getattr(func, "__module__", "") or ""
    return module.startswith(__package__.rpartition(".")[0])


def _float_dtype(ty):
    """The dtype of the first float array in the Numba type ``ty`` (an array,
    or a tuple or named tuple of them, searched in order), or None."""
    from numba.core import types
    if isinstance(ty, types.Array):
        return ty.dtype.name if ty.dtype in (types.float32, types.float64) else None
    if isinstance(ty, types.BaseTuple):
        return next(filter(None, map(_float_dtype, ty.types)), None)
    return None


class _Announcer(event.Listener):
    """Starts a timer at the outermost compile of a fusednet kernel (and
    calls :data:`ON_MISS`); the timer prints :data:`MESSAGE` unless that
    compile ended first."""

    def __init__(self):
        self.depth = 0
        self.timer = None
        self.said = False
        self.lock = threading.Lock()

    def on_start(self, ev):
        if not _ours(ev):
            return
        with self.lock:
            self.depth += 1
            if self.depth != 1:
                return
            args = (ev.data or {}).get("args") or ()
            dtype = next(filter(None, map(_float_dtype, args)), None)
            if not self.said:
                self.timer = threading.Timer(DELAY, self.say)
                self.timer.daemon = True
                self.timer.start()
        if dtype is not None:
            func = getattr(ev.data["dispatcher"], "py_func", None)
            for callback in ON_MISS:
                try:
                    callback(dtype, func, args)
                except Exception:  # a helper that cannot start never stops a compile
                    pass

    def on_end(self, ev):
        if not _ours(ev):
            return
        with self.lock:
            self.depth -= 1
            if self.depth == 0 and self.timer is not None:
                self.timer.cancel()
                self.timer = None

    def say(self):
        with self.lock:
            if self.said or self.depth == 0:
                return
            self.said = True
        print(MESSAGE, file=sys.stderr, flush=True)


ANNOUNCER = _Announcer()
event.register("numba:compile", ANNOUNCER)
event.register(EVENT, ANNOUNCER)
