"""fusednet's MLPClassifier / MLPRegressor against scikit-learn's on the same
settings: fit time (fits alternated in one process, medians over repeats)
and test score (accuracy, or R^2).

    python -m fusednet.bench.estimator_vs_sklearn [--repeats 3] [--dtype float64|float32]
        [--workloads digits,friedman20k,multi5k,wide100k] [--json FILE]

Workloads (synthetic ones drawn from a fixed seed, so every run fits the
same data):
  digits      scikit-learn's digits, 1347 train / 450 test, 10 classes
  friedman20k 20,000 x 8 -> 1 output, a nonlinear function plus noise
  multi5k     5,000 x 20 -> 5 outputs (a tanh of a random linear map, plus noise)
  wide100k    100,000 x 50 -> 1 output, a nonlinear function plus noise
Every regression runs a fixed number of epochs on both sides (``tol=0`` and
``n_iter_no_change`` above ``max_iter``), so the times compare the same work.
"""
import argparse
import json
import time
import warnings

import numpy as np


def _friedman(n, d, seed):
    rng = np.random.default_rng(seed)
    X = rng.uniform(0, 1, (n, d))
    y = (10 * np.sin(np.pi * X[:, 0] * X[:, 1]) + 20 * (X[:, 2] - 0.5) ** 2 + 10 * X[:, 3]
         + 5 * X[:, 4] + X[:, 5:].sum(axis=1) + rng.standard_normal(n))
    return (X - 0.5) * np.sqrt(12), (y - y.mean()) / y.std()


def _multi(n, d, k, seed):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    W = rng.standard_normal((d, k)) / np.sqrt(d)
    Y = np.tanh(2 * X @ W) + 0.1 * rng.standard_normal((n, k))
    return X, Y


def _digits():
    from sklearn.datasets import load_digits
    X, y = load_digits(return_X_y=True)
    return X / 16.0, y


#: name -> (data, classifier?, settings beyond hidden_layer_sizes=(100,), adam, random_state=0)
WORKLOADS = {
    "digits": (_digits, True, dict(max_iter=200)),
    "friedman20k": (lambda: _friedman(20_000, 8, 0), False,
                    dict(max_iter=40, tol=0.0, n_iter_no_change=1000)),
    "multi5k": (lambda: _multi(5_000, 20, 5, 1), False,
                dict(max_iter=60, tol=0.0, n_iter_no_change=1000)),
    "wide100k": (lambda: _friedman(100_000, 50, 2), False,
                 dict(max_iter=15, tol=0.0, n_iter_no_change=1000)),
}


def run(name, dtype, repeats):
    """Median fit times and test scores of both estimators on one workload."""
    from sklearn import neural_network as theirs
    from sklearn.model_selection import train_test_split

    from .. import net as ours

    make, classifier, extra = WORKLOADS[name]
    X, y = make()
    Xtr, Xte, ytr, yte = train_test_split(X.astype(dtype), y, random_state=0)
    kind = "MLPClassifier" if classifier else "MLPRegressor"
    settings = dict(hidden_layer_sizes=(100,), solver="adam", random_state=0, **extra)
    times = {"ours": [], "sklearn": []}
    score = {}
    for _ in range(repeats):
        for side, module in (("ours", ours), ("sklearn", theirs)):
            t = time.perf_counter()
            model = getattr(module, kind)(**settings).fit(Xtr, ytr)
            times[side].append(time.perf_counter() - t)
            score[side] = (float(model.score(Xte, yte)), int(model.n_iter_))
    med = {k: float(np.median(v)) for k, v in times.items()}
    return dict(workload=name, estimator=kind, shape=[len(Xtr), X.shape[1]],
                outputs=len(np.unique(y)) if classifier else 1 if y.ndim == 1 else y.shape[1],
                settings=settings,
                median_fit_s=med, times=times, score=score,
                metric="accuracy" if classifier else "R^2")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--dtype", choices=["float64", "float32"], default="float64")
    ap.add_argument("--workloads", default=",".join(WORKLOADS),
                    help=f"comma-separated, of {', '.join(WORKLOADS)}")
    ap.add_argument("--json", help="also write the figures to this file")
    args = ap.parse_args(argv)
    names = [w for w in args.workloads.split(",") if w]
    unknown = sorted(set(names) - set(WORKLOADS))
    if unknown:
        ap.error(f"unknown workloads {unknown}; choose from {', '.join(WORKLOADS)}")
    if args.json:
        open(args.json, "a").close()  # the output location, checked before the work

    from sklearn.exceptions import ConvergenceWarning
    from threadpoolctl import threadpool_info

    from ..net import precompile

    warnings.simplefilter("ignore", ConvergenceWarning)
    precompile((args.dtype,))  # compile or load the kernels before timing
    blas = [f"{i['internal_api']} {i.get('version')} x{i['num_threads']}" for i in threadpool_info()
            if i["user_api"] == "blas"]
    print(f"{args.dtype}, medians of {args.repeats} fits alternated; BLAS {blas}")
    print(f"{'workload':12s} {'estimator':13s} {'train':>13s} {'epochs':>6s} "
          f"{'ours s':>8s} {'sklearn s':>9s} {'ratio':>6s}  score ours / sklearn")
    rows = []
    for name in names:
        r = run(name, args.dtype, args.repeats)
        rows.append(r)
        med, sc = r["median_fit_s"], r["score"]
        shape = f"{r['shape'][0]}x{r['shape'][1]}->{r['outputs']}"
        print(f"{name:12s} {r['estimator']:13s} {shape:>13s} {sc['ours'][1]:6d} "
              f"{med['ours']:8.3f} {med['sklearn']:9.3f} {med['sklearn'] / med['ours']:5.1f}x  "
              f"{r['metric']} {sc['ours'][0]:.4f} / {sc['sklearn'][0]:.4f}", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"dtype": args.dtype, "blas": blas, "repeats": args.repeats,
                       "rows": rows}, f, indent=1, default=str)


if __name__ == "__main__":
    main()
