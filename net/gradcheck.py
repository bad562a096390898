"""Numerical gradients for users' own regression tests: CS231n's
``gradient_check`` helpers, with the course's names, arguments, printing and
sampling.

All differences are centred: ``(f(x + h) - f(x - h)) / 2h``, with ``x``
perturbed in place and restored, so ``f`` must read ``x`` when called.
"""
import random

import numpy as np


def rel_error(x, y, floor=1e-8):
    """``max(|x - y| / max(floor, |x| + |y|))``, elementwise then the largest
    (the course's, with its floor of 1e-8 by default)."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    return float(np.max(np.abs(x - y) / np.maximum(floor, np.abs(x) + np.abs(y))))


def difference_floor(loss, h=1e-5):
    """The ``floor`` of :func:`rel_error` that suits centred differences of a
    float64 function whose value is ``loss``: ``1e9 * eps * max(1, |loss|) / h``.

    A centred difference carries an absolute rounding error of about
    ``eps * |f| / h`` (measured: at most 1.01 times that, over nets from
    4-10-3 to 64-300-10 and losses from 1.7 to 1900), so entries of a
    correct gradient that are smaller than ``|f| * eps / h / tol`` fail a
    plain relative test whatever the code (at 64-100-10 with a loss of 118:
    entries of ~1e-6, relative errors of 1e-4). Below this floor an entry is
    judged against the floor instead, which maps the rounding error to a
    relative error of about 1e-9, a hundred times below the usual 1e-7.
    """
    return 1e9 * np.finfo(np.float64).eps * max(1.0, abs(float(loss))) / h


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


def eval_numerical_gradient_blobs(f, inputs, output, h=1e-5):
    """Numerical gradients for a function of blobs, objects with ``vals`` and
    ``diffs`` arrays.

    ``f(*inputs, output)`` writes its result into ``output.vals``; the
    upstream gradient is ``output.diffs``. Returns one array per input blob,
    shaped as its ``diffs``: the gradient of ``sum(output.vals *
    output.diffs)`` with respect to that blob's ``vals``.
    """
    inputs = tuple(inputs)
    numeric = []
    for blob in inputs:
        def read(_):
            f(*(inputs + (output,)))
            return output.vals
        numeric.append(eval_numerical_gradient_array(read, blob.vals, output.diffs, h)
                       .astype(np.asarray(blob.diffs).dtype, copy=False))
    return numeric


def eval_numerical_gradient_net(net, inputs, output, h=1e-5):
    """:func:`eval_numerical_gradient_blobs` of ``net.forward()``, a net that
    reads its input blobs and writes its output blob itself."""
    return eval_numerical_gradient_blobs(lambda *blobs: net.forward(), inputs, output, h=h)


def grad_check_sparse(f, x, analytic_grad, num_checks=10, h=1e-5, *, seed=None):
    """Compare ``analytic_grad`` with centred differences at ``num_checks``
    random entries of ``x``, printing one line per entry as the course's
    helper does; returns None, as it does.

    The entries are drawn as the course draws them, ``random.randrange(m)``
    for each dimension m of ``x`` from Python's ``random`` module, so a
    notebook's later ``np.random`` draws are untouched; ``seed`` draws them
    from a private ``random.Random(seed)`` instead. The relative error is
    ``|numerical - analytic| / (|numerical| + |analytic|)`` (nan where both
    are 0).
    """
    pick = random if seed is None else random.Random(seed)
    for _ in range(num_checks):
        ix = tuple([pick.randrange(m) for m in x.shape])
        plus, minus = _centred(f, x, ix, h)
        numerical = np.float64((plus - minus) / (2 * h))
        analytic = np.float64(analytic_grad[ix])
        with np.errstate(divide="ignore", invalid="ignore"):
            error = abs(numerical - analytic) / (abs(numerical) + abs(analytic))
        print("numerical: %f analytic: %f, relative error: %e" % (numerical, analytic, error))
