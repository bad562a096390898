"""The benchmark runner and suite keep working (nothing here asserts speed)."""
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_quick_runner_writes_figures_json_and_chart(tmp_path):
    # --no-compile: the probe compiles from an empty cache (~25 s); it is
    # tested on its own below.
    out = subprocess.run([sys.executable, "-m", "fusednet", "bench", "--quick", "--shapes", "toy",
                          "--repeats", "1", "--no-compile", "--out", str(tmp_path)],
                         cwd=ROOT, capture_output=True, text=True, check=True).stdout
    result = json.loads((tmp_path / "results.json").read_text())
    rows = result["rows"]
    assert [(r["shape"], r["dtype"]) for r in rows] == [("toy", "float64"), ("toy", "float32")]
    for r in rows:
        assert {"numpy", "ours", "ours_1t", "gemm", "gemm_gather"} <= set(r["us_per_step"])
        assert all(v > 0 for v in r["us_per_step"].values())
        assert all(len(v) == 1 for v in r["samples_us"].values())
        assert r["speedup"]["numpy"] > 0 and r["roofline_fraction"] > 0
        assert r["roofline_with_gather_fraction"] > 0
        assert r["nrt_allocations_per_step"] >= 0
    assert result["machine"]["blas"] and result["machine"]["cores"] >= 1
    assert result["machine"]["kernels_blas"].startswith(("NumPy's BLAS", "SciPy's BLAS"))
    # Loading the training loop starts Numba's pool (its split iteration is a
    # parallel kernel), even where, as at toy, no iteration runs split.
    assert result["machine"]["numba_pool_started_after"] is True
    assert "x numpy" in out
    import matplotlib.image
    picture = matplotlib.image.imread(tmp_path / "results.png")
    assert picture.shape[0] >= 300 and picture.shape[1] >= 500
    table = (tmp_path / "results.md").read_text().splitlines()
    assert table[0].startswith("| shape | dtype | NumPy | ours")
    assert table[2].startswith("| toy 5 x 4 -> 10 -> 3 | f64 |") and table[3].startswith("| toy | f32 |")


def test_the_compile_probe_runs_it_twice_on_one_fresh_cache(monkeypatch):
    # The probe's plumbing, with a program that reports whether the cache
    # directory it was given already held something.
    # The runner sets NUMBA_NRT_STATS at import, for its own process: set
    # here, it is put back after the test.
    monkeypatch.setenv("NUMBA_NRT_STATS", os.environ.get("NUMBA_NRT_STATS", "0"))
    from fusednet.bench import __main__ as runner
    monkeypatch.setattr(runner, "COMPILE_PROBE", textwrap.dedent("""
        import os
        d = os.environ["NUMBA_CACHE_DIR"]
        print(len(os.listdir(d)) + 0.5)
        open(os.path.join(d, "written"), "w").close()
    """))
    times = runner.compile_times()
    assert times == {"import_to_first_step_cold_s": 0.5, "import_to_first_step_warm_s": 1.5}


def test_runner_refuses_unknown_shapes():
    out = subprocess.run([sys.executable, "-m", "fusednet", "bench", "--shapes", "huge"], cwd=ROOT,
                         capture_output=True, text=True)
    assert out.returncode == 2 and "unknown shapes ['huge']" in out.stderr


@pytest.mark.slow
def test_benchmark_suite_runs_once_per_benchmark():
    out = subprocess.run([sys.executable, "-m", "pytest", "bench/suite", "-q", "-k", "toy",
                          "--benchmark-disable", "-p", "no:cacheprovider"],
                         cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout[-3000:]
    assert " passed" in out.stdout


@pytest.mark.slow
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_passes_benchmark_checks_its_split_passes_equal_and_reports_each_configuration(
        tmp_path, dtype):
    from fusednet.bench import passes
    out = tmp_path / "passes.json"
    passes.main(["--shapes", "digits", "--dtype", dtype, "--repeats", "1", "--out", str(out)])
    row, = json.loads(out.read_text())
    assert (row["shape"], row["dtype"]) == ("digits", dtype)
    assert set(row["step_us"]) == {f"blas{b} {c}" for b in (1, 2) for c in passes.CONFIGS}
    assert all(v > 0 for v in row["step_us"].values())
    assert all(len(v) == len(passes.PHASES) for v in row["median_us"].values())


def test_passes_benchmark_refuses_split_passes_that_change_a_result(monkeypatch):
    from fusednet.bench import passes
    import numpy as np

    def off_by_one_ulp(theta, grad, backup, lr):
        backup[:] = theta
        theta -= lr * grad
        theta[0] = np.nextafter(theta[0], np.inf)
    monkeypatch.setattr(passes, "sgd_blocks", off_by_one_ulp)
    with pytest.raises(AssertionError, match="theta"):
        passes.check_equal("toy", np.float64)


@pytest.mark.parametrize("argv, words", [(["--shapes", "cifar,huge"], "unknown shapes ['huge']"),
                                         (["--repeats", "0"], "--repeats must be at least 1")])
def test_passes_benchmark_names_a_bad_argument_before_any_work(argv, words, capsys):
    from fusednet.bench import passes
    with pytest.raises(SystemExit) as info:
        passes.main(argv)
    assert info.value.code == 2 and words in capsys.readouterr().err
