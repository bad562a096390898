"""``fusednet.cs224d.forward_backward_prop`` refuses dimensions that are not
integers >= 1 by name, before any kernel runs, instead of truncating them."""
import numpy as np
import pytest

from fusednet import kernels
from fusednet.cs224d import forward_backward_prop, unpack_params


@pytest.fixture
def problem():
    rng = np.random.default_rng(0)
    data = rng.standard_normal((20, 10))
    labels = np.eye(10)[rng.integers(0, 10, 20)]
    params = rng.standard_normal((10 + 1) * 5 + (5 + 1) * 10)
    return data, labels, params


@pytest.fixture
def no_kernel(monkeypatch):
    def ran(*args, **kwargs):
        raise AssertionError("a kernel ran before dimensions were checked")
    monkeypatch.setattr(kernels, "two_layer_loss", ran)


@pytest.mark.parametrize("dimensions, error, words", [
    # Before: each of these was truncated by int() and gave the cost of
    # [10, 5, 10] (True: a shape error about H = 1).
    ([10, 4.5, 10], TypeError, r"dimensions\[1\] must be an integer, got float 4.5"),
    ([10, 5.0, 10], TypeError, r"dimensions\[1\] must be an integer, got float 5.0"),
    ([10, "5", 10], TypeError, r"dimensions\[1\] must be an integer, got str '5'"),
    (["10", 5, 10], TypeError, r"dimensions\[0\] must be an integer, got str '10'"),
    ([10, 5, True], TypeError, r"dimensions\[2\] must be an integer, got bool True"),
    ([10, 0, 10], ValueError, r"dimensions\[1\] must be an integer >= 1, got 0"),
    ([10, 5], ValueError, r"dimensions must be \(Dx, H, Dy\), three positive integers"),
    ("10,5,10", TypeError, r"dimensions must be \(Dx, H, Dy\), three positive integers, got str"),
    (None, TypeError, r"dimensions must be \(Dx, H, Dy\), three positive integers, got NoneType"),
])
def test_dimensions_that_are_not_integers_are_refused_by_name(problem, no_kernel, dimensions,
                                                              error, words):
    data, labels, params = problem
    with pytest.raises(error, match=words):
        forward_backward_prop(data, labels, params, dimensions)
    with pytest.raises(error, match=words):
        unpack_params(params, dimensions)


def test_integer_dimensions_of_any_integer_type_still_work(problem):
    data, labels, params = problem
    cost, grad = forward_backward_prop(data, labels, params, [10, 5, 10])
    for dimensions in ((10, 5, 10), np.array([10, 5, 10]), [np.int32(10), np.int64(5), 10]):
        c, g = forward_backward_prop(data, labels, params, dimensions)
        assert c == cost and np.array_equal(g, grad)
