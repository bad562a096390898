"""The compiled-code runtime: on-disk cache, its invalidation, threading layer."""
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import kernels

ROOT = Path(kernels.__file__).resolve().parent.parent

RUN_ALL_KERNELS = textwrap.dedent("""
    import json
    import numpy as np
    import kernels
    from kernels import affine, two_layer, epilogues

    rng = np.random.default_rng(0)
    X, W, b = rng.standard_normal((6, 4)), rng.standard_normal((4, 5)), np.zeros(5)
    h = kernels.affine_relu_forward(X, W, b)
    kernels.affine_relu_backward(np.ones_like(h), X, W, h)
    kernels.softmax_loss(h, rng.integers(0, 5, 6))
    kernels.two_layer_loss(W, b, rng.standard_normal((5, 3)), np.zeros(3), X, rng.integers(0, 3, 6))
    stats = {}
    for d in (affine._affine_act_forward, affine._affine_act_backward,
              epilogues.softmax_xent, two_layer._two_layer_loss):
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
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "cache"))
    first = json.loads(run(RUN_ALL_KERNELS, env).stdout)
    second = json.loads(run(RUN_ALL_KERNELS, env).stdout)
    for name, (hits, misses) in first.items():
        assert misses >= 1 and hits == 0, name      # compiled and written
    for name, (hits, misses) in second.items():
        assert hits >= 1 and misses == 0, name      # loaded, nothing compiled


def test_editing_any_kernel_source_empties_the_package_cache(tmp_path):
    pkg = tmp_path / "kernels"
    shutil.copytree(ROOT / "kernels", pkg, ignore=shutil.ignore_patterns("__pycache__"))
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    env["PYTHONPATH"] = str(tmp_path)
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


def test_tbb_threading_layer_is_used_when_installed():
    code = textwrap.dedent("""
        import numba, numpy as np
        import kernels
        from kernels import config
        config.PARALLEL_MIN_ELEMENTS = 0
        X = np.ones((64, 8)); W = np.ones((8, 8)); b = np.zeros(8)
        kernels.affine_relu_forward(X, W, b)
        print(config.THREADING_LAYER, numba.threading_layer())
    """)
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_THREADING_LAYER"}
    requested, used = run(code, env).stdout.split()
    if _tbb_installed():
        assert requested == used == "tbb"
    else:
        assert used == requested


def _tbb_installed():
    from importlib.metadata import PackageNotFoundError, version
    try:
        version("tbb")
        return True
    except PackageNotFoundError:
        return False


def test_a_threading_layer_chosen_by_the_user_is_respected():
    code = textwrap.dedent("""
        import numba, numpy as np
        import kernels
        from kernels import config
        config.PARALLEL_MIN_ELEMENTS = 0
        kernels.affine_relu_forward(np.ones((64, 8)), np.ones((8, 8)), np.zeros(8))
        print(config.THREADING_LAYER, numba.threading_layer())
    """)
    env = dict(os.environ, NUMBA_THREADING_LAYER="workqueue")
    assert run(code, env).stdout.split() == ["workqueue", "workqueue"]
