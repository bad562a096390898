"""fusednet's MLPClassifier / MLPRegressor against scikit-learn's on the same
settings: fit time (fits alternated in one process, medians over repeats),
test score (accuracy, or R^2) and how far the fitted coefficients are from
scikit-learn's (the same model for the same random_state, but for rounding).

    python -m fusednet.bench.estimator_vs_sklearn [--repeats 3] [--dtype float64|float32]
        [--workloads digits,digits-sgd,...] [--json FILE]

Workloads (synthetic ones drawn from a fixed seed, so every run fits the
same data; hidden_layer_sizes=(100,), random_state=0, adam unless said):
  digits       scikit-learn's digits, 1347 train / 450 test, 10 classes
  digits-sgd   the same with sgd, momentum 0.9 (Nesterov), learning_rate_init 0.01
  covtype      100,000 x 54 -> 7 classes, covtype-like: 10 continuous
               features and two one-hot groups (4 and 40), labels from a
               random teacher net; 5 epochs
  binary       20,000 x 20 -> 2 classes (make_classification); 30 epochs
  multilabel   10,000 x 50 -> 5 labels (make_multilabel_classification); 30 epochs
  friedman20k  20,000 x 8 -> 1 output, a nonlinear function plus noise; 40 epochs
  multi5k      5,000 x 20 -> 5 outputs (a tanh of a random linear map, plus noise); 60 epochs
  wide100k     100,000 x 50 -> 1 output, a nonlinear function plus noise; 15 epochs
  tfidf        20,000 x 20,000 sparse (CSR, 0.2% stored: 40 terms a row,
               tf-idf weighted, rows of unit norm) -> 5 topics; 3 epochs
  lbfgs-digits   digits with solver='lbfgs' (scikit-learn's defaults: tol, max_iter 200)
  lbfgs-friedman 5,000 x 8 -> 1 with solver='lbfgs'
The fixed-epoch rows run ``tol=0`` with ``n_iter_no_change`` above
``max_iter``, so both sides do the same work.
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


def _covtype(n=100_000, seed=3):
    rng = np.random.default_rng(seed)
    cont = rng.standard_normal((n, 10))
    groups = [np.eye(k)[rng.integers(0, k, n)] for k in (4, 40)]
    X = np.hstack([cont] + groups)
    W1 = rng.standard_normal((54, 32))
    W2 = rng.standard_normal((32, 7))
    s = np.tanh(X @ W1 / 3) @ W2 + 0.5 * rng.standard_normal((n, 7))
    return X, np.argmax(s, axis=1)


def _binary():
    from sklearn.datasets import make_classification
    return make_classification(n_samples=20_000, n_features=20, n_informative=10,
                               random_state=0)


def _multilabel():
    from sklearn.datasets import make_multilabel_classification
    X, Y = make_multilabel_classification(n_samples=10_000, n_features=50, n_classes=5,
                                          random_state=0)
    return X / X.std(), Y


def _tfidf(n=20_000, D=20_000, terms=40, topics=5, seed=4):
    import scipy.sparse as sp
    rng = np.random.default_rng(seed)
    y = rng.integers(0, topics, n)
    # Half of a row's terms from its topic's 400 words, half from a Zipf
    # vocabulary over all words.
    topic_words = rng.permutation(D)[:topics * 400].reshape(topics, 400)
    own = topic_words[y[:, None], rng.integers(0, 400, (n, terms // 2))]
    common = np.minimum(rng.zipf(1.3, (n, terms - terms // 2)) - 1, D - 1)
    cols = np.hstack([own, common])
    rows = np.repeat(np.arange(n), terms)
    X = sp.csr_matrix((np.ones(n * terms), (rows, cols.ravel())), shape=(n, D))
    X.sum_duplicates()
    df = np.bincount(X.indices, minlength=D)
    X.data = np.log1p(X.data) * np.log((1 + n) / (1 + df[X.indices]))
    norms = np.sqrt(np.asarray(X.multiply(X).sum(axis=1)).ravel())
    X = sp.diags(1 / np.maximum(norms, 1e-12)) @ X
    return X.tocsr(), y


_FIXED = dict(tol=0.0, n_iter_no_change=1000)

#: name -> (data, estimator, settings beyond hidden_layer_sizes=(100,), random_state=0)
WORKLOADS = {
    "digits": (_digits, "MLPClassifier", dict(max_iter=200)),
    "digits-sgd": (_digits, "MLPClassifier", dict(solver="sgd", learning_rate_init=0.01,
                                                  momentum=0.9, max_iter=200)),
    "covtype": (_covtype, "MLPClassifier", dict(max_iter=5, **_FIXED)),
    "binary": (_binary, "MLPClassifier", dict(max_iter=30, **_FIXED)),
    "multilabel": (_multilabel, "MLPClassifier", dict(max_iter=30, **_FIXED)),
    "friedman20k": (lambda: _friedman(20_000, 8, 0), "MLPRegressor",
                    dict(max_iter=40, **_FIXED)),
    "multi5k": (lambda: _multi(5_000, 20, 5, 1), "MLPRegressor", dict(max_iter=60, **_FIXED)),
    "wide100k": (lambda: _friedman(100_000, 50, 2), "MLPRegressor",
                 dict(max_iter=15, **_FIXED)),
    "tfidf": (_tfidf, "MLPClassifier", dict(max_iter=3, **_FIXED)),
    "lbfgs-digits": (_digits, "MLPClassifier", dict(solver="lbfgs")),
    "lbfgs-friedman": (lambda: _friedman(5_000, 8, 5), "MLPRegressor", dict(solver="lbfgs")),
}


def _coef_distance(a, b):
    """The largest difference between two fits' coefficients and intercepts,
    relative to the largest magnitude of scikit-learn's."""
    pairs = list(zip(a.coefs_ + a.intercepts_, b.coefs_ + b.intercepts_))
    scale = max(float(np.abs(y).max()) for _, y in pairs)
    return max(float(np.abs(x - y).max()) for x, y in pairs) / scale


