"""``train_many`` checks every argument by name before any work, takes one-hot
labels as the rest of the library does, and it and ``search()`` refuse a
grid that cannot fit in memory before allocating it, saying how much it
needs and how much is available."""
import math
import re
import tracemalloc

import numpy as np
import pytest

from fusednet import search, train_many
from fusednet.net import memory

GOOD = (6, 0.1, 1e-4, 0.95)


@pytest.fixture(scope="module")
def blobs():
    rng = np.random.default_rng(0)
    centers = 3 * rng.standard_normal((10, 8))
    y, y_val = rng.integers(0, 10, 300), rng.integers(0, 10, 60)
    return (centers[y] + rng.standard_normal((300, 8)), y,
            centers[y_val] + rng.standard_normal((60, 8)), y_val)


@pytest.fixture
def no_training(monkeypatch):
    """Building a model fails the test: every check must come first."""
    from fusednet.net import many

    def built(*args, **kwargs):
        raise AssertionError("a model was built before the arguments were checked")
    monkeypatch.setattr(many, "_model", built)


def setting(index, value):
    s = list(GOOD)
    s[index] = value
    return tuple(s)


NAN, INF = float("nan"), float("inf")


@pytest.mark.parametrize("settings, error, words", [
    # Before: 2.5 and "10" trained a net of 2 and 10 hidden units, -3 ended
    # in "negative dimensions are not allowed", the decays below all trained.
    ([setting(0, 0)], ValueError, r"settings\[0\] hidden_size must be an integer >= 1, got 0"),
    ([setting(0, -3)], ValueError, r"settings\[0\] hidden_size must be an integer >= 1, got -3"),
    ([setting(0, 2.5)], TypeError, r"settings\[0\] hidden_size must be an integer, got float 2.5"),
    ([setting(0, "10")], TypeError, r"settings\[0\] hidden_size must be an integer, got str '10'"),
    ([setting(0, True)], TypeError, r"settings\[0\] hidden_size must be an integer, got bool"),
    ([GOOD, setting(1, -0.1)], ValueError,
     r"settings\[1\] learning_rate must be finite and > 0, got -0.1"),
    ([setting(1, NAN)], ValueError, r"settings\[0\] learning_rate must be finite, got nan"),
    ([setting(1, INF)], ValueError, r"settings\[0\] learning_rate must be finite, got inf"),
    ([setting(1, "0.1")], TypeError, r"settings\[0\] learning_rate must be a real number, got str"),
    ([setting(1, False)], TypeError, r"settings\[0\] learning_rate must be a real number, got bool"),
    ([setting(2, -1e-4)], ValueError, r"settings\[0\] reg must be finite and >= 0"),
    ([setting(2, NAN)], ValueError, r"settings\[0\] reg must be finite, got nan"),
    ([setting(2, "0")], TypeError, r"settings\[0\] reg must be a real number, got str '0'"),
    ([GOOD, GOOD, setting(3, -0.5)], ValueError,
     r"settings\[2\] learning_rate_decay must be finite and >= 0, got -0.5"),
    ([setting(3, NAN)], ValueError, r"settings\[0\] learning_rate_decay must be finite, got nan"),
    ([setting(3, INF)], ValueError, r"settings\[0\] learning_rate_decay must be finite, got inf"),
    ([setting(3, "0.9")], TypeError, r"settings\[0\] learning_rate_decay must be a real number"),
    ([setting(3, True)], TypeError, r"settings\[0\] learning_rate_decay must be a real number"),
    ([GOOD, (6, 0.1, 1e-4)], ValueError, r"each setting must be \(hidden_size, learning_rate, "
                                         r"reg, learning_rate_decay\); settings\[1\] is"),
    ([GOOD, "6"], TypeError, r"settings\[1\] must be a tuple \(hidden_size, learning_rate"),
    ([], ValueError, r"settings is empty"),
    ("6,0.1", TypeError, r"settings must be a list of \(hidden_size, learning_rate"),
])
def test_bad_settings_are_refused_naming_the_setting_and_field(blobs, no_training, settings, error,
                                                               words):
    with pytest.raises(error, match=words):
        train_many(*blobs, settings, num_iters=5, batch_size=20)


