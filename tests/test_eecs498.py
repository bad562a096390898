"""fusednet.eecs498 called as EECS 498 A2's notebook calls it, on torch tensors,
against an independent torch computation (autograd gradients, the course's
training loop written out with torch ops) under the course's ``reset_seed``."""
import random
import subprocess
import sys

import numpy as np
import pytest

from fusednet import eecs498
from fusednet.eecs498 import TwoLayerNet, nn_forward_backward, nn_forward_pass, nn_predict, nn_train

KEYS = ("W1", "b1", "W2", "b2")
TORCH_REASON = ("torch is an optional dependency of fusednet (pip install 'fusednet[torch]'); "
                "the EECS 498 tensor tests need it")


@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch", reason=TORCH_REASON)


def reset_seed(torch, number):
    """The course's reset_seed: Python's and torch's generators."""
    random.seed(number)
    torch.manual_seed(number)


def toy_data(torch, dtype):
    """The course's toy problem: reseed 0, W1 (4, 10) and W2 (10, 3) as 1e-4 *
    randn, zero biases, X = 10 * randn(5, 4), y = [0, 1, 2, 2, 1]."""
    reset_seed(torch, 0)
    params = {"W1": 1e-4 * torch.randn(4, 10, dtype=dtype), "b1": torch.zeros(10, dtype=dtype),
              "W2": 1e-4 * torch.randn(10, 3, dtype=dtype), "b2": torch.zeros(3, dtype=dtype)}
    X = 10.0 * torch.randn(5, 4, dtype=dtype)
    return X, torch.tensor([0, 1, 2, 2, 1]), params


def blobs(torch, dtype, n=120, d=12, c=4):
    g = torch.Generator().manual_seed(3)
    centers = 3 * torch.randn(c, d, generator=g, dtype=dtype)
    y = torch.randint(0, c, (n,), generator=g)
    return centers[y] + torch.randn(n, d, generator=g, dtype=dtype), y


def reference_loss(params, X, y=None, reg=0.0):
    """The course's two-layer loss in torch ops, gradients by autograd."""
    import torch
    leaves = {k: params[k].detach().clone().requires_grad_(True) for k in KEYS}
    hidden = torch.clamp(X @ leaves["W1"] + leaves["b1"], min=0)
    scores = hidden @ leaves["W2"] + leaves["b2"]
    if y is None:
        return scores.detach()
    loss = (torch.nn.functional.cross_entropy(scores, y)
            + reg * ((leaves["W1"] ** 2).sum() + (leaves["W2"] ** 2).sum()))
    grads = torch.autograd.grad(loss, [leaves[k] for k in KEYS])
    return loss.detach(), dict(zip(KEYS, grads))


