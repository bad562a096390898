"""What the benchmarks run: the shape grid, data, and one training step per
contender (NumPy reference, ours, PyTorch eager, torch.compile, JAX jit), each
doing the same work: gather a minibatch, loss and gradients of affine -> relu
-> affine -> softmax with L2, and an SGD update of all four parameters.
"""
import shutil
import time

import numpy as np

#: name -> (N, D, H, C): batch rows, inputs, hidden units, classes.
SHAPES = {
    "toy": (5, 4, 10, 3),
    "cs224d": (64, 150, 100, 5),
    "digits": (200, 64, 100, 10),
    "cifar": (200, 3072, 100, 10),
    "mnist": (256, 784, 512, 10),
    "wide": (1024, 3072, 1024, 10),
    # The CS231n notebook's toy training: batches of 200 drawn with
    # replacement from its 5 rows (DATA_ROWS), so every product is 40x the
    # toy's.
    "course_toy": (200, 4, 10, 3),
}
#: Shapes whose data has a fixed number of rows (else :func:`problem`'s rule).
DATA_ROWS = {"course_toy": 5}
REG, LR = 1e-4, 1e-3


def step_flops(N, D, H, C):
    """Floating-point operations of the step's five matrix products."""
    return 2 * N * (D * H + H * C) + 2 * (H * N * C + N * C * H + D * N * H)


