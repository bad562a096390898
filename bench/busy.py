"""The step on a busy machine: one process of the runner's own spins on one
core (a pure-Python loop pinned there), and each contender's step is timed
quiet and busy in the same run, so each side's slowdown is a ratio measured
in one process.

    fusednet bench --busy [--shapes digits,cifar,mnist] [--repeats 5] [--calls 200]

With ``--calls N`` ours trains in calls of N iterations (a notebook's search
loop), each call choosing its threads from what the earlier ones measured.

The spinner is paused (SIGSTOP) for the quiet phase and resumed (SIGCONT)
for the busy one, and killed when the mode ends, also on Ctrl-C or an error.
Before the timed blocks of a phase every contender trains for ``settle``
seconds: a busy machine lasts, and ours chooses its BLAS thread count by
measuring (it probes the other count every 2 s).
"""
import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager

import numpy as np

from . import workloads

SPIN = "import os, sys\nos.sched_setaffinity(0, {int(sys.argv[1])})\nwhile True:\n    pass\n"


@contextmanager
def spinner(core):
    """A paused spinning process pinned to ``core``; yields ``set_busy(bool)``."""
    proc = subprocess.Popen([sys.executable, "-c", SPIN, str(core)])
    os.kill(proc.pid, signal.SIGSTOP)

    def set_busy(busy):
        os.kill(proc.pid, signal.SIGCONT if busy else signal.SIGSTOP)
        time.sleep(0.05)
    try:
        yield set_busy
    finally:
        proc.kill()
        proc.wait()


def _run_for(step, seconds):
    k, t0 = 1, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        step(k)
        k = min(2 * k, 10_000)


def measure(shape, repeats, block, contenders, set_busy, settle=2.5, gap=0.15, calls=None):
    """Medians (us per step) quiet and busy for one shape, float64; with
    ``calls``, ours trains in calls of that many iterations."""
    X, y, params, N = workloads.problem(shape, np.dtype(np.float64))
    steppers = {}
    for name in contenders:
        if name == "ours" and calls:
            s = workloads.ours_calls_stepper(X, y, params, N, calls=calls)
        else:
            s = workloads.CONTENDERS[name](X, y, params, N)
        if s is not None:
            steppers[name] = s
    row = {"shape": shape, "dims": workloads.SHAPES[shape], "dtype": "float64"}
    for state in ("quiet", "busy"):
        set_busy(state == "busy")
        ks = {}
        for name, s in steppers.items():
            _run_for(s, settle)
            t = time.perf_counter()
            s(3)
            ks[name] = int(max(5, min(200_000, block / max((time.perf_counter() - t) / 3, 1e-7))))
        times = {name: [] for name in steppers}
        for r in range(repeats):
            for name in (list(steppers) if r % 2 == 0 else list(steppers)[::-1]):
                time.sleep(gap)
                if state == "busy":  # keep ours' BLAS choice current between contenders
                    _run_for(steppers[name], 0.3)
                t = time.perf_counter()
                steppers[name](ks[name])
                times[name].append((time.perf_counter() - t) / ks[name] * 1e6)
        row[f"{state}_us"] = {k: float(np.median(v)) for k, v in times.items()}
        row[f"{state}_samples_us"] = times
    set_busy(False)
    row["slowdown"] = {k: row["busy_us"][k] / row["quiet_us"][k] for k in steppers}
    return row


def run(shapes, repeats, block, contenders, calls=None):
    cores = sorted(os.sched_getaffinity(0))
    with spinner(cores[-1]) as set_busy:
        rows = []
        for shape in shapes:
            rows.append(measure(shape, repeats, block, contenders, set_busy, calls=calls))
            rows[-1]["ours_calls"] = calls
            r = rows[-1]
            print(f"  {shape}: " + ", ".join(
                f"{k} {r['quiet_us'][k]:.0f} -> {r['busy_us'][k]:.0f} us ({r['slowdown'][k]:.2f}x)"
                for k in r["slowdown"]), flush=True)
    return rows


def markdown(rows):
    names = [n for n in ("numpy", "ours", "torch", "jax") if n in rows[0]["slowdown"]]
    calls = rows[0].get("ours_calls")
    label = {"numpy": "NumPy", "ours": f"ours ({calls}-iteration calls)" if calls else "ours",
             "torch": "PyTorch", "jax": "JAX"}
    head = ("| shape | " + " | ".join(f"{label[n]} quiet | {label[n]} busy | slowdown" for n in names)
            + (" | ours busy / JAX busy |" if "jax" in names else " |"))
    lines = [head, "|" + " --- |" * (1 + 3 * len(names) + ("jax" in names))]
    for r in rows:
        N, D, H, C = r["dims"]
        cells = []
        for n in names:
            cells += [f"{r['quiet_us'][n]:.0f}", f"{r['busy_us'][n]:.0f}", f"{r['slowdown'][n]:.2f}x"]
        if "jax" in names:
            cells.append(f"{r['busy_us']['ours'] / r['busy_us']['jax']:.2f}")
        lines.append(f"| {r['shape']} {N} x {D} -> {H} -> {C} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
