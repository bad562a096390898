"""Ctrl-C held while the main thread holds Numba's compiler lock.

An exception raised in the middle of Numba's compiler can leave Numba unable
to compile for the rest of the process. Measured here: a Ctrl-C that landed
in the target context's first refresh (which installs Numba's implementation
registries through generators) made every later compile in that process
fail with ``RuntimeError: generator raised StopIteration``, so the
notebook's next call failed too. A signal's handler runs between any two
bytecodes, so no ``try`` in our code can protect Numba's.

So, while the main thread holds the compiler lock (compiling, or loading
from the cache; Numba raises ``numba:compiler_lock`` events around it),
SIGINT, SIGTERM and SIGHUP, where a Python handler takes them, are noted
instead of handled, and sent again once the thread has let go of the lock.
The handler then runs as it would have: a Ctrl-C during a cold first call
ends the call when the compile under way has ended (a few seconds at most;
a line on stderr says so), and the next call compiles or loads as usual.
Signals are delivered to the main thread only, so a compile in another
thread is left alone. A signal whose action is the default (SIGTERM's ends
the process) or to be ignored is left alone.
"""
import signal
import sys
import threading

from numba.core import event
from numba.core.compiler_lock import global_compiler_lock

#: The signals held, where the platform has them.
SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP")
                if hasattr(signal, name))

MESSAGE = "fusednet: interrupted; stopping when the compile under way ends"


class _Hold(event.Listener):
    """Holds the signals from the main thread's first start of a compiler
    lock event, and hands them back at the end that leaves the lock free.

    No count of starts and ends: an acquire interrupted before it took the
    lock has a start and no end (a signal then is handled at once, see
    :meth:`_note`), and the next end that leaves the lock free hands back."""

    def __init__(self):
        self.saved = []   # (signum, handler) replaced by _note
        self.noted = []   # signals that arrived meanwhile, in order, once each

    def on_start(self, ev):
        if threading.current_thread() is not threading.main_thread() or self.saved:
            return
        for signum in SIGNALS:
            try:
                handler = signal.getsignal(signum)
                if callable(handler):
                    signal.signal(signum, self._note)
                    self.saved.append((signum, handler))
            except (ValueError, OSError):  # an embedded interpreter may refuse
                pass

    def on_end(self, ev):
        # The lock is released before Numba raises this event's end.
        if threading.current_thread() is not threading.main_thread() or not self.saved \
                or global_compiler_lock.is_locked():
            return
        saved, self.saved = self.saved, []
        noted, self.noted = self.noted, []
        for signum, handler in saved:
            if signal.getsignal(signum) == self._note:  # not one set since (left as it is)
                signal.signal(signum, handler)
        # Each handler now runs at the next bytecode, outside the compiler.
        for signum in noted:
            signal.raise_signal(signum)

    def _note(self, signum, frame):
        if not global_compiler_lock.is_locked():
            # Between the event and the lock (waiting for another thread's
            # compile), or an end that never came: nothing of Numba's is
            # half done, so the signal is handled at once.
            handler = dict(self.saved).get(signum)
            return handler(signum, frame) if callable(handler) else None
        if not self.noted:
            try:
                print(MESSAGE, file=sys.stderr, flush=True)
            except (RuntimeError, OSError, ValueError, AttributeError):
                # A handler runs between two bytecodes, perhaps inside the
                # main thread's own write to stderr (a reentrant write
                # raises): nothing may raise here, inside Numba's compiler.
                pass
        if signum not in self.noted:
            self.noted.append(signum)


HOLD = _Hold()
event.register("numba:compiler_lock", HOLD)
