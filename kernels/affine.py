"""Affine layers fused with their activation: forward and backward.

Public wrappers validate (see ``checks``) and call one compiled kernel each.
"""
import numpy as np
from numba import njit

from . import config
from .activations import IDENTITY, activation_code
from .checks import as_bias, as_input, as_output, float_dtype
from .config import JIT
from .epilogues import add_into, bias_act, grad_colsum
from .matmul import matmul


@njit(**JIT)
def _affine_act_forward(X, W, b, R, code, out, loop_max):
    matmul(X, W, out, loop_max)
    if R.shape[0]:
        add_into(out, R)
    bias_act(out, b, code)


@njit(**JIT)
def _affine_act_backward(dout, X, W, a, code, dz, dX, dW, db, acc, need_dX, loop_max):
    grad_colsum(dout, a, code, dz, db, acc)
    matmul(X.T, dz, dW, loop_max)
    if need_dX:
        matmul(dz, W.T, dX, loop_max)


def _layer_inputs(X, W, b):
    dtype = float_dtype("W", W)
    W = as_input("W", W, 2, dtype)
    D, M = W.shape
    X = as_input("X", X, 2, dtype, (None, D))
    b, _ = as_bias("b", b, dtype, M)   # (M,) or (1, M)
    return X, W, b


def affine_act_forward(X, W, b, activation, out=None, *, residual=None):
    """``act(X @ W + b [+ residual])`` for one layer.

    Parameters
    ----------
    X : (N, D) array. W : (D, M) array, whose dtype (float32 or float64) all
    other arrays must share. b : (M,) array.
    activation : 'relu', 'tanh', 'sigmoid' or 'identity'.
    out : optional (N, M) C-contiguous buffer for the result.
    residual : optional (N, M) array added before the activation, the
        identity skip ``z = relu(x1 @ w1 + b1 + x0)``.

    Returns
    -------
    out : (N, M) array.
    """
    code = activation_code(activation)
    X, W, b = _layer_inputs(X, W, b)
    shape = (X.shape[0], W.shape[1])
    if residual is None:
        R = np.empty((0, 0), W.dtype)
    else:
        R = as_input("residual", residual, 2, W.dtype, shape)
    out = as_output("out", out, shape, W.dtype, (X, W, b, R))
    _affine_act_forward(X, W, b, R, code, out, config.loop_max(W.dtype))
    return out


def affine_forward(X, W, b, out=None):
    """``X @ W + b``: X (N, D), W (D, M), b (M,) -> (N, M)."""
    return affine_act_forward(X, W, b, "identity", out)


def affine_relu_forward(X, W, b, out=None):
    """``max(0, X @ W + b)``: X (N, D), W (D, M), b (M,) -> (N, M)."""
    return affine_act_forward(X, W, b, "relu", out)


def affine_act_backward(dout, X, W, a, activation, dX=None, dW=None, db=None,
                        need_dX=True, *, dz=None):
    """Gradients of ``a = act(X @ W + b)`` given ``dout = dL/da``.

    ``dz = dout * act'(a)`` (the derivative taken from the output ``a``:
    relu ``a > 0``, tanh ``1 - a**2``, sigmoid ``a (1 - a)``), then
    ``dW = X^T dz``, ``db = sum_rows dz``, ``dX = dz W^T``.

    Parameters
    ----------
    dout, a : (N, M) arrays; ``a`` is the forward output (ignored, may be
        None, for 'identity'). X : (N, D). W : (D, M).
    dX, dW, db : optional C-contiguous output buffers (N, D), (D, M), (M,).
    need_dX : compute dX (skip it for a first layer whose input is data).
    dz : optional (N, M) buffer; on return it holds dL/dz, the gradient at
        the pre-activation, which is also what flows into a residual input.

    Returns
    -------
    (dX or None, dW, db)
    """
    return _backward(dout, X, W, a, "a", activation, dX, dW, db, need_dX, dz)


def affine_relu_backward(dout, X, W, h, dX=None, dW=None, db=None, need_dX=True, *, dz=None):
    """Gradients of ``h = max(0, X @ W + b)``; the mask is ``h > 0``.

    Shapes as in :func:`affine_act_backward`. Returns ``(dX or None, dW, db)``.
    """
    return _backward(dout, X, W, h, "h", "relu", dX, dW, db, need_dX, dz)


def _backward(dout, X, W, a, a_name, activation, dX, dW, db, need_dX, dz):
    code = activation_code(activation)
    dtype = float_dtype("W", W)
    W = as_input("W", W, 2, dtype)
    D, M = W.shape
    X = as_input("X", X, 2, dtype, (None, D))
    N = X.shape[0]
    dout = as_input("dout", dout, 2, dtype, (N, M))
    a = dout if code == IDENTITY and a is None else as_input(a_name, a, 2, dtype, (N, M))
    inputs = (dout, X, W, a)
    dz = as_output("dz", dz, (N, M), dtype, inputs)
    dW = as_output("dW", dW, (D, M), dtype, inputs + (dz,))
    db = as_output("db", db, (M,), dtype, inputs + (dz, dW))
    if need_dX:
        dX = as_output("dX", dX, (N, D), dtype, inputs + (dz, dW, db))
    else:
        dX = np.empty((0, 0), dtype)
    acc = np.empty(M, np.float64)
    _affine_act_backward(dout, X, W, a, code, dz, dX, dW, db, acc, bool(need_dX),
                         config.loop_max(dtype))
    return (dX if need_dX else None), dW, db
