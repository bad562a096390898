"""Bad input is refused before any kernel runs, with the argument named."""
import re

import numpy as np
import pytest

from fusednet import kernels


@pytest.fixture
def net(rng):
    N, D, H, C = 6, 5, 4, 3
    return dict(W1=rng.standard_normal((D, H)), b1=np.zeros(H), W2=rng.standard_normal((H, C)),
                b2=np.zeros(C), X=rng.standard_normal((N, D)), y=rng.integers(0, C, N))


def call(net, **changes):
    args = dict(net, **changes)
    extra = {k: args.pop(k) for k in ("reg", "workspace", "activation", "l2", "need_dX") if k in args}
    return kernels.two_layer_loss(args["W1"], args["b1"], args["W2"], args["b2"], args["X"],
                                  args["y"], **extra)


@pytest.mark.parametrize("changes, error, words", [
    (dict(W1=np.ones((5, 4), np.int64)), TypeError, r"W1 must be a float32 or float64"),
    (dict(W1=[[1.0] * 4] * 5), TypeError, r"W1 must be a NumPy array, got list"),
    (dict(X=np.ones((6, 5), np.float32)), TypeError, r"X has dtype float32 but the parameters are float64"),
    (dict(b2=np.zeros(3, np.float32)), TypeError, r"b2 has dtype float32"),
    (dict(X=np.ones((6, 7))), ValueError, r"X has shape \(6, 7\); expected \(\*, 5\)"),
    (dict(X=np.ones(5)), ValueError, r"X must be 2-dimensional"),
    (dict(b1=np.zeros(5)), ValueError, r"b1 has shape \(5,\); expected \(4,\)"),
    (dict(W2=np.ones((5, 3))), ValueError, r"W2 has shape \(5, 3\); expected \(4, \*\)"),
    (dict(X=np.ones((0, 5))), ValueError, r"X is empty"),
    (dict(y=np.array([0, 1, 2, 3, 0, 1])), ValueError, r"y must hold labels in \[0, 3\); found 3 at index 3"),
    (dict(y=np.array([0, -1, 2, 2, 0, 1])), ValueError, r"found -1 at index 1"),
    (dict(y=np.zeros(6)), TypeError, r"y must hold integer class labels"),
    (dict(y=np.zeros(5, int)), ValueError, r"y has shape \(5,\); expected \(6,\)"),
    (dict(y=[0, 1, 2, 0, 1, 2]), TypeError, r"y must be a NumPy array"),
    (dict(reg=-1.0), ValueError, r"reg must be finite and >= 0"),
    (dict(reg=float("nan")), ValueError, r"reg must be finite"),
    (dict(reg="big"), TypeError, r"reg must be a real number"),
    (dict(l2="quarter"), ValueError, r"l2 must be 'full' or 'half'"),
    (dict(activation="gelu"), ValueError, r"activation must be one of"),
    (dict(workspace=object()), TypeError, r"workspace must be a TwoLayerWorkspace"),
])
def test_two_layer_loss_names_the_bad_argument(net, changes, error, words):
    with pytest.raises(error, match=words):
        call(net, **changes)


@pytest.mark.parametrize("name, where", [("X", (2, 3)), ("W1", (0, 0)), ("b1", (3,)),
                                         ("W2", (1, 2)), ("b2", (0,))])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_input_is_refused_with_its_index(net, name, where, bad):
    arr = net[name].copy()
    arr[where] = bad
    message = f"{name} contains a non-finite value ({bad}) at index {where}"
    with pytest.raises(ValueError, match=re.escape(message)):
        call(net, **{name: arr})


