"""The passes around the products, serial against split over Numba's threads,
timed inside a two-layer training step (issue 12, item 2).

    python -m fusednet.bench.passes [--shapes cifar,mnist,wide] [--repeats 5]

A step here is the compiled kernels' own sequence: gather the minibatch,
``X W1``, bias + ReLU, the small products with the softmax loss and the bias
sums, ``X^T dH``, the L2 fold and the SGD update. Each pass that the issue
names runs either as the library runs it (serial) or split over threads with
``prange`` (rows for the gather and bias + ReLU, blocks of 32 columns for the
mask + column sums, blocks of 4096 elements for the update), with the
matrix products on 1 and on 2 BLAS threads. The split versions live here,
not in the library: they were measured slower in the step on this 2-core
machine (see the README's Parallelism section) and ``parallel=True`` costs
every user's first run ~65% more compile time. Their results are checked
equal to the serial ones before any time is reported. Each configuration is
alternated with the others, ``--repeats`` times; medians are printed.
"""
import argparse
import json
import time

import numpy as np
from numba import njit, prange

from ..kernels.config import JIT

PARALLEL = dict(JIT, parallel=True, cache=False)
PASSES = ("gather", "bias_act", "colsum", "update")
CONFIGS = ("serial",) + PASSES + ("all",)
PHASES = ("gather", "X W1", "bias_act", "small products + softmax", "colsum", "X^T dH", "l2",
          "update")


@njit(**PARALLEL)
def gather_rows(X, y, idx, n, Xb, yb):
    for i in prange(n):
        r = idx[i]
        yb[i] = y[r]
        for j in range(X.shape[1]):
            Xb[i, j] = X[r, j]


@njit(**PARALLEL)
def bias_relu_rows(z, b):
    for i in prange(z.shape[0]):
        for j in range(z.shape[1]):
            v = z[i, j] + b[j]
            z[i, j] = v if v > 0 else v * 0


