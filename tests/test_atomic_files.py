"""Nothing lost on a full disk: every file the library and the commands write
is written whole or not at all. A write that fails part-way (EFBIG "File
too large", from a full disk or a quota) leaves the old file as it was and
no temporary file behind, and the error names the path.

The failure is simulated in this process by files whose writes fail once a
few bytes are in (:func:`full_disk`), for every kind of file, and once for
real, in a child process under ``RLIMIT_FSIZE``."""
import builtins
import errno
import io
import json
import os
import re
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from fusednet import MLP
from fusednet.net import files
from helpers import run_command as run
from helpers import assert_one_line as _assert_one_line


def assert_one_line(out, words, status=1):
    _assert_one_line(out, words, status)


ROOT = Path(__file__).resolve().parent.parent


class FullDiskFile:
    """A file opened for writing whose writes fail with EFBIG once ``room``
    bytes are in, the part that fits written first, as the kernel does. It
    has no ``fileno`` so that writers (PIL's PNG encoder) go through
    ``write``."""

    def __init__(self, f, room):
        self._f, self._room = f, room

    def write(self, data):
        if not isinstance(data, str):
            data = memoryview(data).cast("B")
        if len(data) > self._room:
            self._f.write(data[:self._room])
            self._room = 0
            raise OSError(errno.EFBIG, os.strerror(errno.EFBIG))
        self._room -= len(data)
        return self._f.write(data)

    def fileno(self):
        raise io.UnsupportedOperation("fileno")

    def __getattr__(self, name):
        return getattr(self._f, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._f.close()


def full_disk(monkeypatch, name, room=256):
    """From now on, a file opened for writing whose name contains ``name``
    (the file itself, or a temporary file standing in for it) fills the
    disk after ``room`` bytes."""
    real = builtins.open

    def opener(file, mode="r", *args, **kwargs):
        f = real(file, mode, *args, **kwargs)
        if (isinstance(file, (str, os.PathLike)) and set(mode) & set("wxa+")
                and name in os.path.basename(os.fspath(file))):
            return FullDiskFile(f, room)
        return f
    monkeypatch.setattr(builtins, "open", opener)
    monkeypatch.setattr(io, "open", opener)


def contents(directory):
    """Every file of ``directory`` (hidden ones too) and its bytes."""
    return {p.name: p.read_bytes() for p in Path(directory).iterdir()}


def assert_efbig_naming(exc, path):
    assert isinstance(exc, OSError) and exc.errno == errno.EFBIG, repr(exc)
    assert str(path) in str(exc), str(exc)






# -- the library's files ------------------------------------------------------------

@pytest.mark.parametrize("name", ["model.npz", "model"])
def test_a_failed_model_save_keeps_the_old_file_loadable_and_no_temporary(tmp_path, monkeypatch,
                                                                           name):
    # The case. Before: np.savez wrote over model.npz directly; the
    # old model was gone and the truncated file was not a model file.
    small = MLP([64, 100, 10], seed=0)
    path = tmp_path / "model.npz"
    assert small.save(tmp_path / name) == str(path)
    before = contents(tmp_path)
    full_disk(monkeypatch, "model.npz", room=4096)
    with pytest.raises(OSError) as info:
        MLP([64, 1000, 10], seed=1).save(tmp_path / name)
    monkeypatch.undo()
    assert contents(tmp_path) == before
    back = MLP.load(tmp_path / name)
    for key, value in small.params.items():
        np.testing.assert_array_equal(back.params[key], value)
    assert_efbig_naming(info.value, path)


def test_a_successful_save_replaces_the_file_and_keeps_its_mode(tmp_path):
    path = tmp_path / "model.npz"
    MLP([64, 100, 10], seed=0).save(path)
    (tmp_path / "by-open").write_bytes(b"")  # the mode open() gives a new file
    assert stat.S_IMODE(path.stat().st_mode) == stat.S_IMODE((tmp_path / "by-open").stat().st_mode)
    path.chmod(0o640)
    big = MLP([64, 1000, 10], seed=1)
    big.save(path)
    assert sorted(os.listdir(tmp_path)) == ["by-open", "model.npz"]
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    back = MLP.load(path)
    assert list(back.layer_sizes) == [64, 1000, 10]
    np.testing.assert_array_equal(back.params["W1"], big.params["W1"])


CHILD = textwrap.dedent("""
    import os, resource, signal, sys
    from fusednet import MLP
    path = sys.argv[1]
    MLP([64, 100, 10], seed=0).save(path)
    big = MLP([64, 1000, 10], seed=1)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG from write() instead of death
    _, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (2 * os.path.getsize(path), hard))
    try:
        big.save(path)
    except OSError as exc:
        print(exc.errno, exc)
""")


def test_a_model_save_past_a_real_file_size_limit_keeps_the_old_file(tmp_path):
    # Before: "27 [Errno 27] File too large" (no path), and model.npz cut at
    # the limit: "not an .npz archive (or a truncated one)".
    path = tmp_path / "model.npz"
    out = subprocess.run([sys.executable, "-c", CHILD, str(path)], cwd=ROOT, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert os.listdir(tmp_path) == ["model.npz"]
    back, small = MLP.load(path), MLP([64, 100, 10], seed=0)
    for key, value in small.params.items():
        np.testing.assert_array_equal(back.params[key], value)
    assert out.stdout.startswith(f"{errno.EFBIG} ") and str(path) in out.stdout, out.stdout


def test_eecs498_checkpoints_torch_and_numpy(tmp_path, monkeypatch, capsys):
    from fusednet.eecs498 import TwoLayerNet
    torch = pytest.importorskip("torch")
    for name, dtype in (("net.pt", torch.float32), ("net.npz", np.float64)):
        path = tmp_path / name
        TwoLayerNet(4, 5, 3, dtype=dtype).save(path)
        before = contents(tmp_path)
        big = TwoLayerNet(64, 100, 10, dtype=dtype)
        with monkeypatch.context() as m:
            full_disk(m, name, room=1000)
            with pytest.raises(OSError) as info:
                big.save(path)
        assert_efbig_naming(info.value, path)
        assert contents(tmp_path) == before
        net = TwoLayerNet(4, 5, 3, dtype=dtype)
        net.load(path)
        assert tuple(net.params["W1"].shape) == (4, 5)
        big.save(path)  # and when it fits, at exactly path
        net.load(path)
        assert tuple(net.params["W1"].shape) == (64, 100)
        assert set(os.listdir(tmp_path)) == set(before)


def test_a_writer_that_raises_leaves_the_old_file_and_no_temporary(tmp_path):
    # matplotlib failing part-way through a picture, say.
    from matplotlib.figure import Figure
    path = tmp_path / "curves.png"
    fig = Figure()
    fig.subplots().plot([0, 1])
    files.save_figure(fig, path)
    before = contents(tmp_path)
    assert before["curves.png"].startswith(b"\x89PNG")

    def broken(f, **kwargs):
        f.write(b"\x89PNG half a picture")
        raise ValueError("the renderer failed")
    fig.savefig = broken
    with pytest.raises(ValueError, match="the renderer failed") as info:
        files.save_figure(fig, path)
    assert any(str(path) in note for note in getattr(info.value, "__notes__", [str(path)]))
    assert contents(tmp_path) == before


def test_text_files_and_errors_that_name_the_path(tmp_path):
    path = tmp_path / "history.json"
    files.write_text(path, '{"a": 1}')
    files.write_text(path, '{"a": 2}')
    assert json.loads(path.read_text()) == {"a": 2} and os.listdir(tmp_path) == ["history.json"]
    with pytest.raises(FileNotFoundError, match=re.escape(str(tmp_path / "no" / "x.json"))):
        files.write_text(tmp_path / "no" / "x.json", "{}")
    with pytest.raises(IsADirectoryError, match=re.escape(str(tmp_path))):
        files.check_writable(tmp_path)
    files.check_writable(tmp_path / "new.json")
    assert os.listdir(tmp_path) == ["history.json"]


# -- the commands' files --------------------------------------------------------------

@pytest.mark.parametrize("name", ["history.json", "curves.png"])
def test_a_train_run_that_cannot_write_a_file_keeps_the_old_one(tmp_path, monkeypatch, name):
    # Before: a traceback, and the file cut short.
    args = ("--hidden", "20", "--iters", "20", "--no-progress", "--out", str(tmp_path))
    assert run("train", *args).returncode == 0
    before = contents(tmp_path)
    full_disk(monkeypatch, name, room=64)
    out = run("train", *args, "--seed", "1")
    monkeypatch.undo()
    assert_one_line(out, rf"cannot save the run in .*: \[Errno {errno.EFBIG}\] File too large: "
                         rf"'.*{re.escape(name)}' \(that file is left as it was\)")
    after = contents(tmp_path)
    assert after[name] == before[name] and set(after) == set(before)


def test_a_search_that_cannot_write_its_results_keeps_the_old_ones(tmp_path, monkeypatch):
    grid = ("--hidden", "10", "--lr", "0.1", "--reg", "1e-4", "--decay", "0.95", "--iters", "30",
            "--jobs", "1", "--out", str(tmp_path))
    assert run("search", *grid).returncode == 0
    before = contents(tmp_path)
    full_disk(monkeypatch, "results.json", room=64)
    out = run("search", *grid, "--seed", "1")
    monkeypatch.undo()
    assert_one_line(out, rf"cannot save the results in .*: \[Errno {errno.EFBIG}\] File too "
                         rf"large: '.*results.json'")
    assert contents(tmp_path) == before


# -- the benchmarks' files ------------------------------------------------------------

def _bench_row():
    return {"shape": "toy", "dims": [5, 4, 10, 3], "dtype": "float64",
            "us_per_step": {"numpy": 30.0, "ours": 2.0, "ours_1t": 1.6, "gemm": 4.0,
                            "gemm_gather": 8.0},
            "speedup": {"numpy": 15.0}, "gflops_ours": 0.8, "roofline_fraction": 2.0,
            "roofline_with_gather_fraction": 4.0}


@pytest.mark.parametrize("name", ["results.json", "results.png", "results.md"])
def test_benchmark_results_are_kept_when_a_write_fails(tmp_path, monkeypatch, name):
    monkeypatch.setenv("NUMBA_NRT_STATS", os.environ.get("NUMBA_NRT_STATS", "0"))
    from fusednet.bench import __main__ as runner
    first = {"date": "then", "rows": [_bench_row()]}
    runner.write_results(tmp_path, first)
    before = contents(tmp_path)
    second = {"date": "now", "rows": [dict(_bench_row(), shape="toy", dtype="float32"),
                                      _bench_row()]}
    with monkeypatch.context() as m:
        full_disk(m, name, room=64)
        with pytest.raises(OSError) as info:
            runner.write_results(tmp_path, second)
    assert_efbig_naming(info.value, tmp_path / name)
    after = contents(tmp_path)
    assert after[name] == before[name] and set(after) == set(before)


def test_the_bench_command_ends_in_one_line_when_its_results_cannot_be_written(tmp_path,
                                                                               monkeypatch):
    monkeypatch.setenv("NUMBA_NRT_STATS", os.environ.get("NUMBA_NRT_STATS", "0"))
    from fusednet.bench import __main__ as runner
    monkeypatch.setattr(runner, "measure", lambda *args, **kwargs: _bench_row())
    monkeypatch.setattr(runner, "machine", lambda: {
        "cpu": "cpu", "cores": 2, "blas": [], "OPENBLAS_CORETYPE": None, "kernels_blas": "BLAS",
        "numba": "0", "numba_pool_started": False, "fusednet_threads": 1, "torch_threads": None})
    peak = {"gflops": 10.0, "threads": 1, "n": 64, "repeats": 1}
    monkeypatch.setattr(runner.peak, "run", lambda dtypes, *args, **kwargs: {
        dt: {"threads": peak, "one_thread": peak} for dt in dtypes})
    args = ("--shapes", "toy", "--dtypes", "float64", "--no-compile", "--out", str(tmp_path))
    assert run("bench", *args).returncode == 0
    before = contents(tmp_path)
    full_disk(monkeypatch, "results.json", room=64)
    out = run("bench", *args)
    monkeypatch.undo()
    assert_one_line(out, r"cannot write the results: .*File too large: '.*results.json'")
    assert contents(tmp_path) == before


def _fake(module):
    """The module's ``main`` arguments, and its measuring function replaced by
    one returning a row of the shape it prints."""
    if module == "many_models":
        row = {"workload": "digits", "models": 16, "iterations": 500,
               "seconds": {"serial": 2.0, "train_many": 1.0},
               "speedup_vs_serial": {"serial": 1.0, "train_many": 2.0}}
        return "measure", (lambda *a: row), ["--workloads", "digits", "--out"]
    if module == "passes":
        from fusednet.bench.passes import CONFIGS
        keys = [f"blas{b} {c}" for b in (1, 2) for c in CONFIGS]
        row = {"shape": "cifar", "step_us": dict.fromkeys(keys, 1.0),
               "median_us": {k: [1.0] * 8 for k in keys}}
        return "measure", (lambda *a: row), ["--shapes", "cifar", "--out"]
    row = {"median_fit_s": {"ours": 1.0, "sklearn": 2.0}, "score": {"ours": (0.9, 10),
                                                                     "sklearn": (0.9, 10)},
           "shape": [10, 4], "outputs": 2, "estimator": "MLPClassifier", "coef_distance": 0.0,
           "metric": "accuracy"}
    return "run", (lambda *a: row), ["--workloads", "digits", "--json"]


@pytest.mark.parametrize("module", ["many_models", "passes", "estimator_vs_sklearn"])
def test_the_other_benchmarks_keep_their_old_results_when_a_write_fails(tmp_path, monkeypatch,
                                                                        capsys, module):
    import importlib
    import fusednet.net
    bench = importlib.import_module(f"fusednet.bench.{module}")
    name, fake, args = _fake(module)
    monkeypatch.setattr(bench, name, fake)
    monkeypatch.setattr(fusednet.net, "precompile", lambda *a: None)
    path = tmp_path / "results.json"
    bench.main(args + [str(path)])
    before = contents(tmp_path)
    assert json.loads(before["results.json"])
    with monkeypatch.context() as m:
        full_disk(m, "results.json", room=16)
        with pytest.raises(OSError) as info:
            bench.main(args + [str(path)])
    assert_efbig_naming(info.value, path)
    assert contents(tmp_path) == before
