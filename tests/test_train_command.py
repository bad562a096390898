"""The train command, run as a user would, on small data."""
import json
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent


def train(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "fusednet", "train", "--no-progress", *args],
                          cwd=cwd, capture_output=True, text=True)


def check_outputs(out_dir, sizes):
    import matplotlib.image
    from fusednet.net import MLP
    history = json.loads((out_dir / "history.json").read_text())
    assert len(history["loss_history"]) > 0 and set(history["accuracy"]) == {"train", "val", "test"}
    assert list(MLP.load(out_dir / "model.npz").layer_sizes) == sizes
    for name, (min_h, min_w) in (("curves.png", (300, 800)), ("weights.png", (300, 300))):
        picture = matplotlib.image.imread(out_dir / name)
        assert picture.shape[0] >= min_h and picture.shape[1] >= min_w


def test_digits_with_compare_reports_accuracy_speed_and_agreement(tmp_path):
    out = train("--iters", "60", "--compare", "--out", str(tmp_path))
    assert out.returncode == 0, out.stderr
    assert "accuracy: train" in out.stdout and "speed ratio" in out.stdout
    diff = float(out.stdout.split("differ by at most ")[1].split()[0])
    assert diff < 1e-12
    check_outputs(tmp_path, [64, 100, 10])


def test_iris_deeper_net_with_adam(tmp_path):
    out = train("--dataset", "iris", "--hidden", "10,10", "--update", "adam", "--lr", "1e-2",
                "--iters", "200", "--batch", "16", "--out", str(tmp_path))
    assert out.returncode == 0, out.stderr
    check_outputs(tmp_path, [4, 10, 10, 3])
    assert json.loads((tmp_path / "history.json").read_text())["accuracy"]["train"] > 0.8


def test_npz_dataset(tmp_path):
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 300)
    X = rng.standard_normal((300, 6)) + 3 * np.eye(3, 6)[y]
    np.savez(tmp_path / "blobs.npz", X=X, y=y)
    out = train("--dataset", str(tmp_path / "blobs.npz"), "--hidden", "8", "--iters", "100",
                "--batch", "32", "--lr", "0.1", "--out", str(tmp_path / "run"))
    assert out.returncode == 0, out.stderr
    check_outputs(tmp_path / "run", [6, 8, 3])


def test_cifar_directory_in_the_pickle_format(tmp_path):
    rng = np.random.default_rng(1)
    for name, n in [("data_batch_1", 120), ("data_batch_2", 100), ("test_batch", 50)]:
        batch = {"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
                 "labels": list(rng.integers(0, 10, n))}
        with open(tmp_path / name, "wb") as f:
            pickle.dump(batch, f)
    from fusednet.scripts.data import cifar10
    data = cifar10(tmp_path, num_validation=20, num_test=30)
    assert data["X_train"].shape == (200, 3072) and data["X_val"].shape == (20, 3072)
    assert data["X_test"].shape == (30, 3072) and data["image_shape"] == (32, 32, 3)
    np.testing.assert_allclose(data["X_train"].mean(axis=0), 0, atol=1e-9)  # mean image removed
    out = train("--dataset", str(tmp_path), "--hidden", "16", "--iters", "20", "--batch", "20",
                "--lr", "1e-4", "--out", str(tmp_path / "run"))
    assert out.returncode == 0, out.stderr
    check_outputs(tmp_path / "run", [3072, 16, 10])


@pytest.mark.parametrize("args, words", [
    (("--dataset", "nosuch"), "unknown dataset 'nosuch'"),
    (("--dataset", "missing.npz"), "no such file: missing.npz"),
    (("--dataset", "corrupt.npz"), "cannot read corrupt.npz as an .npz file"),
    (("--dataset", "cifar_bad"), "cannot read cifar_bad/data_batch_1 as a CIFAR-10 batch"),
    (("--lr", "-1"), "expected a positive number"),
    (("--hidden", "10,x"), "expected comma-separated widths"),
    (("--update", "lbfgs"), "invalid choice"),
    (("--hidden", "8,8", "--compare"), "--compare runs the NumPy reference"),
])
def test_bad_input_gives_one_line_and_no_traceback(tmp_path, args, words):
    (tmp_path / "corrupt.npz").write_bytes(b"not a zip file")
    (tmp_path / "cifar_bad").mkdir()
    (tmp_path / "cifar_bad" / "data_batch_1").write_bytes(b"garbage")
    out = train(*args, "--out", str(tmp_path / "run"), cwd=tmp_path)
    assert out.returncode != 0
    assert words in out.stderr and "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


def test_real_valued_targets_train_a_regressor_and_draw_its_predictions(tmp_path, capsys):
    # In process (main(argv)): the same code path, without another interpreter.
    import matplotlib.image
    from fusednet.net import MLP
    from fusednet.scripts import train as command
    rng = np.random.default_rng(0)
    X = rng.standard_normal((400, 5))
    Y = np.stack([2 * X[:, 0] + X[:, 1], np.sin(X[:, 2])], axis=1)
    np.savez(tmp_path / "reg.npz", X=X, y=Y)
    assert command.main(["--dataset", str(tmp_path / "reg.npz"), "--hidden", "24",
                         "--update", "adam", "--lr", "0.003", "--iters", "800", "--batch", "32",
                         "--no-progress", "--out", str(tmp_path / "run")]) == 0
    printed = capsys.readouterr().out
    assert "regression (squared error)" in printed and "R^2: train" in printed
    record = json.loads((tmp_path / "run" / "history.json").read_text())
    assert record["task"] == "regression" and record["r2"]["test"] > 0.8
    model = MLP.load(tmp_path / "run" / "model.npz")
    assert model.head == "squared_error" and list(model.layer_sizes) == [5, 24, 2]
    for name in ("curves.png", "weights.png", "predictions.png"):
        assert matplotlib.image.imread(tmp_path / "run" / name).shape[0] >= 300
    # Real-valued y read as labels is refused with the way out.
    np.savez(tmp_path / "one.npz", X=X, y=Y[:, 0])
    for name, says in (("reg.npz", "(targets of a regression: --task regression)"),
                       ("one.npz", "y must hold integer labels (or pass --task regression")):
        with pytest.raises(SystemExit):
            command.main(["--dataset", str(tmp_path / name), "--task", "classification",
                          "--no-progress", "--out", str(tmp_path / "run2")])
        assert says in capsys.readouterr().err
