"""The benchmark runner and suite keep working (nothing here asserts speed)."""
import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
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
    # The FLOP peak per dtype, with the run's threads and one, and each
    # row's fraction of it.
    assert set(result["peak"]) == {"float64", "float32"}
    assert all(p[k]["gflops"] > 0 for p in result["peak"].values() for k in ("threads", "one_thread"))
    for r in rows:
        assert r["peak_fraction"] == pytest.approx(
            r["gflops_ours"] / result["peak"][r["dtype"]]["threads"]["gflops"])
    # torch.compile: timed (compile time apart, checked against eager) or
    # unavailable with a reason, wherever torch imports.
    try:
        import torch  # noqa: F401
    except ImportError:
        assert all("torch_compile" not in r["us_per_step"] for r in rows)
        assert result["machine"]["torch_threads"] is None
    else:
        assert result["machine"]["torch_threads"]["intra_op"] >= 1
        for r in rows:
            if "torch_compile" in r["us_per_step"]:
                assert r["torch_compile"]["compile_s"] > 0
                assert r["torch_compile"]["check"]["max_abs_diff"] <= r["torch_compile"]["check"]["tolerance"]
            else:
                assert r["unavailable"]["torch_compile"]
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


# -- The FLOP peak and the "of peak" column ---------------------------------

def test_the_flop_peak_is_a_positive_best_gflops_at_the_thread_count_asked():
    from fusednet.bench import peak
    from fusednet.kernels import threads
    before = threads.blas().get()
    p = peak.measure(np.float32, 1, n=64, repeats=3, gap=0)
    assert p["gflops"] > 0 and p["dtype"] == "float32" and (p["n"], p["repeats"]) == (64, 3)
    assert p["threads"] == 1 and p["blas_threads_set"] == 1
    assert p["gflops"] == pytest.approx(2 * 64 ** 3 / min(p["seconds"]) / 1e9)
    assert "np.matmul" in p["how"] and "BLAS" in p["how"]
    assert threads.blas().get() == before  # the count comes back
    both = peak.run(["float64"], 2, quick=True, gap=0)
    assert set(both) == {"float64"} and set(both["float64"]) == {"threads", "one_thread"}
    assert both["float64"]["threads"]["threads"] == 2
    assert both["float64"]["one_thread"]["threads"] == 1
    assert all(v["gflops"] > 0 for v in both["float64"].values())


def _row(shape, dtype, ours_us, gflops, **extra):
    row = {"shape": shape, "dims": workloads_shapes()[shape], "dtype": dtype,
           "us_per_step": {"numpy": 2 * ours_us, "ours": ours_us, "ours_1t": 1.5 * ours_us,
                           "torch": 3 * ours_us},
           "speedup": {"numpy": 2.0, "torch": 3.0}, "gflops_ours": gflops,
           "roofline_fraction": 0.9, "roofline_with_gather_fraction": 0.95}
    row.update(extra)
    return row


def workloads_shapes():
    from fusednet.bench import workloads
    return workloads.SHAPES


def _column(table, title):
    lines = table.splitlines()
    head = [c.strip() for c in lines[0].strip("|").split("|")]
    i = head.index(title)
    return [[c.strip() for c in line.strip("|").split("|")][i]
            for line in lines[2:] if line.startswith("|")]


