"""The distribution as a user gets it: one import name, one command, a wheel
without tests, and a read-only install that still caches compiled code."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SKIP_IN_COPY = shutil.ignore_patterns(".git", ".venv*", "__pycache__", "build", "dist", "*.egg-info",
                                      ".hypothesis", ".pytest_cache", ".benchmarks", "runs",
                                      "bench-results")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    """A wheel built from a copy of the checkout, as ``pip wheel .`` builds it."""
    src = tmp_path_factory.mktemp("src") / "fusednet"
    shutil.copytree(ROOT, src, ignore=SKIP_IN_COPY)
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(out), str(src)], check=True, capture_output=True)
    (path,) = out.glob("fusednet-*.whl")
    return path


@pytest.mark.slow
def test_wheel_adds_one_import_name_and_one_command_and_no_tests(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    top = {n.split("/")[0] for n in names}
    dist_info = {t for t in top if t.endswith(".dist-info")}
    assert top - dist_info == {"fusednet"}
    packages = {n.rsplit("/", 1)[0] for n in names if n.endswith(".py")}
    assert packages == {"fusednet", "fusednet/kernels", "fusednet/net", "fusednet/scripts",
                        "fusednet/bench"}
    assert not [n for n in names if "conftest" in n or "/test_" in n or n.startswith("tests/")]
    assert "fusednet/__main__.py" in names and "fusednet/kernels/reference.py" in names
    (entry_points,) = [n for n in names if n.endswith("entry_points.txt")]
    scripts = zipfile.ZipFile(wheel).read(entry_points).decode().split("[console_scripts]")[1]
    assert [line.split("=")[0].strip() for line in scripts.splitlines() if "=" in line] == ["fusednet"]


def _run_as_user(cmd, env, cwd):
    """Run ``cmd`` bound by permission bits. Root writes through them (the
    DAC_OVERRIDE capability), so as root the command runs without it."""
    if os.geteuid() == 0:
        cmd = ["setpriv", "--bounding-set=-dac_override,-dac_read_search,-fowner", *cmd]
    return subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True)


FIRST_STEP = textwrap.dedent("""
    import json, time, warnings
    t0 = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        import numpy as np
        import fusednet
        X = np.random.default_rng(0).standard_normal((64, 8)); y = np.arange(64) % 3
        fusednet.MLP([8, 16, 3], seed=0).train(X, y, X, y, num_iters=3, batch_size=16)
    seconds = time.perf_counter() - t0
    import sys
    from numba.core.registry import CPUDispatcher
    kernels = {id(f): f for name, mod in list(sys.modules.items())
               if name.startswith("fusednet.kernels") for f in vars(mod).values()
               if isinstance(f, CPUDispatcher)}.values()
    print(json.dumps({"seconds": seconds, "file": fusednet.__file__,
                      "hits": sum(sum(f.stats.cache_hits.values()) for f in kernels),
                      "misses": sum(sum(f.stats.cache_misses.values()) for f in kernels),
                      "warnings": [str(w.message) for w in caught]}))
""")


@pytest.fixture(scope="module")
def read_only_install(wheel):
    """The wheel installed (not editable) into a directory nobody can write."""
    base = Path(tempfile.mkdtemp(prefix="fusednet-ro-"))
    os.chmod(base, 0o755)
    site = base / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target",
                    str(site), str(wheel)], check=True, capture_output=True)
    for d, _, files in os.walk(site):
        os.chmod(d, 0o555)
        for f in files:
            os.chmod(os.path.join(d, f), 0o444)
    yield base, site
    for d, _, _ in os.walk(base):
        os.chmod(d, 0o755)
    shutil.rmtree(base, ignore_errors=True)


def _env(site, cache_home):
    env = {k: v for k, v in os.environ.items() if k not in ("NUMBA_CACHE_DIR", "PYTHONPATH")}
    env.update(PYTHONPATH=str(site), XDG_CACHE_HOME=str(cache_home), HOME=str(cache_home))
    return env


@pytest.mark.slow
def test_read_only_install_caches_compiled_kernels_per_user(read_only_install):
    base, site = read_only_install
    cache_home = base / "home"
    cache_home.mkdir()
    os.chmod(cache_home, 0o777)
    runs = []
    for _ in range(2):
        out = _run_as_user([sys.executable, "-c", FIRST_STEP], _env(site, cache_home), cwd=base)
        assert out.returncode == 0, out.stderr[-3000:]
        runs.append(json.loads(out.stdout))
    assert runs[0]["file"].startswith(str(site))            # the installed copy, not the checkout
    assert runs[0]["misses"] >= 1 and runs[0]["hits"] == 0  # compiled, written per user
    assert runs[1]["hits"] >= 1 and runs[1]["misses"] == 0  # loaded by the second process
    assert not any("fusednet" in w for r in runs for w in r["warnings"])
    assert list((cache_home / "numba").rglob("*.nbi"))
    assert not list(site.rglob("*.nbi"))
    print(f"import to first step: {runs[0]['seconds']:.2f} s, then {runs[1]['seconds']:.2f} s")


@pytest.mark.slow
def test_read_only_install_without_any_writable_cache_imports_trains_and_warns_once(read_only_install):
    base, site = read_only_install
    cache_home = base / "nocache"
    cache_home.mkdir()
    os.chmod(cache_home, 0o555)
    out = _run_as_user([sys.executable, "-c", FIRST_STEP], _env(site, cache_home), cwd=base)
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout)
    ours = [w for w in result["warnings"] if "fusednet" in w]
    assert len(ours) == 1 and "NUMBA_CACHE_DIR" in ours[0]
    assert result["hits"] == 0


def test_every_top_level_name_resolves_to_the_net_packages_object():
    import fusednet
    from fusednet import net
    for name in fusednet.__all__:
        if name != "__version__":
            assert getattr(fusednet, name) is getattr(net, name), name
    assert set(fusednet.__all__) - {"__version__"} == set(net.__all__)
