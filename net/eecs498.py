"""The EECS 498 (Deep Learning for Computer Vision) A2 functions, on NumPy
params dicts ``{'W1', 'b1', 'W2', 'b2'}``, with that assignment's signatures
and defaults. ``nn_train`` with this module's ``nn_forward_backward`` and
``nn_predict`` runs the compiled loop; with other functions it runs them in
Python, step by step, exactly as the assignment's loop does.
"""
import numpy as np

from .. import kernels
from .search import best_net, search
from .two_layer_net import TwoLayerNet

_KEYS = ("W1", "b1", "W2", "b2")


def _unpack(params):
    missing = [k for k in _KEYS if k not in params]
    if missing:
        raise KeyError(f"params is missing {missing}; expected the keys {list(_KEYS)}")
    return [params[k] for k in _KEYS]


def nn_forward_pass(params, X):
    """``(scores, hidden)``: hidden = relu(X W1 + b1) (N, H), scores = hidden W2 + b2 (N, C)."""
    W1, b1, W2, b2 = _unpack(params)
    hidden = kernels.affine_relu_forward(X, W1, b1)
    return kernels.affine_forward(hidden, W2, b2), hidden


def nn_forward_backward(params, X, y=None, reg=0.0):
    """Scores when y is None, else ``(loss, grads)``; L2 is ``reg * sum(W**2)``."""
    if y is None:
        return nn_forward_pass(params, X)[0]
    loss, *grads = kernels.two_layer_loss(*_unpack(params), X, y, reg)
    return loss, dict(zip(_KEYS, grads))


def nn_predict(params, loss_func, X):
    """Labels (N,): the argmax of ``loss_func(params, X)``."""
    return np.argmax(loss_func(params, X), axis=1)


def nn_train(params, loss_func, pred_func, X, y, X_val, y_val, learning_rate=1e-3,
             learning_rate_decay=0.95, reg=5e-6, num_iters=100, batch_size=200, verbose=False):
    """Minibatch SGD on ``params`` in place; returns the histories.

    Minibatches come from ``np.random.choice(N, batch_size)``; at each epoch
    boundary (``max(N // batch_size, 1)`` iterations, iteration 0 included) the
    minibatch and validation accuracies are recorded and the learning rate
    decays.
    """
    if loss_func is nn_forward_backward and pred_func is nn_predict:
        _unpack(params)
        net = TwoLayerNet.from_params(params)
        stats = net.train(X, y, X_val, y_val, learning_rate, learning_rate_decay, reg,
                          num_iters, batch_size, verbose)
        for k in _KEYS:
            params[k][...] = net.params[k]
        return stats
    num_train = X.shape[0]
    iterations_per_epoch = max(num_train // batch_size, 1)
    loss_history, train_acc_history, val_acc_history = [], [], []
    for it in range(num_iters):
        idx = np.random.choice(num_train, batch_size)
        X_batch, y_batch = X[idx], y[idx]
        loss, grads = loss_func(params, X_batch, y=y_batch, reg=reg)
        loss_history.append(float(loss))
        for k in _KEYS:
            params[k] -= learning_rate * grads[k]
        if verbose and it % 100 == 0:
            print("iteration %d / %d: loss %f" % (it, num_iters, loss))
        if it % iterations_per_epoch == 0:
            train_acc_history.append(float(np.mean(pred_func(params, loss_func, X_batch) == y_batch)))
            val_acc_history.append(float(np.mean(pred_func(params, loss_func, X_val) == y_val)))
            learning_rate *= learning_rate_decay
    return {"loss_history": loss_history, "train_acc_history": train_acc_history,
            "val_acc_history": val_acc_history}


def nn_get_search_params():
    """``(learning_rates, hidden_sizes, regularization_strengths, learning_rate_decays)``
    for :func:`find_best_net`: a grid that suits mean-subtracted image data."""
    learning_rates = [5e-2, 1e-1, 5e-1]
    hidden_sizes = [64, 128, 256]
    regularization_strengths = [1e-5, 1e-4, 1e-3]
    learning_rate_decays = [0.95]
    return learning_rates, hidden_sizes, regularization_strengths, learning_rate_decays


def find_best_net(data_dict, get_param_set_fn, *, num_iters=2000, batch_size=200, std=1e-2,
                  seed=0, n_jobs=1, backend=None, verbose=False):
    """Train a :class:`TwoLayerNet` for every setting of ``get_param_set_fn()``
    and keep the one with the best validation accuracy.

    ``data_dict`` holds ``X_train, y_train, X_val, y_val``. Every setting
    starts from ``np.random.seed(seed)``, so its result does not depend on the
    order or the process it runs in; ``n_jobs`` and ``backend`` run the
    settings in parallel (see :func:`net.search.search`). Returns
    ``(best_net, best_stat, best_val_acc)``, best_stat being that net's
    training history.
    """
    learning_rates, hidden_sizes, regs, decays = get_param_set_fn()
    results = search(data_dict, hidden_sizes, learning_rates, regs, decays, num_iters=num_iters,
                     batch_size=batch_size, std=std, seed=seed, n_jobs=n_jobs, backend=backend)
    if verbose:
        for r in results:
            print(f"lr {r['learning_rate']:g} hidden {r['hidden_size']} reg {r['reg']:g} "
                  f"decay {r['learning_rate_decay']:g}: val acc {r['val_acc']:.4f}")
    best = results[0]
    return best_net(best), best["history"], best["val_acc"]
