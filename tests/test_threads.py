"""One thread knob, the user's BLAS limits respected, and the BLAS thread
count chosen by measuring without changing any number."""
import os
import subprocess
import sys
import textwrap
import threading

import numba
import numpy as np
import pytest
from threadpoolctl import threadpool_limits

import fusednet
from fusednet import MLP
from fusednet.kernels import threads
from fusednet.kernels import config, matmul
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
    policy = chunks.thread_policy(chunks.step_flops(np.array([7, 9, 3]), 10),
                                  kind=(np.dtype(np.float64).str, False))
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


def test_a_loop_of_short_calls_on_a_busy_machine_leaves_the_slow_count(monkeypatch):
    # A busy machine simulated: every chunk on two threads waits 20 ms more
    # (a core taken by another program). A notebook's loop of one-chunk
    # calls must measure that and move to one thread, not keep two.
    import time
    if chunks.threads_allowed() < 2:
        pytest.skip("one thread allowed here: nothing to choose")
    real = chunks.call_chunk

    def busy(call, parallel, blas):
        if parallel or blas >= 2:
            time.sleep(0.02)
        return real(call, parallel, blas)

    monkeypatch.setattr(chunks, "call_chunk", busy)
    monkeypatch.setattr(config, "PROBE_EVERY", 0.0)
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((40, 7)), rng.integers(0, 3, 40)
    m = MLP([7, 9, 3], seed=0)
    policy = chunks.thread_policy(chunks.step_flops(np.array([7, 9, 3]), 10),
                                  kind=(np.dtype(np.float64).str, False))
    assert policy.candidates == [2, 1]
    policy.calls, policy.per_it, policy.current = 1, {}, 2   # compiled; starts on 2
    policy.last_probe, policy.interval = -1e9, 0.0
    counts = []
    for _ in range(6):
        m.train(X, y, X, y, num_iters=20, batch_size=10)
        counts.append(policy.current)
    assert counts[-1] == 1 and counts[-3:] == [1, 1, 1], counts
    assert policy.per_it[2] > 10 * policy.per_it[1]


class _Clock:
    """A stand-in for ``net.training``'s ``time``: seconds move only when told."""

    def __init__(self):
        self.now = 100.0

    def perf_counter(self):
        return self.now


def _warm_policy(monkeypatch):
    """A split-sized step's policy, measured quiet: 2 threads twice as fast
    (1 and 2 ms an iteration), no probe due for a while, SETTLE_SECONDS 0.25;
    and the clock ``net.training`` reads."""
    from fusednet.net import training
    monkeypatch.setattr(chunks, "_policies", {})
    monkeypatch.setattr(config, "SETTLE_SECONDS", 0.25)
    clock = _Clock()
    monkeypatch.setattr(training, "time", clock)
    policy = chunks.thread_policy(3.7e8, kind=("<f8", True))
    policy.candidates, policy.current = [2, 1], 2
    policy.per_it, policy.calls = {2: 1e-3, 1: 2e-3}, 5
    policy.last_probe, policy.interval = clock.now, config.PROBE_EVERY
    return training, clock, policy


def _chunk(plan, clock, remaining, per_it):
    """Run the plan's next chunk as if each iteration took ``per_it(threads)``."""
    n, probing, k = plan.next(remaining)
    k = min(k, remaining)
    clock.now += k * per_it(n)
    plan.done(n, probing, k, k * per_it(n))
    return n, probing, k


def test_a_slow_start_of_a_long_call_neither_probes_nor_moves_the_count(monkeypatch):
    # After the caller's own 2-thread NumPy product (predict, say), OpenBLAS's
    # idle thread spins on the second core for ~0.1 s: a parallel chunk then
    # runs 2x slower. Taken as a busy core, that start moved a notebook's
    # loop of train and predict calls to one thread on a quiet machine.
    training, clock, policy = _warm_policy(monkeypatch)
    plan = training._Plan(3.7e8, 200, 1, kind=("<f8", True))
    start, remaining, seen = clock.now, 1000, []     # a call of ~1 s

    def per_it(n):   # 2 threads 3x slower while the other pool spins down
        if n == 1:
            return 2e-3
        return 3e-3 if clock.now - start < 0.11 else 1e-3

    while remaining > 0:
        n, probing, k = _chunk(plan, clock, remaining, per_it)
        seen.append((n, probing))
        remaining -= k
    assert policy.current == 2 and (1, True) not in seen[:3], seen
    assert policy.per_it[2] == pytest.approx(1e-3)


