"""Numerical gradients for users' own regression tests (CS231n helper names).

All differences are centred: ``(f(x + h) - f(x - h)) / 2h``, with ``x``
perturbed in place and restored, so ``f`` must read ``x`` when called.
"""
import numpy as np


def rel_error(x, y):
    """``max(|x - y| / max(1e-8, |x| + |y|))``, elementwise then the largest."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    return float(np.max(np.abs(x - y) / np.maximum(1e-8, np.abs(x) + np.abs(y))))


def _centred(f, x, ix, h):
    """``(f(x + h e_ix), f(x - h e_ix))``, with ``x[ix]`` restored afterwards.

    Results are copied to float64, since ``f`` may return a buffer it reuses.
    """
    old = x[ix]
    try:
        x[ix] = old + h
        plus = np.array(f(x), dtype=np.float64, copy=True)
        x[ix] = old - h
        minus = np.array(f(x), dtype=np.float64, copy=True)
    finally:
        x[ix] = old
    return plus, minus


def eval_numerical_gradient(f, x, verbose=True, h=1e-5):
    """Gradient of the scalar ``f(x)`` with respect to the array ``x``."""
    grad = np.zeros_like(x, dtype=np.float64)
    for ix in np.ndindex(x.shape):
        plus, minus = _centred(f, x, ix, h)
        grad[ix] = (plus - minus) / (2 * h)
        if verbose:
            print(ix, grad[ix])
    return grad


def eval_numerical_gradient_array(f, x, df, h=1e-5):
    """Gradient of ``sum(f(x) * df)`` with respect to ``x`` (f array-valued)."""
    grad = np.zeros_like(x, dtype=np.float64)
    for ix in np.ndindex(x.shape):
        plus, minus = _centred(f, x, ix, h)
        grad[ix] = np.sum((plus - minus) * df) / (2 * h)
    return grad


def grad_check_sparse(f, x, analytic_grad, num_checks=10, h=1e-5, seed=None):
    """Compare ``analytic_grad`` with centred differences at random entries.

    Prints one line per entry, as the course helper does, and returns the
    relative errors. ``seed`` picks the entries (``np.random`` when None).
    """
    pick = np.random if seed is None else np.random.default_rng(seed)
    errors = []
    for _ in range(num_checks):
        ix = tuple(int(pick.integers(m)) if seed is not None else int(pick.randint(m))
                   for m in x.shape)
        plus, minus = _centred(f, x, ix, h)
        numeric = float(plus - minus) / (2 * h)
        analytic = analytic_grad[ix]
        err = abs(numeric - analytic) / max(1e-8, abs(numeric) + abs(analytic))
        errors.append(err)
        print(f"numerical: {numeric:f} analytic: {analytic:f}, relative error: {err:e}")
    return errors