def run(name, dtype, repeats):
    """Median fit times, test scores and the coefficients' distance of both
    estimators on one workload."""
    from sklearn import neural_network as theirs
    from sklearn.model_selection import train_test_split

    from .. import net as ours

    make, kind, extra = WORKLOADS[name]
    X, y = make()
    Xtr, Xte, ytr, yte = train_test_split(X.astype(dtype), y, random_state=0)
    settings = dict(dict(hidden_layer_sizes=(100,), solver="adam", random_state=0), **extra)
    # Compile (or load) our kernels for these types first, on a few rows:
    # the precompiled set covers dense inputs, not sparse ones or every head.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        getattr(ours, kind)(**dict(settings, max_iter=2)).fit(Xtr[:50], ytr[:50])
    times = {"ours": [], "sklearn": []}
    score, fitted = {}, {}
    for _ in range(repeats):
        for side, module in (("ours", ours), ("sklearn", theirs)):
            t = time.perf_counter()
            model = getattr(module, kind)(**settings).fit(Xtr, ytr)
            times[side].append(time.perf_counter() - t)
            score[side] = (float(model.score(Xte, yte)), int(model.n_iter_))
            fitted[side] = model
    med = {k: float(np.median(v)) for k, v in times.items()}
    outputs = (len(np.unique(y)) if kind == "MLPClassifier" and y.ndim == 1
               else 1 if y.ndim == 1 else y.shape[1])
    return dict(workload=name, estimator=kind, shape=[Xtr.shape[0], X.shape[1]],
                outputs=outputs, sparse=hasattr(X, "tocsr"), settings=settings,
                median_fit_s=med, times=times, score=score,
                coef_distance=_coef_distance(fitted["ours"], fitted["sklearn"]),
                metric="accuracy" if kind == "MLPClassifier" else "R^2")


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
        from ..net.files import check_writable
        try:
            check_writable(args.json)  # the output location, before the work
        except OSError as exc:
            ap.error(f"cannot write --json {args.json}: {exc.strerror or exc}")

    from sklearn.exceptions import ConvergenceWarning
    from threadpoolctl import threadpool_info

    from ..net import precompile

    warnings.simplefilter("ignore", ConvergenceWarning)
    precompile((args.dtype,))  # compile or load the kernels before timing
    blas = [f"{i['internal_api']} {i.get('version')} x{i['num_threads']}" for i in threadpool_info()
            if i["user_api"] == "blas"]
    print(f"{args.dtype}, medians of {args.repeats} fits alternated; BLAS {blas}")
    print(f"{'workload':14s} {'estimator':13s} {'train':>17s} {'iters':>5s} "
          f"{'ours s':>8s} {'sklearn s':>9s} {'ratio':>6s} {'coefs':>8s}  score ours / sklearn")
    rows = []
    for name in names:
        r = run(name, args.dtype, args.repeats)
        rows.append(r)
        med, sc = r["median_fit_s"], r["score"]
        shape = f"{r['shape'][0]}x{r['shape'][1]}->{r['outputs']}"
        print(f"{name:14s} {r['estimator']:13s} {shape:>17s} {sc['ours'][1]:5d} "
              f"{med['ours']:8.3f} {med['sklearn']:9.3f} {med['sklearn'] / med['ours']:5.1f}x "
              f"{r['coef_distance']:8.1e}  {r['metric']} {sc['ours'][0]:.4f} / "
              f"{sc['sklearn'][0]:.4f}", flush=True)
    if args.json:
        from ..net.files import write_text
        write_text(args.json, json.dumps({"dtype": args.dtype, "blas": blas,
                                          "repeats": args.repeats, "rows": rows},
                                         indent=1, default=str))


if __name__ == "__main__":
    main()