def reference_train(torch, params, X, y, X_val, y_val, learning_rate, learning_rate_decay, reg,
                    num_iters, batch_size):
    """The course's nn_train loop, step by step in torch (sample_batch's torch.randint)."""
    N = X.shape[0]
    per_epoch = max(N // batch_size, 1)
    hist = {"loss_history": [], "train_acc_history": [], "val_acc_history": []}
    for it in range(num_iters):
        idx = torch.randint(0, N, (batch_size,))
        Xb, yb = X[idx], y[idx]
        loss, grads = reference_loss(params, Xb, yb, reg)
        hist["loss_history"].append(loss.item())
        for k in KEYS:
            params[k] -= learning_rate * grads[k]
        if it % per_epoch == 0:
            for key, (Xe, ye) in (("train_acc_history", (Xb, yb)), ("val_acc_history", (X_val, y_val))):
                pred = reference_loss(params, Xe).argmax(dim=1)
                hist[key].append((pred == ye).float().mean().item())
            learning_rate *= learning_rate_decay
    return hist


def numeric_gradient(f, x, h=1e-7):
    """Centred differences of the tensor-valued scalar f, perturbing x in
    place through a flat view, as the course's compute_numeric_gradient does."""
    import torch
    flat = x.contiguous().view(-1)
    grad = torch.zeros_like(flat)
    for i in range(flat.shape[0]):
        old = flat[i].item()
        flat[i] = old + h
        plus = f(x).item()
        flat[i] = old - h
        minus = f(x).item()
        flat[i] = old
        grad[i] = (plus - minus) / (2 * h)
    return grad.view(x.shape)


def course_rel_error(x, y, eps=1e-10):
    """max|x - y| / max(|x| + |y|), the course's rel_error for tensors."""
    return (x - y).abs().max().item() / (x.abs() + y.abs()).clamp(min=eps).max().item()


def scaled(a, b):
    return float((a - b).abs().max() / b.abs().max())


@pytest.mark.parametrize("dtype_name", ["float64", "float32"])
def test_forward_pass_gives_tensors_of_the_params_dtype_equal_to_torch(torch, dtype_name):
    dtype = getattr(torch, dtype_name)
    X, _, params = toy_data(torch, dtype)
    scores, hidden = nn_forward_pass(params, X)
    assert isinstance(scores, torch.Tensor) and scores.dtype == dtype and scores.shape == (5, 3)
    assert isinstance(hidden, torch.Tensor) and hidden.dtype == dtype and hidden.shape == (5, 10)
    expected_hidden = torch.clamp(X @ params["W1"] + params["b1"], min=0)
    tol = 1e-12 if dtype == torch.float64 else 1e-5
    assert scaled(hidden, expected_hidden) < tol
    assert scaled(scores, reference_loss(params, X)) < tol
    assert torch.equal(nn_forward_backward(params, X), scores)


@pytest.mark.parametrize("dtype_name", ["float64", "float32"])
def test_loss_is_a_0d_tensor_of_the_params_dtype_and_gradients_equal_autograd(torch, dtype_name):
    dtype = getattr(torch, dtype_name)
    X, y, params = toy_data(torch, dtype)
    loss, grads = nn_forward_backward(params, X, y, reg=0.05)
    ref_loss, ref_grads = reference_loss(params, X, y, reg=0.05)
    assert isinstance(loss, torch.Tensor) and loss.dim() == 0 and loss.dtype == dtype
    tol = 1e-12 if dtype == torch.float64 else 1e-5
    assert abs(loss.item() - ref_loss.item()) <= tol * abs(ref_loss.item())
    assert (1.0986121892929077 - loss).item() == pytest.approx(1.0986121892929077 - ref_loss.item(),
                                                               abs=tol)
    for k in KEYS:
        assert isinstance(grads[k], torch.Tensor) and grads[k].dtype == dtype
        assert grads[k].shape == params[k].shape
        assert scaled(grads[k], ref_grads[k]) < tol, k


def test_the_notebooks_numeric_gradient_check_passes_and_restores_the_params(torch):
    X, y, params = toy_data(torch, torch.float64)
    before = {k: v.clone() for k, v in params.items()}
    reg = 0.05
    loss, grads = nn_forward_backward(params, X, y, reg=reg)
    for name, grad in grads.items():
        f = lambda w: nn_forward_backward(params, X, y, reg=reg)[0]  # noqa: E731
        numeric = numeric_gradient(f, params[name])
        ref_numeric = numeric_gradient(lambda w: reference_loss(params, X, y, reg)[0], params[name])
        # h = 1e-7 on a loss of ~1.1 leaves ~1e-9 of rounding noise per entry, so
        # each implementation's check reads alike, near 1e-5 at worst.
        assert course_rel_error(grad, numeric) < 1e-4, name
        assert course_rel_error(grad, ref_numeric) < 1e-4, name
    for k in KEYS:
        assert torch.equal(params[k], before[k])


def test_nn_train_under_reset_seed_follows_the_course_loop(torch):
    X, y, params = toy_data(torch, torch.float64)
    W1 = params["W1"]
    pointer = W1.data_ptr()
    kw = dict(learning_rate=1e-1, learning_rate_decay=0.95, reg=1e-6, num_iters=200, batch_size=200)
    stats = nn_train(params, nn_forward_backward, nn_predict, X, y, X, y, **kw)
    after_ours = torch.rand(3)
    X2, y2, expected_params = toy_data(torch, torch.float64)
    expected = reference_train(torch, expected_params, X2, y2, X2, y2, **kw)
    after_reference = torch.rand(3)
    np.testing.assert_allclose(stats["loss_history"], expected["loss_history"], rtol=1e-12)
    assert stats["train_acc_history"] == expected["train_acc_history"]     # float32 quotients
    assert stats["val_acc_history"] == expected["val_acc_history"]
    for k in KEYS:
        assert scaled(params[k], expected_params[k]) < 1e-11, k
    # Updated in place, and the two runs consumed the same draws of torch's generator.
    assert params["W1"] is W1 and W1.data_ptr() == pointer
    assert torch.equal(after_ours, after_reference)


def test_nn_train_with_the_students_own_torch_loss_runs_the_course_loop_in_python(torch):
    X, y = blobs(torch, torch.float64)
    Xv, yv = X[:40], y[:40]
    reset_seed(torch, 0)
    start = {"W1": 0.1 * torch.randn(12, 8, dtype=torch.float64), "b1": torch.zeros(8, dtype=torch.float64),
             "W2": 0.1 * torch.randn(8, 4, dtype=torch.float64), "b2": torch.zeros(4, dtype=torch.float64)}
    kw = dict(learning_rate=0.2, learning_rate_decay=0.9, reg=1e-3, num_iters=50, batch_size=30)
    compiled, stepwise = ({k: v.clone() for k, v in start.items()} for _ in range(2))
    reset_seed(torch, 1)
    fast = nn_train(compiled, nn_forward_backward, nn_predict, X, y, Xv, yv, **kw)
    reset_seed(torch, 1)
    slow = nn_train(stepwise, reference_loss, nn_predict, X, y, Xv, yv, **kw)
    np.testing.assert_allclose(fast["loss_history"], slow["loss_history"], rtol=1e-12)
    assert fast["val_acc_history"] == slow["val_acc_history"]
    assert len(fast["train_acc_history"]) == 50 // (120 // 30) + 1
    for k in KEYS:
        assert scaled(compiled[k], stepwise[k]) < 1e-11


def test_class_constructor_reseeds_and_draws_as_the_course_class(torch):
    random.seed(5)
    torch.manual_seed(5)
    net = TwoLayerNet(12, 6, 4, dtype=torch.float64, device="cpu", std=1e-1)
    after = (random.random(), torch.rand(1))
    random.seed(0)
    torch.manual_seed(0)
    W1 = 1e-1 * torch.randn(12, 6, dtype=torch.float64)
    W2 = 1e-1 * torch.randn(6, 4, dtype=torch.float64)
    expected_after = (random.random(), torch.rand(1))
    assert torch.equal(net.params["W1"], W1) and torch.equal(net.params["W2"], W2)
    assert torch.equal(net.params["b1"], torch.zeros(6, dtype=torch.float64))
    assert net.params["b2"].shape == (4,) and not net.params["b2"].any()
    assert after == expected_after
    assert TwoLayerNet(3, 2, 2).params["W1"].dtype == torch.float32     # the course's default
    assert TwoLayerNet(3, 2, 2, device=torch.device("cpu")).params["W1"].shape == (3, 2)


def test_class_trains_in_float32_like_the_course_and_answers_in_tensors(torch, capsys):
    X, y = blobs(torch, torch.float32, d=12)
    Xv, yv = X[:40], y[:40]
    kw = dict(num_iters=120, batch_size=25, learning_rate=0.1, learning_rate_decay=0.95, reg=1e-3)
    reset_seed(torch, 0)
    net = TwoLayerNet(12, 16, 4, dtype=X.dtype, device="cpu", std=1e-1)
    stats = net.train(X, y, Xv, yv, verbose=True, **kw)
    printed = capsys.readouterr().out.splitlines()
    reset_seed(torch, 0)
    expected_params = TwoLayerNet(12, 16, 4, dtype=X.dtype, device="cpu", std=1e-1).params
    expected = reference_train(torch, expected_params, X, y, Xv, yv, **kw)
    assert all(p.dtype == torch.float32 for p in net.params.values())
    np.testing.assert_allclose(stats["loss_history"], expected["loss_history"], rtol=1e-4)
    assert all(float(np.float32(v)) == v for v in stats["loss_history"])   # loss.item() of float32
    np.testing.assert_allclose(stats["val_acc_history"], expected["val_acc_history"], atol=0.03)
    assert printed[0] == "iteration 0 / 120: loss %f" % stats["loss_history"][0]
    assert len(printed) == 2
    pred = net.predict(Xv)
    assert pred.dtype == torch.int64 and pred.shape == (40,)
    assert torch.equal(pred, reference_loss(net.params, Xv).argmax(dim=1))
    val_acc = 100.0 * (pred == yv).double().mean().item()
    assert 0.0 <= val_acc <= 100.0
    # The course's weight picture reshapes W1 with torch's transpose(dim0, dim1).
    assert net.params["W1"].reshape(3, 2, 2, -1).transpose(0, 3).shape == (16, 2, 2, 3)
    loss, grads = net.loss(Xv, yv, reg=1e-3)
    assert loss.dtype == torch.float32 and grads["W2"].dtype == torch.float32


def test_save_writes_the_course_checkpoint_at_the_given_path_and_load_reads_it(torch, tmp_path,
                                                                               capsys):
    reset_seed(torch, 0)
    net = TwoLayerNet(6, 5, 3, dtype=torch.float64, std=1e-1)
    path = tmp_path / "nn_best_model.pt"
    net.save(str(path))
    assert capsys.readouterr().out == f"Saved in {path}\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["nn_best_model.pt"]
    checkpoint = torch.load(path, map_location="cpu")          # as the course's load reads it
    assert sorted(checkpoint) == sorted(KEYS)
    assert all(torch.equal(checkpoint[k], net.params[k]) for k in KEYS)
    other = TwoLayerNet(6, 5, 3, dtype=torch.float64, std=1.0)
    other.load(str(path))
    assert all(torch.equal(other.params[k], net.params[k]) for k in KEYS)
    bad = tmp_path / "bad.pt"
    torch.save({"W1": net.params["W1"]}, bad)
    with pytest.raises(ValueError, match=r"not a TwoLayerNet checkpoint.*'W1', 'b1', 'W2', 'b2'"):
        other.load(str(bad))


def test_numpy_dtype_class_saves_npz_data_at_the_exact_path(tmp_path, capsys):
    np.random.seed(0)
    net = TwoLayerNet(6, 5, 3, dtype=np.float64, std=1e-1)
    assert isinstance(net.params["W1"], np.ndarray)
    path = tmp_path / "model.pt"
    net.save(str(path))
    assert path.exists() and not (tmp_path / "model.pt.npz").exists()
    other = TwoLayerNet(6, 5, 3, dtype=np.float64)
    other.load(str(path))
    for k in KEYS:
        np.testing.assert_array_equal(other.params[k], net.params[k])


def test_tensors_off_the_cpu_are_refused_saying_cpu_only(torch):
    with pytest.raises(ValueError, match="CPU only"):
        TwoLayerNet(4, 3, 2, device="cuda")
    X, y, params = toy_data(torch, torch.float64)
    with pytest.raises(ValueError, match=r"X is on device 'meta'.*CPU only"):
        nn_forward_pass(params, torch.empty(5, 4, dtype=torch.float64, device="meta"))


def test_mixed_dtypes_are_refused_naming_the_conversion(torch):
    X, y, params = toy_data(torch, torch.float64)
    with pytest.raises(TypeError, match=r"X is torch.float32 but params\['W1'\] is torch.float64"):
        nn_forward_backward(params, X.float(), y)


def test_one_hot_tensor_labels_and_1xH_bias_tensors_give_the_same_numbers(torch):
    X, y, params = toy_data(torch, torch.float64)
    loss, grads = nn_forward_backward(params, X, y, reg=0.05)
    onehot = torch.nn.functional.one_hot(y, 3).to(torch.float64)
    loss_1h, grads_1h = nn_forward_backward(params, X, onehot, reg=0.05)
    assert loss_1h.item() == loss.item()
    row_params = dict(params, b1=params["b1"].reshape(1, 10), b2=params["b2"].reshape(1, 3))
    loss_row, grads_row = nn_forward_backward(row_params, X, y, reg=0.05)
    assert loss_row.item() == loss.item()
    assert grads_row["b1"].shape == (1, 10) and grads_row["b2"].shape == (1, 3)
    assert torch.equal(grads_row["b1"].reshape(10), grads["b1"])
    stats = nn_train(row_params, nn_forward_backward, nn_predict, X, y, X, y, num_iters=5)
    assert row_params["b1"].shape == (1, 10) and len(stats["loss_history"]) == 5


def test_find_best_net_on_tensors_returns_a_tensor_net(torch):
    X, y = blobs(torch, torch.float32, n=160)
    data = dict(X_train=X[:120], y_train=y[:120], X_val=X[120:], y_val=y[120:])
    grid = lambda: ([1e-1], [8, 16], [1e-4], [0.95])  # noqa: E731
    best_net, best_stat, best_val_acc = eecs498.find_best_net(data, grid, num_iters=40, batch_size=40)
    assert isinstance(best_net, TwoLayerNet)
    assert all(isinstance(p, torch.Tensor) and p.dtype == torch.float32
               for p in best_net.params.values())
    pred = best_net.predict(data["X_val"])
    assert (pred == data["y_val"]).double().mean().item() == pytest.approx(best_val_acc)
    assert len(best_stat["loss_history"]) == 40


def test_numpy_paths_never_import_torch():
    code = (
        "import sys, numpy as np\n"
        "import fusednet, fusednet.eecs498 as e, fusednet.cs224d, fusednet.cs231n\n"
        "np.random.seed(0)\n"
        "p = {'W1': np.random.randn(4, 5), 'b1': np.zeros(5), 'W2': np.random.randn(5, 3), 'b2': np.zeros(3)}\n"
        "X = np.random.randn(6, 4); y = np.arange(6) % 3\n"
        "e.nn_forward_backward(p, X, y, reg=0.1)\n"
        "e.nn_train(p, e.nn_forward_backward, e.nn_predict, X, y, X, y, num_iters=3)\n"
        "e.TwoLayerNet(4, 5, 3, dtype=np.float64).loss(X, y)\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def _toy_params(seed=0, D=20, H=30, C=4):
    rng = np.random.default_rng(seed)
    return {"W1": 1e-1 * rng.standard_normal((D, H)), "b1": np.zeros(H),
            "W2": 1e-1 * rng.standard_normal((H, C)), "b2": np.zeros(C)}


def test_nn_train_interrupted_leaves_the_params_of_the_last_finished_iteration():
    import _thread
    import threading
    from fusednet import TrainingInterrupted
    from fusednet.eecs498 import nn_forward_backward, nn_predict, nn_train
    rng = np.random.default_rng(1)
    X, y = rng.standard_normal((400, 20)), rng.integers(0, 4, 400)
    params = _toy_params()
    before = {k: v.copy() for k, v in params.items()}
    timer = threading.Timer(0.3, _thread.interrupt_main)
    timer.start()
    np.random.seed(0)
    try:
        with pytest.raises(TrainingInterrupted) as info:
            nn_train(params, nn_forward_backward, nn_predict, X, y, X, y, num_iters=10**8,
                     batch_size=50, learning_rate=1e-2)
    finally:
        timer.cancel()  # never left to stop a later test
    done = len(info.value.history["loss_history"])
    assert done >= 1 and not np.array_equal(params["W1"], before["W1"])
    again = {k: v.copy() for k, v in before.items()}
    np.random.seed(0)
    nn_train(again, nn_forward_backward, nn_predict, X, y, X, y, num_iters=done,
             batch_size=50, learning_rate=1e-2, learning_rate_decay=0.95)
    assert all(np.array_equal(params[k], again[k]) for k in params)


def test_nn_train_diverged_leaves_the_last_finite_params():
    from fusednet import TrainingDiverged
    from fusednet.eecs498 import nn_forward_backward, nn_predict, nn_train
    rng = np.random.default_rng(1)
    X, y = 1e3 * rng.standard_normal((400, 20)), rng.integers(0, 4, 400)
    params = _toy_params()
    before = {k: v.copy() for k, v in params.items()}
    np.random.seed(0)
    with pytest.raises(TrainingDiverged) as info:
        nn_train(params, nn_forward_backward, nn_predict, X, y, X, y, num_iters=1000,
                 batch_size=50, learning_rate=1e6)
    assert info.value.iteration >= 2
    assert all(np.isfinite(v).all() for v in params.values())
    assert not np.array_equal(params["W1"], before["W1"])
