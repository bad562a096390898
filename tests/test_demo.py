"""The README's main job runs and tells the truth about agreement."""
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_demo_trains_both_ways_and_reports_agreement_and_speed():
    out = subprocess.run([sys.executable, "-m", "scripts.demo", "--iters", "40"], cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout
    assert "net.TwoLayerNet" in out and "classic NumPy" in out
    losses = re.findall(r"final loss (\d+\.\d+)", out)
    assert len(losses) == 2 and losses[0] == losses[1]
    diff = float(re.search(r"differ by at most (\S+)", out).group(1))
    assert diff < 1e-12
    assert re.search(r"speedup \d+\.\dx", out)


def test_demo_refuses_bad_flags():
    out = subprocess.run([sys.executable, "-m", "scripts.demo", "--iters", "0"], cwd=ROOT,
                         capture_output=True, text=True)
    assert out.returncode == 2 and "--iters must be at least 1" in out.stderr
