"""``fusednet bench`` checks its flags and its ``--out`` before any timing, as
``train`` and ``search`` do; a missing optional package is reported with
the extra that installs it (``[dask]`` for Dask, not ``[cli]``).

The commands run in this process through ``fusednet.scripts.cli.main``."""
import builtins
import os
import re
import sys
import tempfile

import pytest

from fusednet.scripts import cli
from helpers import assert_one_line, run_command as run







@pytest.fixture
def runner(monkeypatch):
    """The bench runner, its timing replaced by a failure: no check may let
    a run get that far. (The runner sets NUMBA_NRT_STATS when imported; set
    here, it is put back after the test.)"""
    monkeypatch.setenv("NUMBA_NRT_STATS", os.environ.get("NUMBA_NRT_STATS", "0"))
    from fusednet.bench import __main__ as runner

    def no_work(*args, **kwargs):
        raise AssertionError("the benchmark started before its flags were checked")
    monkeypatch.setattr(runner, "machine", no_work)
    monkeypatch.setattr(runner, "measure", no_work)
    return runner


@pytest.mark.parametrize("args, words", [
    # Before: 0 ran the default 7 repeats (2 with --quick) and exited 0; -1
    # timed nothing and died drawing the chart (ValueError traceback).
    (("--repeats", "0"), r"argument --repeats: expected an integer >= 1, got '0'"),
    (("--repeats", "-1"), r"argument --repeats: expected an integer >= 1, got '-1'"),
    (("--repeats", "x"), r"argument --repeats: expected an integer >= 1, got 'x'"),
    (("--repeats", "2.5"), r"argument --repeats: expected an integer >= 1, got '2.5'"),
    # Before: "sleep length must be non-negative" / "Invalid value NaN"
    # tracebacks, the NaN one after the warm-up.
    (("--gap", "-1"), r"argument --gap: expected a number >= 0, got '-1'"),
    (("--gap", "nan"), r"argument --gap: expected a number >= 0, got 'nan'"),
    (("--gap", "inf"), r"argument --gap: expected a number >= 0, got 'inf'"),
    (("--gap", "x"), r"argument --gap: expected a number >= 0, got 'x'"),
    (("--block", "0"), r"argument --block: expected a positive number, got '0'"),
    (("--block", "nan"), r"argument --block: expected a positive number, got 'nan'"),
])
def test_bad_bench_flags_fail_in_one_line_before_any_work(tmp_path, runner, args, words):
    out = run("bench", *args, "--quick", "--shapes", "toy", "--out", str(tmp_path / "run"))
    assert_one_line(out, words)
    assert not (tmp_path / "run").exists()


def test_a_bench_out_under_a_regular_file_fails_before_any_work(tmp_path, runner):
    # Before: the whole benchmark ran, then NotADirectoryError (a traceback).
    (tmp_path / "file").write_text("in the way")
    for busy in ((), ("--busy",)):
        out = run("bench", "--quick", "--shapes", "toy", *busy,
                  "--out", str(tmp_path / "file" / "run"))
        if busy and out.returncode == 2 and "needs at least 2 cores" in out.stderr:
            continue
        assert_one_line(out, r"cannot write to --out .*file/run: Not a directory")


def _unwritable_directory(tmp_path):
    """An existing directory this process cannot create files in."""
    if os.geteuid() != 0:
        d = tmp_path / "read-only"
        d.mkdir()
        d.chmod(0o555)
        return str(d)
    for d in ("/sys", "/proc"):  # root writes anywhere else
        try:
            with tempfile.NamedTemporaryFile(dir=d):
                pass
        except OSError:
            return d
    pytest.skip("no directory here refuses a new file")


def test_a_bench_out_in_an_unwritable_directory_fails_before_any_work(tmp_path, runner):
    d = _unwritable_directory(tmp_path)
    out = run("bench", "--quick", "--shapes", "toy", "--out", d)
    assert_one_line(out, rf"cannot write to --out {re.escape(d)}: ")


def test_search_without_dask_names_the_dask_extra(tmp_path, monkeypatch):
    # Before: "dask, distributed are needed ...: pip install 'fusednet[cli]'",
    # an extra without Dask.
    monkeypatch.setitem(sys.modules, "dask", None)
    monkeypatch.setitem(sys.modules, "distributed", None)
    out = run("search", "--dask-scheduler", "tcp://127.0.0.1:1", "--out", str(tmp_path / "run"))
    assert_one_line(out, r"dask, distributed are needed for this and not installed: "
                         r"pip install 'fusednet\[dask\]'$")


def test_a_package_that_fails_to_import_is_reported_with_its_extra(tmp_path, monkeypatch):
    # Installed but not importable (a broken install): reported the same way.
    real = builtins.__import__

    def failing(name, *args, **kwargs):
        if name.split(".")[0] == "distributed":
            raise ImportError(f"No module named {name!r}")
        return real(name, *args, **kwargs)
    monkeypatch.setattr(builtins, "__import__", failing)
    monkeypatch.delitem(sys.modules, "distributed", raising=False)
    out = run("search", "--dask-scheduler", "tcp://127.0.0.1:1", "--out", str(tmp_path / "run"))
    assert_one_line(out, r"distributed is needed for this and not installed: "
                         r"pip install 'fusednet\[dask\]'$")


@pytest.mark.parametrize("modules, extra, line", [
    (("sklearn",), None, "pip install 'fusednet[cli]'"),
    (("matplotlib", "tqdm"), None, "pip install 'fusednet[cli]'"),
    (("joblib",), None, "pip install 'fusednet[cli]'"),
    (("dask", "distributed"), None, "pip install 'fusednet[dask]'"),
    (("matplotlib", "dask"), None, "pip install 'fusednet[cli,dask]'"),
    (("matplotlib",), "bench", "pip install 'fusednet[bench]'"),
])
def test_each_missing_package_gets_the_extra_that_installs_it(modules, extra, line):
    assert cli.install_hint(modules, extra) == line


def test_the_extras_named_are_those_of_pyproject_that_install_the_package():
    tomllib = pytest.importorskip("tomllib")
    from pathlib import Path
    pyproject = Path(__file__).resolve().parent.parent / "pyproject.toml"
    extras = tomllib.loads(pyproject.read_text())["project"]["optional-dependencies"]
    distribution = {"sklearn": "scikit-learn", "distributed": "dask"}
    for module, extra in cli.EXTRAS.items():
        names = [re.split(r"[\[<>=; ]", r, maxsplit=1)[0] for r in extras[extra]]
        assert distribution.get(module, module) in names, (module, extra, extras[extra])
    assert "matplotlib" in [re.split(r"[\[<>=; ]", r, maxsplit=1)[0] for r in extras["bench"]]
