"""The benchmark runner: per shape and dtype, microseconds per training step
for the NumPy reference, ours, and PyTorch (eager) and JAX (jit) when they are
installed, measured in one process, alternated, after warm-up, medians over
repeats; speedups, GFLOP/s and the fraction of the GEMM roofline (the five
matmuls alone, and with the minibatch gather every step must add); compile
time cold and warm; allocations per step; BLAS and Numba thread counts.
Writes ``results.json``, ``results.png`` and ``results.md`` (the README's
table) into ``--out``.

    fusednet bench [--quick] [--shapes toy,digits] [--dtypes float64,float32]
                   [--repeats 7] [--block 0.2] [--out bench-results]
"""
import os

os.environ.setdefault("NUMBA_NRT_STATS", "1")  # before numba is imported

import json  # noqa: E402
import platform  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import tracemalloc  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from . import workloads  # noqa: E402

ORDER = ("numpy", "ours", "ours_1t", "torch", "jax", "gemm", "gemm_gather")
ALWAYS = ("ours", "ours_1t", "gemm", "gemm_gather")


def machine():
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    from threadpoolctl import threadpool_info
    import numba
    import numba.np.ufunc.parallel as parallel
    from ..kernels import blas
    info = {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(),
            "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE"),
            "kernels_blas": blas.SOURCE,
            "numpy": np.__version__, "numba": numba.__version__,
            "numba_threads": numba.config.NUMBA_NUM_THREADS,
            "numba_pool_started": bool(parallel._is_initialized),
            "blas": [{"library": i["filepath"].split("/")[-1], "api": i["internal_api"],
                      "version": i.get("version"), "threads": i["num_threads"],
                      "kernel": i.get("architecture")}
                     for i in threadpool_info() if i["user_api"] == "blas"]}
    for mod in ("torch", "jax"):
        try:
            info[mod] = __import__(mod).__version__
        except ImportError:
            info[mod] = None
    return info


def time_block(step, k):
    t = time.perf_counter()
    step(k)
    return time.perf_counter() - t


def measure(shape, dtype, repeats, block, contenders=ORDER, gap=0.15):
    X, y, params, N = workloads.problem(shape, dtype)
    steppers = {}
    for name in [n for n in ORDER if n in contenders or n in ALWAYS]:
        s = workloads.CONTENDERS[name](X, y, params, N)
        if s is not None:
            steppers[name] = s
    # Warm up (compile, fill caches) and size each block to ~``block`` seconds.
    ks = {}
    for name, s in steppers.items():
        s(2)
        per = max(time_block(s, 3) / 3, 1e-7)
        ks[name] = int(max(5, min(200_000, block / per)))
    times = {name: [] for name in steppers}
    for r in range(repeats):
        names = list(steppers) if r % 2 == 0 else list(steppers)[::-1]
        for name in names:
            # Let the previous contender's thread pools go idle first: OpenBLAS
            # threads spin ~2**28 cycles after a call, torch's OpenMP ones too,
            # and two pools spinning on 2 cores slowed a step here 10x.
            time.sleep(gap)
            times[name].append(time_block(steppers[name], ks[name]) / ks[name])
    med = {name: float(np.median(v)) for name, v in times.items()}
    row = {"shape": shape, "dims": workloads.SHAPES[shape], "dtype": np.dtype(dtype).name,
           "us_per_step": {k: v * 1e6 for k, v in med.items()},
           "samples_us": {k: [t * 1e6 for t in v] for k, v in times.items()},
           "iterations_per_block": ks, "repeats": repeats}
    ours = med["ours"]
    row["speedup"] = {k: med[k] / ours for k in ("numpy", "torch", "jax") if k in med}
    row["gflops_ours"] = workloads.step_flops(*workloads.SHAPES[shape]) / ours / 1e9
    row["roofline_fraction"] = med["gemm"] / ours
    row["roofline_with_gather_fraction"] = med["gemm_gather"] / ours
    row.update(allocations(steppers["ours"], ks["ours"]))
    return row


def allocations(step, k):
    from numba.core.runtime import rtsys
    before = rtsys.get_allocation_stats().alloc
    tracemalloc.start()
    step(k)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {"nrt_allocations_per_step": (rtsys.get_allocation_stats().alloc - before) / k,
            "python_peak_bytes_per_block": peak, "block_iterations": k}


COMPILE_PROBE = """
import time
t0 = time.perf_counter()
import numpy as np
from fusednet import MLP
X = np.random.default_rng(0).standard_normal((64, 8)); y = np.arange(64) % 3
MLP([8, 16, 3], seed=0).train(X, y, X, y, num_iters=1, batch_size=16)
print(time.perf_counter() - t0)
"""


def compile_times():
    """Seconds from ``import`` to the end of the first training step, with an
    empty Numba cache and then with the cache that run wrote."""
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        env.pop("NUMBA_NRT_STATS", None)
        out = [float(subprocess.run([sys.executable, "-c", COMPILE_PROBE], env=env, check=True,
                                    capture_output=True, text=True).stdout)
               for _ in range(2)]
    return {"import_to_first_step_cold_s": out[0], "import_to_first_step_warm_s": out[1]}


