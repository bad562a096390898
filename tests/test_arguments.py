"""Every numeric and flag argument of the constructors, ``loss``, the kernels
and ``parameter_count`` is checked by name: type, finiteness and range."""
import numpy as np
import pytest

from fusednet import MLP, TwoLayerNet, kernels, parameter_count


@pytest.mark.parametrize("kwargs, error, words", [
    (dict(layer_sizes=[5, 2.7, 3]), TypeError, r"layer_sizes\[1\] must be an integer, got float 2.7"),
    (dict(layer_sizes="23"), TypeError, r"layer_sizes must be a list or tuple of integer widths, got str '23'"),
    (dict(layer_sizes=[5, True, 3]), TypeError, r"layer_sizes\[1\] must be an integer, got bool True"),
    (dict(layer_sizes=[5, "4", 3]), TypeError, r"layer_sizes\[1\] must be an integer, got str '4'"),
    (dict(layer_sizes=[5, 0, 3]), ValueError, r"layer_sizes\[1\] must be an integer >= 1, got 0"),
    (dict(layer_sizes=[5]), ValueError, r"layer_sizes must hold at least two widths"),
    (dict(layer_sizes=5), TypeError, r"layer_sizes must be a list or tuple"),
    (dict(layer_sizes=[5, 1]), ValueError, r"the last width is the number of classes and must be >= 2"),
    (dict(residual="no"), TypeError, r"residual must be True or False, got str 'no'"),
    (dict(residual=1), TypeError, r"residual must be True or False, got int 1"),
    (dict(activation="gelu"), ValueError, r"activation must be one of"),
    (dict(activation=None), ValueError, r"activation must be one of"),
    (dict(weight_scale="0.1"), TypeError, r"weight_scale must be a real number, got str '0.1'"),
    (dict(weight_scale=float("nan")), ValueError, r"weight_scale must be finite, got nan"),
    (dict(weight_scale=-1.0), ValueError, r"weight_scale must be finite and >= 0, got -1.0"),
    (dict(dtype="float16"), TypeError, r"dtype must be float32 or float64, got 'float16'"),
    (dict(dtype="garbage"), TypeError, r"dtype must be float32 or float64, got 'garbage'"),
    (dict(seed=-1), ValueError, r"seed must be an integer >= 0, got -1"),
    (dict(seed="0"), TypeError, r"seed must be None, an integer or a np.random.Generator, got str '0'"),
    (dict(seed=1.5), TypeError, r"seed must be None, an integer"),
])
def test_mlp_constructor_names_the_bad_argument(kwargs, error, words):
    kwargs = {"layer_sizes": [5, 4, 3], **kwargs}
    with pytest.raises(error, match=words):
        MLP(**kwargs)


def test_mlp_constructor_accepts_numpy_scalars_arrays_and_generators():
    model = MLP(np.array([5, 4, 3]), residual=np.bool_(True), weight_scale=np.float32(0.5),
                dtype="float32", seed=np.random.default_rng(1))
    assert model.layer_sizes == (5, 4, 3) and all(type(s) is int for s in model.layer_sizes)
    assert model.residual is True and model.dtype == np.float32
    assert MLP((5, np.int64(4), 3), seed=np.uint32(7)).layer_sizes == (5, 4, 3)


@pytest.mark.parametrize("args, kwargs, error, words", [
    ((5, 4.5, 3), {}, TypeError, r"hidden_size must be an integer, got float 4.5"),
    (("5", 4, 3), {}, TypeError, r"input_size must be an integer, got str '5'"),
    ((5, 4, 1), {}, ValueError, r"the last width is the number of classes"),
    ((5, 4, 0), {}, ValueError, r"output_size must be an integer >= 1"),
    ((5, 4, 3), dict(std=float("nan")), ValueError, r"std must be finite, got nan"),
    ((5, 4, 3), dict(std=-1e-4), ValueError, r"std must be finite and >= 0"),
    ((5, 4, 3), dict(std="1e-4"), TypeError, r"std must be a real number, got str '1e-4'"),
    ((5, 4, 3), dict(dtype=np.int32), TypeError, r"dtype must be float32 or float64"),
])
def test_two_layer_net_constructor_names_the_bad_argument(args, kwargs, error, words):
    with pytest.raises(error, match=words):
        TwoLayerNet(*args, **kwargs)


