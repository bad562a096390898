"""CS224d assignment 1's ``forward_backward_prop``, on the fused two-layer kernel.

The course's conventions: one flat parameter vector holding, in order, W1
(Dx, H), b1 (1, H), W2 (H, Dy), b2 (1, Dy), each row-major; one-hot labels
(M, Dy); a sigmoid hidden layer; the cost is the SUM of the cross-entropy
over the M rows (not the mean):

    h    = act(data W1 + b1)                     (M, H)
    cost = sum_i -log softmax(h W2 + b2)_i[label_i] + 0.5 reg (|W1|^2 + |W2|^2)
    grad = d cost / d params, flat in the params' order

``activation='tanh'``, ``reg`` (half L2, ``0.5 * reg * sum(W**2)``, gradient
``reg * W``) and ``need_dX=True`` (the gradient with respect to ``data``,
which updates the word vectors) give the course's tanh window model.
"""
import numpy as np

from .. import kernels
from ..kernels.checks import as_labels, as_reg, check_number


def _dimensions(dimensions):
    """``(Dx, H, Dy)`` as three Python ints >= 1; a width that is not an
    integer (``4.5``, ``"10"``, ``True``) is refused by name, not truncated."""
    if isinstance(dimensions, (str, bytes)) \
            or not isinstance(dimensions, (list, tuple, np.ndarray)):
        raise TypeError(f"dimensions must be (Dx, H, Dy), three positive integers, "
                        f"got {type(dimensions).__name__} {dimensions!r}")
    if len(dimensions) != 3:
        raise ValueError(f"dimensions must be (Dx, H, Dy), three positive integers, "
                         f"got {dimensions!r}")
    return tuple(check_number(f"dimensions[{i}]", d, 1, integer=True)
                 for i, d in enumerate(dimensions))


def unpack_params(params, dimensions):
    """``(W1, b1, W2, b2)``: views of the flat ``params`` shaped (Dx, H), (1, H),
    (H, Dy), (1, Dy), as the course's ``forward_backward_prop`` unpacks them."""
    Dx, H, Dy = _dimensions(dimensions)
    if not isinstance(params, np.ndarray):
        raise TypeError(f"params must be a flat NumPy array, got {type(params).__name__}")
    size = (Dx + 1) * H + (H + 1) * Dy
    if params.ndim != 1 or params.size != size:
        raise ValueError(f"params has shape {params.shape}; dimensions {(Dx, H, Dy)} need a "
                         f"flat vector of (Dx + 1) * H + (H + 1) * Dy = {size} entries")
    ends = np.cumsum([Dx * H, H, H * Dy, Dy])
    W1, b1, W2, b2 = np.split(params, ends[:-1])
    return W1.reshape(Dx, H), b1.reshape(1, H), W2.reshape(H, Dy), b2.reshape(1, Dy)


def forward_backward_prop(data, labels, params, dimensions, *, activation="sigmoid", reg=0.0,
                          need_dX=False):
    """``(cost, grad)`` of the course's two-layer net (module docstring).

    Parameters
    ----------
    data : (M, Dx) inputs, converted to the params' dtype.
    labels : (M, Dy) one-hot rows, or (M,) integer labels.
    params : flat float32 or float64 vector of (Dx + 1) H + (H + 1) Dy entries,
        W1, b1, W2, b2 in that order; read each call (perturb it in place freely).
    dimensions : (Dx, H, Dy), integers >= 1 (checked before any kernel runs).
    activation : 'sigmoid' (the course's default), 'tanh', 'relu' or 'identity'.
    reg : half-L2 strength on W1 and W2 (biases are not regularized).
    need_dX : also return the gradient with respect to ``data`` (M, Dx).

    Returns
    -------
    cost (float), grad (flat, params' shape and dtype)[, ddata (M, Dx)].
    """
    W1, b1, W2, b2 = unpack_params(params, dimensions)
    if not isinstance(data, np.ndarray) or data.ndim != 2 or data.shape[1] != W1.shape[0]:
        shape = getattr(data, "shape", type(data).__name__)
        raise ValueError(f"data must be an (M, {W1.shape[0]}) array, got {shape}")
    M = data.shape[0]
    if M == 0:
        raise ValueError("data is empty; expected at least one row")
    if data.dtype != params.dtype:
        data = data.astype(params.dtype)
    labels = as_labels("labels", np.asarray(labels), M, W2.shape[1])
    # The kernel takes the mean over rows: a strength reg / M on the mean is
    # reg on the sum, once the cost and gradients are scaled by M.
    out = kernels.two_layer_loss(W1, b1, W2, b2, data, labels, as_reg(reg) / M,
                                 activation=activation, l2="half", need_dX=need_dX)
    grad = np.concatenate([g.reshape(-1) for g in out[1:5]])
    grad *= M
    cost = M * out[0]
    return (cost, grad, M * out[5]) if need_dX else (cost, grad)
