"""net.MLPClassifier against sklearn.neural_network.MLPClassifier on the
digits data bundled with scikit-learn: test accuracy and fit time, same
settings, fits alternated in one process, medians over repeats.

    python -m fusednet.bench.estimator_vs_sklearn [--repeats 5] [--dtype float64|float32]
"""
import argparse
import json
import time
import warnings

import numpy as np


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--dtype", choices=["float64", "float32"], default="float64")
    ap.add_argument("--json", help="also write the figures to this file")
    args = ap.parse_args(argv)

    from sklearn.datasets import load_digits
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.model_selection import train_test_split
    from sklearn.neural_network import MLPClassifier as Theirs
    from threadpoolctl import threadpool_info

    from ..net import MLPClassifier as Ours
    from ..net import precompile

    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).astype(args.dtype)
    Xtr, Xte, ytr, yte = train_test_split(X, y, random_state=0)
    settings = dict(hidden_layer_sizes=(100,), solver="adam", max_iter=200, random_state=0)
    warnings.simplefilter("ignore", ConvergenceWarning)
    precompile((args.dtype,))  # compile or load the kernels before timing
    times = {"ours": [], "sklearn": []}
    acc = {}
    for _ in range(args.repeats):
        for name, cls in (("ours", Ours), ("sklearn", Theirs)):
            t = time.perf_counter()
            model = cls(**settings).fit(Xtr, ytr)
            times[name].append(time.perf_counter() - t)
            acc[name] = (model.score(Xte, yte), model.n_iter_)
    med = {k: float(np.median(v)) for k, v in times.items()}
    blas = [f"{i['internal_api']} {i.get('version')} x{i['num_threads']}" for i in threadpool_info()
            if i["user_api"] == "blas"]
    print(f"digits {Xtr.shape[0]} train / {Xte.shape[0]} test, {settings}, {args.dtype}; {blas}")
    for name in ("ours", "sklearn"):
        print(f"  {name:8s} test accuracy {acc[name][0]:.4f} after {acc[name][1]} epochs, "
              f"fit {med[name]:.3f} s (median of {args.repeats})")
    print(f"  fit-time ratio sklearn / ours: {med['sklearn'] / med['ours']:.2f}x")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"settings": {k: str(v) for k, v in settings.items()}, "dtype": args.dtype,
                       "blas": blas, "median_fit_s": med,
                       "test_accuracy": {k: v[0] for k, v in acc.items()}}, f, indent=1)


if __name__ == "__main__":
    main()
