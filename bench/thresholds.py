"""Where the looped products beat the BLAS call (issue 21): for each form of
product the kernels run and each dtype, the size ``m n k`` up to which
``kernels.matmul``'s register-blocked loops are faster than NumPy's
``cblas_?gemm``, both timed from compiled code through ``matmul`` itself.

    python -m fusednet.bench.thresholds [--dtypes float64,float32] [--repeats 7]
                                        [--threads N] [--tolerance 0.05] [--quick]
                                        [--out FILE]

The products are those of a layer of ``fan_in -> fan_out`` on ``rows`` rows:
``X W`` (rows x fan_in @ fan_in x fan_out), ``X^T dZ`` (fan_in x rows @ rows x
fan_out, X^T a transposed view) and ``dZ W^T`` (rows x fan_out @ fan_out x
fan_in, W^T a transposed view), over a grid of rows, fan_in and fan_out
(products up to 4e6, and only those ``matmul.looped`` lets run as loops at
all: inner size k up to 256, and for ``dZ W^T`` a fan_out that fits the
loops' stack copy, 170 or less; larger ones go to BLAS whatever the limit;
the saved 2026-12-04 runs predate the k bound and include k = 400). Loops and
BLAS alternate, ``--repeats`` samples of about a millisecond each; medians.
For each form and dtype it prints the
largest size at which the loops won on every measured shape of that size or
smaller ("loops win up to": what ``kernels.config.LOOP_MAX_*`` are set from),
the smallest size where they lost (took over ``1 + --tolerance`` times BLAS's
time, 5% by default), and the loops' time over BLAS's by size.
BLAS runs on the threads it has (``--threads`` limits them); the counts are
printed with the table.
"""
import argparse
import json
import time

import numpy as np
from numba import njit

from ..kernels.matmul import DZ_WT, XT_DZ, XW, looped, matmul

FORMS = {XW: "X W", XT_DZ: "X^T dZ", DZ_WT: "dZ W^T"}
ROWS = (16, 64, 200)
FAN_IN = (4, 10, 32, 64, 150, 400)
FAN_OUT = (3, 10, 32, 100, 300)
QUICK = ((64, 200), (4, 32, 150), (3, 10, 100))
MAX_SIZE = 4_000_000
#: A shape counts as lost when the loops took more than this much longer
#: than BLAS: the same BLAS call timed twice this way differed by up to 4%
#: here (medians of 7, the other core in use by other programs).
TOLERANCE = 0.05
LOOPS = (1 << 62,) * 3
BLAS = (0, 0, 0)


@njit(nogil=True)
def _repeat(A, B, out, limits, reps):
    for _ in range(reps):
        matmul(A, B, out, limits)


def operands(form, rows, fan_in, fan_out, dtype, rng):
    """``(A, B, out)`` of one form for a layer of ``fan_in -> fan_out`` on
    ``rows`` rows, laid out as the kernels pass them."""
    X = rng.standard_normal((rows, fan_in)).astype(dtype)
    W = rng.standard_normal((fan_in, fan_out)).astype(dtype)
    dZ = rng.standard_normal((rows, fan_out)).astype(dtype)
    A, B = {XW: (X, W), XT_DZ: (X.T, dZ), DZ_WT: (dZ, W.T)}[form]
    return A, B, np.empty((A.shape[0], B.shape[1]), dtype)


def measure(form, rows, fan_in, fan_out, dtype, repeats, rng):
    """Median seconds per call of the loops and of BLAS on one product."""
    A, B, out = operands(form, rows, fan_in, fan_out, dtype, rng)
    _repeat(A, B, out, BLAS, 1)
    ref = out.copy()
    _repeat(A, B, out, LOOPS, 1)
    tol = 1e-12 if dtype == np.float64 else 1e-5
    if not np.abs(out - ref).max() <= tol * max(np.abs(ref).max(), 1e-30) * A.shape[1]:
        raise AssertionError(f"{FORMS[form]} {A.shape} @ {B.shape}: loops and BLAS disagree")
    t = time.perf_counter()
    _repeat(A, B, out, BLAS, 3)
    reps = max(1, int(1e-3 / max((time.perf_counter() - t) / 3, 1e-8)))
    samples = {"loops": [], "blas": []}
    for r in range(repeats):
        for name in (("loops", "blas") if r % 2 == 0 else ("blas", "loops")):
            limits = LOOPS if name == "loops" else BLAS
            t = time.perf_counter()
            _repeat(A, B, out, limits, reps)
            samples[name].append((time.perf_counter() - t) / reps)
    return {k: float(np.median(v)) for k, v in samples.items()}