def test_the_of_peak_column_is_ours_gflops_over_the_peak_of_its_dtype(runner_module):
    from fusednet.bench import peak
    peaks = {"float64": {"threads": {"gflops": 80.0, "threads": 2, "n": 2048, "repeats": 5},
                         "one_thread": {"gflops": 41.0, "threads": 1, "n": 2048, "repeats": 5}},
             "float32": {"threads": {"gflops": 160.0, "threads": 2, "n": 2048, "repeats": 5},
                         "one_thread": {"gflops": 82.0, "threads": 1, "n": 2048, "repeats": 5}}}
    rows = [_row("cs224d", "float64", 70.0, 55.0), _row("cs224d", "float32", 40.0, 100.8),
            _row("digits", "float64", 110.0, 52.3)]
    peak.fractions(rows, peaks)
    for r in rows:
        assert r["peak_fraction"] == pytest.approx(r["gflops_ours"] / peaks[r["dtype"]]["threads"]["gflops"])
        # ours on one thread: its own GFLOP/s over the one-thread peak
        assert r["peak_fraction_1t"] == pytest.approx(
            r["gflops_ours"] / 1.5 / peaks[r["dtype"]]["one_thread"]["gflops"])
    md = runner_module.markdown(rows, {"peak": peaks})
    assert _column(md, "of peak") == ["0.69", "0.63", "0.65"]  # 55/80, 100.8/160, 52.3/80
    assert _column(md, "GFLOP/s") == ["55.0", "100.8", "52.3"]
    assert ("FLOP peak (\"of peak\" is ours' GFLOP/s over it): float64 80.0 GFLOP/s with 2 threads, "
            "41.0 with 1; float32 160.0 GFLOP/s with 2 threads, 82.0 with 1") in md
    # A row of an older results.json (no peak) still renders.
    assert _column(runner_module.markdown([_row("toy", "float64", 2.0, 0.8)]), "of peak") == ["-"]


# -- torch.compile as a contender ---------------------------------------------

@pytest.fixture
def runner_module(monkeypatch):
    # The runner sets NUMBA_NRT_STATS at import, for its own process: set
    # here, it is put back after the test.
    monkeypatch.setenv("NUMBA_NRT_STATS", os.environ.get("NUMBA_NRT_STATS", "0"))
    from fusednet.bench import __main__ as runner
    return runner


def test_torch_compile_is_a_default_contender_beside_eager_pytorch(runner_module, monkeypatch,
                                                                    tmp_path):
    from fusednet.bench import workloads
    assert runner_module.ORDER.index("torch_compile") == runner_module.ORDER.index("torch") + 1
    assert "torch_compile" in runner_module.RIVALS
    assert workloads.CONTENDERS["torch_compile"] is workloads.torch_compile_stepper
    assert runner_module.RIVALS == ("numpy", "torch", "torch_compile", "jax")
    seen = {}

    class Stop(Exception):
        pass

    def run(shapes, dtypes, repeats, block, contenders, *args):
        seen["contenders"] = contenders
        raise Stop
    monkeypatch.setattr(runner_module, "run", run)
    with pytest.raises(Stop):
        runner_module.main(["--quick", "--out", str(tmp_path)])
    assert seen["contenders"] == ["numpy", "torch", "torch_compile", "jax"]  # the default


def _fake_steppers(monkeypatch, workloads, torch_compile):
    """Every contender a few microseconds of sleep, torch.compile's factory
    replaced by ``torch_compile``."""
    def sleeper(us):
        def factory(X, y, params, N):
            def step(k):
                time.sleep(us * k / 1e6)
            return step
        return factory
    fake = {name: sleeper(20 + 10 * i) for i, name in enumerate(workloads.CONTENDERS)}
    fake["torch_compile"] = torch_compile
    monkeypatch.setattr(workloads, "CONTENDERS", fake)
    from fusednet.bench import __main__ as runner
    monkeypatch.setattr(runner, "allocations", lambda step, k: {})  # Numba's counts: not here


def test_a_torch_compile_that_fails_is_shown_unavailable_with_its_reason(runner_module, monkeypatch):
    from fusednet.bench import workloads

    def failing(X, y, params, N):
        raise workloads.Unavailable("torch.compile failed: InductorError: CppCompileError: boom")
    _fake_steppers(monkeypatch, workloads, failing)
    rows = [runner_module.measure("toy", np.dtype(dt), 1, 0.002, runner_module.ORDER, gap=0)
            for dt in ("float64", "float32")]
    for r in rows:
        assert r["unavailable"] == {"torch_compile": "torch.compile failed: InductorError: "
                                                     "CppCompileError: boom"}
        assert "torch_compile" not in r["us_per_step"] and "torch_compile" not in r["speedup"]
        assert {"numpy", "ours", "torch", "jax"} <= set(r["us_per_step"])  # the others ran
    md = runner_module.markdown(rows)
    assert _column(md, "torch.compile") == ["n/a", "n/a"]
    assert _column(md, "x torch.compile") == ["n/a", "n/a"]
    assert _column(md, "torch.compile compile s") == ["n/a", "n/a"]
    assert _column(md, "PyTorch") != ["n/a", "n/a"]
    assert ("torch.compile unavailable (every row): torch.compile failed: InductorError: "
            "CppCompileError: boom") in md.splitlines()
    assert "torch.compile unavailable (every row)" in "\n".join(runner_module.notes(rows))


