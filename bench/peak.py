"""The machine's FLOP peak as the runner measures it: the best GFLOP/s of a
large square matrix product through the BLAS the kernels call (NumPy's
``matmul`` on NumPy's OpenBLAS, whose ``cblas_?gemm`` the kernels call; see
``kernels.blas``), per dtype, with the thread count a run uses and with one
thread. Each shape's GFLOP/s over it is the runner's "of peak" column.
"""
import time

import numpy as np

#: Side of the square product and timed calls: the full run, and --quick.
#: Best of 3 on this project's machine (2 vCPU Zen 4, OpenBLAS's Haswell
#: kernels), GFLOP/s with 2 threads / 1: float64 117 / 60 at n = 1024, 118 /
#: 63 at 2048, 126 / 64 at 3072, 125 / 63 at 4096; float32 243 / 127, 247 /
#: 128, 256 / 128, 251 / 127. 3072 (0.5 s a float64 call on 2 threads).
SIZE, REPEATS = 3072, 5
QUICK_SIZE, QUICK_REPEATS = 1024, 2


def gemm_flops(n):
    return 2.0 * n ** 3


def measure(dtype, threads, n=SIZE, repeats=REPEATS, gap=0.15, seed=0):
    """The best GFLOP/s of ``repeats`` calls of ``A @ B`` (n x n, ``dtype``)
    into a preallocated result, after one untimed call, with the kernels'
    BLAS set to ``threads`` threads (``kernels.threads.blas_threads``: the
    count the training loop sets, put back after) and ``gap`` idle seconds
    before each call (another pool's threads go quiet). A dict with the
    figure and how it was measured."""
    from ..kernels import blas, threads as kthreads
    dtype = np.dtype(dtype)
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((n, n)).astype(dtype)
    B = rng.standard_normal((n, n)).astype(dtype)
    C = np.empty((n, n), dtype)
    seconds = []
    with kthreads.blas_threads(threads):
        count = kthreads.blas().get()
        np.matmul(A, B, out=C)
        for _ in range(repeats):
            time.sleep(gap)
            t = time.perf_counter()
            np.matmul(A, B, out=C)
            seconds.append(time.perf_counter() - t)
    return {"gflops": gemm_flops(n) / min(seconds) / 1e9, "dtype": dtype.name, "threads": threads,
            "blas_threads_set": count, "n": n, "repeats": repeats, "seconds": seconds,
            "how": f"best of {repeats} calls of np.matmul(A, B, out=C), A and B {n} x {n} "
                   f"{dtype.name} (2 n^3 flops each), after one untimed call and {gap} s idle "
                   f"before each; BLAS: {blas.SOURCE}"}


def run(dtypes, threads, quick=False, gap=0.15):
    """``{dtype name: {"threads": measure(run's threads), "one_thread":
    measure(1)}}`` (one entry when the run uses one thread)."""
    n, repeats = (QUICK_SIZE, QUICK_REPEATS) if quick else (SIZE, REPEATS)
    out = {}
    for dt in dtypes:
        name = np.dtype(dt).name
        out[name] = {"threads": measure(dt, threads, n, repeats, gap)}
        out[name]["one_thread"] = (out[name]["threads"] if threads == 1
                                   else measure(dt, 1, n, repeats, gap))
    return out


def fractions(rows, peaks):
    """Add to each row ``peak_fraction`` (ours' GFLOP/s over the peak at the
    run's thread count, for its dtype) and ``peak_fraction_1t`` (ours on one
    thread over the one-thread peak), where the row and the peak have them."""
    for r in rows:
        p = peaks.get(r["dtype"])
        if p is None:
            continue
        r["peak_fraction"] = r["gflops_ours"] / p["threads"]["gflops"]
        if "ours_1t" in r["us_per_step"]:
            gflops_1t = r["gflops_ours"] * r["us_per_step"]["ours"] / r["us_per_step"]["ours_1t"]
            r["peak_fraction_1t"] = gflops_1t / p["one_thread"]["gflops"]
    return rows
