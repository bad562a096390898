"""Train the course's two-layer net on scikit-learn's digits twice, with
``net.TwoLayerNet`` (compiled) and with the classic NumPy class, from the same
seed: the same numbers, and how much faster.

    python -m scripts.demo [--iters 1500] [--hidden 100] [--batch 200]
"""
import argparse
import sys
import time

import numpy as np

from net import TwoLayerNet
from net.classic import ClassicTwoLayerNet


def load_digits_split(seed=0):
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        sys.exit("demo: the digits data comes with scikit-learn: pip install -e '.[examples]'")
    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    X -= X.mean(axis=0)
    order = np.random.default_rng(seed).permutation(len(X))
    train, val = order[:1500], order[1500:]
    return X[train], y[train], X[val], y[val]


def blas_threads():
    """Which BLAS libraries are loaded and their thread counts."""
    from threadpoolctl import threadpool_info
    libs = [f"{i['internal_api']} {i.get('version') or ''} x{i['num_threads']}".strip()
            for i in threadpool_info() if i["user_api"] == "blas"]
    return "BLAS: " + (", ".join(libs) or "none found")


def run(cls, data, args):
    X, y, X_val, y_val = data
    np.random.seed(0)
    model = cls(X.shape[1], args.hidden, 10, std=1e-1)
    start = time.perf_counter()
    stats = model.train(X, y, X_val, y_val, learning_rate=0.5, learning_rate_decay=0.99,
                        reg=1e-4, num_iters=args.iters, batch_size=args.batch)
    return model, stats, time.perf_counter() - start


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--iters", type=int, default=1500)
    ap.add_argument("--hidden", type=int, default=100)
    ap.add_argument("--batch", type=int, default=200)
    args = ap.parse_args(argv)
    for name in ("iters", "hidden", "batch"):
        if getattr(args, name) < 1:
            ap.error(f"--{name} must be at least 1")
    data = load_digits_split()
    X, y, X_val, y_val = data
    print(f"two-layer net 64 -> {args.hidden} (relu) -> 10 on scikit-learn's digits "
          f"({len(X)} train, {len(X_val)} validation), {args.iters} SGD iterations of "
          f"{args.batch}; {blas_threads()}")
    # Compile, or load the compiled loop from the cache, before timing.
    np.random.seed(0)
    TwoLayerNet(X.shape[1], args.hidden, 10).train(X, y, X_val, y_val, num_iters=2,
                                                     batch_size=args.batch)
    results = {}
    for label, cls in (("net.TwoLayerNet", TwoLayerNet), ("classic NumPy", ClassicTwoLayerNet)):
        model, stats, secs = run(cls, data, args)
        results[label] = (model, stats, secs)
        print(f"  {label:16s} {1e6 * secs / args.iters:8.1f} us/iteration   final loss "
              f"{stats['loss_history'][-1]:.6f}   train acc {np.mean(model.predict(X) == y):.4f}"
              f"   val acc {np.mean(model.predict(X_val) == y_val):.4f}")
    ours, theirs = results["net.TwoLayerNet"], results["classic NumPy"]
    diff = max(np.max(np.abs(np.array(ours[1][k]) - np.array(theirs[1][k])))
               for k in ("loss_history", "val_acc_history"))
    print(f"  speedup {theirs[2] / ours[2]:.1f}x; the two runs' loss and accuracy histories "
          f"differ by at most {diff:.1e}")


if __name__ == "__main__":
    main()