def test_mismatched_workspace_is_refused(net):
    for ws, words in [
        (kernels.TwoLayerWorkspace(6, 5, 4, 3, np.float32), "dtype=float64"),
        (kernels.TwoLayerWorkspace(6, 5, 9, 3), "hidden_size=4"),
        (kernels.TwoLayerWorkspace(2, 5, 4, 3), "batch_size >= 6"),
    ]:
        with pytest.raises(ValueError, match=words):
            call(net, workspace=ws)
    with pytest.raises(ValueError, match="need_dX=True but the workspace"):
        call(net, workspace=kernels.TwoLayerWorkspace(6, 5, 4, 3), need_dX=True)
    with pytest.raises(ValueError, match="hidden_size must be an integer >= 1"):
        kernels.TwoLayerWorkspace(6, 5, 0, 3)
    with pytest.raises(TypeError, match="dtype must be float32 or float64"):
        kernels.TwoLayerWorkspace(6, 5, 4, 3, np.int32)


def test_output_buffers_are_checked_and_left_untouched_on_error(rng):
    X, W, b = rng.standard_normal((4, 3)), rng.standard_normal((3, 2)), np.zeros(2)
    cases = [
        (np.zeros((4, 3)), ValueError, r"out has shape \(4, 3\); expected \(4, 2\)"),
        (np.zeros((4, 2), np.float32), TypeError, r"out has dtype float32; expected float64"),
        (np.zeros((2, 4)).T, ValueError, r"out must be a writeable C-contiguous array"),
        ([[0.0, 0.0]] * 4, TypeError, r"out must be a NumPy array or None"),
    ]
    for out, error, words in cases:
        with pytest.raises(error, match=words):
            kernels.affine_forward(X, W, b, out=out)
    read_only = np.zeros((4, 2))
    read_only.flags.writeable = False
    with pytest.raises(ValueError, match="writeable"):
        kernels.affine_forward(X, W, b, out=read_only)
    # An output that aliases an input would be overwritten while it is read.
    square = rng.standard_normal((3, 3))
    with pytest.raises(ValueError, match="out overlaps an input"):
        kernels.affine_forward(square, square, np.zeros(3), out=square)
    # Validation runs before the kernel: a NaN in X leaves out as it was.
    sentinel = np.full((4, 2), 7.0)
    Xbad = X.copy()
    Xbad[3, 2] = np.nan
    with pytest.raises(ValueError, match="X contains a non-finite value"):
        kernels.affine_forward(Xbad, W, b, out=sentinel)
    assert (sentinel == 7.0).all()


def test_backward_and_softmax_validate_their_arguments(rng):
    X, W = rng.standard_normal((4, 3)), rng.standard_normal((3, 2))
    h = np.abs(rng.standard_normal((4, 2)))
    dout = rng.standard_normal((4, 2))
    with pytest.raises(ValueError, match=r"dout has shape \(4, 3\); expected \(4, 2\)"):
        kernels.affine_relu_backward(rng.standard_normal((4, 3)), X, W, h)
    with pytest.raises(ValueError, match=r"h has shape \(3, 2\); expected \(4, 2\)"):
        kernels.affine_relu_backward(dout, X, W, h[:3])
    with pytest.raises(ValueError, match=r"a has shape"):
        kernels.affine_act_backward(dout, X, W, h[:3], "tanh")
    with pytest.raises(ValueError, match=r"dW has shape \(2, 3\); expected \(3, 2\)"):
        kernels.affine_relu_backward(dout, X, W, h, dW=np.empty((2, 3)))
    with pytest.raises(TypeError, match=r"db has dtype float32"):
        kernels.affine_relu_backward(dout, X, W, h, db=np.empty(2, np.float32))
    with pytest.raises(ValueError, match=r"y must hold labels in \[0, 2\)"):
        kernels.softmax_loss(dout, np.array([0, 1, 2, 0]))
    with pytest.raises(TypeError, match=r"scores must be a float32 or float64"):
        kernels.softmax_loss(np.ones((4, 2), int), np.array([0, 1, 1, 0]))
    with pytest.raises(ValueError, match=r"dscores has shape"):
        kernels.softmax_loss(dout, np.array([0, 1, 1, 0]), dscores=np.empty((2, 2)))
    with pytest.raises(ValueError, match=r"residual has shape"):
        kernels.affine_act_forward(X, W, np.zeros(2), "relu", residual=np.ones((4, 3)))
