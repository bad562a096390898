"""Digests of training results, to show that a change of the training path
keeps every number: run it before and after and compare.

    python tests/fingerprints.py --out before.json
    ... change ...
    python tests/fingerprints.py --compare before.json

Each case trains from a fixed seed and records a SHA-256 of the final
parameters and of the histories (the exact bytes), so a difference in any
last bit shows. Run both with the same thread setting (``FUSEDNET_NUM_THREADS``);
the cases cover every update rule, both samplings, depths 2 and 3 with and
without skips, both dtypes, the step decay, ``keep_best``, a split shape
(serial and parallel blocks), ``TwoLayerNet``, EECS 498's ``nn_train``,
``train_many`` (with a diverging and a split setting), ``search`` and
``MLPClassifier``'s solvers, schedules, early stopping and ``partial_fit``.
Not a test: the digests depend on the CPU and the BLAS build.
"""
import argparse
import hashlib
import json
import sys
import warnings

import numpy as np


def _digest(*arrays):
    h = hashlib.sha256()
    for a in arrays:
        h.update(np.ascontiguousarray(np.asarray(a, dtype=np.float64)).tobytes())
    return h.hexdigest()[:20]


def _hist(stats):
    return _digest(stats["loss_history"], stats["train_acc_history"], stats["val_acc_history"])


def _blobs(n, d, c, seed):
    rng = np.random.default_rng(seed)
    centers = 2.0 * rng.standard_normal((c, d))
    y = rng.integers(0, c, n)
    return centers[y] + rng.standard_normal((n, d)), y


