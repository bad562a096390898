"""The inlined exp of the softmax and the sigmoid against libm's."""
import numpy as np
from numba import njit

from fusednet.kernels.exp import exp_nonpositive


@njit
def exp_all(x, out):
    for i in range(x.size):
        out[i] = exp_nonpositive(x[i])


def ours(x):
    out = np.empty(x.shape, np.float64)
    exp_all(x, out)
    return out


def test_within_one_ulp_of_libm_from_minus_708_to_0():
    x = np.concatenate([np.linspace(-708, 0, 1_000_001), -np.logspace(-300, 2.85, 10_001),
                        -np.log(2) * np.arange(1021)])
    want = np.exp(x)
    err = np.abs(ours(x) - want) / want
    assert err.max() <= 1.1 * np.finfo(np.float64).eps  # measured: 1.01


def test_edges_zero_one_minus_infinity_and_nan():
    got = ours(np.array([0.0, -0.0, -708.0, -708.5, -745.2, -1e308, -np.inf, np.nan]))
    assert got[0] == 1.0 and got[1] == 1.0
    assert abs(got[2] / np.exp(-708.0) - 1) <= np.finfo(np.float64).eps
    # Below -708 libm returns subnormals (at most 2.2e-308); ours flushes to 0.
    assert (got[3:7] == 0).all()
    assert np.isnan(got[7])


def test_float32_arguments_are_widened_not_rounded_first():
    x = -np.abs(np.random.default_rng(0).standard_normal(1000)).astype(np.float32) * 20
    np.testing.assert_allclose(ours(x), np.exp(x.astype(np.float64)), rtol=3e-16)
