"""``kernels.interrupts``: a signal that arrives while the main thread holds
Numba's compiler lock is handled once the lock is let go, so the compile
under way completes and Numba can compile again in that process."""
import json
import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent("""
    import json, signal, sys
    from numba import njit
    from numba.core import event
    from fusednet.net import signals
    signum = getattr(signal, sys.argv[1])

    @njit
    def f(x):
        return x + 1

    class Send(event.Listener):
        # The signal, sent from inside the compile: its handler runs at the
        # next bytecodes, still inside Numba's compiler, unless it is held.
        def on_start(self, ev):
            signal.raise_signal(signum)
            for _ in range(100):
                pass
        def on_end(self, ev):
            pass

    out = {}
    with signals.stop_on_terminate():  # SIGTERM raises as Ctrl-C does (a training call's block)
        try:
            with event.install_listener("numba:compile", Send()):
                f(1)
            out["raised"] = None
        except KeyboardInterrupt as exc:
            out["raised"] = type(exc).__name__
        out["compiled"] = len(f.signatures)   # the compile under way completed
        out["after"] = f(2)                   # and runs
        out["handler_back"] = signal.getsignal(signum) is not None and \\
            signal.getsignal(signum).__name__ != "_note"

    @njit
    def g(x):
        return x * 3
    out["next"] = g(3)                        # the next compile in the process works
    print(json.dumps(out))
""")


@pytest.mark.parametrize("name, raised", [("SIGINT", "KeyboardInterrupt"),
                                          ("SIGTERM", "Terminated")])
def test_a_signal_during_a_compile_is_raised_once_the_compile_has_ended(name, raised):
    out = subprocess.run([sys.executable, "-c", SCRIPT, name], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.splitlines()[-1])
    assert result == {"raised": raised, "compiled": 1, "after": 3, "handler_back": True,
                      "next": 9}
    assert "stopping when the compile under way ends" in out.stderr


OUTSIDE = textwrap.dedent("""
    import json, signal
    from fusednet.kernels import interrupts
    from numba.core.compiler_lock import global_compiler_lock
    out = {}
    interrupts.HOLD.on_start(None)   # a start whose acquire never took the lock (interrupted)
    try:
        signal.raise_signal(signal.SIGINT)   # not inside the lock: handled at once
        for _ in range(100):
            pass
        out["outside"] = "not raised"
    except KeyboardInterrupt:
        out["outside"] = "raised"
    try:
        with global_compiler_lock:           # the next hold of the lock: held inside ...
            signal.raise_signal(signal.SIGINT)
            for _ in range(100):
                pass
            out["inside"] = "held"
        out["at_release"] = "not raised"
    except KeyboardInterrupt:                # ... raised once it is let go
        out["at_release"] = "raised"
    out["handler_back"] = signal.getsignal(signal.SIGINT) is signal.default_int_handler
    print(json.dumps(out))
""")


def test_a_signal_outside_the_compiler_lock_is_handled_at_once_even_while_held():
    # The main thread waiting for another thread's compile, interrupted there:
    # nothing of Numba's is half done, and the next compile's hold still ends.
    out = subprocess.run([sys.executable, "-c", OUTSIDE], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert json.loads(out.stdout.splitlines()[-1]) == {
        "outside": "raised", "inside": "held", "at_release": "raised", "handler_back": True}