def test_a_slowdown_that_outlasts_the_start_of_a_call_still_moves_the_count(monkeypatch):
    # A core taken by another program for good: past SETTLE_SECONDS the
    # slow chunks count, a probe runs and one thread wins.
    training, clock, policy = _warm_policy(monkeypatch)
    plan = training._Plan(3.7e8, 200, 1, kind=("<f8", True))
    remaining = 1000

    def per_it(n):
        return 4e-3 if n == 2 else 2e-3

    while remaining > 0 and policy.current == 2:
        remaining -= _chunk(plan, clock, remaining, per_it)[2]
    assert policy.current == 1 and remaining > 0
    assert policy.per_it[2] == pytest.approx(4e-3)


def test_a_short_call_probes_from_its_first_chunk_whatever_the_settling_time(monkeypatch):
    # A call expected to end within twice SETTLE_SECONDS has nothing else to
    # go by: its first chunk is timed and may probe, as before.
    training, clock, policy = _warm_policy(monkeypatch)
    policy.last_probe = -1e9                          # a probe is due
    plan = training._Plan(3.7e8, 200, 1, kind=("<f8", True))
    assert plan.next(100)[:2] == (1, True)            # ~0.1 s of work
    policy.last_probe = -1e9                          # due again
    plan = training._Plan(3.7e8, 200, 1, kind=("<f8", True))
    assert plan.next(1000)[:2] == (2, False)          # ~1 s: it waits


def test_blas_count_comes_back_only_when_the_last_python_thread_leaves():
    # OpenBLAS's count is one for the process: one thread's exit must not
    # restore the count inside another thread's chunk.
    before = threads.blas().get()
    inside, seen = threading.Event(), []
    release = threading.Event()

    def other():
        with threads.blas_threads(1):
            inside.set()
            release.wait(10)
            seen.append(threads.blas().get())

    t = threading.Thread(target=other)
    t.start()
    inside.wait(10)
    with threads.blas_threads(1):
        pass                                   # this thread's exit, inside the other's block
    release.set()
    t.join()
    assert seen == [1]
    assert threads.blas().get() == before


def test_concurrent_blocks_run_blas_on_the_smallest_count_asked():
    before = threads.blas().get()
    inside, release, seen = threading.Event(), threading.Event(), []

    def other():
        with threads.blas_threads(1):
            inside.set()
            release.wait(10)

    t = threading.Thread(target=other)
    t.start()
    inside.wait(10)
    with threads.blas_threads(max(2, before)):
        seen.append(threads.blas().get())
    release.set()
    t.join()
    assert seen == [1] and threads.blas().get() == before


def test_training_leaves_numbas_thread_count_as_the_caller_set_it():
    # A split step (>= MIN_FLOPS) enters a parallel region, which sets
    # Numba's count to fusednet's; the caller's comes back after.
    if threads.available_cores() < 2:
        pytest.skip("one core: no parallel region is entered")
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((400, 3072)), rng.integers(0, 10, 400)
    numba.set_num_threads(1)
    try:
        MLP([3072, 100, 10], seed=0).train(X, y, X[:20], y[:20], num_iters=3, batch_size=200)
        assert numba.get_num_threads() == 1
    finally:
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)


def test_a_step_whose_numbers_depend_on_the_count_gets_a_fixed_count(monkeypatch):
    monkeypatch.setattr(chunks, "_policies", {})
    most = chunks.threads_allowed()
    small, large = 1e6, 10 * config.BLAS_THREADS_FLOPS
    assert chunks.thread_policy(small, invariant=False).candidates == [1]
    assert chunks.thread_policy(large, invariant=False).candidates == [most]
    fixed = chunks.thread_policy(small, invariant=False)
    fixed.record(1, 1.0, False)
    assert fixed.next(1e9) == (1, False)          # never probes another count
    assert chunks.thread_policy(small).candidates == sorted({most, 1}, reverse=True)