def test_a_timed_torch_compile_gets_its_column_speedup_and_compile_time(runner_module, monkeypatch):
    from fusednet.bench import workloads

    def compiled(X, y, params, N):
        def step(k):
            time.sleep(30e-6 * k)
        step.info = {"compile_s": 12.34, "compile_warm_s": 0.5, "check": {"max_abs_diff": 0.0}}
        return step
    _fake_steppers(monkeypatch, workloads, compiled)
    row = runner_module.measure("toy", np.dtype("float64"), 1, 0.002, runner_module.ORDER, gap=0)
    assert "unavailable" not in row and row["torch_compile"]["compile_s"] == 12.34
    assert row["speedup"]["torch_compile"] == pytest.approx(
        row["us_per_step"]["torch_compile"] / row["us_per_step"]["ours"])
    md = runner_module.markdown([row], {"torch_compile": {"inductor_cache": "empty", "startup_s": 7.0}})
    assert _column(md, "torch.compile compile s") == ["12.3"]
    assert _column(md, "x torch.compile") == [f"{row['speedup']['torch_compile']:.2f}"]
    assert "the process's first compile (a tiny graph) took 7.0 s more, once" in md


def test_the_machine_reports_torch_threads_beside_the_others(runner_module):
    torch = pytest.importorskip("torch")
    m = runner_module.machine()
    assert m["torch_threads"]["intra_op"] == torch.get_num_threads() >= 1
    assert m["torch_threads"]["inter_op"] == torch.get_num_interop_threads() >= 1
    assert m["fusednet_threads"] >= 1 and m["blas"]


def _problem():
    from fusednet.bench import workloads
    return workloads.problem("toy", np.float64)


def test_without_a_cpp_compiler_torch_compile_is_unavailable_saying_so(monkeypatch):
    torch = pytest.importorskip("torch")
    from fusednet.bench import workloads
    from torch._inductor import cpp_builder, exc

    def none_found():
        raise exc.InvalidCxxCompiler()
    monkeypatch.setattr(cpp_builder, "get_cpp_compiler", none_found)
    monkeypatch.setattr(workloads, "_compiled_update", lambda torch: pytest.fail("compiled"))
    with pytest.raises(workloads.Unavailable, match=r"^no C\+\+ compiler, which torch.compile's "
                                                    r"inductor backend needs on the CPU "
                                                    r"\(InvalidCxxCompiler: No working C\+\+ compiler"):
        workloads.torch_compile_stepper(*_problem())
    assert torch is not None


def _eager_update(torch, off=0.0):
    """What ``_compiled_update`` returns, without compiling (the same
    update through autograd), ``off`` added to W1 after each step."""
    from fusednet.bench import workloads

    def update(W1, b1, W2, b2, Xt, yt, idx):
        p = {"W1": W1.requires_grad_(), "b1": b1.requires_grad_(), "W2": W2.requires_grad_(),
             "b2": b2.requires_grad_()}
        workloads._torch_eager_update(torch, p, Xt, yt, idx)
        for v in p.values():
            v.requires_grad_(False)
        with torch.no_grad():
            W1 += off
    return update


@pytest.fixture
def no_compile(monkeypatch):
    """torch.compile's stepper with a C++ compiler found, no start-up probe
    and ``_compiled_update`` replaced by the test."""
    torch = pytest.importorskip("torch")
    from fusednet.bench import workloads
    monkeypatch.setattr(workloads, "cpp_compiler", lambda: "g++")
    monkeypatch.setattr(workloads, "STARTUP", {"startup_s": 0.0})
    return torch, workloads


