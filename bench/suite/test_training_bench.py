"""One training iteration (in blocks of iterations) and a whole train() run."""
import numpy as np
import pytest

from fusednet.bench import workloads
from fusednet.net import TwoLayerNet
from fusednet.net.classic import ClassicTwoLayerNet


@pytest.mark.parametrize("impl", ["ours", "numpy"])
def test_training_iterations(benchmark, case, impl):
    shape, X, y, params, N = case
    benchmark.group = f"100 training iterations {shape} {X.dtype}"
    step = (workloads.ours_stepper if impl == "ours" else workloads.numpy_stepper)(X, y, params, N)
    step(2)
    benchmark(step, 100)


@pytest.mark.parametrize("impl", ["ours", "numpy"])
def test_whole_train_run(benchmark, case, impl):
    shape, X, y, params, N = case
    benchmark.group = f"train() 200 iterations {shape} {X.dtype}"
    D, H = params["W1"].shape
    C = params["W2"].shape[1]

    def run():
        np.random.seed(0)
        if impl == "ours":
            net = TwoLayerNet(D, H, C, std=1e-2, dtype=X.dtype)
        else:  # the classic class computes in its parameters' dtype
            net = ClassicTwoLayerNet(D, H, C, std=1e-2)
            net.params = {k: v.astype(X.dtype) for k, v in net.params.items()}
        net.train(X, y, X[:N], y[:N], num_iters=200, batch_size=N)

    benchmark.pedantic(run, rounds=3, warmup_rounds=1)
