"""``fusednet precompile`` and ``precompile(progress=...)``: flags and the
output location checked before any compile; the progress reaches the caller.
(Building and loading a shipped cache: ``test_shipped_cache.py``.)"""
import pytest

import fusednet
from fusednet.scripts.precompile import LEVELS, level_features
from helpers import assert_one_line, run_command as run


@pytest.mark.parametrize("args, words", [
    (("--cpu", "pentium"), r"argument --cpu: expected host or x86-64 levels"),
    (("--cpu", "x86-64-v3"), r"--cpu needs --ship"),
    (("--dtype", "float16"), r"argument --dtype: expected float64, float32 or both, got 'float16'"),
])
def test_precompile_names_a_bad_flag_in_one_line(args, words):
    assert_one_line(run("precompile", *args), words)


def test_precompile_ship_into_an_unwritable_place_fails_before_compiling(tmp_path):
    (tmp_path / "file").write_text("in the way")
    out = run("precompile", "--ship", str(tmp_path / "file" / "shipped"))
    assert_one_line(out, r"cannot write to --ship .*file/shipped: Not a directory")


def test_bench_first_call_names_a_bad_ship_cpu(tmp_path):
    out = run("bench", "--first-call", "--ship-cpu", "i486", "--out", str(tmp_path))
    assert_one_line(out, r"--ship-cpu takes host or one of x86-64, x86-64-v2, x86-64-v3, "
                         r"x86-64-v4, got 'i486'")


def test_each_level_has_the_features_of_the_levels_below():
    names = list(LEVELS)
    for lower, higher in zip(names, names[1:]):
        assert set(level_features(lower).split(",")) < set(level_features(higher).split(","))
    assert "+avx2" in level_features("x86-64-v3") and "+avx2" not in level_features("x86-64-v2")
    assert "+avx512f" in level_features("x86-64-v4")


def test_precompile_reports_each_group_to_a_progress_callable():
    seen = []
    fusednet.precompile(("float64",), progress=seen.append)
    assert seen == ["2-layer net, float64", "3-layer net, float64"]
