"""Each kernel and the fused two-layer loss, ours against the NumPy reference."""
import numpy as np
import pytest

from fusednet import kernels
from fusednet.kernels import reference


def _batch(case):
    shape, X, y, params, N = case
    return shape, X[:N].copy(), y[:N].copy(), params


@pytest.mark.parametrize("impl", ["ours", "numpy"])
def test_two_layer_loss(benchmark, case, impl):
    shape, X, y, p = _batch(case)
    benchmark.group = f"two_layer_loss {shape} {X.dtype}"
    benchmark.extra_info.update(shape=shape, dtype=X.dtype.name, layout="C")
    args = (p["W1"], p["b1"], p["W2"], p["b2"], X, y, 1e-4)
    if impl == "ours":
        ws = kernels.TwoLayerWorkspace(len(X), X.shape[1], p["W1"].shape[1], p["W2"].shape[1], X.dtype)
        benchmark(kernels.two_layer_loss, *args, ws)
    else:
        benchmark(reference.two_layer_loss, *args)


@pytest.mark.parametrize("impl", ["ours", "numpy"])
def test_affine_relu_forward(benchmark, case, impl):
    shape, X, y, p = _batch(case)
    benchmark.group = f"affine_relu_forward {shape} {X.dtype}"
    if impl == "ours":
        out = np.empty((len(X), p["W1"].shape[1]), X.dtype)
        benchmark(kernels.affine_relu_forward, X, p["W1"], p["b1"], out)
    else:
        benchmark(reference.affine_relu_forward, X, p["W1"], p["b1"])


@pytest.mark.parametrize("impl", ["ours", "numpy"])
def test_affine_relu_backward(benchmark, case, impl):
    shape, X, y, p = _batch(case)
    benchmark.group = f"affine_relu_backward {shape} {X.dtype}"
    h = reference.affine_relu_forward(X, p["W1"], p["b1"])
    dout = np.ones_like(h)
    if impl == "ours":
        bufs = dict(dX=np.empty_like(X), dW=np.empty_like(p["W1"]), db=np.empty_like(p["b1"]),
                    dz=np.empty_like(h))
        benchmark(kernels.affine_relu_backward, dout, X, p["W1"], h, **bufs)
    else:
        benchmark(reference.affine_relu_backward, dout, X, p["W1"], h)


@pytest.mark.parametrize("impl", ["ours", "numpy"])
def test_softmax_loss(benchmark, case, impl):
    shape, X, y, p = _batch(case)
    benchmark.group = f"softmax_loss {shape} {X.dtype}"
    scores = reference.affine_forward(reference.affine_relu_forward(X, p["W1"], p["b1"]), p["W2"], p["b2"])
    if impl == "ours":
        benchmark(kernels.softmax_loss, scores, y, np.empty_like(scores))
    else:
        benchmark(reference.softmax_loss, scores, y)
