"""``NUMBA_DISABLE_JIT=1`` (how Numba code is debugged, and how coverage tools
see it) runs the kernels as plain Python: slowly, with the same numbers."""
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent


def run_without_jit(args):
    env = dict(os.environ, NUMBA_DISABLE_JIT="1")
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=900)


@pytest.mark.slow
def test_kernels_match_the_reference_with_jit_disabled():
    # Above their loop_max limits the products call BLAS (silently zeros before),
    # below them the loops' Vectors are NumPy arrays (kernels.simd), and
    # the softmax, sigmoid, two_layer_loss and train use the inlined exp (an
    # LLVM intrinsic, NotImplementedError before).
    out = run_without_jit(["-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "tests/test_kernels_match_reference.py",
                           "tests/test_matmul.py",
                           "tests/test_blas.py::test_matmul_equals_numpy_for_c_fortran_and_strided_operands",
                           "tests/test_exp.py::test_edges_zero_one_minus_infinity_and_nan"])
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
    assert " passed" in out.stdout and "failed" not in out.stdout


TRAIN = textwrap.dedent("""
    import json
    import numpy as np
    from numba import config
    from fusednet import MLP, TwoLayerNet
    rng = np.random.default_rng(0)
    X = rng.standard_normal((120, 30)); y = (X[:, 0] > 0).astype(int) + (X[:, 1] > 0)
    deep = MLP([30, 20, 20, 3], activation="sigmoid", residual=True, seed=0)
    h1 = deep.train(X, y, X[:40], y[:40], num_iters=12, batch_size=50, learning_rate=0.1,
                    update="adam")
    np.random.seed(0)
    two = TwoLayerNet(30, 40, 3, std=0.1)
    h2 = two.train(X, y, X[:40], y[:40], num_iters=12, batch_size=50, learning_rate=0.5)
    loss, grads = two.loss(X, y, reg=0.1)
    print(json.dumps({"jit": not config.DISABLE_JIT, "deep": h1, "two": h2, "loss": loss,
                      "dW1": grads["W1"].ravel().tolist()}))
""")


@pytest.mark.slow
def test_training_without_jit_gives_the_compiled_numbers():
    compiled = json.loads(subprocess.run([sys.executable, "-c", TRAIN], cwd=ROOT, check=True,
                                         capture_output=True, text=True).stdout)
    out = run_without_jit(["-c", TRAIN])
    assert out.returncode == 0, out.stderr[-3000:]
    python = json.loads(out.stdout)
    assert compiled["jit"] and not python["jit"]
    for key in ("deep", "two"):
        for name, values in compiled[key].items():
            np.testing.assert_allclose(python[key][name], values, rtol=1e-9, atol=1e-12)
    assert python["loss"] == pytest.approx(compiled["loss"], rel=1e-12)
    np.testing.assert_allclose(python["dW1"], compiled["dW1"], rtol=1e-9, atol=1e-14)