def problem(shape, dtype, seed=0, rows_per_batch=32, max_elements=4_000_000):
    """Data and parameters: rows_per_batch * N rows (so epoch boundaries are
    rare), at most about max_elements values, at least one batch; or the
    shape's ``DATA_ROWS`` (batches then repeat rows)."""
    N, D, H, C = SHAPES[shape] if isinstance(shape, str) else shape
    rng = np.random.default_rng(seed)
    n = DATA_ROWS.get(shape) or max(N, min(N * rows_per_batch, max_elements // D))
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


def ours_calls_stepper(X, y, params, N, seed=1, calls=200):
    """``step(k)``: k iterations of ``MLP.train`` in calls of at most ``calls``
    iterations, as a notebook's loop of short calls runs (each call starts
    its chunks and thread choice anew, with what earlier calls measured)."""
    step_all = ours_stepper(X, y, params, N, seed)

    def step(k):
        for start in range(0, k, calls):
            step_all(min(calls, k - start))
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


class Unavailable(Exception):
    """A contender whose library is installed but that cannot run here (no C++
    compiler for inductor, a failed compile, numbers that differ from its
    reference); the message says why and the runner shows it."""


def _torch_eager_update(torch, p, Xt, yt, idx):
    """One eager PyTorch step on the tensors of ``p`` (autograd, in place)."""
    h = torch.relu(Xt[idx] @ p["W1"] + p["b1"])
    loss = torch.nn.functional.cross_entropy(h @ p["W2"] + p["b2"], yt[idx])
    loss = loss + REG * ((p["W1"] ** 2).sum() + (p["W2"] ** 2).sum())
    loss.backward()
    with torch.no_grad():
        for v in p.values():
            v -= LR * v.grad
            v.grad = None


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
            _torch_eager_update(torch, p, Xt, yt, torch.randint(0, len(Xt), (N,), generator=g))
    return step


#: Steps the compiled and the eager PyTorch step take from the same
#: parameters and minibatches before their parameters are compared.
CHECK_STEPS = 3


def check_tolerance(dtype):
    """Largest difference allowed between the compiled and the eager step's
    parameters after :data:`CHECK_STEPS` steps, relative to the largest
    parameter: rounding (inductor fuses and orders the sums its own way)."""
    return 64 * float(np.finfo(dtype).eps)


def cpp_compiler():
    """The C++ compiler inductor would use (its own search: ``CXX``'s or
    ``torch._inductor.config.cpp.cxx``, then ``g++``), or raise
    :class:`Unavailable` saying none was found."""
    try:
        from torch._inductor import cpp_builder
        find = cpp_builder.get_cpp_compiler
    except (ImportError, AttributeError):  # a torch that moved it: look for one ourselves
        def find():
            for name in ("c++", "g++", "clang++"):
                if shutil.which(name):
                    return name
            raise FileNotFoundError("no c++, g++ or clang++ on PATH")
    try:
        return find()
    except Exception as exc:
        raise Unavailable("no C++ compiler, which torch.compile's inductor backend needs on the "
                          f"CPU ({type(exc).__name__}: {_first_line(exc)})") from None


def _first_line(exc):
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0][:300] if lines else type(exc).__name__


def _compiled_update(torch):
    """A fresh ``torch.compile`` (default mode, inductor) of the whole step
    after the index draw: minibatch gather, two-layer forward, softmax
    cross-entropy + L2, backward (``torch.func.grad``, traced into the same
    graph) and the in-place SGD update; one graph (``fullgraph``), static
    shapes. Dynamo's caches are reset first, so each shape and dtype compiles
    once from nothing (an earlier shape's graph would otherwise make this one
    a dynamic-shape recompile, and a twelfth would pass dynamo's limit)."""
    torch._dynamo.reset()
    F = torch.nn.functional

    def loss(W1, b1, W2, b2, xb, yb):
        h = torch.relu(xb @ W1 + b1)
        return F.cross_entropy(h @ W2 + b2, yb) + REG * ((W1 ** 2).sum() + (W2 ** 2).sum())

    def update(W1, b1, W2, b2, Xt, yt, idx):
        grads = torch.func.grad(loss, argnums=(0, 1, 2, 3))(W1, b1, W2, b2, Xt[idx], yt[idx])
        for v, d in zip((W1, b1, W2, b2), grads):
            v.sub_(LR * d)
    return torch.compile(update, fullgraph=True, dynamic=False)


#: ``startup_s``: seconds of this process's first ``torch.compile`` (see
#: :func:`_startup`), once measured.
STARTUP = {}


def _startup(torch, dtype):
    """Compile and run the step once at a tiny shape (3 x 2 -> 2 -> 2, a graph
    no benchmark shape shares) and return the seconds it took: what the first
    compile in a process pays once (dynamo's, AOTAutograd's and inductor's
    imports, its C++ toolchain checks, its compile workers), kept out of the
    first shape's compile time."""
    rng = np.random.default_rng(0)
    t = time.perf_counter()
    _compiled_update(torch)(*[torch.from_numpy(rng.standard_normal(s).astype(dtype))
                              for s in ((2, 2), (2,), (2, 2), (2,), (3, 2))],
                            torch.zeros(3, dtype=torch.int64), torch.zeros(3, dtype=torch.int64))
    return time.perf_counter() - t


def torch_compile_stepper(X, y, params, N, seed=1):
    """``step(k)``: k iterations of :func:`torch_stepper`'s step compiled by
    ``torch.compile`` (default mode, the inductor backend), or None without
    torch. Compiled here, before any timing, and checked: from the same
    parameters and minibatches, :data:`CHECK_STEPS` compiled steps must give
    the eager steps' parameters to rounding. ``step.info`` holds the compile
    times (the first call until it returns: ``compile_s``; again after
    dynamo's reset with inductor's caches now filled: ``compile_warm_s``) and
    the check. Any failure raises :class:`Unavailable` with the reason."""
    try:
        import torch
    except ImportError:
        return None
    info = {"mode": "default", "backend": "inductor", "fullgraph": True, "dynamic": False,
            "compiler": cpp_compiler()}
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    names = ("W1", "b1", "W2", "b2")

    def indices(n_steps):
        g = torch.Generator().manual_seed(seed)
        return [torch.randint(0, len(Xt), (N,), generator=g) for _ in range(n_steps)]

    try:
        if "startup_s" not in STARTUP:
            info["startup_s"] = STARTUP["startup_s"] = _startup(torch, X.dtype)
        update = _compiled_update(torch)
        mine = [torch.tensor(params[k]) for k in names]
        draws = indices(CHECK_STEPS)
        t = time.perf_counter()
        update(*mine, Xt, yt, draws[0])
        info["compile_s"] = time.perf_counter() - t
        for idx in draws[1:]:
            update(*mine, Xt, yt, idx)
        update = _compiled_update(torch)  # again, from inductor's cache
        t = time.perf_counter()
        update(*[torch.tensor(params[k]) for k in names], Xt, yt, draws[0])
        info["compile_warm_s"] = time.perf_counter() - t
    except Unavailable:
        raise
    except Exception as exc:
        raise Unavailable(f"torch.compile failed: {type(exc).__name__}: {_first_line(exc)}") from None
    eager = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    for idx in draws:
        _torch_eager_update(torch, eager, Xt, yt, idx)
    scale = max(float(eager[k].detach().abs().max()) for k in names)
    diff = max(float((m - eager[k].detach()).abs().max()) for m, k in zip(mine, names))
    info["check"] = {"steps": CHECK_STEPS, "max_abs_diff": diff, "max_abs_param": scale,
                     "tolerance": check_tolerance(X.dtype) * max(scale, 1.0)}
    if not diff <= info["check"]["tolerance"]:
        raise Unavailable(f"the compiled step's parameters differ from the eager step's by {diff:.3g} "
                          f"after {CHECK_STEPS} steps (allowed {info['check']['tolerance']:.3g})")
    p = [torch.tensor(params[k]) for k in names]
    g = torch.Generator().manual_seed(seed)

    def step(k):
        for _ in range(k):
            update(*p, Xt, yt, torch.randint(0, len(Xt), (N,), generator=g))
    step.info = info
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
    Xb, W1, W2 = X[np.arange(N) % len(X)], params["W1"], params["W2"]
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
              "torch": torch_stepper, "torch_compile": torch_compile_stepper,
              "jax": jax_stepper, "gemm": gemm_stepper, "gemm_gather": gemm_gather_stepper}
