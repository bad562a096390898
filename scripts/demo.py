"""Train a two-layer net on scikit-learn's digits with the fused kernels and
with the NumPy reference, side by side: same numbers, and how much faster.

    python -m scripts.demo [--iters 600] [--dtype float64|float32]
"""
import argparse
import sys
import time

import numpy as np

import kernels
from kernels import reference


def load_digits_split(dtype, seed=0):
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        sys.exit("demo: the digits data comes with scikit-learn: pip install -e '.[examples]'")
    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).astype(dtype)
    X -= X.mean(axis=0)
    order = np.random.default_rng(seed).permutation(len(X))
    train, val = order[:1500], order[1500:]
    return X[train], y[train], X[val], y[val]


def sgd(loss_fn, params, X, y, iters, batch, lr, reg, seed):
    """Plain minibatch SGD; returns the loss at every step and the seconds spent."""
    W1, b1, W2, b2 = (p.copy() for p in params)
    rng = np.random.default_rng(seed)
    batches = rng.integers(0, len(X), (iters, batch))
    losses = np.empty(iters)
    start = time.perf_counter()
    for it in range(iters):
        idx = batches[it]
        loss, dW1, db1, dW2, db2 = loss_fn(W1, b1, W2, b2, X[idx], y[idx], reg)
        W1 -= lr * dW1
        b1 -= lr * db1
        W2 -= lr * dW2
        b2 -= lr * db2
        losses[it] = loss
    return losses, time.perf_counter() - start, (W1, b1, W2, b2)


def accuracy(params, X, y):
    W1, b1, W2, b2 = params
    scores = kernels.affine_forward(kernels.affine_relu_forward(X, W1, b1), W2, b2)
    return float(np.mean(scores.argmax(axis=1) == y))


def blas_threads():
    """Which BLAS libraries are loaded and their thread counts."""
    from threadpoolctl import threadpool_info
    libs = [f"{i['internal_api']} {i.get('version') or ''} x{i['num_threads']}".strip()
            for i in threadpool_info() if i["user_api"] == "blas"]
    return "BLAS: " + (", ".join(libs) or "none found")


def best_of(fn, repeats):
    """Median seconds of ``fn()`` over ``repeats`` calls, after one warm-up."""
    fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--iters", type=int, default=600)
    ap.add_argument("--dtype", choices=["float64", "float32"], default="float64")
    args = ap.parse_args(argv)
    if args.iters < 1:
        ap.error("--iters must be at least 1")
    dtype = np.dtype(args.dtype)

    Xtr, ytr, Xval, yval = load_digits_split(dtype)
    D, H, C, batch, lr, reg = Xtr.shape[1], 100, 10, 200, 0.5, 1e-4
    rng = np.random.default_rng(1)
    params = ((rng.standard_normal((D, H)) * np.sqrt(2 / D)).astype(dtype), np.zeros(H, dtype),
              (rng.standard_normal((H, C)) * np.sqrt(2 / H)).astype(dtype), np.zeros(C, dtype))
    ws = kernels.TwoLayerWorkspace(batch, D, H, C, dtype)

    def fused(W1, b1, W2, b2, X, y, reg):
        return kernels.two_layer_loss(W1, b1, W2, b2, X, y, reg, ws)

    print(f"two-layer net {D} -> {H} (relu) -> {C} on scikit-learn's digits "
          f"({len(Xtr)} train, {len(Xval)} validation), {dtype.name}, "
          f"{args.iters} SGD steps of {batch}; {blas_threads()}")
    sgd(fused, params, Xtr, ytr, 2, batch, lr, reg, seed=2)  # compile or load from cache
    runs = {}
    for name, fn in (("fused", fused), ("NumPy", reference.two_layer_loss)):
        runs[name] = sgd(fn, params, Xtr, ytr, args.iters, batch, lr, reg, seed=2)
    for name, (losses, secs, trained) in runs.items():
        print(f"  {name:6s} {1e6 * secs / args.iters:8.1f} us/step   final loss {losses[-1]:.4f}   "
              f"train acc {accuracy(trained, Xtr, ytr):.3f}   val acc {accuracy(trained, Xval, yval):.3f}")
    diff = np.max(np.abs(runs["fused"][0] - runs["NumPy"][0]) / np.abs(runs["NumPy"][0]))
    print(f"  speedup {runs['NumPy'][1] / runs['fused'][1]:.2f}x; largest relative difference "
          f"of the two loss curves over {args.iters} steps: {diff:.1e}")

    # One gradient at a CIFAR-10 shape, where the matrix products dominate.
    N, D, H, C = 200, 3072, 100, 10
    g = np.random.default_rng(3)
    X = g.standard_normal((N, D)).astype(dtype)
    y = g.integers(0, C, N)
    p = ((1e-2 * g.standard_normal((D, H))).astype(dtype), np.zeros(H, dtype),
         (1e-2 * g.standard_normal((H, C))).astype(dtype), np.zeros(C, dtype))
    ws = kernels.TwoLayerWorkspace(N, D, H, C, dtype)
    t_fused = best_of(lambda: kernels.two_layer_loss(*p, X, y, 0.1, ws), 20)
    t_ref = best_of(lambda: reference.two_layer_loss(*p, X, y, 0.1), 20)
    ours = kernels.two_layer_loss(*p, X, y, 0.1, ws)
    ref = reference.two_layer_loss(*p, X, y, 0.1)
    err = max(np.max(np.abs(a - b)) / np.max(np.abs(b)) for a, b in zip(ours[1:], ref[1:]))
    print(f"one loss + gradient at {N} x {D} -> {H} -> {C}: fused {1e3 * t_fused:.2f} ms, "
          f"NumPy {1e3 * t_ref:.2f} ms ({t_ref / t_fused:.2f}x); gradients agree to {err:.1e}")


if __name__ == "__main__":
    main()
