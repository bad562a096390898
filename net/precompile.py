"""``precompile``: pay Numba's compile time (or the cache load) up front;
``everything``: what a shipped cache holds (``fusednet precompile --ship``)."""
import sys

import numpy as np

from .mlp import MLP
from .two_layer_net import TwoLayerNet


class _Bar:
    """A progress bar over groups of kernels: tqdm's (a widget in a notebook)
    when installed, else one line a group on stderr."""

    def __init__(self, total):
        try:
            from tqdm.auto import tqdm
        except ImportError:
            self.bar = None
        else:
            self.bar = tqdm(total=total, desc="fusednet: compiling", unit="group",
                            file=sys.stderr)
        self.started = False

    def __call__(self, text):
        if self.bar is None:
            print(f"fusednet: compiling: {text}", file=sys.stderr, flush=True)
            return
        if self.started:
            self.bar.update(1)
        self.started = True
        self.bar.set_postfix_str(text)

    def close(self):
        if self.bar is not None:
            self.bar.update(1)
            self.bar.close()


def _groups(progress, total):
    """``progress`` as (a callable or None, a closer)."""
    if progress is True:
        bar = _Bar(total)
        return bar, bar.close
    return (progress or None), (lambda: None)


def precompile(dtypes=("float64", "float32"), progress=False):
    """Compile (or load from the cache) every kernel a training call, a
    prediction and a loss use, for each dtype, drawing nothing from
    ``np.random``. Call it before timing, or before starting worker
    processes: several processes compiling into one cache at once can race.
    In a fresh environment this is Numba's compile time (about 10 s a dtype
    on 2 cores); once cached, or with a shipped cache, well under a second.

    ``progress``: True shows a progress bar (tqdm's, when installed); a
    callable is given a one-line description before each group of kernels."""
    step, close = _groups(progress, 2 * len(dtypes))
    _precompile(dtypes, step)
    close()


def _precompile(dtypes, progress):
    rng = np.random.default_rng(0)
    for dtype in dtypes:
        X = rng.standard_normal((6, 3)).astype(dtype)
        y = np.array([0, 1, 0, 1, 1, 0])
        for sizes in ([3, 4, 2], [3, 4, 4, 2]):
            if progress:
                progress(f"{len(sizes) - 1}-layer net, {np.dtype(dtype).name}")
            model = MLP(sizes, dtype=dtype, seed=0)
            model.train(X, y, X, y, num_iters=2, batch_size=3)
            model.predict(X)
            model.loss(X, y, reg=0.1)
        # The course class's loss is the public fused kernel (kernels.two_layer_loss).
        TwoLayerNet(3, 4, 2, dtype=dtype).loss(X, y, reg=0.1)


def everything(dtypes=("float64", "float32"), progress=False):
    """:func:`precompile`, and the kernels of the other common first calls:
    a two-layer net large enough to train in blocks over threads
    (``kernels.split``: CIFAR's 3072 -> 100 -> 10 takes that path), several
    models at once (``train_many``: ``search``), and scikit-learn's
    estimators (sgd, adam and lbfgs; softmax, logistic and squared-error
    heads) when scikit-learn is installed. ``progress`` as for :func:`precompile`."""
    step, close = _groups(progress, 4 * len(dtypes))
    _everything(dtypes, step)
    close()


def _everything(dtypes, progress):
    _precompile(dtypes, progress)
    from ..kernels.config import MIN_FLOPS
    from .many import train_many
    rng = np.random.default_rng(0)
    # 6 B (D H + H C) >= MIN_FLOPS with B = 200, H = 100, C = 10
    D = int(MIN_FLOPS / (6 * 200 * 100)) + 1
    for dtype in dtypes:
        if progress:
            progress(f"split two-layer net and many models, {np.dtype(dtype).name}")
        X = rng.standard_normal((256, D)).astype(dtype)
        y = np.arange(256) % 10
        model = MLP([D, 100, 10], dtype=dtype, seed=0)
        model.train(X, y, X[:20], y[:20], num_iters=2, batch_size=200)
        train_many(X[:20, :3].copy(), y[:20], X[:20, :3].copy(), y[:20],
                   [(4, 0.1, 0.0, 0.95), (5, 0.1, 0.01, 0.95)], num_iters=2, batch_size=8)
    try:
        from .estimator import MLPClassifier, MLPRegressor
    except ImportError:
        return
    import warnings
    from sklearn.exceptions import ConvergenceWarning
    for dtype in dtypes:
        if progress:
            progress(f"scikit-learn estimators, {np.dtype(dtype).name}")
        X = rng.standard_normal((40, 3)).astype(dtype)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            for solver in ("sgd", "adam", "lbfgs"):
                for y in (np.arange(40) % 3, np.arange(40) % 2):
                    MLPClassifier((4,), solver=solver, max_iter=2, random_state=0).fit(X, y).predict(X)
                MLPRegressor(hidden_layer_sizes=(4,), solver=solver, max_iter=2, random_state=0).fit(X, X[:, 0]).predict(X)
