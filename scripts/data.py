"""Datasets for the command line: scikit-learn's digits, iris and diabetes
(regression), a CIFAR-10 directory in the standard Python pickle format, or
an ``.npz`` with X and y (integer labels, or real-valued targets (N,) or
(N, k) for regression).

Every loader returns ``dict(X_train, y_train, X_val, y_val, X_test, y_test,
image_shape, task)`` with float64 rows (image_shape, when known, is how a row
of X looks as a picture, for the first-layer weights image; task is
'classification' or 'regression'). A problem with the input raises
:class:`DataError` with a one-line message.
"""
import pickle
from pathlib import Path

import numpy as np


class DataError(Exception):
    """A dataset that cannot be read; the message is meant for the user."""


def _split(X, y, seed, val_fraction=0.15, test_fraction=0.15, image_shape=None,
           task="classification"):
    order = np.random.default_rng(seed).permutation(len(X))
    n_val, n_test = int(len(X) * val_fraction), int(len(X) * test_fraction)
    if len(X) - n_val - n_test < 1 or n_val < 1 or n_test < 1:
        raise DataError(f"the dataset has only {len(X)} rows; it needs enough for train, "
                        "validation and test splits")
    val, test, train = order[:n_val], order[n_val:n_val + n_test], order[n_val + n_test:]
    mean = X[train].mean(axis=0)
    return dict(X_train=X[train] - mean, y_train=y[train], X_val=X[val] - mean, y_val=y[val],
                X_test=X[test] - mean, y_test=y[test], image_shape=image_shape, task=task)


def needs(name):
    """The optional packages that loading dataset ``name`` imports."""
    return ("sklearn",) if name in ("digits", "iris", "diabetes") else ()


def digits(seed=0):
    from sklearn.datasets import load_digits
    X, y = load_digits(return_X_y=True)
    return _split(X / 16.0, y, seed, image_shape=(8, 8))


def iris(seed=0):
    from sklearn.datasets import load_iris
    X, y = load_iris(return_X_y=True)
    return _split(X, y, seed)


def diabetes(seed=0):
    """scikit-learn's diabetes regression (442 rows, 10 features), the target
    scaled to unit variance."""
    from sklearn.datasets import load_diabetes
    X, y = load_diabetes(return_X_y=True)
    return _split(X / X.std(axis=0), (y - y.mean()) / y.std(), seed, task="regression")


def npz(path, seed=0, task="auto"):
    """X (N, ...) and y: integer labels (classification), or with ``task``
    'regression' (or 'auto' and y of floats) real-valued targets (N,) or (N, k)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"no such file: {path}")
    try:
        with np.load(path, allow_pickle=False) as f:
            if "X" not in f.files or "y" not in f.files:
                raise DataError(f"{path} must hold arrays named X and y (it has {sorted(f.files)})")
            X, y = f["X"], f["y"]
    except DataError:
        raise
    except Exception as exc:
        raise DataError(f"cannot read {path} as an .npz file: {exc}") from None
    if task == "auto":
        task = "regression" if y.dtype.kind == "f" else "classification"
    shapes = "y (N,) or (N, k)" if task == "regression" else "y (N,)"
    if X.ndim < 2 or y.ndim not in ((1, 2) if task == "regression" else (1,)) or len(X) != len(y):
        hint = (" (targets of a regression: --task regression)"
                if task == "classification" and y.ndim == 2 else "")
        raise DataError(f"{path}: X must be (N, ...) and {shapes}; got {X.shape} and "
                        f"{y.shape}{hint}")
    if X.dtype.kind not in "fiu":
        raise DataError(f"{path}: X must be numeric; got {X.dtype}")
    if task == "regression":
        if y.dtype.kind not in "fiu" or not np.isfinite(y).all():
            raise DataError(f"{path}: y must hold finite real targets for regression; got "
                            f"{y.dtype}{' with NaN or Inf' if y.dtype.kind == 'f' else ''}")
        y = y.astype(np.float64)
    elif y.dtype.kind not in "iu":
        raise DataError(f"{path}: y must hold integer labels (or pass --task regression for "
                        f"real-valued targets); got {y.dtype}")
    elif y.min() < 0:
        raise DataError(f"{path}: labels must be >= 0")
    X = X.reshape(len(X), -1).astype(np.float64)
    if not np.isfinite(X).all():
        raise DataError(f"{path}: X contains NaN or Inf")
    if task == "regression":
        return _split(X, y, seed, task=task)
    return _split(X, y.astype(np.intp), seed)


def _cifar_batch(path):
    try:
        with open(path, "rb") as f:
            batch = pickle.load(f, encoding="latin1")
        X = np.asarray(batch["data"], dtype=np.float64)
        y = np.asarray(batch["labels"], dtype=np.intp)
    except FileNotFoundError:
        raise DataError(f"no such file: {path}") from None
    except Exception as exc:
        raise DataError(f"cannot read {path} as a CIFAR-10 batch: {exc!r}") from None
    if X.ndim != 2 or X.shape[1] != 3072 or len(y) != len(X):
        raise DataError(f"{path}: expected data (N, 3072) and N labels, got {X.shape} and {y.shape}")
    # Stored as (N, 3, 32, 32) planes; rows as images are (32, 32, 3).
    return X.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1).reshape(len(X), -1), y


def cifar10(directory, num_validation=1000, num_test=1000, seed=0):
    """The course's split: training batches minus the last ``num_validation``
    rows for validation, the first ``num_test`` test rows, mean image subtracted."""
    directory = Path(directory)
    if not directory.is_dir():
        raise DataError(f"no such directory: {directory}")
    parts = [_cifar_batch(directory / f"data_batch_{b}") for b in range(1, 6)
             if (directory / f"data_batch_{b}").exists()]
    if not parts:
        raise DataError(f"{directory} holds no data_batch_1..5 files")
    X = np.concatenate([p[0] for p in parts])
    y = np.concatenate([p[1] for p in parts])
    X_test, y_test = _cifar_batch(directory / "test_batch")
    # 49,000 / 1,000 / 1,000 for the real data; a small directory keeps a tenth for validation.
    num_validation = min(num_validation, len(X) // 10)
    if num_validation < 1:
        raise DataError(f"{directory}: {len(X)} training rows are too few to split")
    X_train, y_train = X[:-num_validation], y[:-num_validation]
    X_val, y_val = X[-num_validation:], y[-num_validation:]
    X_test, y_test = X_test[:num_test], y_test[:num_test]
    mean = X_train.mean(axis=0)
    return dict(X_train=X_train - mean, y_train=y_train, X_val=X_val - mean, y_val=y_val,
                X_test=X_test - mean, y_test=y_test, image_shape=(32, 32, 3), task="classification")


def load(name, seed=0, task="auto"):
    """``digits``, ``iris``, ``diabetes``, ``cifar10:DIR`` or ``DIR`` holding
    CIFAR batches, or a ``.npz`` path (``task`` says how to read its y)."""
    if name == "digits":
        return digits(seed)
    if name == "iris":
        return iris(seed)
    if name == "diabetes":
        return diabetes(seed)
    if name.startswith("cifar10:"):
        return cifar10(name.split(":", 1)[1], seed=seed)
    if name.endswith(".npz"):
        return npz(name, seed, task)
    if Path(name).is_dir():
        return cifar10(name, seed=seed)
    raise DataError(f"unknown dataset {name!r}: use digits, iris, diabetes, a CIFAR-10 directory "
                    "(data_batch_1..5, test_batch) or an .npz file with X and y")
