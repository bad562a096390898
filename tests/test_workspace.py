"""A ``TwoLayerWorkspace`` is checked by its arrays, not only by its recorded
shape: a replaced buffer or an input that is one of its buffers is refused."""
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest

from fusednet import kernels
from fusednet.kernels import reference
from helpers import assert_all_match


def matrix(a):
    """``np.matrix(a)`` without its PendingDeprecationWarning."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        return np.matrix(a)


@pytest.fixture
def net(rng):
    N, D, H, C = 6, 5, 4, 3
    return (rng.standard_normal((D, H)), np.zeros(H), rng.standard_normal((H, C)), np.zeros(C),
            rng.standard_normal((N, D)), rng.integers(0, C, N))


@pytest.mark.slow
def test_a_buffer_replaced_by_a_smaller_array_is_refused_not_a_crash():
    # Before: the kernel trusted ws.shape and wrote past the small array (SIGSEGV).
    script = textwrap.dedent("""
        import numpy as np
        from fusednet import kernels
        rng = np.random.default_rng(0)
        N, D, H, C = 2000, 300, 500, 10
        ws = kernels.TwoLayerWorkspace(N, D, H, C)
        ws.h = np.empty((1, 1))
        ws.dW1 = np.empty((1, 1))
        try:
            kernels.two_layer_loss(rng.standard_normal((D, H)), np.zeros(H),
                                   rng.standard_normal((H, C)), np.zeros(C),
                                   rng.standard_normal((N, D)), rng.integers(0, C, N), 0.1, ws)
        except ValueError as exc:
            print(exc)
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert out.returncode == 0, (out.returncode, out.stderr[-2000:])
    assert "workspace.h has shape (1, 1); expected (>= 2000, 500)" in out.stdout


@pytest.mark.parametrize("name, value, error, words", [
    ("h", np.empty((5, 4)), ValueError, r"workspace.h has shape \(5, 4\); expected \(>= 6, 4\)"),
    ("scores", np.empty((6, 2)), ValueError, r"workspace.scores has shape \(6, 2\); expected \(>= 6, 3\)"),
    ("dW1", np.empty((4, 5)), ValueError, r"workspace.dW1 has shape \(4, 5\); expected \(5, 4\)"),
    ("db2", np.empty(2), ValueError, r"workspace.db2 has shape \(2,\); expected \(3,\)"),
    ("row_loss", np.empty(3), ValueError, r"workspace.row_loss has shape \(3,\); expected \(>= 6,\)"),
    ("col_acc", np.empty(3), ValueError, r"workspace.col_acc has shape \(3,\); expected \(>= 4,\)"),
    ("dW2", np.empty((4, 3), np.float32), TypeError, r"workspace.dW2 has dtype float32; expected float64"),
    ("row_loss", np.empty(6, np.float32), TypeError, r"workspace.row_loss has dtype float32"),
    ("dh", np.empty((4, 6)).T, ValueError, r"workspace.dh has shape \(6, 4\)|workspace.dh must be a writeable C-contiguous"),
    ("dh", np.empty((6, 8))[:, ::2], ValueError, r"workspace.dh must be a writeable C-contiguous"),
    ("db1", [0.0] * 4, TypeError, r"workspace.db1 must be a NumPy array, got list"),
    ("db1", matrix(np.zeros(4)), TypeError, r"workspace.db1 must be a NumPy array, got matrix"),
])
def test_replaced_buffers_are_checked_by_shape_dtype_and_layout(net, name, value, error, words):
    ws = kernels.TwoLayerWorkspace(6, 5, 4, 3)
    setattr(ws, name, value)
    with pytest.raises(error, match=words):
        kernels.two_layer_loss(*net, 0.1, ws)


def test_a_read_only_buffer_is_refused(net):
    ws = kernels.TwoLayerWorkspace(6, 5, 4, 3)
    ws.dW1.flags.writeable = False
    with pytest.raises(ValueError, match="workspace.dW1 must be a writeable"):
        kernels.two_layer_loss(*net, 0.1, ws)


def test_dX_is_checked_only_against_what_need_dX_touches(net):
    ws = kernels.TwoLayerWorkspace(6, 5, 4, 3, need_dX=True)
    ws.dX = np.empty((3, 5))
    with pytest.raises(ValueError, match=r"workspace.dX has shape \(3, 5\); expected \(>= 6, 5\)"):
        kernels.two_layer_loss(*net, 0.1, ws, need_dX=True)
    kernels.two_layer_loss(*net, 0.1, ws)  # dX is not written without need_dX


def test_larger_replacement_buffers_are_used(net):
    ws = kernels.TwoLayerWorkspace(6, 5, 4, 3)
    ws.h, ws.row_loss = np.empty((9, 4)), np.empty(9)
    got = kernels.two_layer_loss(*net, 0.1, ws)
    assert_all_match(got[1:], reference.two_layer_loss(*net, 0.1)[1:], np.float64)


def test_an_input_that_is_a_workspace_buffer_is_refused(net):
    W1, b1, W2, b2, X, y = net
    ws = kernels.TwoLayerWorkspace(6, 5, 4, 3)
    # Before: silently wrong gradients (the kernel overwrote its own input).
    ws.dW1[...] = W1
    with pytest.raises(ValueError, match="W1 overlaps workspace.dW1"):
        kernels.two_layer_loss(ws.dW1, b1, W2, b2, X, y, 0.1, ws)
    ws.dW2[...] = W2
    with pytest.raises(ValueError, match="W2 overlaps workspace.dW2"):
        kernels.two_layer_loss(W1, b1, ws.dW2, b2, X, y, 0.1, ws)
    big = kernels.TwoLayerWorkspace(6, 5, 5, 3)
    with pytest.raises(ValueError, match="X overlaps workspace.h"):
        kernels.two_layer_loss(np.ones((5, 5)), np.zeros(5), np.ones((5, 3)), b2, big.h, y, 0.1, big)
    with pytest.raises(ValueError, match="b1 overlaps workspace.db1"):
        kernels.two_layer_loss(W1, ws.db1, W2, b2, X, y, 0.1, ws)


def test_buffers_that_share_memory_are_refused(net):
    ws = kernels.TwoLayerWorkspace(6, 5, 4, 3)
    ws.dh = ws.h
    with pytest.raises(ValueError, match=r"workspace.(dh|h) overlaps workspace.(h|dh)"):
        kernels.two_layer_loss(*net, 0.1, ws)


def test_workspace_arguments_are_named(net):
    with pytest.raises(TypeError, match="batch_size must be an integer, got bool True"):
        kernels.TwoLayerWorkspace(True, 5, 4, 3)
    with pytest.raises(TypeError, match="hidden_size must be an integer, got float 4.0"):
        kernels.TwoLayerWorkspace(6, 5, 4.0, 3)
    with pytest.raises(TypeError, match="dtype must be float32 or float64, got 'nonsense'"):
        kernels.TwoLayerWorkspace(6, 5, 4, 3, "nonsense")
    with pytest.raises(TypeError, match="need_dX must be True or False"):
        kernels.TwoLayerWorkspace(6, 5, 4, 3, need_dX="yes")
