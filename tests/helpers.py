"""Test data and comparisons shared by the test modules (fixtures live in
conftest.py). Every generator takes its seed; nothing touches ``np.random``'s
global state."""
import contextlib
import io
import re
from types import SimpleNamespace

import numpy as np

#: Agreement with the NumPy reference, relative to the reference's largest
#: magnitude: float64 to ~1e-12, float32 to ~1e-5.
TOL = {np.dtype(np.float64): 1e-12, np.dtype(np.float32): 1e-5}
DTYPES = [np.float64, np.float32]


def blobs(n=240, d=10, c=3, seed=0, spread=2.5):
    """X (n, d), y (n,): c Gaussian blobs of unit width whose centres are
    drawn with std ``spread``; separable enough for every optimizer."""
    rng = np.random.default_rng(seed)
    centers = spread * rng.standard_normal((c, d))
    y = rng.integers(0, c, n)
    return centers[y] + rng.standard_normal((n, d)), y


def blob_split(seed=0, n=160, d=8, c=3, spread=2.0):
    """The dict of ``search``/``find_best_net``: n training and n // 2
    validation rows of the same blobs."""
    rng = np.random.default_rng(seed)
    centers = spread * rng.standard_normal((c, d))
    y = rng.integers(0, c, n)
    yv = rng.integers(0, c, n // 2)
    return dict(X_train=centers[y] + rng.standard_normal((n, d)), y_train=y,
                X_val=centers[yv] + rng.standard_normal((n // 2, d)), y_val=yv)


def scaled_error(actual, expected, scale=None):
    """``max|actual - expected| / scale`` in float64; scale defaults to max|expected|."""
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    if scale is None:
        scale = np.max(np.abs(expected), initial=0.0)
    return float(np.max(np.abs(actual - expected), initial=0.0) / max(scale, 1e-300))


def upcast(*arrays):
    """float64 copies, to run the reference as the exact answer for float32 input."""
    return [a.astype(np.float64) if isinstance(a, np.ndarray) and a.dtype.kind == "f" else a
            for a in arrays]


def assert_all_match(actual, expected, dtype, factor=1.0):
    """Each array keeps shape and dtype; values agree within the dtype's tolerance.

    The error is taken relative to the largest magnitude across all the
    arrays of one result (the normwise relative error of a whole gradient): a
    weight gradient is a sum over the batch, and where that sum cancels, its
    float32 rounding is large relative to the small result itself, in any
    implementation. ``expected`` should be the float64 reference.
    """
    scale = max(np.max(np.abs(e), initial=0.0) for e in expected)
    for a, e in zip(actual, expected):
        assert a.shape == e.shape
        assert a.dtype == np.dtype(dtype)
        err = scaled_error(a, e, scale)
        assert err <= factor * TOL[np.dtype(dtype)], f"scaled error {err:.3g}"


def assert_matches(actual, expected, dtype, factor=1.0):
    assert_all_match([actual], [expected], dtype, factor)


def norm_rel_error(x, y):
    """``|x - y| / (|x| + |y|)`` in the 2-norm: the relative error of a whole array.

    The course's elementwise ``rel_error`` is right for small arrays, but a
    centred difference carries ~1e-11 of absolute noise, so in a 15,000-entry
    weight matrix some entries of size ~1e-6 fail it whatever the gradient.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    return float(np.linalg.norm(x - y) / max(np.linalg.norm(x) + np.linalg.norm(y), 1e-300))


def with_layout(a, layout):
    """The same values as ``a`` in C order, Fortran order, or a strided view."""
    if layout == "C":
        return np.ascontiguousarray(a)
    if layout == "F":
        return np.asfortranarray(a)
    if layout == "strided":
        big = np.zeros(tuple(2 * s for s in a.shape), a.dtype)
        view = big[tuple(slice(None, None, 2) for _ in a.shape)]
        view[...] = a
        return view
    raise ValueError(layout)


def run_command(command, *args):
    """The ``fusednet`` command run as ``main(argv)`` in this process: its
    exit status and output."""
    from fusednet.scripts import cli
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            status = cli.main([command, *args])
        except SystemExit as exc:  # argparse's exit
            status = exc.code
    return SimpleNamespace(returncode=status, stdout=out.getvalue(), stderr=err.getvalue())


def assert_one_line(out, words, status=2):
    """A command's result: exit ``status``, one line on stderr matching
    ``words`` (a regular expression), no traceback."""
    assert out.returncode == status, (out.returncode, out.stdout, out.stderr)
    assert "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert re.search(words, out.stderr), out.stderr