@pytest.mark.parametrize("reg, error, words", [
    ("0.1", TypeError, r"reg must be a real number, got str '0.1'"),
    (True, TypeError, r"reg must be a real number, got bool True"),
    (None, TypeError, r"reg must be a real number, got NoneType None"),
    (1j, TypeError, r"reg must be a real number, got complex 1j"),
    (np.array([0.1]), TypeError, r"reg must be a real number, got ndarray"),
    (float("inf"), ValueError, r"reg must be finite, got inf"),
    (-0.1, ValueError, r"reg must be finite and >= 0, got -0.1"),
])
@pytest.mark.parametrize("where", ["MLP", "TwoLayerNet", "kernel"])
def test_reg_is_checked_by_name_everywhere(rng, where, reg, error, words):
    X, y = rng.standard_normal((6, 5)), np.arange(6) % 3
    with pytest.raises(error, match=words):
        if where == "kernel":
            kernels.two_layer_loss(np.ones((5, 4)), np.zeros(4), np.ones((4, 3)), np.zeros(3),
                                   X, y, reg)
        else:
            net = MLP([5, 4, 3]) if where == "MLP" else TwoLayerNet(5, 4, 3)
            net.loss(X, y, reg=reg)


def test_reg_accepts_numpy_scalars_and_zero_d_arrays(rng):
    X, y = rng.standard_normal((6, 5)), np.arange(6) % 3
    net = MLP([5, 4, 3], seed=0)
    expected = net.loss(X, y, reg=0.25)[0]
    assert net.loss(X, y, reg=np.float32(0.25))[0] == expected
    assert net.loss(X, y, reg=np.array(0.25))[0] == expected
    assert net.loss(X, y, reg=1)[0] == net.loss(X, y, reg=1.0)[0]


@pytest.mark.parametrize("sizes, error, words", [
    ([5, 2.7, 3], TypeError, r"layer_sizes\[1\] must be an integer, got float 2.7"),
    ("23", TypeError, r"layer_sizes must be a list or tuple"),
    ([5, -3], ValueError, r"layer_sizes\[1\] must be an integer >= 1"),
    ([5], ValueError, r"at least two widths"),
])
def test_parameter_count_names_the_bad_width(sizes, error, words):
    with pytest.raises(error, match=words):
        parameter_count(sizes)


def test_check_number_contract():
    from fusednet.kernels.checks import check_bool, check_float_dtype, check_number, check_seed
    assert check_number("x", 3, 0, 5, integer=True) == 3
    assert type(check_number("x", np.int64(3), integer=True)) is int
    assert type(check_number("x", np.float32(0.5), 0, 1)) is float
    assert check_number("x", 1, 0, 1) == 1.0
    with pytest.raises(ValueError, match=r"x must be in \(0, 1\], got 0"):
        check_number("x", 0, 0, 1, low_open=True)
    with pytest.raises(ValueError, match=r"x must be in \[0, 1\), got 1"):
        check_number("x", 1, 0, 1, high_open=True)
    with pytest.raises(ValueError, match=r"x must be an integer in \[1, 10\], got 11"):
        check_number("x", 11, 1, 10, integer=True)
    with pytest.raises(TypeError, match=r"x must be an integer, got float 1000000000.0"):
        check_number("x", 1e9, 1, integer=True)
    with pytest.raises(ValueError, match=r"x must be finite and < 1"):
        check_number("x", 2.0, None, 1, high_open=True)
    assert check_bool("flag", np.bool_(False)) is False
    with pytest.raises(TypeError, match="flag must be True or False, got int 0"):
        check_bool("flag", 0)
    assert check_float_dtype("dtype", "f4") == np.float32
    assert check_seed("seed", None) is None and check_seed("seed", 2**40) == 2**40
    with pytest.raises(ValueError, match=r"seed must be an integer in \[0, 4294967295\]"):
        check_seed("seed", 2**32, high=2**32 - 1)
