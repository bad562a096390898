"""The training driver's bookkeeping by value: the learning rate after the
step decay, the samplers' epochs and streams, scikit-learn's schedules, and
the seeded shuffled epochs of the course class."""
import numpy as np
import pytest

from fusednet import MLP, TwoLayerNet
from fusednet.kernels import loop as L
from fusednet.net import sampling, schedules, training
from helpers import blobs


@pytest.mark.parametrize("num_iters, decay_every, decays", [(50, 3, 1), (61, 3, 2), (61, 2, 3),
                                                            (9, 1, 1)])
def test_the_learning_rate_after_decay_every_epochs(num_iters, decay_every, decays):
    X, y = blobs(240, 10, 3)
    model = MLP([10, 8, 3], seed=0)
    opt = training.Optimizer("sgd", None, 0.1, model._theta)
    sampler = sampling.Replacement(240, 24, model._source)    # 10 iterations an epoch
    assert sampler.epoch_len == 10
    data = L.Data(X, y, X, y)
    history = training.train(model.packed(), data, sampler, opt, l2_factor=0.0, decay=0.5,
                             decay_every=decay_every, num_iters=num_iters)
    epochs = len(history["val_acc_history"])
    assert epochs == (num_iters - 1) // 10 + 1            # boundaries at 0, 10, 20, ...
    assert epochs // decay_every == decays
    assert opt.learning_rate == 0.1 * 0.5 ** decays
    assert opt.steps == num_iters


def test_the_samplers_epochs_and_batches():
    rng = np.random.default_rng(0)
    r = sampling.Replacement(23, 5, sampling.GeneratorSource(rng))
    assert (r.batch_rows, r.epoch_len) == (5, 4)            # the course's N // B
    e = sampling.Epochs(23, 50, sampling.GeneratorSource(rng))
    assert (e.batch_rows, e.epoch_len) == (23, 1)           # a batch larger than N: one
    o = sampling.Ordered(23, 5)
    o.start(np.arange(23)[::-1])
    idx, lens = o.draw(0, o.epoch_len)
    assert list(lens) == [5, 5, 5, 5, 3] and list(idx[4, :3]) == [2, 1, 0]
    with pytest.raises(ValueError, match="sampling must be 'replacement' or 'epochs', got 'x'"):
        sampling.sampler("x", 23, 5, None)


def test_the_course_class_shuffled_epochs_follow_np_random_seed():
    # Before: sampling="epochs" drew from an unseeded Generator, so the same
    # np.random.seed gave another model every run.
    X, y = blobs(120, 10, 3)
    runs = []
    for _ in range(2):
        np.random.seed(3)
        net = TwoLayerNet(10, 12, 3, std=0.1)
        h = net.train(X, y, X, y, learning_rate=0.1, num_iters=30, batch_size=25,
                      sampling="epochs")
        runs.append((h["loss_history"], net.params["W1"].copy()))
    assert runs[0][0] == runs[1][0]
    np.testing.assert_array_equal(runs[0][1], runs[1][1])
    # ... and the permutation is np.random's own: the next draw after the
    # same seed and the same number of draws is the same.
    np.random.seed(3)
    TwoLayerNet(10, 12, 3, std=0.1)
    first = np.random.permutation(120)
    np.random.seed(3)
    net = TwoLayerNet(10, 12, 3, std=0.1)
    idx, _ = sampling.Epochs(120, 25, net._source).draw(0, 1)
    np.testing.assert_array_equal(idx[0], first[:25])


def test_scikit_learn_schedules_change_the_rate_between_epochs():
    theta = np.zeros(4)
    inv = training.Optimizer("sgd_momentum", None, 0.5, theta, schedules.InvScaling(0.5))
    inv.iteration_ends(99)
    assert inv.learning_rate == 0.5 / 100 ** 0.5
    assert inv.trigger_stopping("no improvement.", False) is True
    ada = training.Optimizer("sgd_momentum", None, 4e-6, theta, schedules.Adaptive())
    assert ada.trigger_stopping("", False) is False and ada.learning_rate == 4e-6 / 5
    assert ada.trigger_stopping("", False) is True            # at most 1e-6: stop
    const = training.Optimizer("adam_folded", None, 1e-3, theta, schedules.Constant())
    const.iteration_ends(10)
    assert const.learning_rate == 1e-3 and const.trigger_stopping("", False) is True


@pytest.mark.parametrize("sampling_, eval_every, rows", [
    ("replacement", 0, (200,)),            # full batches only: nothing else is probed
    ("epochs", 0, (200, 100)),             # and an epoch's last, N % B rows
    ("replacement", None, (200, 70)),      # and the validation set's last chunk, V % B
])
def test_the_thread_count_is_probed_only_at_the_batch_rows_training_takes(
        monkeypatch, sampling_, eval_every, rows):
    # A row count no batch takes (digits' 100 rows with replacement) must not
    # fix the thread count of a step that never runs it.
    from fusednet.net import chunks
    seen = []

    def spy(sizes, rows, *args, scored=(), **kwargs):
        seen.append(tuple(rows) + tuple(scored))
        return True
    monkeypatch.setattr(chunks, "blas_count_invariant", spy)
    X, y = blobs(1500, 10, 3)
    MLP([10, 8, 3], seed=0).train(X, y, X[:270], y[:270], num_iters=2, batch_size=200,
                                  sampling=sampling_, eval_every=eval_every)
    assert seen == [rows]
    assert [s.batch_counts for s in (sampling.Replacement(1500, 200, None),
                                     sampling.Epochs(1500, 200, None),
                                     sampling.Ordered(1500, 200))] == [(200,), (200, 100),
                                                                       (200, 100)]
