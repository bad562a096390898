"""With a workspace, a two-layer step allocates nothing.

Numba's NRT statistics count every allocation made by compiled code. Each
array that crosses from Python into a compiled function gets a small
wrapper (one NRT "meminfo", no data), so the check runs the kernel repeatedly
from compiled code, the way the training loop does: the count must not grow
with the number of calls. The Python wrapper is checked with tracemalloc,
which sees NumPy's data buffers.
"""
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from fusednet import kernels

SCRIPT = textwrap.dedent("""
    import numpy as np
    from numba import njit
    from numba.core.runtime import _nrt_python, rtsys
    from fusednet import kernels
    from fusednet.kernels import config
    from fusednet.kernels.two_layer import TwoLayer, two_layer_step

    @njit
    def repeat(k, act, v, X, y, limits):
        total = 0.0
        for _ in range(k):
            total += two_layer_step(v.W1, v.b1, v.W2, v.b2, v.dW1, v.db1, v.dW2, v.db2, v.h,
                                    v.dh, v.scores, v.dX, v.row_loss, v.col_acc,
                                    v.row_loss[:0], X, y, 0.1, act, 0, True, limits)
        return total

    rng = np.random.default_rng(0)
    _nrt_python.memsys_enable_stats()
    for (N, D, H, C) in [(5, 4, 10, 3), (300, 64, 600, 10)]:
        for activation in (1, 2):
            ws = kernels.TwoLayerWorkspace(N, D, H, C, need_dX=True)
            v = TwoLayer(rng.standard_normal((D, H)), np.zeros(H), rng.standard_normal((H, C)),
                         np.zeros(C), **ws.buffers())
            X, y = rng.standard_normal((N, D)), rng.integers(0, C, N)
            counts = []
            for k in (1, 1, 25):
                before = rtsys.get_allocation_stats().alloc
                repeat(k, activation, v, X, y, config.loop_max(np.float64))
                counts.append(rtsys.get_allocation_stats().alloc - before)
            print(N, counts[1], counts[2])
""")


def test_compiled_two_layer_step_allocates_nothing_per_call():
    env = dict(os.environ, NUMBA_NRT_STATS="1")
    out = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True,
                         text=True, check=True).stdout.split("\n")
    rows = [line.split() for line in out if line.strip()]
    assert len(rows) == 4
    for _, one_call, many_calls in rows:
        # The same fixed boundary cost for 1 call and for 25 calls, at the toy
        # and a larger size: one wrapper for each of the 16 arrays passed to
        # ``repeat`` from Python, and nothing inside.
        assert int(one_call) == int(many_calls) == 16


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_two_layer_loss_with_workspace_allocates_no_array_data(rng, dtype):
    import tracemalloc
    N, D, H, C = 256, 200, 512, 10
    X = rng.standard_normal((N, D)).astype(dtype)
    W1 = (0.05 * rng.standard_normal((D, H))).astype(dtype)
    W2 = (0.05 * rng.standard_normal((H, C))).astype(dtype)
    b1, b2 = np.zeros(H, dtype), np.zeros(C, dtype)
    y = rng.integers(0, C, N)
    ws = kernels.TwoLayerWorkspace(N, D, H, C, dtype, need_dX=True)
    kernels.two_layer_loss(W1, b1, W2, b2, X, y, 0.1, ws, need_dX=True)
    tracemalloc.start()
    try:
        for _ in range(5):
            kernels.two_layer_loss(W1, b1, W2, b2, X, y, 0.1, ws, need_dX=True)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # The smallest buffer of this step (dscores, N x C) is 10 KiB in float32:
    # the wrapper's own objects (its checks' tuples and views) stay below it,
    # so no buffer was allocated.
    assert peak < N * C * np.dtype(np.float32).itemsize
    # Without a workspace the same call does allocate its buffers.
    tracemalloc.start()
    try:
        kernels.two_layer_loss(W1, b1, W2, b2, X, y, 0.1, need_dX=True)
        _, peak_fresh = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak_fresh > N * H * np.dtype(dtype).itemsize
