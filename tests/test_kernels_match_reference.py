"""Every kernel against the plain NumPy reference, over drawn shapes and layouts."""
import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

seeds = st.integers(0, 2**32 - 1)

from fusednet import kernels
from fusednet.kernels import reference
from helpers import (DTYPES, TOL, assert_all_match, assert_matches, scaled_error, upcast,
                      with_layout)

ACTIVATIONS = ["relu", "tanh", "sigmoid", "identity"]
SETTINGS = settings(max_examples=25, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])

# Small sizes with the edges (1 and 2) likely, plus the CIFAR input width.
small = st.one_of(st.integers(1, 3), st.integers(1, 40))
width = st.one_of(small, st.just(3072))
classes = st.integers(2, 12)
layouts = st.sampled_from(["C", "F", "strided"])


def draw_net(rng, N, D, H, C, dtype, scale=0.5):
    X = rng.standard_normal((N, D)).astype(dtype)
    W1 = (scale * rng.standard_normal((D, H)) / np.sqrt(D)).astype(dtype)
    b1 = (0.1 * rng.standard_normal(H)).astype(dtype)
    W2 = (scale * rng.standard_normal((H, C)) / np.sqrt(H)).astype(dtype)
    b2 = (0.1 * rng.standard_normal(C)).astype(dtype)
    y = rng.integers(0, C, N)
    return W1, b1, W2, b2, X, y


def draw_layer(rng, N, D, M, dtype):
    """X (N, D), W (D, M) scaled by 1/sqrt(D) so tanh and sigmoid do not
    saturate (at 1 - a*a with a within 1e-8 of 1, an FMA, allowed by the
    'contract' flag, and NumPy's rounding differ in every digit), b (M,)."""
    X = rng.standard_normal((N, D)).astype(dtype)
    W = (rng.standard_normal((D, M)) / np.sqrt(D)).astype(dtype)
    b = rng.standard_normal(M).astype(dtype)
    return X, W, b


@pytest.mark.parametrize("dtype", DTYPES)
@given(seed=seeds, N=small, D=width, H=small, C=classes, layout=layouts,
       activation=st.sampled_from(ACTIVATIONS), l2=st.sampled_from(["full", "half"]),
       reg=st.sampled_from([0.0, 1e-3, 0.5]))
