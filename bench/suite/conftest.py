"""pytest-benchmark suite: ``pytest bench/suite`` (the test run, ``pytest``,
does not collect it, and the wheel does not ship it). Every benchmark has its NumPy twin in the same group, so
``pytest-benchmark compare`` shows the ratio."""
import numpy as np
import pytest

from fusednet.bench import workloads

SHAPE_IDS = list(workloads.SHAPES)


@pytest.fixture(params=SHAPE_IDS)
def shape(request):
    return request.param


@pytest.fixture(params=["float64", "float32"])
def dtype(request):
    return np.dtype(request.param)


@pytest.fixture
def case(shape, dtype):
    X, y, params, N = workloads.problem(shape, dtype)
    return shape, X, y, params, N