@pytest.mark.parametrize("kwargs, error, words", [
    # Before: batch_size=0 was a ZeroDivisionError, -1 and num_iters=-5
    # "negative dimensions are not allowed", floats and strings were
    # truncated or read, std=-1 and True trained, "0.1" a UFuncTypeError.
    (dict(batch_size=0), ValueError, r"batch_size must be an integer >= 1, got 0"),
    (dict(batch_size=-1), ValueError, r"batch_size must be an integer >= 1, got -1"),
    (dict(batch_size=2.5), TypeError, r"batch_size must be an integer, got float 2.5"),
    (dict(batch_size="20"), TypeError, r"batch_size must be an integer, got str '20'"),
    (dict(num_iters=-5), ValueError, r"num_iters must be an integer >= 0, got -5"),
    (dict(num_iters=2.5), TypeError, r"num_iters must be an integer, got float 2.5"),
    (dict(num_iters="5"), TypeError, r"num_iters must be an integer, got str '5'"),
    (dict(std=-1.0), ValueError, r"std must be finite and >= 0, got -1.0"),
    (dict(std=NAN), ValueError, r"std must be finite, got nan"),
    (dict(std=INF), ValueError, r"std must be finite, got inf"),
    (dict(std="0.1"), TypeError, r"std must be a real number, got str '0.1'"),
    (dict(std=True), TypeError, r"std must be a real number, got bool True"),
    (dict(seed=-1), ValueError, r"seed must be an integer in \[0, 4294967295\]"),
    (dict(seed=1.5), TypeError, r"seed must be an integer, got float 1.5"),
])
def test_bad_scalars_are_refused_by_name_before_any_work(blobs, no_training, kwargs, error, words):
    call = dict(num_iters=5, batch_size=20)
    call.update(kwargs)
    with pytest.raises(error, match=words):
        train_many(*blobs, [GOOD], **call)


def test_zero_iterations_score_the_initial_weights(blobs):
    (result,) = train_many(*blobs, [GOOD], num_iters=0, batch_size=20)
    assert result["history"]["loss_history"] == [] and not result["diverged"]
    assert 0 <= result["val_acc"] <= 1


def test_one_hot_labels_train_the_same_models_as_integer_labels(blobs):
    # Before: one-hot y and y_val were refused: "y has shape (300, 10);
    # expected integer labels (300,) or one-hot rows (300, 2)".
    X, y, X_val, y_val = blobs
    settings = [GOOD, (9, 0.2, 1e-3, 0.9)]
    kw = dict(num_iters=30, batch_size=20)
    labels = train_many(X, y, X_val, y_val, settings, **kw)
    for y1, y2 in ((np.eye(10)[y], np.eye(10)[y_val]),
                   (np.eye(10, dtype=np.int8)[y], y_val),
                   (y, np.eye(10, dtype=bool)[y_val])):
        onehot = train_many(X, y1, X_val, y2, settings, **kw)
        for a, b in zip(labels, onehot):
            assert a["history"] == b["history"] and a["val_acc"] == b["val_acc"]
            for k in a["params"]:
                np.testing.assert_array_equal(a["params"][k], b["params"][k])


def test_one_hot_labels_are_checked_with_the_right_shape(blobs, no_training):
    X, y, X_val, y_val = blobs
    with pytest.raises(ValueError, match=re.escape("y_val has shape (60, 7); expected integer "
                                                   "labels (60,) or one-hot rows (60, 10)")):
        train_many(X, np.eye(10)[y], X_val, np.eye(7)[y_val % 7], [GOOD], num_iters=5)
    bad = np.eye(10)[y]
    bad[4, :2] = 1
    with pytest.raises(ValueError, match=r"y holds one-hot rows \(N, C\) but row 4 is"):
        train_many(X, bad, X_val, y_val, [GOOD], num_iters=5)
    with pytest.raises(ValueError, match=r"y_val must hold labels in \[0, 10\); found 12"):
        train_many(X, np.eye(10)[y], X_val, np.where(y_val == 3, 12, y_val), [GOOD], num_iters=5)


