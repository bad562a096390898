"""A damaged, full or read-only on-disk cache, and two processes filling one
cache at once (``kernels/cache.py``): training neither crashes nor changes a
number, and a process says the first problem it meets in one warning.

Every case runs in processes of its own, each with its own cache directory
(``NUMBA_CACHE_DIR``), and compares their numbers bit for bit with those of
a process that compiled into a fresh cache (the reference).
"""
import json
import os
import random
import shutil
import subprocess
import sys
import textwrap

import pytest

# Processes compiling from cold.
pytestmark = pytest.mark.slow

CHILD = textwrap.dedent("""
    import gc, hashlib, json, os, resource, shutil, signal, sys, time, warnings
    steps = sys.argv[1].split(",")
    if "full" in steps:
        # A full disk: writing past 4 kB fails with EFBIG (SIGXFSZ ignored),
        # as does every cache data file.
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        hard = resource.getrlimit(resource.RLIMIT_FSIZE)[1]
        resource.setrlimit(resource.RLIMIT_FSIZE, (4096, hard))
    caught = []
    warnings.simplefilter("always")
    warnings.showwarning = lambda message, category, *a, **k: caught.append(str(message))
    import numpy as np
    import fusednet
    from fusednet.kernels import affine_relu_forward
    from fusednet.kernels.cache import KernelCache
    from numba.core.registry import CPUDispatcher

    def digest(arrays):
        h = hashlib.sha256()
        for a in arrays:
            h.update(np.ascontiguousarray(a).tobytes())
        return h.hexdigest()

    cache = os.environ["NUMBA_CACHE_DIR"]
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((40, 4)), rng.integers(0, 3, 40)
    W = rng.standard_normal((4, 5))
    out = {}
    for step in steps:
        if step == "train":
            m = fusednet.MLP([4, 10, 3], seed=0)
            h = m.train(X, y, X, y, num_iters=20, batch_size=8)
            out[step] = [h["loss_history"], digest(m.params.values())]
        elif step == "small32":  # a kernel the reference caches after its snapshot
            f = np.float32
            out[step] = digest([affine_relu_forward(X.astype(f), W.astype(f), np.zeros(5, f))])
        elif step == "more":  # and more of them: a float32 net trained with adam
            m = fusednet.MLP([4, 7, 3], seed=1, dtype=np.float32)
            X32 = X.astype(np.float32)
            h = m.train(X32, y, X32, y, num_iters=20, batch_size=8, update="adam")
            out[step] = [[float(v) for v in h["loss_history"]], digest(m.params.values())]
        elif step == "read-only":
            for root, dirs, files in os.walk(cache):
                for name in files:
                    os.chmod(os.path.join(root, name), 0o444)
                os.chmod(root, 0o555)
        elif step.startswith("copy="):
            shutil.copytree(cache, step[5:])
        elif step.startswith("together="):  # wait for the other process to get here
            os.makedirs(step[9:], exist_ok=True)
            open(os.path.join(step[9:], str(os.getpid())), "w").close()
            while len(os.listdir(step[9:])) < 2:
                time.sleep(0.01)
    kernels = [d for d in gc.get_objects() if isinstance(d, CPUDispatcher)
               and d.py_func.__module__.startswith("fusednet.kernels.")]
    files = {}
    for d in kernels:
        if isinstance(d._cache, KernelCache):
            n = files.setdefault(d._cache._impl.filename_base, [0, 0])
            n[0] += sum(d.stats.cache_hits.values())
            n[1] += sum(d.stats.cache_misses.values())
    out["files"] = files
    out["hits"] = sum(h for h, _ in files.values())
    out["misses"] = sum(m for _, m in files.values())
    out["uncached"] = sum(type(d._cache).__name__ == "NullCache" for d in kernels)
    out["elsewhere"] = sorted({d.stats.cache_path for d in kernels if d.stats.cache_path
                               and not d.stats.cache_path.startswith(cache)})
    out["warnings"] = [w for w in caught if w.startswith("fusednet:")]
    print(json.dumps(out))
""")

STEPS = ["train", "small32", "more"]


