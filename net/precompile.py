"""``precompile``: pay Numba's compile time (or the cache load) up front."""
import numpy as np

from .mlp import MLP


def precompile(dtypes=("float64", "float32")):
    """Compile (or load from the cache) every kernel a training call, a
    prediction and a loss use, for each dtype, drawing nothing from
    ``np.random``. Call it before timing, or before starting worker
    processes: several processes compiling into one cache at once can race."""
    rng = np.random.default_rng(0)
    for dtype in dtypes:
        X = rng.standard_normal((6, 3)).astype(dtype)
        y = np.array([0, 1, 0, 1, 1, 0])
        for sizes in ([3, 4, 2], [3, 4, 4, 2]):
            model = MLP(sizes, dtype=dtype, seed=0)
            model.train(X, y, X, y, num_iters=2, batch_size=3)
            model.predict(X)
            model.loss(X, y, reg=0.1)
