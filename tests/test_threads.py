"""One thread knob, the user's BLAS limits respected, and the BLAS thread
count chosen by measuring without changing any number."""
import os
import subprocess
import sys

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

import fusednet
from fusednet import MLP
from fusednet.kernels import threads
from fusednet.kernels import config
from fusednet.net import chunks
from fusednet.net.chunks import ThreadPolicy


@pytest.mark.parametrize("bad", [0, -1, 2.5, True, "2"])
def test_set_num_threads_refuses_what_is_not_a_positive_integer(bad):
    with pytest.raises(ValueError, match="n must be a positive integer"):
        fusednet.set_num_threads(bad)


def test_set_num_threads_never_exceeds_the_cores_this_process_may_use():
    before = fusednet.get_num_threads()
    try:
        assert fusednet.set_num_threads(10_000) == threads.available_cores()
        assert fusednet.set_num_threads(1) == 1 and fusednet.get_num_threads() == 1
    finally:
        fusednet.set_num_threads(before)


@pytest.mark.parametrize("value, words", [("abc", "FUSEDNET_NUM_THREADS must be a positive integer"),
                                          ("0", "FUSEDNET_NUM_THREADS must be a positive integer")])
def test_a_bad_thread_environment_variable_is_named_at_import(value, words):
    out = subprocess.run([sys.executable, "-c", "import fusednet.kernels"],
                         env=dict(os.environ, FUSEDNET_NUM_THREADS=value), capture_output=True,
                         text=True)
    assert out.returncode != 0 and words in out.stderr


def test_the_environment_variable_sets_the_count():
    out = subprocess.run([sys.executable, "-c", "import fusednet; print(fusednet.get_num_threads())"],
                         env=dict(os.environ, FUSEDNET_NUM_THREADS="1"), capture_output=True,
                         text=True, check=True)
    assert out.stdout.strip() == "1"


def test_policy_switches_to_the_faster_count_only_when_a_probe_wins_by_ten_percent():
    p = ThreadPolicy(2)
    assert p.next(0.0) == (2, False)          # nothing measured yet: no probe
    p.record(2, 4e-3, False)
    assert p.next(0.0) == (1, True)           # first probe right away
    p.record(1, 1e-3, True)                   # one thread is 4x faster (a busy core)
    assert p.current == 1
    assert p.next(1.0) == (1, False)          # no probe before PROBE_EVERY seconds
    assert p.next(config.PROBE_EVERY + 0.1) == (2, True)
    p.record(2, 0.95e-3, True)                # 5% faster: not enough to switch back
    assert p.current == 1 and p.interval == 2 * config.PROBE_EVERY   # probes thin out
    t = config.PROBE_EVERY + 0.1
    assert p.next(t + config.PROBE_EVERY + 0.1) == (1, False)
    p.record(1, 2e-3, False)                  # the current count slowed 2x: probe at once
    assert p.next(t + 0.2) == (2, True)
    assert ThreadPolicy(1).next(0.0) == (1, False) and ThreadPolicy(1).candidates == [1]


def test_training_keeps_the_users_blas_limit_and_never_exceeds_it():
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((600, 256)), rng.integers(0, 10, 600)
    with threadpool_limits(1, user_api="blas"):
        assert threads.blas().get() == 1
        model = fusednet.MLP([256, 128, 10], seed=0)
        model.train(X, y, X[:50], y[:50], num_iters=30, batch_size=200)
        assert chunks.thread_policy(6.0 * 200 * (256 * 128 + 128 * 10)).candidates == [1]
        assert threads.blas().get() == 1
    assert threads.blas().get() >= 1


def test_one_and_two_blas_threads_give_the_same_numbers():
    rng = np.random.default_rng(1)
    X, y = rng.standard_normal((600, 256)), rng.integers(0, 10, 600)
    runs = []
    for n in (1, 2):
        with threadpool_limits(n, user_api="blas"):
            model = fusednet.MLP([256, 128, 10], seed=0)
            runs.append(model.train(X, y, X[:50], y[:50], num_iters=40, batch_size=200,
                                    learning_rate=1e-2)["loss_history"])
    assert runs[0] == runs[1]


def test_short_calls_time_their_first_chunk_from_the_second_call_on():
    # An estimator's epoch or a notebook's short call is one chunk: the
    # first call's may compile and is not timed, later ones are, so a loop
    # of short calls measures its thread counts (and can change them).
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((40, 7)), rng.integers(0, 3, 40)
    m = MLP([7, 9, 3], seed=0)
    policy = chunks.thread_policy(chunks.step_flops(np.array([7, 9, 3]), 10))
    policy.calls, policy.per_it = 0, {}
    m.train(X, y, X, y, num_iters=4, batch_size=10)
    assert policy.calls == 1 and policy.per_it == {}
    m.train(X, y, X, y, num_iters=4, batch_size=10)
    assert policy.calls == 2 and len(policy.per_it) == 1
    # A first chunk far slower than its count's last timing is a compile of
    # new types (or a load), not a busy core: not recorded.
    (n, seconds), = policy.per_it.items()
    policy.per_it[n] = 1e-12
    policy.interval = 1e9  # no probe: the next call's chunk runs on n threads
    m.train(X, y, X, y, num_iters=4, batch_size=10)
    assert policy.per_it[n] == 1e-12