def cases():
    from fusednet import MLP, TwoLayerNet, TrainingDiverged, nn_train, nn_forward_backward, \
        nn_predict, search, train_many
    X, y = _blobs(300, 12, 4, 0)
    Xv, yv = _blobs(90, 12, 4, 1)
    for dtype in ("float64", "float32"):
        Xd, Xvd = X.astype(dtype), Xv.astype(dtype)
        for rule in ("sgd", "sgd_momentum", "nesterov", "rmsprop", "adam", "adam_folded"):
            for sampling in ("replacement", "epochs"):
                for sizes, act, res in (([12, 16, 4], "relu", False),
                                        ([12, 16, 16, 4], "tanh", True),
                                        ([12, 16, 16, 4], "sigmoid", False)):
                    m = MLP(sizes, act, res, dtype=dtype, seed=3)
                    lr = 1e-2 if rule in ("rmsprop", "adam", "adam_folded") else 0.1
                    st = m.train(Xd, y, Xvd, yv, learning_rate=lr, num_iters=60, batch_size=32,
                                 update=rule, sampling=sampling, decay_every=2, reg=1e-3)
                    yield f"mlp {dtype} {rule} {sampling} {sizes} {act} res={res}", \
                        _digest(m._theta) + " " + _hist(st)
        m = MLP([12, 16, 4], dtype=dtype, seed=5)
        st = m.train(Xd, y, Xvd, yv, learning_rate=0.3, num_iters=80, batch_size=16,
                     keep_best=True, eval_every=7, l2="half", reg=1e-2)
        yield f"mlp {dtype} keep_best eval_every half", _digest(m._theta) + " " + _hist(st)
        # A split shape (6 B (D H + H C) >= 5e7): blocks serial and parallel.
        Xs, ys = _blobs(200, 1100, 10, 2)
        for threads in (1, 2):
            from fusednet import set_num_threads, get_num_threads
            before = get_num_threads()
            set_num_threads(threads)
            try:
                m = MLP([1100, 128, 10], dtype=dtype, seed=1)
                st = m.train(Xs.astype(dtype), ys, Xs[:50].astype(dtype), ys[:50],
                             learning_rate=0.01, num_iters=12, batch_size=64, update="adam",
                             reg=1e-3)
            finally:
                set_num_threads(before)
            yield f"mlp {dtype} split threads={threads}", _digest(m._theta) + " " + _hist(st)
        np.random.seed(0)
        net = TwoLayerNet(12, 20, 4, std=1e-1, dtype=dtype)
        st = net.train(Xd, y, Xvd, yv, learning_rate=0.1, num_iters=90, batch_size=40)
        yield f"TwoLayerNet {dtype}", _digest(net._theta) + " " + _hist(st)
        np.random.seed(1)
        net = TwoLayerNet(12, 20, 4, std=1e-1, dtype=dtype)
        st = net.train(Xd, y, Xvd, yv, learning_rate=0.1, num_iters=50, batch_size=40,
                       sampling="epochs")
        yield f"TwoLayerNet epochs seeded {dtype}", _digest(net._theta) + " " + _hist(st)
    np.random.seed(2)
    params = {"W1": 1e-1 * np.random.randn(12, 10), "b1": np.zeros(10),
              "W2": 1e-1 * np.random.randn(10, 4), "b2": np.zeros(4)}
    st = nn_train(params, nn_forward_backward, nn_predict, X, y, Xv, yv, learning_rate=0.1,
                  num_iters=70, batch_size=30)
    yield "nn_train numpy", _digest(*params.values()) + " " + _hist(st)
    Xs, ys = _blobs(400, 1100, 10, 2)
    settings = [(16, 0.1, 1e-4, 0.95), (32, 0.5, 1e-3, 0.9), (8, 1e6, 0.0, 1.0),
                (128, 0.01, 1e-4, 0.95)]
    results = train_many(Xs, ys, Xs[:60], ys[:60], settings, num_iters=40, batch_size=64, std=1e-2)
    for s, r in zip(settings, results):
        yield f"train_many {s}", (_digest(*r["params"].values()) + " " + _hist(r["history"])
                                  + f" {r['diverged_at']} {r['val_acc']!r}")
    data = dict(X_train=X, y_train=y, X_val=Xv, y_val=yv)
    res = search(data, [8, 16], [0.1, 0.5], [1e-4], [0.95], num_iters=50, batch_size=25)
    yield "search", _digest(*[v for r in res for v in r["params"].values()]) + " " + \
        " ".join(f"{r['val_acc']!r}" for r in res)
    from fusednet import MLPClassifier
    from sklearn.datasets import load_digits
    Xg, yg = load_digits(return_X_y=True)
    Xg = Xg / 16.0
    warnings.simplefilter("ignore")
    for kw in (dict(solver="adam"), dict(solver="sgd", learning_rate="invscaling"),
               dict(solver="sgd", learning_rate="adaptive", nesterovs_momentum=False),
               dict(solver="sgd", momentum=0.0), dict(solver="adam", early_stopping=True),
               dict(solver="adam", activation="tanh", hidden_layer_sizes=(20, 10))):
        for dtype in (np.float64, np.float32):
            clf = MLPClassifier(max_iter=15, random_state=0, **kw).fit(Xg.astype(dtype), yg)
            yield f"MLPClassifier {kw} {np.dtype(dtype).name}", \
                _digest(*clf.coefs_, *clf.intercepts_, clf.loss_curve_) + f" {clf.n_iter_}"
    clf = MLPClassifier(random_state=1, batch_size=100)
    for _ in range(5):
        clf.partial_fit(Xg, yg, classes=np.arange(10))
    yield "MLPClassifier partial_fit", _digest(*clf.coefs_, *clf.intercepts_, clf.loss_curve_)
    clf = MLPClassifier(max_iter=4, random_state=2, warm_start=True, solver="sgd")
    clf.fit(Xg, yg)
    clf.fit(Xg, yg)
    yield "MLPClassifier warm_start", _digest(*clf.coefs_, *clf.intercepts_, clf.loss_curve_)
    try:
        MLP([12, 16, 4], seed=0).train(X * 1e3, y, Xv, yv, learning_rate=1e9, num_iters=50)
        yield "diverged", "no"
    except TrainingDiverged as exc:
        yield "diverged", f"{exc.iteration} {exc}"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out")
    p.add_argument("--compare")
    a = p.parse_args(argv)
    got = {}
    for name, value in cases():
        got[name] = value
    if a.out:
        with open(a.out, "w") as f:
            json.dump(got, f, indent=1)
        print(f"{len(got)} cases written to {a.out}")
    if a.compare:
        with open(a.compare) as f:
            want = json.load(f)
        bad = [k for k in sorted(set(want) | set(got)) if want.get(k) != got.get(k)]
        for k in bad:
            print(f"DIFFERS {k}: {want.get(k)} -> {got.get(k)}")
        print(f"{len(got) - len(bad)} of {len(got)} cases identical")
        return 1 if bad else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
