"""The shipped cache (``kernels/cache.py``): a read-only cache built once
(``fusednet precompile --ship``) is loaded by a fresh install, wherever it
lies, and never used by another CPU or another version of the sources."""
import json
import os
import shutil
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from llvmlite import binding as ll

from fusednet import kernels
from fusednet.kernels import reference
from fusednet.kernels.cache import best_target, runs_here
from fusednet.kernels.compiling import MESSAGE
from fusednet.scripts.precompile import level_features, target_env

ROOT = Path(kernels.__file__).resolve().parent

# One small kernel: its process compiles it, or loads it, and reports which.
SOFTMAX = textwrap.dedent("""
    import json
    import numpy as np
    import kernels
    from kernels import epilogues
    rng = np.random.default_rng(0)
    scores, y = rng.standard_normal((7, 5)), rng.integers(0, 5, 7)
    loss, dscores = kernels.softmax_loss(scores, y)
    d = epilogues.softmax_xent
    print(json.dumps({"hits": sum(d.stats.cache_hits.values()),
                      "misses": sum(d.stats.cache_misses.values()),
                      "loss": float(loss), "dscores": dscores.tolist()}))
""")


def copy_kernels(parent):
    shutil.copytree(ROOT, parent / "kernels", ignore=shutil.ignore_patterns("__pycache__", "shipped"))
    return parent


def softmax(tree, cache, shipped, cpu="host", ship=False):
    """Run SOFTMAX with ``tree``'s kernels, the writable cache ``cache``, the
    shipped cache ``shipped``, compiling for ``cpu``; its report and stderr."""
    env = target_env(cpu)
    env.update(PYTHONPATH=str(tree), NUMBA_CACHE_DIR=str(cache), FUSEDNET_SHIPPED_CACHE=str(shipped))
    env.pop("FUSEDNET_SHIP", None)
    if ship:
        env["FUSEDNET_SHIP"] = "1"
    done = subprocess.run([sys.executable, "-c", SOFTMAX], env=env, cwd=tree, capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout), done.stderr


def assert_right(report):
    rng = np.random.default_rng(0)
    scores, y = rng.standard_normal((7, 5)), rng.integers(0, 5, 7)
    loss, dscores = reference.softmax_loss(scores, y)
    np.testing.assert_allclose(report["loss"], loss, rtol=1e-12)
    np.testing.assert_allclose(report["dscores"], dscores, rtol=1e-10, atol=1e-15)


def host_has(level):
    host = {f[1:] for f in ll.get_host_cpu_features().flatten().split(",") if f.startswith("+")}
    return {f[1:] for f in level_features(level).split(",")} <= host


def read_only(path):
    for p in [path, *path.rglob("*")]:
        p.chmod(p.stat().st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))


def listing(path):
    return sorted((str(p.relative_to(path)), p.stat().st_mtime_ns) for p in path.rglob("*"))


@pytest.fixture(scope="module")
def shipped(tmp_path_factory):
    """A tree of the kernels, and a read-only shipped cache built from it for this machine."""
    base = tmp_path_factory.mktemp("shipped")
    tree, ship = copy_kernels(base / "built"), base / "ship"
    report, _ = softmax(tree, base / "build-cache", ship, ship=True)
    assert report["misses"] >= 1
    assert list((ship / "kernels").glob("epilogues.softmax_xent-*.nbi"))
    read_only(ship)
    yield tree, ship
    for p in [ship, *ship.rglob("*")]:
        p.chmod(p.stat().st_mode | stat.S_IWUSR)


@pytest.mark.slow
def test_a_fresh_install_elsewhere_loads_the_shipped_kernels(shipped, tmp_path):
    _, ship = shipped
    before = listing(ship)
    moved = copy_kernels(tmp_path / "site-packages")  # the same sources at another path
    report, err = softmax(moved, tmp_path / "empty", ship)
    assert (report["hits"], report["misses"]) == (1, 0)
    assert MESSAGE not in err
    assert_right(report)
    assert listing(ship) == before                   # read-only, and nothing was written
    # Without it (FUSEDNET_SHIPPED_CACHE=off) the same process compiles.
    report, _ = softmax(moved, tmp_path / "empty2", "off")
    assert report["misses"] == 1


