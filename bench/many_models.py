"""Many models at once: wall time of a hyper-parameter search trained
serially (one process, one model after the other), in worker processes (one
per core, joblib: the search's old default), in one ``train_many`` call, and
with JAX ``vmap`` over the same models where JAX is installed.

    python -m fusednet.bench.many_models [--workloads digits,cifar] [--repeats 3]

Workloads (the issue's): 16 settings x 500 iterations on scikit-learn's
digits (64 -> {50,100} -> 10, batch 200), and 8 settings x 200 iterations at
the CIFAR shape (200 x 3072 -> {50,100} -> 10) on random data. Every
contender trains the same models; the results of serial, processes and
``train_many`` are checked equal before any time is reported.
"""
import argparse
import itertools
import json
import os
import time

import numpy as np

WORKLOADS = {
    "digits": dict(iters=500, settings=list(itertools.product((50, 100), (0.1, 0.5),
                                                              (1e-4, 1e-3), (0.95, 0.99)))),
    "cifar": dict(iters=200, settings=list(itertools.product((50, 100), (1e-3, 5e-3),
                                                             (1e-4, 1e-3), (0.95,)))),
}


def data(name):
    if name == "digits":
        from sklearn.datasets import load_digits
        X, y = load_digits(return_X_y=True)
        X = X / 16.0 - 0.5
        return X[:1400], y[:1400], X[1400:], y[1400:]
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((2000, 3072)), rng.integers(0, 10, 2000)
    return X[:1800], y[:1800], X[1800:], y[1800:]


def contenders(name):
    from ..net.many import train_many
    from ..net.search import _train_one
    X, y, Xv, yv = data(name)
    w = WORKLOADS[name]
    kw = dict(num_iters=w["iters"], batch_size=200, std=1e-2, seed=0)
    C = int(max(y.max(), yv.max())) + 1

    def serial():
        return [_train_one(X, y, Xv, yv, *s, w["iters"], 200, 1e-2, 0, C) for s in w["settings"]]

    def processes():
        import joblib
        return joblib.Parallel(n_jobs=os.cpu_count())(
            joblib.delayed(_train_one)(X, y, Xv, yv, *s, w["iters"], 200, 1e-2, 0, C)
            for s in w["settings"])

    def many():
        return train_many(X, y, Xv, yv, w["settings"], **kw)

    runs = {"serial": serial, "processes": processes, "train_many": many}
    jax_run = _jax(X, y, w)
    if jax_run is not None:
        runs["jax_vmap"] = jax_run
    return runs


def _jax(X, y, w):
    """The same SGD (fixed minibatches drawn here) for all settings at once
    with ``jax.vmap`` over stacked parameters, padded to the widest hidden
    layer (a padded unit has zero weights and stays zero)."""
    try:
        import jax
        import jax.numpy as jnp
    except ImportError:
        return None
    jax.config.update("jax_enable_x64", True)
    settings = w["settings"]
    H = max(s[0] for s in settings)
    D, C, K = X.shape[1], int(y.max()) + 1, len(settings)
    rng = np.random.default_rng(0)
    mask = np.stack([np.arange(H) < s[0] for s in settings]).astype(np.float64)
    params = (jnp.asarray(rng.standard_normal((K, D, H)) * 1e-2 * mask[:, None, :]),
              jnp.zeros((K, H)), jnp.asarray(rng.standard_normal((K, H, C)) * 1e-2 * mask[:, :, None]),
              jnp.zeros((K, C)))
    lr = jnp.asarray([s[1] for s in settings])
    reg = jnp.asarray([s[2] for s in settings])
    idx = rng.integers(0, len(X), (w["iters"], 200))
    Xj, yj = jnp.asarray(X), jnp.asarray(y)

    def loss(p, xb, yb, r):
        W1, b1, W2, b2 = p
        s = jnp.maximum(xb @ W1 + b1, 0) @ W2 + b2
        s = s - jax.scipy.special.logsumexp(s, axis=1, keepdims=True)
        return -jnp.mean(s[jnp.arange(len(yb)), yb]) + r * (jnp.sum(W1 ** 2) + jnp.sum(W2 ** 2))

    def step(p, xb, yb, r, a, m):
        g = jax.grad(loss)(p, xb, yb, r)
        new = tuple(q - a * gq for q, gq in zip(p, g))
        return (new[0] * m[None, :], new[1] * m, new[2] * m[:, None], new[3])

    vstep = jax.jit(jax.vmap(step, in_axes=(0, None, None, 0, 0, 0)))
    maskj = jnp.asarray(mask)

    def run():
        p = params
        for t in range(w["iters"]):
            p = vstep(p, Xj[idx[t]], yj[idx[t]], reg, lr, maskj)
        jax.block_until_ready(p)
        return None
    run()  # compile
    return run


def comparable(results):
    return [(r["history"]["loss_history"], r["val_acc"]) for r in results]


def measure(name, repeats):
    runs = contenders(name)
    from ..net import precompile
    precompile(("float64",))
    runs["train_many"]()  # compile the parallel kernel (or load it)
    reference = comparable(runs["serial"]())
    for k in ("processes", "train_many"):
        assert comparable(runs[k]()) == reference, f"{k} differs from serial"
    times = {k: [] for k in runs}
    for r in range(repeats):
        for k in (list(runs) if r % 2 == 0 else list(runs)[::-1]):
            t = time.perf_counter()
            runs[k]()
            times[k].append(time.perf_counter() - t)
    med = {k: float(np.median(v)) for k, v in times.items()}
    return {"workload": name, "models": len(WORKLOADS[name]["settings"]),
            "iterations": WORKLOADS[name]["iters"], "seconds": med, "samples": times,
            "speedup_vs_serial": {k: med["serial"] / v for k, v in med.items()}}


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m fusednet.bench.many_models",
                                 description=__doc__.splitlines()[0])
    ap.add_argument("--workloads", default="digits,cifar")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", default=None, help="write the results as JSON here")
    args = ap.parse_args(argv)
    from ..kernels.threads import LAYER, get_num_threads
    rows = [measure(w, args.repeats) for w in args.workloads.split(",")]
    print(f"{time.strftime('%Y-%m-%d %H:%M')}  threading layer {LAYER}, {get_num_threads()} threads")
    print(f"{'workload':10s} {'models':>6s} {'iters':>6s} " + " ".join(f"{k:>12s}" for k in rows[0]["seconds"]))
    for r in rows:
        print(f"{r['workload']:10s} {r['models']:6d} {r['iterations']:6d} "
              + " ".join(f"{v:10.2f} s" for v in r["seconds"].values()))
        print(f"{'':24s}" + " ".join(f"{v:11.2f}x" for v in r["speedup_vs_serial"].values()))
    if args.out:
        from ..net.files import write_text
        write_text(args.out, json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
