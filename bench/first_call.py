"""The first call in a fresh environment: seconds from ``import fusednet``
to the first numbers, in new processes, with the kernels compiled (an empty
Numba cache; without and with the compile helper, ``kernels.compile_helper``),
loaded from the cache the previous process wrote, and loaded from a shipped
cache (``fusednet precompile --ship``, built first, its build time reported
apart).

    fusednet bench --first-call [--repeats 2] [--ship-cpu host] [--out bench-results]

Workloads: the CS231n notebook's toy net (4 -> 10 -> 3: ``loss``, then
``train`` for 100 iterations, then ``predict``) and the CIFAR shape
(3072 -> 100 -> 10, float64, 20 iterations of 200 rows: the split loop,
then ``predict``). Each process reports its import time, each call's time
and Numba's compile time (from its compile events).
"""
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

#: A process's first calls; prints one JSON line.
PROBE = r"""
import sys, time, json
t0 = time.perf_counter()
from numba.core import event
compiles = [0.0, 0]
depth = [0, 0.0]
class L(event.Listener):
    def on_start(self, ev):
        if depth[0] == 0:
            depth[1] = time.perf_counter()
        depth[0] += 1
    def on_end(self, ev):
        depth[0] -= 1
        compiles[1] += 1
        if depth[0] == 0:
            compiles[0] += time.perf_counter() - depth[1]
event.register("numba:compile", L())
import numpy as np
import fusednet
t1 = time.perf_counter()
times = {"import": t1 - t0}
if sys.argv[1] == "toy":
    np.random.seed(0)
    X = 10 * np.random.randn(5, 4)
    y = np.array([0, 1, 2, 2, 1])
    np.random.seed(0)
    net = fusednet.TwoLayerNet(4, 10, 3, std=1e-1)
    t = time.perf_counter(); loss, _ = net.loss(X, y, reg=0.05); times["loss"] = time.perf_counter() - t
    t = time.perf_counter()
    stats = net.train(X, y, X, y, learning_rate=1e-1, reg=5e-6, num_iters=100, verbose=False)
    times["train"] = time.perf_counter() - t
    t = time.perf_counter(); acc = (net.predict(X) == y).mean(); times["predict"] = time.perf_counter() - t
    check = [float(loss), float(stats["loss_history"][-1])]
else:
    rng = np.random.default_rng(0)
    X = rng.standard_normal((1000, 3072)); y = rng.integers(0, 10, 1000)
    np.random.seed(0)
    net = fusednet.TwoLayerNet(3072, 100, 10)
    t = time.perf_counter()
    stats = net.train(X, y, X[:200], y[:200], num_iters=20, batch_size=200, verbose=False)
    times["train"] = time.perf_counter() - t
    t = time.perf_counter(); net.predict(X); times["predict"] = time.perf_counter() - t
    check = [float(stats["loss_history"][-1])]
times["total"] = time.perf_counter() - t0
print(json.dumps({"times": times, "compile_s": compiles[0], "compiles": compiles[1], "check": check}))
"""

WORKLOADS = ("toy", "cifar")
MODES = ("cold, no helper", "cold", "warm", "shipped")


def probe(workload, cache, shipped, helper=True):
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache), FUSEDNET_SHIPPED_CACHE=str(shipped),
               FUSEDNET_COMPILE_HELPER="1" if helper else "0")
    for k in ("FUSEDNET_SHIP", "NUMBA_CPU_NAME", "NUMBA_CPU_FEATURES", "NUMBA_NRT_STATS"):
        env.pop(k, None)
    t = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", PROBE, workload], env=env, capture_output=True,
                          text=True)
    wall = time.perf_counter() - t
    if done.returncode:
        raise RuntimeError(f"the {workload} probe failed:\n{done.stderr[-2000:]}")
    report = json.loads(done.stdout.strip().splitlines()[-1])
    report["process_s"] = wall
    return report


def ship(directory, cpu):
    """Build the shipped cache (both dtypes, as a release does); its seconds."""
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "fusednet", "precompile", "--ship", str(directory),
                    "--cpu", cpu, "--no-progress"], check=True, capture_output=True, text=True)
    return time.perf_counter() - t


def run(repeats, cpu, log=print):
    """Per workload and mode, each repeat's report; the shipped cache's build time."""
    rows = {w: {m: [] for m in MODES} for w in WORKLOADS}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        log(f"building the shipped cache for {cpu} ...")
        build_s = ship(tmp / "shipped", cpu)
        log(f"  {build_s:.1f} s")
        for r in range(repeats):
            for w in WORKLOADS:
                cache = tmp / f"cache-{w}-{r}"
                for mode in MODES:
                    where = {"shipped": tmp / f"empty-{w}-{r}",
                             "cold, no helper": tmp / f"no-helper-{w}-{r}"}.get(mode, cache)
                    report = probe(w, where, tmp / "shipped" if mode == "shipped" else "off",
                                   helper=mode != "cold, no helper")
                    rows[w][mode].append(report)
                    log(f"  {w} {mode}: {report['times']['total']:.2f} s "
                        f"({report['compile_s']:.2f} s compiling)")
    return rows, build_s


def summary(rows):
    """Medians per workload and mode."""
    out = {}
    for w, modes in rows.items():
        out[w] = {}
        for mode, reports in modes.items():
            med = {k: statistics.median(r["times"][k] for r in reports) for k in reports[0]["times"]}
            med["compile"] = statistics.median(r["compile_s"] for r in reports)
            med["process"] = statistics.median(r["process_s"] for r in reports)
            out[w][mode] = med
    return out


def markdown(med, build_s, cpu, date):
    lines = [f"First calls in a fresh process, {date} (median of the repeats; seconds; "
             f"shipped cache built for `{cpu}` in {build_s:.0f} s):", "",
             "| workload | cache | import | first calls | of which compiling | import to last number | process |",
             "|---|---|---|---|---|---|---|"]
    names = {"toy": "CS231n toy (loss, train, predict)", "cifar": "CIFAR shape float64 (train, predict)"}
    for w, modes in med.items():
        for mode, m in modes.items():
            calls = m["total"] - m["import"]
            lines.append(f"| {names[w]} | {mode} | {m['import']:.2f} | {calls:.2f} | "
                         f"{m['compile']:.2f} | {m['total']:.2f} | {m['process']:.2f} |")
    return "\n".join(lines) + "\n"


def main(ap, args):
    from ..scripts.cli import writable_dir
    from ..net.files import write_text
    out = writable_dir(ap, args.out)
    cpu = args.ship_cpu
    rows, build_s = run(args.repeats or 2, cpu)
    med = summary(rows)
    date = time.strftime("%Y-%m-%d")
    result = {"date": time.strftime("%Y-%m-%d %H:%M"), "ship_cpu": cpu, "ship_build_s": build_s,
              "median": med, "rows": rows}
    try:
        write_text(out / "first_call.json", json.dumps(result, indent=1))
        write_text(out / "first_call.md", markdown(med, build_s, cpu, date))
    except OSError as exc:
        ap.fail(f"cannot write the results: {exc} (that file is left as it was)", status=1)
    # The same numbers whatever the cache (after writing: the times are kept).
    for w, modes in rows.items():
        checks = {json.dumps(r["check"]) for reports in modes.values() for r in reports}
        if len(checks) != 1:
            ap.fail(f"{w}: the first calls gave other numbers with another cache: {checks}", status=1)
    print(markdown(med, build_s, cpu, date))
    print(f"wrote {out / 'first_call.json'} and {out / 'first_call.md'}")
    return 0