def test_the_invariance_probe_finds_what_a_direct_comparison_finds(monkeypatch):
    monkeypatch.setattr(chunks, "_invariant", {})
    rng = np.random.default_rng(0)
    for dtype in (np.float64, np.float32):
        X, W = (rng.standard_normal(s).astype(dtype) for s in ((200, 64), (64, 100)))
        products = []
        for n in (1, chunks.threads_allowed()):
            with threads.blas_threads(n):
                products.append(X @ W)
        # Every product through BLAS (limits 0), as the direct comparison.
        probe = chunks.blas_count_invariant([64, 100], (200,), dtype, (0, 0, 0))
        if not np.array_equal(*products):
            assert probe is False
        # Products of loops only (m n k at or below their limits) never depend on it.
        assert chunks.blas_count_invariant([4, 10, 3], (5,), dtype, config.loop_max(dtype))
        assert chunks.blas_count_invariant([64, 100], (200,), dtype, (200 * 64 * 100,) * 3)


SAME_SEED = textwrap.dedent("""
    import hashlib, sys
    import numpy as np
    from fusednet import MLP
    from fusednet.kernels import config
    config.PROBE_EVERY = 0.02            # probe often: a busy core would switch counts
    rng = np.random.default_rng(0)
    digests = []
    for sizes, iters in (([64, 100, 10], 1500), ([3072, 100, 10], 40)):
        X = rng.standard_normal((1000, sizes[0]))
        y = rng.integers(0, 10, 1000)
        for dtype in (np.float64, np.float32):
            model = MLP(sizes, seed=0, dtype=dtype)
            model.train(X, y, X[:50], y[:50], learning_rate=1e-2, num_iters=iters, batch_size=200)
            digests.append(hashlib.sha256(model.packed().theta.tobytes()).hexdigest()[:16])
    print(" ".join(digests))
""")


@pytest.mark.slow
def test_the_same_seed_gives_the_same_bits_on_a_quiet_and_on_a_busy_machine():
    # Unsplit (64 -> 100 -> 10) and split (3072 -> 100 -> 10) shapes, both
    # dtypes; the busy run has another process spinning on a core.
    if threads.available_cores() < 2:
        pytest.skip("one core: one thread count only")

    def run():
        return subprocess.run([sys.executable, "-c", SAME_SEED], capture_output=True, text=True,
                              check=True).stdout.strip()

    quiet = run()
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        busy = run()
    finally:
        spinner.kill()
        spinner.wait()
    assert quiet == busy