def test_the_compiled_step_is_checked_against_the_eager_one_before_timing(no_compile, monkeypatch):
    torch, workloads = no_compile
    monkeypatch.setattr(workloads, "_compiled_update", _eager_update)
    X, y, params, N = _problem()
    step = workloads.torch_compile_stepper(X, y, params, N)
    check = step.info["check"]
    assert check["steps"] == workloads.CHECK_STEPS and check["max_abs_diff"] == 0.0
    assert step.info["compile_s"] > 0 and step.info["compile_warm_s"] > 0
    step(2)  # and it runs
    # One ulp-scale difference passes (rounding); a real one does not.
    monkeypatch.setattr(workloads, "_compiled_update", lambda torch: _eager_update(torch, 1e-15))
    assert workloads.torch_compile_stepper(X, y, params, N).info["check"]["max_abs_diff"] > 0
    monkeypatch.setattr(workloads, "_compiled_update", lambda torch: _eager_update(torch, 1e-6))
    with pytest.raises(workloads.Unavailable, match=r"the compiled step's parameters differ from the "
                                                    r"eager step's by 3e-06 after 3 steps"):
        workloads.torch_compile_stepper(X, y, params, N)


def test_a_compile_that_raises_makes_torch_compile_unavailable_not_the_run(no_compile, monkeypatch):
    torch, workloads = no_compile

    def broken(torch):
        def update(*args):
            raise RuntimeError("inductor could not\nbuild this")
        return update
    monkeypatch.setattr(workloads, "_compiled_update", broken)
    with pytest.raises(workloads.Unavailable,
                       match=r"^torch.compile failed: RuntimeError: inductor could not$"):
        workloads.torch_compile_stepper(*_problem())


def test_the_runner_gives_inductor_an_empty_cache_of_its_own(runner_module, monkeypatch):
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", "/the/users/cache")
    monkeypatch.delitem(sys.modules, "torch._inductor", raising=False)
    with runner_module.private_inductor_cache() as how:
        d = os.environ["TORCHINDUCTOR_CACHE_DIR"]
        assert how.startswith("empty") and d != "/the/users/cache" and os.listdir(d) == []
    assert os.environ["TORCHINDUCTOR_CACHE_DIR"] == "/the/users/cache" and not os.path.exists(d)
    monkeypatch.setitem(sys.modules, "torch._inductor", object())
    with runner_module.private_inductor_cache() as how:  # too late: left as it was
        assert how.startswith("as found") and os.environ["TORCHINDUCTOR_CACHE_DIR"] == "/the/users/cache"


@pytest.mark.slow
def test_torch_compile_really_compiles_the_step_and_matches_eager():
    # The real thing at toy float64 (~10 s: torch.compile's start-up and a
    # compile from inductor's cache or from nothing).
    pytest.importorskip("torch")
    from fusednet.bench import workloads
    try:
        step = workloads.torch_compile_stepper(*_problem())
    except workloads.Unavailable as exc:  # e.g. no C++ compiler here: the reason, not a crash
        pytest.skip(str(exc))
    info = step.info
    assert (info["mode"], info["backend"]) == ("default", "inductor")
    assert info["compile_s"] > 0 and info["check"]["max_abs_diff"] <= info["check"]["tolerance"]
    step(3)


def test_the_course_toy_shape_draws_batches_of_200_from_its_5_rows():
    # The CS231n notebook's toy training: every contender gathers 200 rows of
    # 5 a step (the gemm roofline too, whose buffer once took X[:200]: 5 rows).
    from fusednet.bench import workloads
    from fusednet.bench.__main__ import markdown
    X, y, params, N = workloads.problem("course_toy", np.float64)
    assert (X.shape, N) == ((5, 4), 200)
    for name in ("numpy", "ours", "gemm", "gemm_gather"):
        workloads.CONTENDERS[name](X, y, params, N)(2)
    row = _row("course_toy", "float64", 9.7, 7.0)
    assert markdown([row]).splitlines()[2].startswith("| course_toy 200 (of 5 rows) x 4 -> 10 -> 3 |")