def start(steps, cache, prefix=()):
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache))
    return subprocess.Popen([*prefix, sys.executable, "-c", CHILD, steps], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(proc):
    stdout, stderr = proc.communicate(timeout=900)
    assert proc.returncode == 0, stderr[-3000:]
    out = json.loads(stdout.strip().splitlines()[-1])
    assert out["elsewhere"] == []  # nothing cached outside the process's own directory
    return out


def run(steps, cache, prefix=()):
    return finish(start(steps, cache, prefix))


def assert_same_numbers(out, expected):
    steps = [s for s in STEPS if s in out]
    assert steps
    for step in steps:
        assert out[step] == expected[step], step


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The numbers of a process compiling into a fresh cache, that cache
    (all of ``STEPS``) and a copy of it taken after "train"."""
    root = tmp_path_factory.mktemp("reference")
    out = run(f"train,copy={root / 'partial'},small32,more", root / "full")
    assert out["warnings"] == [] and out["hits"] == 0 and out["misses"] > 0
    return out, root / "partial", root / "full"


def damage(cache):
    """Damage every kernel's files, one of four ways in turn: its index
    truncated or replaced with random bytes, or its data files so."""
    rnd = random.Random(0)
    ways = {"truncated .nbi": [], "garbage .nbi": [], "truncated .nbc": [], "garbage .nbc": []}
    for i, index in enumerate(sorted(cache.rglob("*.nbi"))):
        base = index.name[:-len(".nbi")]
        way = list(ways)[i % 4]
        ways[way].append(base)
        if way.endswith(".nbi"):
            files = [index]
        else:
            files = [p for p in index.parent.iterdir()
                     if p.name.startswith(base + ".") and p.name.endswith(".nbc")]
        assert files, index
        for path in files:
            data = path.read_bytes()
            if way.startswith("truncated"):
                path.write_bytes(data[:len(data) // 2])
            else:
                path.write_bytes(rnd.randbytes(len(data)))
    return ways


def test_truncated_and_garbage_cache_files_recompile_and_are_written_again(reference, tmp_path):
    expected, _, full = reference
    cache = tmp_path / "cache"
    shutil.copytree(full, cache)
    ways = damage(cache)
    out = run("train", cache)  # reads (and recompiles) most kernels
    assert_same_numbers(out, expected)
    assert len(out["warnings"]) == 1, out["warnings"]
    assert "is damaged or unreadable" in out["warnings"][0] and "recompile" in out["warnings"][0]
    # Each way of damage was met: some kernel damaged so was read and missed.
    for way, bases in ways.items():
        assert any(out["files"].get(b, [0, 0])[1] > 0 for b in bases), way
    # The recompiled kernels were cached again: the next process loads them all.
    again = run("train", cache)
    assert_same_numbers(again, expected)
    assert again["warnings"] == [] and again["misses"] == 0 and again["hits"] > 0


def test_a_full_cache_directory_compiles_in_memory(reference, tmp_path):
    expected = reference[0]
    cache = tmp_path / "cache"
    out = run("full,train", cache)  # an empty cache on a full disk
    assert_same_numbers(out, expected)
    assert len(out["warnings"]) == 1, out["warnings"]
    assert "File too large" in out["warnings"][0] and "in memory" in out["warnings"][0]
    assert out["hits"] == 0 and out["misses"] > 0
    assert not [p for p in cache.rglob("*") if p.is_file()]  # not even part of a file left


def without_permission_override():
    """A command prefix under which chmod stops this process's writes: none
    for a user, for root (whom permission bits do not stop) ``setpriv``
    without the capabilities that override them."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    drop = "-dac_override,-dac_read_search"
    prefix = [setpriv, f"--inh-caps={drop}", f"--bounding-set={drop}"] if setpriv else None
    if prefix is None or subprocess.run([*prefix, "true"], capture_output=True).returncode:
        pytest.skip("root, and setpriv cannot drop CAP_DAC_OVERRIDE here")
    return prefix


def test_a_cache_directory_made_read_only_mid_run(reference, tmp_path):
    expected, partial, _ = reference
    prefix = without_permission_override()
    cache = tmp_path / "cache"
    shutil.copytree(partial, cache)
    written = len(list(cache.rglob("*")))
    try:
        # Loads what the reference cached, compiles and caches small32, then
        # the directory turns read-only and "more" compiles new kernels.
        out = run("train,small32,read-only,more", cache, prefix)
    finally:
        for root, dirs, files in os.walk(cache):
            os.chmod(root, 0o755)
            for name in files:
                os.chmod(os.path.join(root, name), 0o644)
    assert_same_numbers(out, expected)
    assert len(list(cache.rglob("*"))) > written  # small32 was cached before
    assert len(out["warnings"]) == 1, out["warnings"]
    assert "Permission denied" in out["warnings"][0] and "in memory" in out["warnings"][0]
    # Kernels first seen after the change (the @overload implementations
    # compiled for float32) were not cached, rather than cached elsewhere.
    assert out["uncached"] > 0


def test_two_processes_filling_one_empty_cache_at_once(reference, tmp_path):
    expected = reference[0]
    cache = tmp_path / "cache"
    steps = f"together={tmp_path / 'here'},train"
    both = [start(steps, cache), start(steps, cache)]
    for out in [finish(p) for p in both]:
        assert_same_numbers(out, expected)
        assert out["warnings"] == []
    third = run("train", cache)
    assert_same_numbers(third, expected)
    assert third["warnings"] == [] and third["hits"] > 0
