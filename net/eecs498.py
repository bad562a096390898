"""The EECS 498 (Deep Learning for Computer Vision) A2 functions and class,
with that assignment's signatures and defaults, on params dicts ``{'W1',
'b1', 'W2', 'b2'}`` of NumPy arrays or of PyTorch tensors.

Given tensors (CPU, float32 or float64), everything takes and returns tensors
as the course's own code does: NumPy views of the tensors go to the kernels
(no copy; see :mod:`net.tensors`), scores, hidden activations, gradients and
predictions come back as tensors in the params' dtype, and the loss is a 0-d
tensor of that dtype. ``nn_train`` then draws its minibatches as the course's
``sample_batch`` does, ``torch.randint(0, N, (batch_size,))`` once per
iteration from torch's default generator, so that under the course's
``reset_seed`` (Python's and torch's seeds) the run is the course's. Given
NumPy arrays, minibatches come from ``np.random.choice(N, batch_size)``, the
CS231n stream. torch is imported only when a tensor (or a torch dtype) is
passed.

``nn_train`` with this module's ``nn_forward_backward`` and ``nn_predict``
runs the compiled loop; with other functions it runs them in Python, step by
step, exactly as the assignment's loop does.
"""
import random
import zipfile

import numpy as np

from .. import kernels
from . import sampling
from . import tensors as T
from .search import best_net, search
from .training import TrainingDiverged
from .two_layer_net import TwoLayerNet as _CS231nNet

_KEYS = ("W1", "b1", "W2", "b2")


def _unpack(params):
    if not hasattr(params, "keys"):
        raise TypeError(f"params must be a dict with the keys {list(_KEYS)}, "
                        f"got {type(params).__name__}")
    missing = [k for k in _KEYS if k not in params]
    if missing:
        raise KeyError(f"params is missing {missing}; expected the keys {list(_KEYS)}")
    return [params[k] for k in _KEYS]


def _as_arrays(params, X):
    """``(W1, b1, W2, b2, X, wrap)``: NumPy arrays (views of any tensors) and
    the function that turns a result back into the caller's kind."""
    values = _unpack(params)
    if not T.any_tensor(params, X):
        return (*values, X, lambda a: a)
    T.check_same_dtype("X", X, "params['W1']", values[0])
    arrays = [T.to_numpy(f"params[{k!r}]", v) for k, v in zip(_KEYS, values)]
    return (*arrays, T.to_numpy("X", X), T.from_numpy)


def nn_forward_pass(params, X):
    """``(scores, hidden)``: hidden = relu(X W1 + b1) (N, H), scores = hidden W2 + b2 (N, C).

    X (N, D) of the params' dtype; b1, b2 may be (H,), (C,) or (1, H), (1, C).
    """
    W1, b1, W2, b2, X, wrap = _as_arrays(params, X)
    hidden = kernels.affine_relu_forward(X, W1, b1)
    return wrap(kernels.affine_forward(hidden, W2, b2)), wrap(hidden)


def nn_forward_backward(params, X, y=None, reg=0.0):
    """Scores (N, C) when y is None, else ``(loss, grads)``.

    loss = mean_i -log softmax(scores_i)[y_i] + reg * (sum(W1**2) + sum(W2**2));
    grads has the keys of params, each in its parameter's shape. y holds
    integer labels (N,) or one-hot rows (N, C). With tensors the loss is a 0-d
    tensor of the params' dtype and the gradients are tensors; with NumPy
    arrays the loss is a float.
    """
    if y is None:
        return nn_forward_pass(params, X)[0]
    W1, b1, W2, b2, X, wrap = _as_arrays(params, X)
    loss, *grads = kernels.two_layer_loss(W1, b1, W2, b2, X, T.to_numpy("y", y), reg)
    if wrap is not T.from_numpy:
        return loss, dict(zip(_KEYS, grads))
    return wrap(np.asarray(loss, W1.dtype)), {k: wrap(g) for k, g in zip(_KEYS, grads)}


def nn_predict(params, loss_func, X):
    """Labels (N,): the argmax of the scores ``loss_func(params, X)`` (a
    tensor of int64 for tensor scores)."""
    scores = loss_func(params, X)
    if T.is_tensor(scores):
        return T.torch().argmax(scores, dim=1)
    return np.argmax(scores, axis=1)


