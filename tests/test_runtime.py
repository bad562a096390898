"""The compiled-code runtime: on-disk cache, its invalidation, threading layer."""
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from fusednet import kernels

# Every test here starts processes, most of them compiling from cold.
pytestmark = pytest.mark.slow

ROOT = Path(kernels.__file__).resolve().parent.parent

RUN_ALL_KERNELS = textwrap.dedent("""
    import json
    import numpy as np
    from fusednet import kernels
    from fusednet.kernels import affine, two_layer, epilogues

    rng = np.random.default_rng(0)
    X, W, b = rng.standard_normal((6, 4)), rng.standard_normal((4, 5)), np.zeros(5)
    h = kernels.affine_relu_forward(X, W, b)
    kernels.affine_relu_backward(np.ones_like(h), X, W, h)
    kernels.softmax_loss(h, rng.integers(0, 5, 6))
    kernels.two_layer_loss(W, b, rng.standard_normal((5, 3)), np.zeros(3), X, rng.integers(0, 3, 6))
    stats = {}
    for d in (affine._affine_act_forward, affine._affine_act_backward,
              epilogues.softmax_xent, two_layer.two_layer_step):
        stats[d.py_func.__name__] = [sum(d.stats.cache_hits.values()),
                                     sum(d.stats.cache_misses.values())]
    print(json.dumps(stats))
""")


def run(code, env=None, cwd=None):
    env = dict(os.environ if env is None else env)
    return subprocess.run([sys.executable, "-c", code], env=env, cwd=cwd, capture_output=True,
                          text=True, check=True)


def test_second_process_loads_compiled_kernels_from_the_cache(tmp_path):
    import json
    from fusednet.kernels.compiling import MESSAGE
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "cache"))
    cold, warm = run(RUN_ALL_KERNELS, env), run(RUN_ALL_KERNELS, env)
    first, second = json.loads(cold.stdout), json.loads(warm.stdout)
    for name, (hits, misses) in first.items():
        assert misses >= 1 and hits == 0, name      # compiled and written
    for name, (hits, misses) in second.items():
        assert hits >= 1 and misses == 0, name      # loaded, nothing compiled
    # The cold process said once that it compiles; the warm one said nothing.
    assert cold.stderr.count(MESSAGE) == 1, cold.stderr[-2000:]
    assert MESSAGE not in warm.stderr


ENTRY_PROBE = textwrap.dedent("""
    import json
    import numpy as np
    import fusednet
    from fusednet.kernels import matmul
    X = np.random.default_rng(0).standard_normal((40, 4))
    y = np.arange(40) % 3
    h = fusednet.MLP([4, 10, 3], seed=0).train(X, y, X, y, num_iters=5, batch_size=8)
    print(json.dumps({"loss": h["loss_history"],
                      "entries": sorted(str(dtype) for dtype in matmul._compiled),
                      "loaded": sum(e.cache_hits for e in matmul._compiled.values())}))
""")


def test_kernels_from_the_cache_find_the_loops_entry_point_first(tmp_path):
    # The kernels call kernels.matmul's loops by name: a kernel loaded from
    # the cache must find the name registered (LLVM aborts the process on a
    # name it cannot resolve), also when the entry point's own cache files
    # are gone; and a dtype that multiplies nothing compiles no entry point.
    import json
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "cache"))
    cold, warm = (json.loads(run(ENTRY_PROBE, env).stdout) for _ in range(2))
    assert cold["entries"] == warm["entries"] == ["float64"]
    assert (cold["loaded"], warm["loaded"]) == (0, 1)
    entry_files = list((tmp_path / "cache").rglob("matmul._c_entry-*"))
    assert entry_files
    for path in entry_files:
        path.unlink()
    gone = json.loads(run(ENTRY_PROBE, env).stdout)
    assert gone["entries"] == ["float64"] and gone["loaded"] == 0
    assert cold["loss"] == warm["loss"] == gone["loss"]


def kernels_copy(tmp_path):
    """A copy of the kernels at ``tmp_path / "kernels"``, importable as
    ``kernels``, and an environment that caches them in their in-tree
    ``__pycache__``: ``(its folder, env)``."""
    pkg = tmp_path / "kernels"
    shutil.copytree(ROOT / "kernels", pkg, ignore=shutil.ignore_patterns("__pycache__"))
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    env["PYTHONPATH"] = str(tmp_path)
    return pkg, env


def test_editing_any_kernel_source_empties_the_package_cache(tmp_path):
    pkg, env = kernels_copy(tmp_path)
    probe = "import kernels, pathlib; print(pathlib.Path(kernels.__file__).parent)"
    assert run(probe, env, cwd=tmp_path).stdout.strip() == str(pkg)
    cache = pkg / "__pycache__"
    stale = cache / "affine._affine_act_forward-1.py311.nbi"
    stale.write_bytes(b"stale")
    run(probe, env, cwd=tmp_path)
    assert stale.exists()                           # sources unchanged: kept
    with open(pkg / "epilogues.py", "a") as f:      # a callee in another module
        f.write("\n# edited\n")
    run(probe, env, cwd=tmp_path)
    assert not stale.exists()


