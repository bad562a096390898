"""The kernels' matrix products: which BLAS they call, and that every operand
layout gives NumPy's product (through BLAS and through the loops)."""
import itertools
import json
import os
import platform
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from fusednet.kernels import blas
from fusednet.kernels.matmul import matmul


def layout(rng, shape, kind, dtype):
    """A (r, c) operand: 'C', 'F', or 'strided' (every other column of a wider array)."""
    r, c = shape
    if kind == "strided":
        return rng.standard_normal((r, 2 * c)).astype(dtype)[:, ::2]
    a = rng.standard_normal((r, c)).astype(dtype)
    return np.asfortranarray(a) if kind == "F" else a


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("loop_max", [(0, 0, 0), (10**12,) * 3], ids=["blas", "loops"])
@pytest.mark.parametrize("m,k,n", [(1, 1, 1), (1, 5, 1), (5, 1, 7), (3, 4, 10), (37, 23, 9),
                                   (64, 1, 64), (200, 64, 100)])
def test_matmul_equals_numpy_for_c_fortran_and_strided_operands(dtype, loop_max, m, k, n):
    rng = np.random.default_rng(m * 1000 + k * 10 + n)
    tol = 1e-12 if dtype == np.float64 else 2e-5
    for ka, kb in itertools.product(("C", "F", "strided"), repeat=2):
        A, B = layout(rng, (m, k), ka, dtype), layout(rng, (k, n), kb, dtype)
        out = np.full((m, n), np.nan, dtype)
        matmul(A, B, out, loop_max)
        expected = A.astype(np.float64) @ B.astype(np.float64)
        scale = np.abs(A).max() * np.abs(B).max() * k
        assert np.abs(out - expected).max() <= tol * scale, (ka, kb)


def test_matmul_with_empty_inner_dimension_writes_zeros():
    out = np.full((3, 4), np.nan)
    matmul(np.empty((3, 0)), np.empty((0, 4)), out, (0, 0, 0))
    assert (out == 0).all()


def test_matmul_of_transposed_views_calls_blas_without_copies():
    # The backward pass's products take X.T and W.T: F-ordered views that
    # must go to BLAS as transposed operands, not through the loops.
    rng = np.random.default_rng(1)
    X, dH = rng.standard_normal((300, 200)), rng.standard_normal((300, 150))
    out = np.empty((200, 150))
    matmul(X.T, dH, out, (0, 0, 0))
    np.testing.assert_allclose(out, X.T @ dH, rtol=1e-12, atol=1e-12)


NUMPY_WHEEL_OPENBLAS = (sys.platform.startswith("linux") and platform.machine() == "x86_64"
                        and np.__config__.CONFIG["Build Dependencies"]["blas"]["name"]
                        == "scipy-openblas")


def test_kernels_call_the_blas_library_numpy_loaded():
    from threadpoolctl import threadpool_info
    numpy_lib = next((os.path.basename(i["filepath"]) for i in threadpool_info()
                      if i["user_api"] == "blas" and "numpy" in i["filepath"]), None)
    if NUMPY_WHEEL_OPENBLAS and not os.environ.get("FUSEDNET_BLAS"):
        assert blas.SOURCE.startswith("NumPy's BLAS") and numpy_lib in blas.SOURCE
    else:
        assert blas.SOURCE.startswith(("NumPy's BLAS", "SciPy's BLAS"))


TRAIN_AND_REPORT = textwrap.dedent("""
    import json
    import numpy as np
    from fusednet.kernels import blas
    from fusednet.net import MLP
    rng = np.random.default_rng(0)
    X = rng.standard_normal((400, 30)); y = (X[:, 0] > 0).astype(int) + (X[:, 1] > 0)
    net = MLP([30, 64, 3], seed=0)
    hist = net.train(X, y, X[:50], y[:50], num_iters=60, batch_size=100, learning_rate=0.1)
    print(json.dumps({"source": blas.SOURCE, "loss": hist["loss_history"]}))
""")


def train_in_subprocess(**env):
    out = subprocess.run([sys.executable, "-c", TRAIN_AND_REPORT], capture_output=True,
                         text=True, check=True, env=dict(os.environ, **env)).stdout
    return json.loads(out)


@pytest.mark.slow
@pytest.mark.skipif(not NUMPY_WHEEL_OPENBLAS, reason="needs NumPy's pip-wheel OpenBLAS")
def test_scipy_blas_fallback_trains_to_the_same_losses():
    ours = train_in_subprocess()
    assert ours["source"].startswith("NumPy's BLAS")
    fallback = train_in_subprocess(FUSEDNET_BLAS="scipy")
    assert fallback["source"] == "SciPy's BLAS through np.dot"
    np.testing.assert_allclose(fallback["loss"], ours["loss"], rtol=1e-10)
    assert len(ours["loss"]) == 60


NO_CACHE_DIRECTORY = textwrap.dedent("""
    import warnings
    from numba.core import caching
    # As on a read-only install whose user has no writable cache directory:
    # no locator accepts any function.
    for loc in (caching.UserProvidedCacheLocator, caching.InTreeCacheLocator,
                caching.UserWideCacheLocator, caching.IPythonCacheLocator,
                caching.ZipCacheLocator):
        loc.from_function = classmethod(lambda cls, py_func, py_file: None)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        import numpy as np
        from fusednet import kernels
        from fusednet.kernels import blas
        X = np.ones((30, 20)); W = np.ones((20, 10))
        out = kernels.affine_forward(X, W, np.zeros(10))
    assert blas.SOURCE == "SciPy's BLAS through np.dot", blas.SOURCE
    assert (out == 20).all()
    ours = [str(w.message) for w in caught if "fusednet" in str(w.message)]
    assert len(ours) == 1 and "NUMBA_CACHE_DIR" in ours[0], ours
""")


@pytest.mark.slow
def test_np_dot_adapter_compiles_in_memory_without_a_cache_directory():
    # The adapter behind FUSEDNET_BLAS=scipy (and every platform without
    # NumPy's CBLAS) is compiled at import: it must honour config.CACHE too.
    out = subprocess.run([sys.executable, "-c", NO_CACHE_DIRECTORY], capture_output=True, text=True,
                         env=dict(os.environ, FUSEDNET_BLAS="scipy"))
    assert out.returncode == 0, out.stderr[-3000:]
