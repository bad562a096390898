"""The benchmark runner: per shape and dtype, microseconds per training step
for the NumPy reference, ours, and PyTorch (eager), torch.compile (inductor)
and JAX (jit) when they are installed, measured in one process, alternated,
after warm-up, medians over repeats; speedups, GFLOP/s, the fraction of the
machine's FLOP peak (a large GEMM through the kernels' BLAS, ``peak``) and of
the GEMM roofline (the five matmuls alone, and with the minibatch gather every
step must add); compile time cold and warm, ours' and torch.compile's per
shape (never inside a timed block); allocations per step; BLAS, Numba and
torch thread counts. A contender that is installed but cannot run (torch.compile
without a C++ compiler, a failed compile, numbers that differ from eager
PyTorch's) is shown unavailable with the reason. Writes ``results.json``,
``results.png`` and ``results.md`` (the README's table) into ``--out``.

    fusednet bench [--quick] [--shapes toy,digits] [--dtypes float64,float32]
                   [--repeats 7] [--block 0.2] [--out bench-results]

``--busy`` times the step with a core taken (``bench/busy.py``); ``--first-call``
the first calls of fresh processes, cold, warm and from a shipped cache
(``bench/first_call.py``).
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

from . import peak, workloads  # noqa: E402

ORDER = ("numpy", "ours", "ours_1t", "torch", "torch_compile", "jax", "gemm", "gemm_gather")
#: Contenders that are compared with ours ("x PyTorch" ...).
RIVALS = ("numpy", "torch", "torch_compile", "jax")
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
    info["fusednet_threads"] = _fusednet_threads()
    info["torch_threads"] = torch_threads()
    return info


def _fusednet_threads():
    from ..kernels import threads
    return threads.get_num_threads()


def torch_threads():
    """PyTorch's thread counts (eager and torch.compile's kernels run on its
    intra-op pool; its GEMMs are its own BLAS, MKL in the pip wheels, which
    threadpoolctl does not see), or None without torch."""
    try:
        import torch
    except ImportError:
        return None
    return {"intra_op": torch.get_num_threads(), "inter_op": torch.get_num_interop_threads(),
            "blas": "MKL" if torch.backends.mkl.is_available() else "not MKL",
            "parallel_backend": next((line.split(":", 1)[1].strip()
                                      for line in torch.__config__.parallel_info().splitlines()
                                      if line.startswith("ATen parallel backend")), None)}


def time_block(step, k):
    t = time.perf_counter()
    step(k)
    return time.perf_counter() - t


def measure(shape, dtype, repeats, block, contenders=ORDER, gap=0.15):
    X, y, params, N = workloads.problem(shape, dtype)
    steppers, unavailable = {}, {}
    for name in [n for n in ORDER if n in contenders or n in ALWAYS]:
        try:
            s = workloads.CONTENDERS[name](X, y, params, N)
        except workloads.Unavailable as exc:
            unavailable[name] = str(exc)
            continue
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
    row["speedup"] = {k: med[k] / ours for k in RIVALS if k in med}
    if unavailable:
        row["unavailable"] = unavailable
    if "torch_compile" in steppers:
        row["torch_compile"] = steppers["torch_compile"].info
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


#: Contenders' names in the tables and notes.
LABELS = {"numpy": "NumPy", "ours": "ours", "ours_1t": "ours 1 thread", "torch": "PyTorch",
          "torch_compile": "torch.compile", "jax": "JAX"}


def _cells(r, us_format):
    """A row's figures as text: the times per step (ours with 2 threads and
    with 1), 1T over 2T, the four speedups, GFLOP/s, the fraction of the FLOP
    peak, the two bound fractions and torch.compile's compile time ("-" for a
    contender that did not run, "n/a" for one that could not: see
    :func:`notes`)."""
    u, s = r["us_per_step"], r["speedup"]
    missing = r.get("unavailable", {})

    def absent(k):
        return "n/a" if k in missing else "-"
    times = [us_format(u[k]) if k in u else absent(k)
             for k in ("numpy", "ours", "ours_1t", "torch", "torch_compile", "jax")]
    scaling = [f"{u['ours_1t'] / u['ours']:.2f}" if "ours_1t" in u else "-"]
    ratios = [f"{s[k]:.2f}" if k in s else absent(k) for k in RIVALS]
    of_peak = f"{r['peak_fraction']:.2f}" if "peak_fraction" in r else "-"
    tc = r.get("torch_compile")
    compile_s = f"{tc['compile_s']:.1f}" if tc else absent("torch_compile")
    return times + scaling + ratios + [f"{r['gflops_ours']:.1f}", of_peak,
                                       f"{r['roofline_fraction']:.2f}",
                                       f"{r['roofline_with_gather_fraction']:.2f}", compile_s]


#: Column titles and widths of the terminal table, after shape and dtype.
_COLUMNS = (("numpy", 10), ("ours", 9), ("ours 1T", 9), ("torch", 9), ("t.comp", 9), ("jax", 9),
            ("1T/2T", 6), ("x numpy", 8), ("x torch", 8), ("x t.comp", 8), ("x jax", 7),
            ("GF/s", 6), ("peak", 5), ("roofl.", 6), ("+gath.", 6), ("comp s", 6))

#: The markdown table's column titles after shape and dtype (same order).
HEADERS = ("NumPy", "ours", "ours 1 thread", "PyTorch", "torch.compile", "JAX", "1 thread / 2",
           "x NumPy", "x PyTorch", "x torch.compile", "x JAX", "GFLOP/s", "of peak", "roofline",
           "+ gather", "torch.compile compile s")


def table(rows):
    head = f"{'shape':8s} {'dtype':8s} " + " ".join(f"{t:>{w}s}" for t, w in _COLUMNS)
    lines = [head, "-" * len(head)]
    for r in rows:
        cells = _cells(r, lambda v: f"{v:.1f}")
        lines.append(f"{r['shape']:8s} {r['dtype']:8s} "
                     + " ".join(f"{c:>{w}s}" for c, (_, w) in zip(cells, _COLUMNS)))
    return "\n".join(lines)


def _short(r):
    return f"{r['shape']} {'f64' if r['dtype'] == 'float64' else 'f32'}"


def notes(rows, result=None):
    """Lines under the table: each unavailable contender with its reason and
    the rows it concerns, the FLOP peak and how it was measured, and
    torch.compile's one-time start-up."""
    lines = []
    reasons = {}
    for r in rows:
        for name, why in r.get("unavailable", {}).items():
            reasons.setdefault((name, why), []).append(_short(r))
    for (name, why), where in reasons.items():
        at = "every row" if len(where) == len(rows) else ", ".join(where)
        lines.append(f"{LABELS.get(name, name)} unavailable ({at}): {why}")
    result = result or {}
    peaks = result.get("peak")
    if peaks:
        how = next(iter(peaks.values()))["threads"]
        lines.append(
            "FLOP peak (\"of peak\" is ours' GFLOP/s over it): "
            + "; ".join(f"{dt} {p['threads']['gflops']:.1f} GFLOP/s with {p['threads']['threads']} "
                        f"thread{'s' if p['threads']['threads'] != 1 else ''}, "
                        f"{p['one_thread']['gflops']:.1f} with 1" for dt, p in peaks.items())
            + f"; the best of {how['repeats']} {how['n']} x {how['n']} products A @ B through "
              f"NumPy's matmul, on the BLAS the kernels call")
    tc = result.get("torch_compile")
    if tc and any("torch_compile" in r for r in rows):
        lines.append("torch.compile compile s: its first call until the compiled step returns, "
                     f"inductor's cache {tc['inductor_cache']}"
                     + (f"; the process's first compile (a tiny graph) took {tc['startup_s']:.1f} s "
                        "more, once" if tc.get("startup_s") is not None else "")
                     + "; again after torch._dynamo.reset() from the filled cache: "
                     + ", ".join(f"{_short(r)} {r['torch_compile']['compile_warm_s']:.2f}"
                                 for r in rows if "torch_compile" in r) + " s")
    return lines