def test_search_takes_one_hot_labels_too(blobs):
    X, y, X_val, y_val = blobs
    grid = dict(hidden_sizes=[6], learning_rates=[0.1], regs=[1e-4], num_iters=20, batch_size=20)
    a = search(dict(X_train=X, y_train=y, X_val=X_val, y_val=y_val), **grid)
    b = search(dict(X_train=X, y_train=np.eye(10)[y], X_val=X_val, y_val=np.eye(10)[y_val]),
               **grid)
    assert a[0]["val_acc"] == b[0]["val_acc"] and a[0]["history"] == b[0]["history"]


# -- memory ---------------------------------------------------------------------------

def _huge_grid_refused(call):
    tracemalloc.start()
    try:
        with pytest.raises(MemoryError) as info:
            call()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 50 * 2**20, f"{peak / 2**20:.0f} MiB allocated before refusing"
    return str(info.value)


def test_a_search_too_large_for_memory_is_refused_before_allocating(blobs, monkeypatch):
    # Before: MemoryError ("Unable to allocate 488. MiB ...") after
    # allocating model after model, 3.4 GiB in, 20 s later (measured under a
    # 6 GB address-space limit; without one, the machine swapped).
    monkeypatch.setattr(memory, "available_memory", lambda: 2 * 2**30)
    X, y, X_val, y_val = blobs
    data = dict(X_train=X, y_train=y, X_val=X_val, y_val=y_val)
    message = _huge_grid_refused(lambda: search(
        data, [200_000], [0.1, 0.2, 0.3, 0.5], [1e-4, 1e-3], [0.9, 0.95], num_iters=5,
        batch_size=32))
    need = float(re.search(r"needs about ([\d.]+) GiB", message).group(1))
    assert need > 2 and re.search(
        r"^16 8 -> 200000 -> 10 net\(s\) at once with batch_size 32 needs about [\d.]+ GiB of "
        r"memory and 2.0 GiB are available; ", message), message


def test_train_many_and_worker_processes_refuse_it_too(blobs, monkeypatch):
    monkeypatch.setattr(memory, "available_memory", lambda: 2**30)
    X, y, X_val, y_val = blobs
    message = _huge_grid_refused(lambda: train_many(X, y, X_val, y_val,
                                                    [(100_000, 0.1, 0, 0.9)] * 8, num_iters=5,
                                                    batch_size=20))
    assert re.search(r"8 8 -> 100000 -> 10 net\(s\) at once with batch_size 20 needs about "
                     r"[\d.]+ GiB of memory and 1.0 GiB are available", message), message
    data = dict(X_train=X, y_train=y, X_val=X_val, y_val=y_val)
    message = _huge_grid_refused(lambda: search(data, [400_000], [0.1, 0.2, 0.3], [0.0],
                                                num_iters=5, batch_size=20, n_jobs=2,
                                                backend="loky"))
    assert re.search(r"^2 8 -> 400000 -> 10 net\(s\) at once in worker processes with batch_size "
                     r"20 needs about [\d.]+ GiB of memory and 1.0 GiB are available", message)


def test_the_estimate_is_the_commands(blobs):
    from fusednet.net.architecture import training_bytes
    from fusednet.net.many import memory_needed
    need, what = memory_needed(8, 100, 10, 20, 300, np.float64, 4)
    assert need == 4 * training_bytes([8, 100, 10], 20, 300, np.float64)
    assert what == "4 8 -> 100 -> 10 net(s) at once"
    assert math.isfinite(need)
