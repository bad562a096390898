"""Commands check every flag, the output location and the memory a run needs
before any work, and end with one line on stderr; a diverging setting in a
search is recorded and the others kept; gradcheck passes correct gradients
at the sizes it offers.

The commands run in this process through ``fusednet.scripts.cli.main`` (what
the console script calls), their output captured; one test per command runs
the real ``python -m fusednet`` process for its exit status and stderr."""
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from fusednet import net
from helpers import assert_one_line, run_command as run


ROOT = Path(__file__).resolve().parent.parent




def run_process(command, *args):
    return subprocess.run([sys.executable, "-m", "fusednet", command, *args], cwd=ROOT,
                          capture_output=True, text=True)




@pytest.fixture
def blocked(tmp_path):
    """An --out under a regular file: not creatable, even for root."""
    (tmp_path / "file").write_text("in the way")
    return str(tmp_path / "file" / "run")


@pytest.mark.parametrize("command", ["train", "search"])
def test_an_unwritable_out_fails_before_any_training(command, blocked):
    # Before: train ran the whole training, then died in mkdir with a traceback.
    out = run(command, "--iters", "100000", "--out", blocked, *(("--no-progress",) if command == "train" else ()))
    assert_one_line(out, r"cannot write to --out .*file/run: Not a directory")
    assert "accuracy" not in out.stdout and "settings on" not in out.stdout


@pytest.mark.parametrize("command, args, words", [
    ("train", ("--seed", "-1"), r"argument --seed: expected an integer in \[0, 4294967295\], got '-1'"),
    ("train", ("--seed", "2.5"), r"argument --seed: expected an integer"),
    ("train", ("--batch", "1e9"), r"argument --batch: expected an integer >= 1, got '1e9'"),
    ("train", ("--std", "nan"), r"argument --std: expected a positive number, got 'nan'"),
    ("train", ("--reg", "inf"), r"argument --reg: expected a number >= 0, got 'inf'"),
    ("train", ("--iters", "0"), r"argument --iters: expected an integer >= 1"),
    ("search", ("--jobs", "0"), r"argument --jobs: expected a positive number of workers or -1"),
    ("search", ("--std", "nan"), r"argument --std: expected a positive number, got 'nan'"),
    ("search", ("--seed", "-1"), r"argument --seed: expected an integer in \[0, 4294967295\]"),
    ("search", ("--hidden", "10,0"), r"argument --hidden: expected comma-separated numbers, each an integer >= 1"),
    ("search", ("--lr", "0.1,-1"), r"argument --lr: expected comma-separated numbers, each a positive number"),
    ("search", ("--decay", "nan"), r"argument --decay: expected comma-separated numbers, each a number >= 0"),
    ("search", ("--random", "-2"), r"argument --random: expected an integer >= 0"),
    ("search", ("--batch", "0"), r"argument --batch: expected an integer >= 1"),
    ("gradcheck", ("--tol", "nan"), r"argument --tol: expected a number >= 0, got 'nan'"),
    ("gradcheck", ("--seed", "-3"), r"argument --seed: expected an integer in"),
    ("gradcheck", ("--layers", "64,100000,10"), r"7,500,330 entries to perturb .* up to 50,000"),
])
def test_bad_flags_fail_in_one_line_before_work(tmp_path, command, args, words):
    out = run(command, *args, "--out", str(tmp_path / "run")) if command != "gradcheck" \
        else run(command, *args)
    assert_one_line(out, words)
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
@pytest.mark.parametrize("command, args, words", [
    ("train", ("--batch", "1e9"), r"argument --batch: expected an integer >= 1, got '1e9'"),
    ("search", ("--jobs", "0"), r"argument --jobs: expected a positive number of workers or -1"),
    ("gradcheck", ("--tol", "nan"), r"argument --tol: expected a number >= 0, got 'nan'"),
])
def test_a_bad_flag_ends_the_real_process_with_status_2_and_one_line(tmp_path, command, args,
                                                                      words):
    out = run_process(command, *args, *(("--out", str(tmp_path / "run")) if command != "gradcheck"
                                        else ()))
    assert_one_line(out, words)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("command, args", [
    ("train", ("--hidden", "100000000")),
    ("train", ("--batch", "1000000000")),
    ("train", ("--hidden", "30000,30000")),
    ("search", ("--hidden", "100000000", "--lr", "0.1", "--reg", "0", "--decay", "0.9")),
])
def test_a_run_that_cannot_fit_in_memory_is_refused_before_allocating(tmp_path, command, args):
    # Before: MemoryError tracebacks of tens of GiB (or the machine swapping).
    out = run(command, *args, "--out", str(tmp_path / "run"))
    assert_one_line(out, r"needs about [\d.]+ GiB of memory and [\d.]+ GiB are available; use smaller")