def markdown(rows, result=None):
    """The table as the README carries it, then :func:`notes`."""
    lines = ["| shape | dtype | " + " | ".join(HEADERS) + " |",
             "| --- | --- |" + " ---: |" * len(HEADERS)]
    seen = set()
    for r in rows:
        N, D, H, C = r["dims"]
        data_rows = workloads.DATA_ROWS.get(r["shape"])
        of = f" (of {data_rows} rows)" if data_rows else ""
        name = r["shape"] if r["shape"] in seen else f"{r['shape']} {N}{of} x {D} -> {H} -> {C}"
        seen.add(r["shape"])
        cells = _cells(r, lambda v: f"{v:.1f}" if v < 1000 else f"{v:.0f}")
        dtype = "f64" if r["dtype"] == "float64" else "f32"
        lines.append(f"| {name} | {dtype} | " + " | ".join(cells) + " |")
    extra = notes(rows, result)
    return "\n".join(lines + ([""] + extra if extra else [])) + "\n"


def write_results(out, result):
    """``results.json``, ``results.png`` and ``results.md`` of a run into
    ``out``, each written atomically (``net.files``); their paths."""
    from ..net.files import write_text
    paths = [out / "results.json", out / "results.png", out / "results.md"]
    write_text(paths[0], json.dumps(result, indent=1))
    chart(result["rows"], paths[1])
    write_text(paths[2], markdown(result["rows"], result))
    return paths