@njit(**PARALLEL)
def mask_colsum_columns(dz, a, db, acc):
    """In place ``dz *= (a > 0)``, ``db = dz.sum(0)``: whole columns per thread."""
    m = dz.shape[1]
    for blk in prange((m + 31) // 32):
        j0 = np.int64(blk) * 32
        j1 = min(m, j0 + 32)
        for j in range(j0, j1):
            acc[j] = 0.0
        for i in range(dz.shape[0]):
            for j in range(j0, j1):
                g = dz[i, j] * (1 if a[i, j] > 0 else 0)
                dz[i, j] = g
                acc[j] += g
        for j in range(j0, j1):
            db[j] = acc[j]


@njit(**PARALLEL)
def sgd_blocks(theta, grad, backup, lr):
    n = theta.size
    for blk in prange((n + 4095) // 4096):
        i0 = np.int64(blk) * 4096
        for i in range(i0, min(n, i0 + 4096)):
            w = theta[i]
            backup[i] = w
            theta[i] = w - lr * grad[i]


class Step:
    """One two-layer SGD step's state at a shape, and its timed phases."""

    def __init__(self, shape, dtype, seed=0):
        from .workloads import problem
        self.X, self.y, p, self.N = problem(shape, dtype, seed)
        D, H = p["W1"].shape
        C = p["W2"].shape[1]
        self.theta = np.concatenate([p["W1"].ravel(), p["b1"], p["W2"].ravel(), p["b2"]])
        self.grad = np.empty_like(self.theta)
        from ..kernels.optim import optimizer
        self.opt, _ = optimizer("sgd", {"learning_rate": 1e-3}, self.theta)
        self.backup = self.opt.backup

        def views(flat):
            return (flat[:D * H].reshape(D, H), flat[D * H:D * H + H],
                    flat[D * H + H:D * H + H + H * C].reshape(H, C), flat[-C:])
        self.W1, self.b1, self.W2, self.b2 = views(self.theta)
        self.dW1, self.db1, self.dW2, self.db2 = views(self.grad)
        N = self.N
        self.Xb, self.yb = np.empty((N, D), dtype), np.empty(N, np.intp)
        self.h, self.dh, self.s = (np.empty((N, H), dtype), np.empty((N, H), dtype),
                                   np.empty((N, C), dtype))
        self.row_loss, self.acc = np.empty(N), np.empty(max(H, C))
        self.rng = np.random.default_rng(seed)
        from ..kernels import config
        self.loop_max = config.loop_max(dtype)

    def run(self, n, parallel):
        """n steps with the passes in ``parallel`` split; mean us per phase."""
        from ..kernels.epilogues import bias_act, gather, grad_colsum, l2_fold, softmax_xent
        from ..kernels.matmul import matmul
        from ..kernels.optim import update
        total = np.zeros(len(PHASES))
        for _ in range(n):
            idx = self.rng.integers(0, len(self.X), self.N)
            marks = [time.perf_counter()]
            if "gather" in parallel:
                gather_rows(self.X, self.y, idx, self.N, self.Xb, self.yb)
            else:
                gather(self.X, self.y, idx, self.N, self.Xb, self.yb)
            marks.append(time.perf_counter())
            matmul(self.Xb, self.W1, self.h, self.loop_max)
            marks.append(time.perf_counter())
            if "bias_act" in parallel:
                bias_relu_rows(self.h, self.b1)
            else:
                bias_act(self.h, self.b1, 1)
            marks.append(time.perf_counter())
            matmul(self.h, self.W2, self.s, self.loop_max)
            bias_act(self.s, self.b2, 0)
            softmax_xent(self.s, self.yb, self.s, self.row_loss)
            matmul(self.h.T, self.s, self.dW2, self.loop_max)
            grad_colsum(self.s, self.s, 0, self.s, self.db2, self.acc)
            matmul(self.s, self.W2.T, self.dh, self.loop_max)
            marks.append(time.perf_counter())
            if "colsum" in parallel:
                mask_colsum_columns(self.dh, self.h, self.db1, self.acc)
            else:
                grad_colsum(self.dh, self.h, 1, self.dh, self.db1, self.acc)
            marks.append(time.perf_counter())
            matmul(self.Xb.T, self.dh, self.dW1, self.loop_max)
            marks.append(time.perf_counter())
            l2_fold(self.dW1, self.W1, 2e-4)
            l2_fold(self.dW2, self.W2, 2e-4)
            marks.append(time.perf_counter())
            if "update" in parallel:
                sgd_blocks(self.theta, self.grad, self.backup, 1e-3)
            else:
                update(self.opt, self.theta, self.grad, 1e-3, 1.0)
            marks.append(time.perf_counter())
            total += np.diff(marks)
        return total / n * 1e6


def check_equal(shape, dtype):
    """The split passes compute exactly what the library's serial ones do."""
    a, b = Step(shape, dtype), Step(shape, dtype)
    a.run(2, ())
    b.run(2, PASSES)
    for name in ("theta", "backup", "Xb", "h", "dh", "db1"):
        if not np.array_equal(getattr(a, name), getattr(b, name)):
            raise AssertionError(f"{shape}: the split passes changed {name}")


def measure(shape, dtype, repeats, iters):
    from ..kernels import threads
    check_equal(shape, dtype)
    step = Step(shape, dtype)
    for config in CONFIGS:  # compile, warm caches
        step.run(1, _passes(config))
    samples = {(b, c): [] for b in (1, 2) for c in CONFIGS}
    for r in range(repeats):
        order = list(samples) if r % 2 == 0 else list(samples)[::-1]
        for blas, config in order:
            with threads.blas_threads(blas):
                samples[blas, config].append(step.run(iters, _passes(config)).tolist())
    med = {f"blas{b} {c}": np.median(v, axis=0) for (b, c), v in samples.items()}
    return {"shape": shape, "dtype": np.dtype(dtype).name, "phases": PHASES,
            "median_us": {k: v.tolist() for k, v in med.items()},
            "step_us": {k: float(v.sum()) for k, v in med.items()},
            "samples_us": {f"blas{b} {c}": v for (b, c), v in samples.items()}}


def _passes(config):
    return PASSES if config == "all" else () if config == "serial" else (config,)


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m fusednet.bench.passes",
                                 description=__doc__.splitlines()[0])
    ap.add_argument("--shapes", default="cifar,mnist,wide")
    ap.add_argument("--dtype", default="float64", choices=("float64", "float32"))
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--out", default=None, help="write the results as JSON here")
    args = ap.parse_args(argv)
    from ..kernels.threads import LAYER, get_num_threads
    from .workloads import SHAPES
    import numba
    unknown = [s for s in args.shapes.split(",") if s not in SHAPES]
    if unknown:
        ap.error(f"unknown shapes {unknown}; choose from {list(SHAPES)}")
    if args.repeats < 1:
        ap.error(f"--repeats must be at least 1, got {args.repeats}")
    numba.set_num_threads(get_num_threads())
    rows = []
    for shape in args.shapes.split(","):
        N, D, H, C = SHAPES[shape]
        iters = max(2, int(2e8 / (6 * N * (D * H + H * C))))  # ~0.1-0.3 s a sample
        rows.append(measure(shape, np.dtype(args.dtype), args.repeats, iters))
    print(f"{time.strftime('%Y-%m-%d %H:%M')}  {args.dtype}, threading layer {LAYER}, "
          f"{get_num_threads()} threads; us per step (the pass's own time: split/serial)")
    print(f"{'shape':6s} {'BLAS':>4s} " + " ".join(f"{c:>20s}" for c in CONFIGS))
    column = {"gather": 0, "bias_act": 2, "colsum": 4, "update": 7}
    for r in rows:
        for b in (1, 2):
            cells = []
            for c in CONFIGS:
                total = r["step_us"][f"blas{b} {c}"]
                own = (f" ({r['median_us'][f'blas{b} {c}'][column[c]]:.0f}/"
                       f"{r['median_us'][f'blas{b} serial'][column[c]]:.0f})"
                       if c in column else "")
                cells.append(f"{total:.0f}{own}")
            print(f"{r['shape']:6s} {b:4d} " + " ".join(f"{c:>20s}" for c in cells))
    if args.out:
        from ..net.files import write_text
        write_text(args.out, json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