def _blobs(seed=0, n=160, d=8, c=3):
    rng = np.random.default_rng(seed)
    centers = 2 * rng.standard_normal((c, d))
    y, yv = rng.integers(0, c, n), rng.integers(0, c, n // 2)
    return dict(X_train=centers[y] + rng.standard_normal((n, d)), y_train=y,
                X_val=centers[yv] + rng.standard_normal((n // 2, d)), y_val=yv)


def test_search_records_a_diverged_setting_and_keeps_the_others():
    # Before: TrainingDiverged from one setting threw away every result.
    results = net.search(_blobs(), [6], [1e-1, 1e300, 5e-2], [1e-4], num_iters=40,
                         batch_size=32, std=0.1)
    assert [r["learning_rate"] for r in results] == [1e-1, 5e-2, 1e300] or \
        [r["learning_rate"] for r in results] == [5e-2, 1e-1, 1e300]
    good, bad = results[0], results[-1]
    assert not good["diverged"] and good["diverged_at"] is None and len(good["history"]["loss_history"]) == 40
    assert bad["diverged"] and bad["diverged_at"] >= 1
    assert len(bad["history"]["loss_history"]) == bad["diverged_at"]
    assert bad["val_acc"] == bad["history"]["val_acc_history"][-1]
    assert all(np.isfinite(v).all() for v in bad["params"].values())


def test_search_command_table_marks_diverged_settings(tmp_path):
    out = run("search", "--hidden", "10", "--lr", "0.1,1e300", "--reg", "1e-4", "--decay", "0.95",
              "--iters", "30", "--jobs", "1", "--out", str(tmp_path))
    assert out.returncode == 0, out.stderr
    rows = [line for line in out.stdout.splitlines() if re.match(r"\s+\d+ ", line)]
    assert len(rows) == 2 and rows[1].endswith("diverged at iteration 1")
    results = json.loads((tmp_path / "results.json").read_text())
    assert [r["diverged"] for r in results] == [False, True]
    assert (tmp_path / "best_model.npz").is_file()


def test_search_command_when_every_setting_diverges(tmp_path):
    out = run("search", "--hidden", "10", "--lr", "1e300", "--reg", "1e-4", "--decay", "0.95",
              "--iters", "30", "--jobs", "1", "--out", str(tmp_path))
    assert_one_line(out, r"every setting diverged; wrote .*results.json", status=1)
    assert json.loads((tmp_path / "results.json").read_text())[0]["diverged"] is True
    assert not (tmp_path / "best_model.npz").exists()


@pytest.mark.parametrize("kwargs, error, words", [
    (dict(hidden_sizes=[6.5]), TypeError, r"hidden_sizes\[0\] must be an integer, got float 6.5"),
    (dict(learning_rates=["0.1"]), TypeError, r"learning_rates\[0\] must be a real number, got str '0.1'"),
    (dict(learning_rates=[0.0]), ValueError, r"learning_rates\[0\] must be finite and > 0"),
    (dict(regs=[float("nan")]), ValueError, r"regs\[0\] must be finite, got nan"),
    (dict(decays="0.9"), TypeError, r"decays must be a list of values, got str"),
    (dict(settings=[(6, 0.1, 1e-4)]), TypeError, r"settings\[0\] must be a tuple \(hidden_size, learning_rate, reg, decay\)"),
    (dict(settings=[(6, 0.1, -1.0, 0.9)]), ValueError, r"settings\[0\] reg must be finite and >= 0"),
    (dict(num_iters=0), ValueError, r"num_iters must be an integer >= 1"),
    (dict(batch_size="32"), TypeError, r"batch_size must be an integer, got str '32'"),
    (dict(std=float("nan")), ValueError, r"std must be finite, got nan"),
    (dict(seed=-1), ValueError, r"seed must be an integer in \[0, 4294967295\]"),
    (dict(n_jobs=0), ValueError, r"n_jobs must be a positive number of workers or negative"),
    (dict(n_jobs=1.5), TypeError, r"n_jobs must be an integer"),
])
def test_search_arguments_are_checked_by_name_before_training(kwargs, error, words):
    call = dict(hidden_sizes=[6], learning_rates=[0.1], regs=[1e-4], decays=[0.9], num_iters=5,
                batch_size=8)
    call.update(kwargs)
    data = _blobs()
    with pytest.raises(error, match=words):
        net.search(data, call.pop("hidden_sizes"), call.pop("learning_rates"), call.pop("regs"),
                   call.pop("decays"), **call)


def test_search_data_is_checked_by_name():
    data = _blobs()
    with pytest.raises(TypeError, match="data must be a dict with X_train"):
        net.search({"X_train": data["X_train"]}, [6], [0.1], [0.0])
    with pytest.raises(ValueError, match=r"data\['X_val'\] has shape \(80, 3\); expected \(\*, 8\)"):
        net.search(dict(data, X_val=data["X_val"][:, :3]), [6], [0.1], [0.0])
    with pytest.raises(TypeError, match=r"data\['y_train'\] must hold integer class labels"):
        net.search(dict(data, y_train=data["y_train"] * 1.0), [6], [0.1], [0.0])


@pytest.mark.slow
@pytest.mark.parametrize("args", [("--layers", "64,100,10"),
                                  ("--layers", "64,100,10", "--activation", "tanh"),
                                  ("--layers", "30,50,50,7", "--activation", "sigmoid",
                                   "--residual", "--samples", "20", "--reg", "0.5")])
def test_gradcheck_default_tolerance_passes_correct_gradients_at_larger_sizes(args):
    # Before: FAILED at 64,100,10 (relative errors of ~1e-4 on entries of ~1e-6).
    out = run_process("gradcheck", *args)
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.rstrip().splitlines()[-1].startswith("ok:")


def test_gradcheck_floor_still_catches_a_wrong_gradient():
    from fusednet.net.gradcheck import difference_floor, rel_error
    rng = np.random.default_rng(0)
    analytic = rng.standard_normal(50) * 1e-3
    floor = difference_floor(118.0)
    assert rel_error(analytic + 1e-9 * rng.standard_normal(50), analytic, floor) < 1e-7
    assert rel_error(analytic * 1.01, analytic, floor) > 1e-7
    assert rel_error(analytic, analytic + 1e-5, floor) > 1e-7