@example(seed=1, N=1, D=1, H=1, C=2, layout="C", activation="relu", l2="full", reg=0.5)
@example(seed=2, N=1, D=3072, H=1, C=2, layout="F", activation="tanh", l2="half", reg=1e-3)
@example(seed=3, N=2, D=3072, H=40, C=2, layout="strided", activation="sigmoid", l2="full", reg=0.0)
# Run as Python (NUMBA_DISABLE_JIT=1), float32 sums whose accumulator starts
# as the literal 0.0 stay float32 under NumPy 2's promotion: the L2 penalty
# of 3072 x 27 weights lost 1e-5. The accumulators are np.float64 now.
@example(seed=0, N=1, D=3072, H=27, C=2, layout="C", activation="relu", l2="full", reg=0.5)
@SETTINGS
def test_two_layer_loss_matches_reference(seed, dtype, N, D, H, C, layout,
                                          activation, l2, reg):
    W1, b1, W2, b2, X, y = draw_net(np.random.default_rng(seed), N, D, H, C, dtype)
    expected = reference.two_layer_loss(*upcast(W1, b1, W2, b2, X), y, reg,
                                        activation=activation, l2=l2, need_dX=True)
    got = kernels.two_layer_loss(with_layout(W1, layout), b1, with_layout(W2, layout), b2,
                                 with_layout(X, layout), y, reg, activation=activation,
                                 l2=l2, need_dX=True)
    assert isinstance(got[0], float)
    assert got[0] == pytest.approx(expected[0], rel=TOL[np.dtype(dtype)])
    assert_all_match(got[1:], expected[1:], dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@given(seed=seeds, N=small, D=width, M=small, layout=layouts, activation=st.sampled_from(ACTIVATIONS),
       residual=st.booleans())
@example(seed=1, N=1, D=1, M=1, layout="C", activation="relu", residual=True)
@example(seed=2, N=1, D=3072, M=1, layout="F", activation="sigmoid", residual=False)
@SETTINGS
def test_affine_act_forward_matches_reference(seed, dtype, N, D, M, layout,
                                              activation, residual):
    rng = np.random.default_rng(seed)
    X, W, b = draw_layer(rng, N, D, M, dtype)
    R = rng.standard_normal((N, M)).astype(dtype) if residual else None
    expected = reference.affine_act_forward(*upcast(X, W, b), activation, residual=R)
    got = kernels.affine_act_forward(with_layout(X, layout), with_layout(W, layout), b,
                                     activation, residual=None if R is None else with_layout(R, layout))
    assert_matches(got, expected, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@given(seed=seeds, N=small, D=width, M=small, layout=layouts, activation=st.sampled_from(ACTIVATIONS),
       need_dX=st.booleans())
@example(seed=1, N=1, D=1, M=1, layout="C", activation="relu", need_dX=True)
@example(seed=2, N=1, D=3072, M=2, layout="strided", activation="tanh", need_dX=True)
# A saturated tanh unit (float32 a = 0.9998): 1 - a*a rounded a*a first and
# cancelled to a 1.7e-5 error; the factored (1 - a)(1 + a) is exact.
@example(seed=1544, N=1, D=3072, M=1, layout="C", activation="tanh", need_dX=False)
@SETTINGS
def test_affine_act_backward_matches_reference(seed, dtype, N, D, M, layout,
                                               activation, need_dX):
    rng = np.random.default_rng(seed)
    X, W, b = draw_layer(rng, N, D, M, dtype)
    a = reference.affine_act_forward(X, W, b, activation)
    dout = rng.standard_normal((N, M)).astype(dtype)
    expected = reference.affine_act_backward(*upcast(dout, X, W, a), activation, need_dX=need_dX)
    got = kernels.affine_act_backward(with_layout(dout, layout), with_layout(X, layout),
                                      with_layout(W, layout), with_layout(a, layout),
                                      activation, need_dX=need_dX)
    if not need_dX:
        assert got[0] is None
        got, expected = got[1:], expected[1:]
    assert_all_match(got, expected, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@given(seed=seeds, N=small, C=classes, layout=layouts, scale=st.sampled_from([1.0, 30.0]))
@example(seed=1, N=1, C=2, layout="C", scale=1.0)
@SETTINGS
def test_softmax_loss_matches_reference(seed, dtype, N, C, layout, scale):
    rng = np.random.default_rng(seed)
    scores = (scale * rng.standard_normal((N, C))).astype(dtype)
    y = rng.integers(0, C, N)
    loss, dscores = kernels.softmax_loss(with_layout(scores, layout), y)
    ref_loss, ref_dscores = reference.softmax_loss(*upcast(scores), y)
    assert loss == pytest.approx(ref_loss, rel=TOL[np.dtype(dtype)])
    # Entries of dscores are at most 1/N, their natural scale. (Relative to
    # the largest entry, a confident row's 1 - p_t cancels in the reference.)
    assert dscores.dtype == np.dtype(dtype)
    assert scaled_error(dscores, ref_dscores, 1.0 / N) <= TOL[np.dtype(dtype)]


@pytest.mark.parametrize("dtype", DTYPES)
def test_named_forward_and_backward_wrappers_match_reference(rng, dtype):
    X = rng.standard_normal((7, 5)).astype(dtype)
    W = rng.standard_normal((5, 4)).astype(dtype)
    b = rng.standard_normal(4).astype(dtype)
    assert_matches(kernels.affine_forward(X, W, b), reference.affine_forward(*upcast(X, W, b)), dtype)
    h = kernels.affine_relu_forward(X, W, b)
    assert_matches(h, reference.affine_relu_forward(*upcast(X, W, b)), dtype)
    dout = rng.standard_normal((7, 4)).astype(dtype)
    assert_all_match(kernels.affine_relu_backward(dout, X, W, h),
                     reference.affine_relu_backward(*upcast(dout, X, W, h)), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_output_buffers_are_filled_and_returned(rng, dtype):
    N, D, M = 6, 5, 4
    X = rng.standard_normal((N, D)).astype(dtype)
    W = rng.standard_normal((D, M)).astype(dtype)
    b = rng.standard_normal(M).astype(dtype)
    out = np.full((N, M), np.nan, dtype)
    assert kernels.affine_act_forward(X, W, b, "tanh", out=out) is out
    assert_matches(out, reference.affine_act_forward(*upcast(X, W, b), "tanh"), dtype)

    dout = rng.standard_normal((N, M)).astype(dtype)
    bufs = dict(dX=np.empty((N, D), dtype), dW=np.empty((D, M), dtype), db=np.empty(M, dtype))
    dz = np.empty((N, M), dtype)
    got = kernels.affine_act_backward(dout, X, W, out, "tanh", dz=dz, **bufs)
    assert got[0] is bufs["dX"] and got[1] is bufs["dW"] and got[2] is bufs["db"]
    assert_matches(dz, *upcast(dout * (1 - out * out)), dtype)

    scores = rng.standard_normal((N, M)).astype(dtype)
    y = rng.integers(0, M, N)
    dscores = np.empty((N, M), dtype)
    assert kernels.softmax_loss(scores, y, dscores)[1] is dscores


@pytest.mark.parametrize("dtype", DTYPES)
def test_workspace_serves_smaller_batches_and_returns_its_buffers(rng, dtype):
    W1, b1, W2, b2, X, y = draw_net(rng, 12, 6, 5, 3, dtype)
    ws = kernels.TwoLayerWorkspace(20, 6, 5, 3, dtype, need_dX=True)
    for n in (12, 1, 20 - 8):
        got = kernels.two_layer_loss(W1, b1, W2, b2, X[:n], y[:n], 0.1, ws, need_dX=True)
        expected = reference.two_layer_loss(*upcast(W1, b1, W2, b2, X[:n]), y[:n], 0.1, need_dX=True)
        assert got[1] is ws.dW1 and got[2] is ws.db1 and got[3] is ws.dW2 and got[4] is ws.db2
        assert got[5].shape == (n, 6) and np.shares_memory(got[5], ws.dX)
        assert_all_match(got[1:], expected[1:], dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_results_are_bitwise_reproducible(rng, dtype):
    W1, b1, W2, b2, X, y = draw_net(rng, 300, 50, 700, 10, dtype)
    runs = []
    for _ in range(3):
        out = kernels.two_layer_loss(W1, b1, W2, b2, X, y, 0.01, need_dX=True)
        runs.append([np.array(a, copy=True) for a in out[1:]] + [out[0]])
    for other in runs[1:]:
        for a, b in zip(runs[0], other):
            assert np.array_equal(a, b)