@pytest.mark.slow
def test_another_cpu_never_loads_the_shipped_kernels(shipped, tmp_path):
    # A Haswell (AVX2, no AVX-512): the host build may use features it lacks.
    tree, ship = shipped
    report, _ = softmax(tree, tmp_path / "empty", ship, cpu="x86-64-v3")
    assert (report["hits"], report["misses"]) == (0, 1)
    assert_right(report)


@pytest.mark.slow
def test_edited_sources_never_load_the_shipped_kernels(shipped, tmp_path):
    # A callee in another module than the kernel's own (what pip upgrades).
    _, ship = shipped
    edited = copy_kernels(tmp_path / "edited")
    with open(edited / "kernels" / "exp.py", "a") as f:
        f.write("\n# another version\n")
    report, _ = softmax(edited, tmp_path / "empty", ship)
    assert (report["hits"], report["misses"]) == (0, 1)
    assert_right(report)


@pytest.mark.slow
@pytest.mark.skipif(not host_has("x86-64-v3"), reason="this CPU lacks AVX2/FMA (x86-64-v3)")
def test_a_cpu_family_build_serves_every_cpu_with_its_features(tmp_path):
    tree, ship = copy_kernels(tmp_path / "tree"), tmp_path / "ship-v3"
    softmax(tree, tmp_path / "build", ship, cpu="x86-64-v3", ship=True)
    report, _ = softmax(tree, tmp_path / "host", ship)          # this machine: v3 and more
    assert (report["hits"], report["misses"]) == (1, 0)
    assert_right(report)
    report, _ = softmax(tree, tmp_path / "v2", ship, cpu="x86-64-v2")  # no AVX: not used
    assert (report["hits"], report["misses"]) == (0, 1)
    assert_right(report)


TRIPLE = "x86_64-unknown-linux-gnu"
V3 = level_features("x86-64-v3")


@pytest.mark.parametrize("built, host, runs", [
    ((TRIPLE, "znver4", "+avx,+avx2,-avx512f"), (TRIPLE, "znver4", "+avx,+avx2,-avx512f"), True),
    ((TRIPLE, "znver4", "+avx,+avx2"), (TRIPLE, "znver4", "+avx,+avx2,+avx512f"), True),
    ((TRIPLE, "znver4", "+avx,+avx512f"), (TRIPLE, "znver4", "+avx,-avx512f"), False),
    # another model: its name may imply features its string omits
    ((TRIPLE, "znver4", "+avx"), (TRIPLE, "skylake-avx512", "+avx,+avx512f"), False),
    ((TRIPLE, "x86-64-v3", V3), (TRIPLE, "skylake-avx512", V3 + ",+avx512f"), True),
    ((TRIPLE, "x86-64-v3", V3), (TRIPLE, "x86-64-v2", level_features("x86-64-v2")), False),
    ((TRIPLE, "x86-64-v3", ""), (TRIPLE, "x86-64-v3", V3), False),   # features unknown
    (("aarch64-unknown-linux-gnu", "x86-64-v3", V3), (TRIPLE, "x86-64-v3", V3), False),
])
def test_shipped_code_runs_only_where_every_feature_it_uses_is_present(built, host, runs):
    assert runs_here(built, host) is runs


def test_the_best_shipped_target_is_this_models_own_else_the_highest_level_it_runs():
    v2, v4 = level_features("x86-64-v2"), level_features("x86-64-v4")
    host = (TRIPLE, "znver4", v4 + ",+avx512vnni")
    levels = [(TRIPLE, "x86-64-v3", V3), (TRIPLE, "x86-64-v4", v4), (TRIPLE, "x86-64-v2", v2)]
    own = (TRIPLE, "znver4", v4)
    assert best_target(levels, host) == levels[1]                 # v4 before v3, in any order
    assert best_target(levels + [own], host) == own
    assert best_target(levels, (TRIPLE, "haswell", V3)) == levels[0]
    assert best_target(levels[1:2], (TRIPLE, "haswell", V3)) is None
