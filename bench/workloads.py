"""What the benchmarks run: the shape grid, data, and one training step per
contender (NumPy reference, ours, PyTorch eager, JAX jit), each doing the same
work: gather a minibatch, loss and gradients of affine -> relu -> affine ->
softmax with L2, and an SGD update of all four parameters.
"""
import numpy as np

#: name -> (N, D, H, C): batch rows, inputs, hidden units, classes.
SHAPES = {
    "toy": (5, 4, 10, 3),
    "cs224d": (64, 150, 100, 5),
    "digits": (200, 64, 100, 10),
    "cifar": (200, 3072, 100, 10),
    "mnist": (256, 784, 512, 10),
    "wide": (1024, 3072, 1024, 10),
}
SMALL = ("toy", "cs224d", "digits")
REG, LR = 1e-4, 1e-3


def step_flops(N, D, H, C):
    """Floating-point operations of the step's five matrix products."""
    return 2 * N * (D * H + H * C) + 2 * (H * N * C + N * C * H + D * N * H)


def problem(shape, dtype, seed=0, rows_per_batch=32, max_elements=4_000_000):
    """Data and parameters: rows_per_batch * N rows (so epoch boundaries are
    rare), at most about max_elements values, at least one batch."""
    N, D, H, C = SHAPES[shape] if isinstance(shape, str) else shape
    rng = np.random.default_rng(seed)
    n = max(N, min(N * rows_per_batch, max_elements // D))
    X = rng.standard_normal((n, D)).astype(dtype)
    y = rng.integers(0, C, n)
    params = {"W1": (rng.standard_normal((D, H)) / np.sqrt(D)).astype(dtype),
              "b1": np.zeros(H, dtype),
              "W2": (rng.standard_normal((H, C)) / np.sqrt(H)).astype(dtype),
              "b2": np.zeros(C, dtype)}
    return X, y, params, N


def numpy_stepper(X, y, params, N, seed=1):
    """``step(k)``: k iterations of the plain NumPy course step."""
    from ..kernels import reference
    p = {k: v.copy() for k, v in params.items()}
    rng = np.random.default_rng(seed)

    def step(k):
        for _ in range(k):
            idx = rng.integers(0, len(X), N)
            _, dW1, db1, dW2, db2 = reference.two_layer_loss(p["W1"], p["b1"], p["W2"], p["b2"],
                                                             X[idx], y[idx], REG)
            p["W1"] -= LR * dW1
            p["b1"] -= LR * db1
            p["W2"] -= LR * dW2
            p["b2"] -= LR * db2
    return step


def ours_stepper(X, y, params, N, seed=1):
    """``step(k)``: k iterations of ``MLP.train``'s compiled loop."""
    from ..net import MLP
    model = MLP([X.shape[1], params["W1"].shape[1], params["W2"].shape[1]], dtype=X.dtype, seed=seed)
    for k, v in params.items():
        model.params[k][...] = v
    Xv, yv = X[:1], y[:1]

    def step(k):
        model.train(X, y, Xv, yv, learning_rate=LR, learning_rate_decay=1.0, reg=REG,
                    num_iters=k, batch_size=N, eval_every=0)
    return step


def ours_1t_stepper(X, y, params, N, seed=1):
    """:func:`ours_stepper` with fusednet limited to one thread (BLAS included)."""
    from ..kernels import threads
    step_all = ours_stepper(X, y, params, N, seed)

    def step(k):
        before = threads.get_num_threads()
        threads.set_num_threads(1)
        try:
            step_all(k)
        finally:
            threads.set_num_threads(before)
    return step


def torch_stepper(X, y, params, N, seed=1):
    """``step(k)``: k eager PyTorch iterations (autograd), or None without torch."""
    try:
        import torch
    except ImportError:
        return None
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    p = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    g = torch.Generator().manual_seed(seed)

    def step(k):
        for _ in range(k):
            idx = torch.randint(0, len(Xt), (N,), generator=g)
            h = torch.relu(Xt[idx] @ p["W1"] + p["b1"])
            loss = torch.nn.functional.cross_entropy(h @ p["W2"] + p["b2"], yt[idx])
            loss = loss + REG * ((p["W1"] ** 2).sum() + (p["W2"] ** 2).sum())
            loss.backward()
            with torch.no_grad():
                for v in p.values():
                    v -= LR * v.grad
                    v.grad = None
    return step


def jax_stepper(X, y, params, N, seed=1):
    """``step(k)``: k iterations of a jitted JAX step, or None without jax."""
    try:
        import jax
        import jax.numpy as jnp
    except ImportError:
        return None
    if X.dtype == np.float64:
        jax.config.update("jax_enable_x64", True)

    def loss_fn(p, xb, yb):
        h = jax.nn.relu(xb @ p["W1"] + p["b1"])
        logp = jax.nn.log_softmax(h @ p["W2"] + p["b2"])
        return (-jnp.mean(jnp.take_along_axis(logp, yb[:, None], axis=1))
                + REG * (jnp.sum(p["W1"] ** 2) + jnp.sum(p["W2"] ** 2)))

    @jax.jit
    def update(p, key, Xj, yj):
        key, sub = jax.random.split(key)
        idx = jax.random.randint(sub, (N,), 0, Xj.shape[0])
        grads = jax.grad(loss_fn)(p, Xj[idx], yj[idx])
        return jax.tree_util.tree_map(lambda a, b: a - LR * b, p, grads), key

    state = {"p": {k: jnp.asarray(v) for k, v in params.items()},
             "key": jax.random.PRNGKey(seed)}
    Xj, yj = jnp.asarray(X), jnp.asarray(y)

    def step(k):
        p, key = state["p"], state["key"]
        for _ in range(k):
            p, key = update(p, key, Xj, yj)
        jax.block_until_ready(p)
        state["p"], state["key"] = p, key
    return step


def gemm_stepper(X, y, params, N, seed=1, gather=False):
    """``step(k)``: the step's five matrix products alone, through NumPy's BLAS
    into preallocated outputs: the roofline a step cannot beat on this BLAS.
    With ``gather``, each product set first copies a fresh random minibatch of
    X into its buffer, the memory traffic every step must add (with the
    training loop's compiled gather: ``np.take`` took 3x longer)."""
    D, H = params["W1"].shape
    C = params["W2"].shape[1]
    dt = X.dtype
    Xb, W1, W2 = X[:N].copy(), params["W1"], params["W2"]
    h, s = np.empty((N, H), dt), np.empty((N, C), dt)
    dW2, dh, dW1 = np.empty((H, C), dt), np.empty((N, H), dt), np.empty((D, H), dt)
    rng = np.random.default_rng(seed)
    yb = np.empty(N, y.dtype)
    from ..kernels.epilogues import gather

    def step(k):
        for _ in range(k):
            if gather:
                gather(X, y, rng.integers(0, len(X), N), N, Xb, yb)
            np.matmul(Xb, W1, out=h)
            np.matmul(h, W2, out=s)
            np.matmul(h.T, s, out=dW2)
            np.matmul(s, W2.T, out=dh)
            np.matmul(Xb.T, dh, out=dW1)
    return step


def gemm_gather_stepper(X, y, params, N, seed=1):
    """:func:`gemm_stepper` with the minibatch gather."""
    return gemm_stepper(X, y, params, N, seed, gather=True)


CONTENDERS = {"numpy": numpy_stepper, "ours": ours_stepper, "ours_1t": ours_1t_stepper,
              "torch": torch_stepper,
              "jax": jax_stepper, "gemm": gemm_stepper, "gemm_gather": gemm_gather_stepper}