def chart(rows, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    dtypes = sorted({r["dtype"] for r in rows})
    fig, axes = plt.subplots(1, len(dtypes), figsize=(6.5 * len(dtypes), 4.2), squeeze=False)
    for ax, dt in zip(axes[0], dtypes):
        sub = [r for r in rows if r["dtype"] == dt]
        names = [n for n in ORDER if any(n in r["us_per_step"] for r in sub)]
        width = 0.8 / len(names)
        for j, name in enumerate(names):
            vals = [r["us_per_step"].get(name, np.nan) for r in sub]
            ax.bar(np.arange(len(sub)) + j * width, vals, width, label=name)
        ax.set_xticks(np.arange(len(sub)) + 0.4 - width / 2)
        ax.set_xticklabels([r["shape"] for r in sub])
        ax.set_yscale("log")
        ax.set_ylabel("microseconds per training step (log)")
        ax.set_title(f"{dt}: lower is better ('gemm' = the step's matmuls alone,\n"
                     "'gemm_gather' = with a fresh minibatch gathered first)")
        ax.legend(fontsize=8)
    fig.tight_layout()
    from ..net.files import save_figure
    try:
        save_figure(fig, path, dpi=110)
    finally:
        plt.close(fig)


def _cells(r, us_format):
    """A row's figures as text: the times per step (ours with 2 threads and
    with 1), 1T over 2T, the three speedups, GFLOP/s and the two bound
    fractions ("-" for a contender that did not run)."""
    u, s = r["us_per_step"], r["speedup"]
    times = [us_format(u[k]) if k in u else "-" for k in ("numpy", "ours", "ours_1t", "torch", "jax")]
    scaling = [f"{u['ours_1t'] / u['ours']:.2f}" if "ours_1t" in u else "-"]
    ratios = [f"{s[k]:.2f}" if k in s else "-" for k in ("numpy", "torch", "jax")]
    return times + scaling + ratios + [f"{r['gflops_ours']:.1f}", f"{r['roofline_fraction']:.2f}",
                             f"{r['roofline_with_gather_fraction']:.2f}"]


#: Column titles and widths of the terminal table, after shape and dtype.
_COLUMNS = (("numpy", 10), ("ours", 9), ("ours 1T", 9), ("torch", 9), ("jax", 9), ("1T/2T", 6),
            ("x numpy", 8),
            ("x torch", 8), ("x jax", 7), ("GF/s", 6), ("roofl.", 6), ("+gath.", 6))


def table(rows):
    head = f"{'shape':8s} {'dtype':8s} " + " ".join(f"{t:>{w}s}" for t, w in _COLUMNS)
    lines = [head, "-" * len(head)]
    for r in rows:
        cells = _cells(r, lambda v: f"{v:.1f}")
        lines.append(f"{r['shape']:8s} {r['dtype']:8s} "
                     + " ".join(f"{c:>{w}s}" for c, (_, w) in zip(cells, _COLUMNS)))
    return "\n".join(lines)


def markdown(rows):
    """The table as the README carries it."""
    lines = ["| shape | dtype | NumPy | ours | ours 1 thread | PyTorch | JAX | 1 thread / 2 "
             "| x NumPy | x PyTorch | x JAX | GFLOP/s | roofline | + gather |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: "
             "| ---: | ---: |"]
    seen = set()
    for r in rows:
        N, D, H, C = r["dims"]
        name = r["shape"] if r["shape"] in seen else f"{r['shape']} {N} x {D} -> {H} -> {C}"
        seen.add(r["shape"])
        cells = _cells(r, lambda v: f"{v:.1f}" if v < 1000 else f"{v:.0f}")
        dtype = "f64" if r["dtype"] == "float64" else "f32"
        lines.append(f"| {name} | {dtype} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_results(out, result):
    """``results.json``, ``results.png`` and ``results.md`` of a run into
    ``out``, each written atomically (``net.files``); their paths."""
    from ..net.files import write_text
    paths = [out / "results.json", out / "results.png", out / "results.md"]
    write_text(paths[0], json.dumps(result, indent=1))
    chart(result["rows"], paths[1])
    write_text(paths[2], markdown(result["rows"]))
    return paths


def main(argv=None, prog="fusednet bench"):
    from ..scripts.cli import OneLineParser, number, writable_dir
    ap = OneLineParser(prog=prog, description="fusednet benchmark runner")
    ap.add_argument("--quick", action="store_true", help="small shapes, short blocks (for CI)")
    ap.add_argument("--shapes", default=None, help=f"comma-separated, from {list(workloads.SHAPES)}")
    ap.add_argument("--dtypes", default="float64,float32")
    ap.add_argument("--repeats", type=number(int, 1), default=None,
                    help="timed blocks per contender (default 7, 2 with --quick)")
    ap.add_argument("--block", type=number(float, 0, low_open=True), default=None,
                    help="seconds per timed block")
    ap.add_argument("--contenders", default="numpy,torch,jax",
                    help="comma-separated subset of numpy,torch,jax (ours, gemm and gemm_gather always run)")
    ap.add_argument("--gap", type=number(float, 0), default=None,
                    help="idle seconds before each timed block (thread pools go quiet)")
    ap.add_argument("--no-compile", action="store_true", help="skip the compile-time probe")
    ap.add_argument("--busy", action="store_true",
                    help="time the step quiet and with one core taken by a spinning process "
                         "(shapes digits,cifar,mnist unless --shapes; float64)")
    ap.add_argument("--out", default="bench-results",
                    help="directory for the results (created and checked writable before timing)")
    args = ap.parse_args(argv)
    if args.busy:
        return busy_main(ap, args)
    ap.require("matplotlib", extra="bench")
    shapes = (args.shapes.split(",") if args.shapes
              else ["toy", "digits"] if args.quick else list(workloads.SHAPES))
    unknown = [s for s in shapes if s not in workloads.SHAPES]
    if unknown:
        ap.error(f"unknown shapes {unknown}; choose from {list(workloads.SHAPES)}")
    dtypes = args.dtypes.split(",")
    if any(d not in ("float64", "float32") for d in dtypes):
        ap.error("--dtypes takes float64 and/or float32")
    out = writable_dir(ap, args.out)
    repeats = args.repeats or (2 if args.quick else 7)
    block = args.block or (0.01 if args.quick else 0.2)

    result = {"date": time.strftime("%Y-%m-%d %H:%M"), "machine": machine(), "quick": args.quick,
              "rows": []}
    for shape in shapes:
        for dt in dtypes:
            row = measure(shape, np.dtype(dt), repeats, block, args.contenders.split(","),
                          args.gap if args.gap is not None else (0.02 if args.quick else 0.15))
            result["rows"].append(row)
            print(f"  {shape} {dt}: " + ", ".join(f"{k} {v:.1f} us" for k, v in row["us_per_step"].items()),
                  flush=True)
    if not args.no_compile:
        result["compile"] = compile_times()
    after = machine()  # now with every BLAS the contenders loaded
    result["machine"]["numba_pool_started_after"] = after["numba_pool_started"]
    result["machine"]["blas"] = after["blas"]
    result["machine"]["OPENBLAS_CORETYPE"] = after["OPENBLAS_CORETYPE"]
    try:
        paths = write_results(out, result)
    except OSError as exc:
        ap.fail(f"cannot write the results: {exc} (that file is left as it was)", status=1)
    m = result["machine"]
    print(f"\n{result['date']}  {m['cpu']}, {m['cores']} cores; BLAS "
          + "; ".join(f"{b['api']} {b['version']} x{b['threads']} ({b['kernel']})" for b in m["blas"])
          + f"; OPENBLAS_CORETYPE={m['OPENBLAS_CORETYPE']}; kernels call {m['kernels_blas']}"
          + f"; numba {m['numba']} (thread pool started: {m['numba_pool_started_after']})")
    print(table(result["rows"]))
    if "compile" in result:
        c = result["compile"]
        print(f"import to first training step: cold cache {c['import_to_first_step_cold_s']:.2f} s, "
              f"warm cache {c['import_to_first_step_warm_s']:.2f} s")
    print(f"wrote {paths[0]}, {paths[1]} and {paths[2]}")


def busy_main(ap, args):
    from . import busy
    shapes = args.shapes.split(",") if args.shapes else ["digits", "cifar", "mnist"]
    unknown = [s for s in shapes if s not in workloads.SHAPES]
    if unknown:
        ap.error(f"unknown shapes {unknown}; choose from {list(workloads.SHAPES)}")
    if len(os.sched_getaffinity(0)) < 2:
        ap.fail("--busy needs at least 2 cores (one is taken by the spinning process)")
    from ..scripts.cli import writable_dir
    out = writable_dir(ap, args.out)
    contenders = [c for c in args.contenders.split(",") if c in ("numpy", "ours", "torch", "jax")]
    rows = busy.run(shapes, args.repeats or 5, args.block or 0.3, ["ours"] + [c for c in contenders
                                                                           if c != "ours"])
    result = {"date": time.strftime("%Y-%m-%d %H:%M"), "machine": machine(), "rows": rows}
    from ..net.files import write_text
    try:
        write_text(out / "busy.json", json.dumps(result, indent=1))
        write_text(out / "busy.md", busy.markdown(rows))
    except OSError as exc:
        ap.fail(f"cannot write the results: {exc} (that file is left as it was)", status=1)
    print(busy.markdown(rows))
    print(f"wrote {out / 'busy.json'} and {out / 'busy.md'}")
    return 0


if __name__ == "__main__":
    main()
