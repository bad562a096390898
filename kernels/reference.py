"""The kernels written plainly in NumPy: the classic vectorized course solution.

This is the oracle of the tests and the baseline of the benchmarks, so it is
kept idiomatic and unhurried-but-not-slowed: whole-array NumPy expressions,
NumPy's own BLAS for the products, the max-shifted softmax. It does no
validation beyond what NumPy does, and it computes in the inputs' dtype.
"""
import numpy as np


def _activate(z, activation):
    if activation == "relu":
        return np.maximum(z, 0)
    if activation == "tanh":
        return np.tanh(z)
    if activation == "sigmoid":
        with np.errstate(over="ignore"):
            return 1 / (1 + np.exp(-z))
    if activation == "identity":
        return z
    raise ValueError(f"unknown activation {activation!r}")


def _derivative(a, activation):
    """d act / dz in terms of the output a."""
    if activation == "relu":
        return a > 0
    if activation == "tanh":
        return 1 - a * a
    if activation == "sigmoid":
        return a * (1 - a)
    return 1


def affine_forward(X, W, b):
    return X @ W + b


def affine_relu_forward(X, W, b):
    return np.maximum(X @ W + b, 0)


def affine_act_forward(X, W, b, activation, residual=None):
    z = X @ W + b
    if residual is not None:
        z = z + residual
    return _activate(z, activation)


def affine_act_backward(dout, X, W, a, activation, need_dX=True):
    """(dX or None, dW, db) of ``a = act(X @ W + b)``."""
    dz = dout * _derivative(a, activation)
    dW = X.T @ dz
    db = dz.sum(axis=0)
    dX = dz @ W.T if need_dX else None
    return dX, dW, db


def affine_relu_backward(dout, X, W, h, need_dX=True):
    return affine_act_backward(dout, X, W, h, "relu", need_dX)


def softmax_loss(scores, y):
    """(loss, dscores) of the mean softmax cross-entropy."""
    N = scores.shape[0]
    shifted = scores - scores.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    loss = -log_probs[np.arange(N), y].mean()
    dscores = np.exp(log_probs)
    dscores[np.arange(N), y] -= 1
    dscores /= N
    return float(loss), dscores


def logistic_loss(scores, t):
    """(loss, dscores) of the binary cross-entropy of sigmoid(scores) against
    targets t (N, C) in [0, 1], summed over outputs and averaged over rows."""
    N = scores.shape[0]
    loss = (np.logaddexp(0, scores) - t * scores).sum() / N
    with np.errstate(over="ignore"):
        p = 1 / (1 + np.exp(-scores))
    return float(loss), (p - t) / N


def squared_loss(scores, t):
    """(loss, dscores) of ``0.5 * sum((scores - t)**2) / N``, t (N, C)."""
    r = scores - t
    N = scores.shape[0]
    return float(0.5 * np.sum(r * r) / N), r / N


def poisson_loss(scores, t):
    """(loss, dscores) of half the Poisson deviance of exp(scores) against
    counts t (N, C): ``sum(xlogy(t, t / p) - t + p) / N``, p = exp(scores)."""
    from scipy.special import xlogy
    p = np.exp(scores)
    N = scores.shape[0]
    return float(np.sum(xlogy(t, t / p) - t + p) / N), (p - t) / N


def two_layer_loss(W1, b1, W2, b2, X, y, reg=0.0, *, activation="relu", l2="full",
                   need_dX=False):
    """(loss, dW1, db1, dW2, db2[, dX]) of affine -> act -> affine -> softmax."""
    c = {"full": 2.0, "half": 1.0}[l2] * reg
    h = _activate(X @ W1 + b1, activation)
    scores = h @ W2 + b2
    loss, dscores = softmax_loss(scores, y)
    loss += 0.5 * c * (np.sum(W1 * W1) + np.sum(W2 * W2))
    dW2 = h.T @ dscores + c * W2
    db2 = dscores.sum(axis=0)
    dh = (dscores @ W2.T) * _derivative(h, activation)
    dW1 = X.T @ dh + c * W1
    db1 = dh.sum(axis=0)
    grads = (loss, dW1, db1, dW2, db2)
    return grads + (dh @ W1.T,) if need_dX else grads