def _float32_fraction(fraction, n):
    """``fraction`` (k / n of n predictions) as torch's float32 ``mean()``
    gives it: the float32 quotient of k and n."""
    return float(np.float32(round(fraction * n)) / np.float32(n))


def nn_train(params, loss_func, pred_func, X, y, X_val, y_val, learning_rate=1e-3,
             learning_rate_decay=0.95, reg=5e-6, num_iters=100, batch_size=200, verbose=False):
    """Minibatch SGD on ``params`` in place; returns the histories.

    Each iteration draws a minibatch with replacement (tensors:
    ``torch.randint(0, N, (batch_size,))``; NumPy: ``np.random.choice(N,
    batch_size)``), takes ``loss_func(params, X_batch, y=y_batch, reg=reg)``
    and steps ``params[k] -= learning_rate * grads[k]``. At each epoch
    boundary (every ``max(N // batch_size, 1)`` iterations, iteration 0
    included) the minibatch and validation accuracies are recorded and the
    learning rate decays. Returns ``{'loss_history', 'train_acc_history',
    'val_acc_history'}`` of floats; with tensors, float32 values are the
    course's (``loss.item()`` of a float32 loss, ``.float().mean()``
    accuracies).
    """
    use_torch = T.any_tensor(params, X)
    if loss_func is nn_forward_backward and pred_func is nn_predict:
        return _train_compiled(params, X, y, X_val, y_val, use_torch, learning_rate,
                               learning_rate_decay, reg, num_iters, batch_size, verbose)
    num_train = X.shape[0]
    iterations_per_epoch = max(num_train // batch_size, 1)
    if use_torch:
        torch = T.torch()
        draw = lambda: torch.randint(0, num_train, (batch_size,))  # noqa: E731
        accuracy = lambda pred, truth: (pred == truth).float().mean().item()  # noqa: E731
    else:
        draw = lambda: np.random.choice(num_train, batch_size)  # noqa: E731
        accuracy = lambda pred, truth: float(np.mean(pred == truth))  # noqa: E731
    loss_history, train_acc_history, val_acc_history = [], [], []
    for it in range(num_iters):
        idx = draw()
        X_batch, y_batch = X[idx], y[idx]
        loss, grads = loss_func(params, X_batch, y=y_batch, reg=reg)
        loss = loss.item() if hasattr(loss, "item") else float(loss)
        loss_history.append(loss)
        for k in _KEYS:
            params[k] -= learning_rate * grads[k]
        if verbose and it % 100 == 0:
            print("iteration %d / %d: loss %f" % (it, num_iters, loss))
        if it % iterations_per_epoch == 0:
            train_acc_history.append(accuracy(pred_func(params, loss_func, X_batch), y_batch))
            val_acc_history.append(accuracy(pred_func(params, loss_func, X_val), y_val))
            learning_rate *= learning_rate_decay
    return {"loss_history": loss_history, "train_acc_history": train_acc_history,
            "val_acc_history": val_acc_history}


def _train_compiled(params, X, y, X_val, y_val, use_torch, learning_rate, learning_rate_decay,
                    reg, num_iters, batch_size, verbose):
    """nn_train with this module's functions: the compiled loop of a net over
    copies of the params, written back into them (in place) at the end."""
    _unpack(params)
    arrays = T.params_to_numpy(params)
    # (1, H) biases train as (H,) and are written back in their own shape.
    net = _CS231nNet.from_params({k: a.reshape(-1) if k[0] == "b" else a
                                  for k, a in arrays.items()})
    if use_torch:
        net._source = sampling.TORCH  # the course's sample_batch
    X, y, X_val, y_val = (T.to_numpy(name, v) for name, v in
                          (("X", X), ("y", y), ("X_val", X_val), ("y_val", y_val)))
    try:
        stats = net.train(X, y, X_val, y_val, learning_rate, learning_rate_decay, reg,
                          num_iters, batch_size, verbose)
    finally:
        # Also after Ctrl-C or divergence: the params then hold what the
        # message says the model keeps (the last finished, or finite, step).
        for k in _KEYS:
            arrays[k][...] = net.params[k].reshape(arrays[k].shape)
    return _as_course_reports(stats, net.dtype, batch_size, len(y_val)) if use_torch else stats


def _as_course_reports(stats, dtype, batch_size, n_val):
    """The histories as the course's loop records them from tensors:
    ``loss.item()`` of a loss in the params' dtype, and accuracies from
    ``(pred == y).float().mean()``, a float32 quotient whatever the dtype."""
    loss = stats["loss_history"]
    if dtype == np.float32:
        loss = [float(np.float32(v)) for v in loss]
    return {"loss_history": loss,
            "train_acc_history": [_float32_fraction(a, batch_size)
                                  for a in stats["train_acc_history"]],
            "val_acc_history": [_float32_fraction(a, n_val) for a in stats["val_acc_history"]]}


def nn_get_search_params():
    """``(learning_rates, hidden_sizes, regularization_strengths, learning_rate_decays)``
    for :func:`find_best_net`: a grid that suits mean-subtracted image data."""
    learning_rates = [5e-2, 1e-1, 5e-1]
    hidden_sizes = [64, 128, 256]
    regularization_strengths = [1e-5, 1e-4, 1e-3]
    learning_rate_decays = [0.95]
    return learning_rates, hidden_sizes, regularization_strengths, learning_rate_decays


def find_best_net(data_dict, get_param_set_fn, *, num_iters=2000, batch_size=200, std=1e-2,
                  seed=0, n_jobs=-1, backend=None, verbose=False):
    """Train a net for every setting of ``get_param_set_fn()`` and keep the
    one with the best validation accuracy (all at once in one parallel call,
    :func:`train_many`, unless ``backend`` names a joblib backend).

    ``data_dict`` holds ``X_train, y_train, X_val, y_val`` (arrays or CPU
    tensors). Every setting starts from ``np.random.seed(seed)``, so its
    result does not depend on the order or the process it runs in; ``n_jobs``
    and ``backend`` run the settings in parallel (see :func:`net.search.search`).
    Returns ``(best_net, best_stat, best_val_acc)``, best_stat being that
    net's training history and best_val_acc a fraction; best_net is this
    module's :class:`TwoLayerNet` over tensors when the data are tensors,
    else the CS231n ``fusednet.TwoLayerNet``.
    """
    use_torch = T.any_tensor(data_dict)
    data = {k: T.to_numpy(k, v) for k, v in data_dict.items()}
    learning_rates, hidden_sizes, regs, decays = get_param_set_fn()
    results = search(data, hidden_sizes, learning_rates, regs, decays, num_iters=num_iters,
                     batch_size=batch_size, std=std, seed=seed, n_jobs=n_jobs, backend=backend)
    if verbose:
        for r in results:
            print(f"lr {r['learning_rate']:g} hidden {r['hidden_size']} reg {r['reg']:g} "
                  f"decay {r['learning_rate_decay']:g}: "
                  + (f"diverged at iteration {r['diverged_at']}" if r["diverged"]
                     else f"val acc {r['val_acc']:.4f}"))
    best = results[0]
    if best["diverged"]:
        raise TrainingDiverged(
            f"every setting diverged (the best lasted until iteration {best['diverged_at']}); "
            "try smaller learning rates", best["history"], best["diverged_at"])
    net = best_net(best)
    if use_torch:
        net = TwoLayerNet.from_params({k: T.from_numpy(np.array(v, copy=True))
                                       for k, v in net.params.items()})
    return net, best["history"], best["val_acc"]


def _is_torch_dtype(dtype):
    return type(dtype).__module__.split(".")[0] == "torch"


class TwoLayerNet:
    """EECS 498 A2's ``TwoLayerNet``: ``params`` (W1 (D, H), b1 (H,), W2 (H,
    C), b2 (C,)) and the ``nn_*`` functions of this module.

    With a torch ``dtype`` (the default, torch.float32, or torch.float64) the
    constructor does what the course's does: it reseeds Python's ``random``
    and torch with 0, then draws ``W1 = std * torch.randn(D, H)`` and ``W2 =
    std * torch.randn(H, C)`` in that dtype, biases zero. ``device`` must be
    the CPU ('cpu' or ``torch.device('cpu')``); anything else is refused (the
    kernels run on the CPU only). With a NumPy dtype (np.float32, np.float64)
    the params are NumPy arrays drawn from ``np.random.randn`` (no reseeding)
    and torch is not needed.

    ``save(path)`` writes the course's checkpoint, ``torch.save(params)``, to
    exactly ``path`` (a NumPy ``.npz`` for NumPy params); ``load(path)`` reads
    either.
    """

    def __init__(self, input_size, hidden_size, output_size, dtype=None, device="cpu",
                 std=1e-4):
        T.check_device("device", device)
        shapes = {"W1": (input_size, hidden_size), "b1": (hidden_size,),
                  "W2": (hidden_size, output_size), "b2": (output_size,)}
        if dtype is None or _is_torch_dtype(dtype):
            torch = T.require_torch("TwoLayerNet with a torch dtype")
            dtype = torch.float32 if dtype is None else dtype
            if dtype not in (torch.float32, torch.float64):
                raise TypeError(f"dtype must be torch.float32 or torch.float64 (or a NumPy "
                                f"float dtype), got {dtype}")
            random.seed(0)
            torch.manual_seed(0)
            self.params = {k: (std * torch.randn(*s, dtype=dtype) if k[0] == "W"
                               else torch.zeros(*s, dtype=dtype)) for k, s in shapes.items()}
        else:
            dtype = np.dtype(dtype)
            if dtype not in (np.float32, np.float64):
                raise TypeError(f"dtype must be torch.float32/float64 or np.float32/float64, "
                                f"got {dtype}")
            self.params = {k: (std * np.random.randn(*s) if k[0] == "W"
                               else np.zeros(s)).astype(dtype) for k, s in shapes.items()}

    @classmethod
    def from_params(cls, params):
        """A net over ``params`` itself (no copy, nothing drawn)."""
        _unpack(params)
        net = cls.__new__(cls)
        net.params = params
        return net

    def loss(self, X, y=None, reg=0.0):
        """``nn_forward_backward(self.params, X, y, reg)``."""
        return nn_forward_backward(self.params, X, y, reg)

    def train(self, X, y, X_val, y_val, learning_rate=1e-3, learning_rate_decay=0.95,
              reg=5e-6, num_iters=100, batch_size=200, verbose=False):
        """:func:`nn_train` of ``self.params`` with this module's functions (compiled)."""
        return nn_train(self.params, nn_forward_backward, nn_predict, X, y, X_val, y_val,
                        learning_rate, learning_rate_decay, reg, num_iters, batch_size, verbose)

    def predict(self, X):
        """Labels (N,) of X: ``nn_predict(self.params, nn_forward_backward, X)``."""
        return nn_predict(self.params, nn_forward_backward, X)

    def save(self, path):
        """Write ``params`` to ``path``: ``torch.save`` for tensors, ``.npz``
        data for NumPy arrays (at ``path`` itself, no suffix added). Written
        atomically (:mod:`fusednet.net.files`): a failed save keeps the old file."""
        import io
        from . import files
        if T.any_tensor(self.params):
            # Serialized in memory first: torch's writer turns a stream's
            # OSError (a full disk) into a RuntimeError without the errno.
            checkpoint = io.BytesIO()
            T.torch().save(self.params, checkpoint)
            files.write_bytes(path, checkpoint.getbuffer())
        else:
            files.savez(path, **self.params)
        print("Saved in {}".format(path))

    def load(self, path):
        """Replace ``params`` by the checkpoint at ``path`` (either format of :meth:`save`)."""
        if _is_npz(path):
            with np.load(path, allow_pickle=False) as f:
                params = {k: f[k] for k in f.files}
        else:
            torch = T.require_torch(f"loading the torch checkpoint {path}")
            params = torch.load(path, map_location="cpu")
        if not isinstance(params, dict) or sorted(params) != sorted(_KEYS):
            got = sorted(params) if isinstance(params, dict) else type(params).__name__
            raise ValueError(f"{path} is not a TwoLayerNet checkpoint: expected a dict of "
                             f"exactly {list(_KEYS)}, got {got}")
        self.params = params


def _is_npz(path):
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as z:
        return any(name.endswith(".npy") for name in z.namelist())