def run(shapes, dtypes, repeats, block, contenders, gap, quick=False, inductor_cache=None):
    """The FLOP peak, then every shape and dtype: the result (without the
    compile probe)."""
    result = {"date": time.strftime("%Y-%m-%d %H:%M"), "machine": machine(), "quick": quick,
              "rows": []}
    threads = result["machine"]["fusednet_threads"]
    result["peak"] = peak.run(dtypes, threads, quick=quick, gap=gap)
    print("  FLOP peak: " + "; ".join(f"{dt} {p['threads']['gflops']:.1f} GFLOP/s x{threads}, "
                                      f"{p['one_thread']['gflops']:.1f} x1"
                                      for dt, p in result["peak"].items()), flush=True)
    for shape in shapes:
        for dt in dtypes:
            row = measure(shape, np.dtype(dt), repeats, block, contenders, gap)
            peak.fractions([row], result["peak"])
            result["rows"].append(row)
            print(f"  {shape} {dt}: " + ", ".join(f"{k} {v:.1f} us" for k, v in row["us_per_step"].items())
                  + "".join(f"; {LABELS.get(k, k)} unavailable: {why}"
                            for k, why in row.get("unavailable", {}).items()), flush=True)
    if "torch_compile" in contenders and "torch_compile" in workloads.CONTENDERS:
        result["torch_compile"] = {
            "inductor_cache": inductor_cache or "as found (TORCHINDUCTOR_CACHE_DIR or its default)",
            "startup_s": workloads.STARTUP.get("startup_s")}
    return result


class private_inductor_cache:
    """``with private_inductor_cache() as how:`` torch.compile's inductor
    keeps its cache in a new empty directory (``TORCHINDUCTOR_CACHE_DIR``,
    removed after), so each shape's compile time is a cold compile whatever
    earlier runs left in the user's cache. Entered before torch is imported
    (inductor reads the variable when it first needs the directory); ``how``
    says which cache the run used."""

    def __enter__(self):
        self.before = os.environ.get("TORCHINDUCTOR_CACHE_DIR")
        if "torch._inductor" in sys.modules:  # too late to move it
            self.dir = None
            return "as found (torch.compile was already loaded in this process)"
        self.dir = tempfile.TemporaryDirectory(prefix="fusednet-bench-inductor-",
                                               ignore_cleanup_errors=True)
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = self.dir.name
        return "empty at the start of the run (a new directory)"

    def __exit__(self, *exc):
        if self.dir is not None:
            if self.before is None:
                os.environ.pop("TORCHINDUCTOR_CACHE_DIR", None)
            else:
                os.environ["TORCHINDUCTOR_CACHE_DIR"] = self.before
            self.dir.cleanup()
        return False


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
    ap.add_argument("--contenders", default=",".join(RIVALS),
                    help="comma-separated subset of numpy,torch,torch_compile,jax "
                         "(ours, gemm and gemm_gather always run)")
    ap.add_argument("--gap", type=number(float, 0), default=None,
                    help="idle seconds before each timed block (thread pools go quiet)")
    ap.add_argument("--no-compile", action="store_true", help="skip the compile-time probe")
    ap.add_argument("--busy", action="store_true",
                    help="time the step quiet and with one core taken by a spinning process "
                         "(shapes digits,cifar,mnist unless --shapes; float64)")
    ap.add_argument("--calls", type=number(int, 1), default=None,
                    help="with --busy: ours trains in calls of this many iterations")
    ap.add_argument("--first-call", action="store_true",
                    help="seconds to the first numbers in fresh processes: compiled, loaded from "
                         "the cache, loaded from a shipped cache (bench/first_call.py)")
    ap.add_argument("--ship-cpu", default="host",
                    help="with --first-call: the shipped cache's CPU target (host or an x86-64 level)")
    ap.add_argument("--out", default="bench-results",
                    help="directory for the results (created and checked writable before timing)")
    args = ap.parse_args(argv)
    if args.busy:
        return busy_main(ap, args)
    if args.first_call:
        from ..scripts.precompile import LEVELS
        if args.ship_cpu != "host" and args.ship_cpu not in LEVELS:
            ap.error(f"--ship-cpu takes host or one of {', '.join(LEVELS)}, got {args.ship_cpu!r}")
        from . import first_call
        return first_call.main(ap, args)
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

    gap = args.gap if args.gap is not None else (0.02 if args.quick else 0.15)
    contenders = args.contenders.split(",")
    with private_inductor_cache() as inductor_cache:
        result = run(shapes, dtypes, repeats, block, contenders, gap, args.quick, inductor_cache)
    if not args.no_compile:
        result["compile"] = compile_times()
    after = machine()  # now with every BLAS the contenders loaded
    result["machine"]["torch_threads_after"] = after["torch_threads"]
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
          + f"; numba {m['numba']} (thread pool started: {m['numba_pool_started_after']})"
          + (f"; torch {m['torch']} x{m['torch_threads_after']['intra_op']} intra-op, "
             f"x{m['torch_threads_after']['inter_op']} inter-op ({m['torch_threads_after']['blas']})"
             if m.get("torch_threads_after") else ""))
    print(table(result["rows"]))
    for line in notes(result["rows"], result):
        print(line)
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
    rows = busy.run(shapes, args.repeats or 5, args.block or 0.3,
                    ["ours"] + [c for c in contenders if c != "ours"], calls=args.calls)
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
