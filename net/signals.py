"""SIGTERM and SIGHUP handled like Ctrl-C while fusednet trains.

``timeout``, Slurm at the end of a job's time, ``docker stop`` and systemd
send SIGTERM; a closing terminal sends SIGHUP. Their default action ends the
process at once and the work of the call is lost. Inside
:func:`stop_on_terminate` they raise :class:`Terminated`, a
``KeyboardInterrupt``, between two compiled chunks (a quarter of a second
apart), so every path that keeps its finished work on Ctrl-C keeps it on
them too; the exception that reaches the caller
(``TrainingInterrupted``) says which signal in ``signum``.

When that exception is not caught, the process ends by the signal's default
action after Python's usual clean-up (so a parent sees -15 / 143, not the
-2 an uncaught ``KeyboardInterrupt`` gives); the commands do the same after
saving what they have (:func:`exit_by`).

The handlers are installed only in the main thread (Python allows no other)
and only over the default action: a handler of the user's, or an ignored
signal (``nohup``), is left alone.

A signal's exception can be swallowed on its way out: a compiled function
unboxing a typed ``List`` calls a little Python (Numba's unpickler), and
when the handler raises there, Numba replaces the exception with a
``TypeError`` ("can't unbox ... as a <NULL>"). So the block also takes over
Ctrl-C's default handler, counts the signals its handlers raised, and turns
any other exception leaving it after one arrived back into the interrupt.
"""
import atexit
import os
import signal
import sys
import threading
from contextlib import contextmanager

try:
    # The C functions under ``signal``'s: its wrappers convert every handler
    # and number to enums, most of the ~9 us the handlers cost a training call.
    from _signal import SIG_DFL as _DEFAULT, getsignal as _getsignal, signal as _setsignal
except ImportError:  # another Python
    _DEFAULT, _getsignal, _setsignal = signal.SIG_DFL, signal.getsignal, signal.signal

#: The signals handled like Ctrl-C, where the platform has them.
SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name))


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP arrived during training; ``signum`` says which."""

    def __init__(self, signum):
        super().__init__(f"stopped by {signal.Signals(signum).name}")
        self.signum = signum


def signum_of(exc):
    """The signal that stopped a call: ``exc.signum``, SIGINT for Ctrl-C."""
    return getattr(exc, "signum", signal.SIGINT)


#: ``[count, last signum]`` of the signals the handlers below raised.
_raised = [0, None]


def _raise(signum, frame):
    _arm_exit()
    _raised[:] = _raised[0] + 1, signum
    raise Terminated(signum)


def _raise_interrupt(signum, frame):
    _raised[:] = _raised[0] + 1, signum
    raise KeyboardInterrupt


@contextmanager
def stop_on_terminate():
    """Within the block, SIGTERM and SIGHUP raise :class:`Terminated` (see
    the module's docstring for when they are left alone)."""
    installed = []
    if threading.current_thread() is threading.main_thread():
        for signum, default, handler in _HANDLERS:
            try:
                if _getsignal(signum) == default:
                    _setsignal(signum, handler)
                    installed.append((signum, default))
            except (ValueError, OSError):  # an embedded interpreter may refuse
                pass
    count = _raised[0]
    try:
        yield
    except Exception as exc:
        if _raised[0] == count:
            raise
        signum = _raised[1]
        # The signal's own exception was replaced on its way out (see above).
        raise (KeyboardInterrupt() if signum == signal.SIGINT else Terminated(signum)) from exc
    finally:
        for signum, default in installed:
            _setsignal(signum, default)


#: ``(signal, the default handler taken over, ours)``.
_HANDLERS = tuple((signum, _DEFAULT, _raise) for signum in SIGNALS) + (
    (signal.SIGINT, signal.default_int_handler, _raise_interrupt),)


def exit_by(signum):
    """End the process by ``signum``'s (SIGTERM's, SIGHUP's) default action,
    after flushing, so the parent sees the status that signal gives."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError, AttributeError):
            pass
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)
    os._exit(128 + signum)  # not reached where the signal's action is to end the process


_uncaught = []
_armed = False


def _arm_exit():
    """After a first Terminated: if it ends up uncaught, end by its signal."""
    global _armed
    if _armed:
        return
    _armed = True
    previous = sys.excepthook

    def excepthook(kind, value, tb):
        if isinstance(value, KeyboardInterrupt) and signum_of(value) != signal.SIGINT:
            _uncaught.append(signum_of(value))
        previous(kind, value, tb)

    sys.excepthook = excepthook
    atexit.register(_exit_if_uncaught)


def _exit_if_uncaught():
    if _uncaught:
        exit_by(_uncaught[-1])