def test_python_threads_training_at_once_get_their_one_thread_numbers():
    # float32 products at this shape differ in the last bits between one
    # and two OpenBLAS threads (on this machine's kernels); after
    # set_num_threads(1) every thread's chunks must run on one.
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((1000, 150)).astype(np.float32), rng.integers(0, 5, 1000)

    def train(out, i):
        model = MLP([150, 100, 5], seed=i, dtype=np.float32)
        model.train(X, y, X[:20], y[:20], num_iters=400, batch_size=64, learning_rate=1e-2)
        out[i] = model.packed().theta.copy()

    before = fusednet.get_num_threads()
    fusednet.set_num_threads(1)
    try:
        alone, together = {}, {}
        for i in range(2):
            train(alone, i)
        workers = [threading.Thread(target=train, args=(together, i)) for i in range(2)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
    finally:
        fusednet.set_num_threads(before)
    assert all(np.array_equal(alone[i], together[i]) for i in range(2))


NO_TBB = textwrap.dedent("""
    import ctypes, hashlib, warnings
    _CDLL = ctypes.CDLL

    class CDLL(_CDLL):              # as on a machine without the tbb library
        def __init__(self, name, *args, **kwargs):
            if name and "libtbb" in str(name):
                raise OSError("no tbb here")
            super().__init__(name, *args, **kwargs)

    ctypes.CDLL = CDLL
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        import numpy as np
        from fusednet import MLP, MLPClassifier
        rng = np.random.default_rng(0)
        X, y = rng.standard_normal((400, 3072)), rng.integers(0, 10, 400)
        m = MLP([3072, 100, 10], seed=0)                       # a split loop
        m.train(X, y, X[:20], y[:20], num_iters=5, batch_size=200)
        clf = MLPClassifier((16,), solver="lbfgs", max_iter=5, random_state=0).fit(X[:, :30], y)
    print(len([w for w in seen if "did not load" in str(w.message)]),
          hashlib.sha256(m.packed().theta.tobytes()).hexdigest()[:16],
          hashlib.sha256(clf.coefs_[0].tobytes()).hexdigest()[:16])
""")


@pytest.mark.slow
def test_a_named_threading_layer_that_cannot_load_falls_back_and_trains_the_same_numbers():
    import hashlib
    import warnings
    from fusednet import MLPClassifier
    out = subprocess.run([sys.executable, "-c", NO_TBB], capture_output=True, text=True,
                         env=dict(os.environ, NUMBA_THREADING_LAYER="safe"))
    assert out.returncode == 0, out.stderr[-2000:]
    warned, split, lbfgs = out.stdout.split()
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((400, 3072)), rng.integers(0, 10, 400)
    m = MLP([3072, 100, 10], seed=0)
    m.train(X, y, X[:20], y[:20], num_iters=5, batch_size=200)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf = MLPClassifier((16,), solver="lbfgs", max_iter=5, random_state=0).fit(X[:, :30], y)
    assert warned == "1"
    assert split == hashlib.sha256(m.packed().theta.tobytes()).hexdigest()[:16]
    assert lbfgs == hashlib.sha256(clf.coefs_[0].tobytes()).hexdigest()[:16]


def test_the_invariance_probe_covers_an_epochs_last_batch_and_the_validation_chunks(monkeypatch):
    # An estimator's epoch of 1347 rows in batches of 200 ends with 147 rows:
    # float64 (147, 64) @ (64, 100) differs in the last bits between 1 and 2
    # OpenBLAS threads here, where (200, 64) @ (64, 100) does not, and two
    # fits with one random_state on a busy machine gave other models.
    seen = []
    monkeypatch.setattr(chunks, "_invariant_at",
                        lambda sizes, B, *rest: seen.append(B) or True)
    monkeypatch.setattr(chunks, "threads_allowed", lambda: 2)
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((1347, 64)), rng.integers(0, 10, 1347)
    MLP([64, 100, 10], seed=0).train(X, y, X[:150], y[:150], num_iters=3, batch_size=200,
                                     sampling="epochs")
    assert {200, 147, 150} <= set(seen)


def test_float32_and_float64_steps_keep_their_own_thread_timings(monkeypatch):
    # At one flop count a float32 step takes about half a float64 one's time
    # (a split step other times again): sharing timings, one dtype's first
    # chunk looked 8x slower than the other's and was recorded, and the
    # policy stayed on the wrong count.
    from fusednet import MLP
    monkeypatch.setattr(chunks, "_policies", {})
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((60, 8)), rng.integers(0, 3, 60)
    for dtype in (np.float64, np.float32):
        MLP([8, 16, 3], dtype=dtype, seed=0).train(X, y, X, y, num_iters=3, batch_size=20)
    assert sorted(key[3] for key in chunks._policies) == [("<f4", False), ("<f8", False)]


def test_the_invariance_probe_runs_only_the_products_a_step_runs(monkeypatch):
    # Training never computes the input gradient dZ W1^T, and the validation
    # set's last chunk is only scored (X W): a product at a count no step
    # runs (float64 100 x 100 @ 100 x 64 differs here between 1 and 2
    # threads) must not fix the thread count of a step that never runs it.
    rng = np.random.default_rng(0)
    X, W, dZ = rng.standard_normal((7, 3)), rng.standard_normal((3, 5)), rng.standard_normal((7, 5))
    shapes = lambda layer, backward: [(form, (a @ b).shape) for form, a, b in  # noqa: E731
                                      chunks.step_products(layer, X, W, dZ, backward)]
    assert shapes(0, True) == [(matmul.XW, (7, 5)), (matmul.XT_DZ, (3, 5))]
    assert shapes(1, True) == [(matmul.XW, (7, 5)), (matmul.XT_DZ, (3, 5)), (matmul.DZ_WT, (7, 3))]
    assert shapes(1, False) == [(matmul.XW, (7, 5))]
    _, a, b = chunks.step_products(1, X, W, dZ, True)[2]
    np.testing.assert_array_equal(a @ b, dZ @ W.T)
    seen = []
    monkeypatch.setattr(chunks, "_invariant", {})
    monkeypatch.setattr(chunks, "threads_allowed", lambda: 2)
    monkeypatch.setattr(chunks, "_invariant_at",
                        lambda sizes, B, *rest: seen.append((B, rest[-1])) or True)
    assert chunks.blas_count_invariant([64, 100, 10], (200, 100), np.float64,
                                       config.loop_max(np.float64), scored=(100, 70, 0))
    # 100 rows are trained (backward too), so checked once as such.
    assert seen == [(100, True), (200, True), (70, False)]
