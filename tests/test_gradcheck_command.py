"""The gradcheck command, run as a user would."""
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def gradcheck(*args):
    return subprocess.run([sys.executable, "-m", "fusednet", "gradcheck", *args], cwd=ROOT,
                          capture_output=True, text=True)


@pytest.mark.parametrize("args", [(), ("--layers", "6,8,8,3", "--activation", "tanh",
                                       "--residual", "--l2", "half")])
def test_prints_a_small_relative_error_per_parameter_and_the_input(args):
    out = gradcheck(*args)
    assert out.returncode == 0, out.stdout + out.stderr
    errors = dict(re.findall(r"^(\w+) max relative error: (\S+)$", out.stdout, re.M))
    layers = 3 if "--residual" in args else 2
    assert set(errors) == {f"{p}{l}" for l in range(1, layers + 1) for p in "Wb"} | {"X"}
    assert all(float(e) < 1e-7 for e in errors.values())
    assert out.stdout.rstrip().splitlines()[-1].startswith("ok:")


def test_exits_1_when_the_tolerance_is_not_met():
    out = gradcheck("--tol", "0")
    assert out.returncode == 1 and "FAILED" in out.stdout


@pytest.mark.parametrize("args, words", [(("--layers", "4,x,3"), "comma-separated integers"),
                                         (("--layers", "4,1"), "the last >= 2"),
                                         (("--activation", "gelu"), "invalid choice"),
                                         (("--samples", "0"), "argument --samples: expected an integer >= 1"),
                                         (("--reg", "-1"), "argument --reg: expected a number >= 0")])
def test_bad_flags_give_one_line_and_no_traceback(args, words):
    out = gradcheck(*args)
    assert out.returncode == 2 and words in out.stderr and "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