def test_one_folder_imported_under_two_names_keeps_two_sets_of_entries(tmp_path):
    # A checkout's kernels imported as ``kernels`` and as ``fusednet.kernels``
    # share one in-tree __pycache__; compiled code calls the product's entry
    # point through a symbol named after its module, so an entry written
    # under one name raised "entry point is not loaded" under the other.
    _, env = kernels_copy(tmp_path)
    (tmp_path / "alias").symlink_to(tmp_path, target_is_directory=True)
    probe = textwrap.dedent("""
        import importlib, sys
        import numpy as np
        k = importlib.import_module(sys.argv[1])
        r = np.random.default_rng(0)
        print(k.two_layer_loss(r.standard_normal((4, 10)), np.zeros(10), r.standard_normal((10, 3)),
                               np.zeros(3), r.standard_normal((200, 4)), np.arange(200) % 3, 0.1)[0])
    """)
    losses = []
    for name in ("kernels", "alias.kernels", "kernels", "alias.kernels"):
        done = subprocess.run([sys.executable, "-c", probe, name], env=env, cwd=tmp_path,
                              capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr[-2000:]
        losses.append(float(done.stdout))
    assert len(set(losses)) == 1


def test_importing_the_kernels_starts_numba_pool_before_any_kernel_runs():
    # The training loop is cached serial code calling a parallel kernel; a
    # process that loads it must have started Numba's pool first (see
    # kernels.threads._launch), whatever the first call is.
    code = textwrap.dedent("""
        import numba.np.ufunc.parallel as parallel
        before = parallel._is_initialized
        import fusednet.kernels
        print(before, parallel._is_initialized)
    """)
    assert run(code).stdout.split() == ["False", "True"]


# Each process calls the public functions in its own order, so each compiles
# (and caches) the kernels in a different order and from different callers.
ORDERS = [
    "train,loss,scores,kernels",
    "kernels,scores,train,loss",
    "scores,kernels,loss,train",
]
ORDERED_CALLS = textwrap.dedent("""
    import sys
    import numpy as np
    from fusednet import kernels, net
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((60, 8)), rng.integers(0, 3, 60)
    model = net.MLP([8, 16, 16, 3], activation="tanh", residual=True, seed=1)
    two = net.TwoLayerNet(8, 12, 3, std=0.1)
    for step in sys.argv[1].split(","):
        if step == "train":
            model.train(X, y, X, y, num_iters=30, batch_size=20, update="rmsprop")
            two.train(X, y, X, y, num_iters=30, batch_size=20)
        elif step == "loss":
            model.loss(X, y, reg=0.1, need_dX=True)
            two.loss(X, y, reg=0.1)
        elif step == "scores":
            model.predict(X)
            two.predict(X)
        else:
            h = kernels.affine_relu_forward(X, two.params["W1"], two.params["b1"])
            kernels.affine_relu_backward(np.ones_like(h), X, two.params["W1"], h)
            kernels.softmax_loss(h, y)
    print("ok")
""")


def test_kernels_cached_in_any_compile_order_load_in_any_other(tmp_path):
    # Numba has had segfaults when a cache written by one process is loaded
    # by another that compiled things in a different order (issues #8578,
    # #10128); each process here starts from what the previous ones cached.
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "cache"))
    for order in ORDERS + ORDERS[::-1]:
        result = subprocess.run([sys.executable, "-c", ORDERED_CALLS, order], env=env,
                                capture_output=True, text=True)
        assert result.returncode == 0 and result.stdout.strip() == "ok", (order, result.stderr[-2000:])



SAME_BITS = textwrap.dedent("""
    import hashlib
    import numpy as np
    from fusednet import MLP
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((400, 30)), rng.integers(0, 3, 400)
    out = []
    for act in ("tanh", "sigmoid"):
        for dtype in (np.float64, np.float32):
            m = MLP([30, 16, 16, 3], activation=act, seed=0, dtype=dtype)
            m.train(X.astype(dtype), y, X.astype(dtype), y, num_iters=60, batch_size=50, reg=1e-3)
            out.append(hashlib.sha256(m.packed().theta.tobytes()).hexdigest()[:12])
    print(" ".join(out))
""")


def test_kernels_compiled_in_the_process_and_loaded_from_the_cache_give_the_same_bits(tmp_path):
    # With reassoc, how a product was associated followed what LLVM inlined
    # around it: the process that compiled a tanh or sigmoid net's kernels
    # trained another model than every later one that loaded them.
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "cache"))
    compiled, loaded = run(SAME_BITS, env).stdout, run(SAME_BITS, env).stdout
    assert compiled == loaded
