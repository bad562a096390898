"""``save`` and ``load`` agree on the file name; a damaged or crafted file is
refused with its name, before anything is allocated from its record."""
import json
import pickle

import numpy as np
import pytest

from fusednet import MLP, TwoLayerNet


def craft(path, meta, arrays):
    np.savez(path, __meta__=np.array(json.dumps(meta)), **arrays)
    return path


def record(**changes):
    meta = dict(format="fusednet.MLP/1", layer_sizes=[4, 3, 2], activation="relu",
                residual=False, dtype="float64", cls="MLP")
    return dict(meta, **changes)


def params(sizes=(4, 3, 2), dtype=np.float64):
    out = {}
    for l, (fi, fo) in enumerate(zip(sizes[:-1], sizes[1:]), 1):
        out[f"W{l}"] = np.ones((fi, fo), dtype)
        out[f"b{l}"] = np.zeros(fo, dtype)
    return out


@pytest.fixture
def model():
    return MLP([4, 3, 2], seed=0)


def test_a_name_without_suffix_saves_as_npz_and_loads_back(tmp_path, model):
    # Before: save('m') wrote m.npz (np.savez's rule) and load('m') failed.
    written = model.save(tmp_path / "m")
    assert written == str(tmp_path / "m.npz") and (tmp_path / "m.npz").is_file()
    back = MLP.load(tmp_path / "m")
    np.testing.assert_array_equal(back.params["W1"], model.params["W1"])
    MLP([4, 3, 2], seed=5).load_params(str(tmp_path / "m"))
    np.random.seed(0)
    two = TwoLayerNet(4, 3, 2, std=0.1)
    two.save(tmp_path / "two")
    assert isinstance(TwoLayerNet.load(tmp_path / "two"), TwoLayerNet)
    assert model.save(tmp_path / "x.npz") == str(tmp_path / "x.npz")


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"no such model file: .*nothere \(nor .*nothere.npz\)"):
        MLP.load(tmp_path / "nothere")


def _damaged(tmp_path, model):
    good = model.save(tmp_path / "good.npz")
    data = open(good, "rb").read()
    (tmp_path / "truncated.npz").write_bytes(data[:len(data) // 2])
    (tmp_path / "tail-cut.npz").write_bytes(data[:-30])
    (tmp_path / "empty.npz").write_bytes(b"")
    (tmp_path / "garbage.npz").write_bytes(b"PK\x03\x04" + b"\x00" * 200)
    (tmp_path / "text.npz").write_text("hello")
    (tmp_path / "pickle.npz").write_bytes(pickle.dumps({"W1": 1}))
    np.save(tmp_path / "array.npy", np.zeros(3))
    flipped = bytearray(data)
    flipped[len(data) // 3] ^= 0xFF
    (tmp_path / "flipped.npz").write_bytes(bytes(flipped))
    return ["truncated.npz", "tail-cut.npz", "empty.npz", "garbage.npz", "text.npz",
            "pickle.npz", "array.npy", "flipped.npz"]


def test_corrupted_or_truncated_files_are_named_in_a_value_error(tmp_path, model):
    # Before: BadZipFile, EOFError, KeyError or AttributeError without the name.
    for name in _damaged(tmp_path, model):
        with pytest.raises(ValueError) as info:
            MLP.load(tmp_path / name)
        assert str(tmp_path / name) in str(info.value), (name, str(info.value))


@pytest.mark.parametrize("meta, arrays, words", [
    (record(residual="no"), params(), r"residual must be True or False, got str 'no'"),
    (record(residual=1), params(), r"residual must be True or False"),
    (record(layer_sizes=[3072, 10**9, 10]), params(), r"W1 has shape \(4, 3\); the record's layer_sizes need \(3072, 1000000000\)"),
    (record(layer_sizes="42"), params(), r"layer_sizes must be a list or tuple"),
    (record(layer_sizes=[4, 3.5, 2]), params(), r"layer_sizes\[1\] must be an integer, got float 3.5"),
    (record(layer_sizes=[4, 3, 1]), params((4, 3, 1)), r"the last width is the number of classes"),
    (record(activation="gelu"), params(), r"activation must be one of"),
    (record(activation=["relu"]), params(), r"activation must be one of"),
    (record(dtype="int8"), params(), r"dtype must be 'float32' or 'float64', got 'int8'"),
    (record(dtype="float32"), params(), r"W1 has dtype float64, the record says float32"),
    (record(format="other/2"), params(), r"unknown model format 'other/2'"),
    ({k: v for k, v in record().items() if k != "residual"}, params(), r"the architecture record lacks residual"),
    ([1, 2], params(), r"the architecture record is not a JSON object"),
    (record(), {k: v for k, v in params().items() if k != "b2"}, r"b2 is missing"),
    (record(), dict(params(), W2=np.ones((3, 3))), r"W2 has shape \(3, 3\); the record's layer_sizes need \(3, 2\)"),
    (record(), dict(params(), b1=np.array([0.0, np.nan, 0.0])), r"b1 contains NaN or Inf"),
])
def test_crafted_records_are_refused_by_name_before_allocating(tmp_path, meta, arrays, words):
    path = craft(tmp_path / "crafted.npz", meta, arrays)
    with pytest.raises(ValueError, match=words) as info:
        MLP.load(path)
    assert str(path) in str(info.value)


def test_a_record_that_is_not_json_is_named(tmp_path):
    path = tmp_path / "bad.npz"
    np.savez(path, __meta__=np.array("{not json"), **params())
    with pytest.raises(ValueError, match=r"bad.npz: the architecture record is not valid JSON"):
        MLP.load(path)
    np.savez(path, __meta__=np.zeros(3), **params())
    with pytest.raises(ValueError, match=r"bad.npz: the architecture record is not a JSON string"):
        MLP.load(path)


def test_mismatch_and_wrong_class_errors_name_the_resolved_file(tmp_path, model):
    model.save(tmp_path / "m")
    with pytest.raises(ValueError, match=r"m.npz holds layer_sizes=\[4, 3, 2\]"):
        MLP([4, 5, 2]).load_params(tmp_path / "m")
    MLP([4, 3, 3, 2]).save(tmp_path / "deep")
    with pytest.raises(ValueError, match=r"deep.npz holds .* not a relu two-layer net"):
        TwoLayerNet.load(tmp_path / "deep")