def crossover(results, tolerance=TOLERANCE):
    """``(loops win up to, first loss)`` from ``[(size, loops s, blas s)]``:
    the largest size at which the loops won on every shape of that size or
    smaller, and the smallest size at which they lost: took more than
    ``1 + tolerance`` times BLAS's time (None: never)."""
    lost = [size for size, loops, blas in results if loops > blas * (1 + tolerance)]
    first_loss = min(lost) if lost else None
    won = [size for size, loops, blas in results if first_loss is None or size < first_loss]
    return (max(won) if won else 0), first_loss


def shapes(quick):
    grid = QUICK if quick else (ROWS, FAN_IN, FAN_OUT)
    return [(r, fi, fo) for r in grid[0] for fi in grid[1] for fo in grid[2]]


def run(dtypes, repeats, quick, seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for dtype in dtypes:
        for form in FORMS:
            for r, fi, fo in shapes(quick):
                size = r * fi * fo
                A, B, _ = operands(form, r, fi, fo, dtype, rng)
                if size > MAX_SIZE or not looped(form, A.shape[1]):
                    continue
                t = measure(form, r, fi, fo, dtype, repeats, rng)
                rows.append({"dtype": np.dtype(dtype).name, "form": FORMS[form],
                             "m": A.shape[0], "k": A.shape[1], "n": B.shape[1], "size": size,
                             "loops_us": t["loops"] * 1e6, "blas_us": t["blas"] * 1e6})
    return rows


def summary(rows, tolerance=TOLERANCE):
    """``{(dtype, form): (loops win up to, first loss)}``."""
    out = {}
    for key in sorted({(r["dtype"], r["form"]) for r in rows}):
        sel = [(r["size"], r["loops_us"], r["blas_us"]) for r in rows
               if (r["dtype"], r["form"]) == key]
        out[key] = crossover(sel, tolerance)
    return out


def _blas_threads():
    from threadpoolctl import threadpool_info
    return ", ".join(f"{i['internal_api']} {i['num_threads']} threads "
                     f"({i['filepath'].rsplit('/', 1)[-1]})"
                     for i in threadpool_info() if i["user_api"] == "blas")


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m fusednet.bench.thresholds",
                                 description=__doc__.splitlines()[0])
    ap.add_argument("--dtypes", default="float64,float32")
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--threads", type=int, default=None,
                    help="limit BLAS to this many threads (default: as many as it has)")
    ap.add_argument("--quick", action="store_true", help="a smaller grid (18 shapes a form)")
    ap.add_argument("--tolerance", type=float, default=TOLERANCE,
                    help="a shape is lost when the loops take more than 1 + this times BLAS's time")
    ap.add_argument("--out", default=None, help="write every measurement as JSON here")
    args = ap.parse_args(argv)
    dtypes = [np.dtype(d) for d in args.dtypes.split(",")]
    if any(d not in (np.float32, np.float64) for d in dtypes):
        ap.error(f"--dtypes takes float64 and float32, got {args.dtypes}")
    if args.repeats < 1:
        ap.error(f"--repeats must be at least 1, got {args.repeats}")
    if not args.tolerance >= 0:
        ap.error(f"--tolerance must be >= 0, got {args.tolerance}")
    from ..kernels import blas, threads
    with threads.blas_threads(args.threads or threads.blas().get()):
        info = _blas_threads()
        rows = run(dtypes, args.repeats, args.quick)
    print(f"{time.strftime('%Y-%m-%d %H:%M')}  {blas.SOURCE}; {info}")
    print("loops / BLAS time by product size m n k (min / median / max over the shapes):")
    edges = [0, 1e3, 1e4, 3e4, 1e5, 3e5, 1e6, 4e6]
    print(f"{'dtype':8s} {'form':7s} " + " ".join(f"{'<=%.0e' % e:>16s}" for e in edges[1:]))
    for (dtype, form), _ in summary(rows, args.tolerance).items():
        cells = []
        for lo, hi in zip(edges[:-1], edges[1:]):
            q = [r["loops_us"] / r["blas_us"] for r in rows if r["dtype"] == dtype
                 and r["form"] == form and lo < r["size"] <= hi]
            cells.append(f"{min(q):.2f}/{np.median(q):.2f}/{max(q):.2f}" if q else "-")
        print(f"{dtype:8s} {form:7s} " + " ".join(f"{c:>16s}" for c in cells))
    print(f"crossover (product size m n k; lost: loops over {1 + args.tolerance:g}x BLAS's time):")
    for (dtype, form), (up_to, loss) in summary(rows, args.tolerance).items():
        print(f"  {dtype:8s} {form:7s} loops win up to {up_to:>9,d}; first loss at "
              f"{'none measured' if loss is None else f'{loss:,d}'}")
    if args.out:
        from ..net.files import write_text
        write_text(args.out, json.dumps({"blas": info, "source": blas.SOURCE,
                                         "date": time.strftime("%Y-%m-%d %H:%M"),
                                         "tolerance": args.tolerance, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
