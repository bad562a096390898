"""How the training driver cuts a call into compiled chunks and how many
threads each chunk gets: chunk sizes by time, the thread count by measuring,
and the call of one chunk with its fallback to serial.

Chunks are sized to about ``config.CHUNK_SECONDS`` of work, so Python sees
Ctrl-C, reports progress and calls back within a fraction of a second at any
shape while the per-chunk cost stays negligible.
"""
import numpy as np

from ..kernels import config, threads
from ..kernels.matmul import DZ_WT, XT_DZ, XW, looped


def step_flops(sizes, batch_rows):
    """Flops of one iteration's products: 6 B sum(fan_in fan_out)."""
    sizes = np.asarray(sizes, np.float64)
    return 6.0 * batch_rows * float(np.dot(sizes[:-1], sizes[1:]))


def first_chunk(flops):
    """Iterations of the first chunk of a step of ``flops``: about a fifth of
    CHUNK_SECONDS at an optimistic FIRST_CHUNK_FLOPS, so that short calls run
    in one chunk and a large step is not repeated blind before it has been
    timed."""
    return max(1, int(0.2 * config.CHUNK_SECONDS * config.FIRST_CHUNK_FLOPS / max(flops, 1.0)))


def next_chunk(k, elapsed):
    """The next chunk's iterations after ``k`` took ``elapsed`` seconds: towards
    CHUNK_SECONDS of work, growing at most 8x at a time."""
    return max(1, min(8 * k, int(k * config.CHUNK_SECONDS / max(elapsed, 1e-9))))


class ThreadPolicy:
    """Chooses the thread count of each training chunk by measuring.

    Two threads make the large products ~1.6x faster on a quiet 2-core
    machine, but when another program holds a core, every product waits for
    the thread that shares it: the digits step took 4.1x longer busy with 2
    threads and 1.0x with 1 (measured; see the README). So the driver times
    its chunks with the current count and now and then a short chunk with
    the other; the faster wins. Probes come every PROBE_EVERY seconds at
    first, then less often while they confirm the choice, and at once when
    the current count's chunks slow down by CHANGED (``kernels.config``).
    For an unsplit iteration the count is OpenBLAS's threads, for a split
    one the threads its blocks run on.
    """

    def __init__(self, most, fixed=None):
        self.candidates = [fixed] if fixed is not None else sorted({most, 1}, reverse=True)
        self.current = self.candidates[0]
        self.per_it = {}
        self.last_probe = -1e9
        self.interval = config.PROBE_EVERY
        self.calls = 0  # training calls served (``net.training._Plan``)

    def next(self, now):
        """``(threads, probing)`` for the next chunk."""
        if len(self.candidates) == 1 or self.current not in self.per_it:
            return self.current, False
        if now - self.last_probe >= self.interval:
            self.last_probe = now
            other = [c for c in self.candidates if c != self.current][0]
            return other, True
        return self.current, False

    def record(self, n_threads, seconds_per_it, probing):
        before = self.per_it.get(n_threads)
        self.per_it[n_threads] = seconds_per_it
        if not probing:
            if before is not None and seconds_per_it > config.CHANGED * before:
                self.last_probe, self.interval = -1e9, config.PROBE_EVERY  # probe next
            return
        mine = self.per_it.get(self.current)
        if mine is not None and seconds_per_it < config.SWITCH * mine:
            self.current, self.interval = n_threads, config.PROBE_EVERY
        else:
            self.interval = min(2 * self.interval, config.PROBE_EVERY_MAX)


_policies = {}


def threads_allowed():
    """The most threads a training call may use now: fusednet's limit and
    the BLAS's (a threadpoolctl limit included)."""
    return min(threads.get_num_threads(), max(threads.blas().get(), 1))


def thread_policy(flops_per_iteration, invariant=True, kind=None):
    """The policy of one size and ``kind`` of work (steps within a factor of
    2 of each other share it, across training calls, when their ``kind``
    matches: the trainer passes the dtype and whether the step is split,
    whose times differ 2x at one flop count), for the threads allowed now.

    ``invariant``: whether the step's numbers are the same on any thread
    count (:func:`blas_count_invariant`). If not, the count is not measured
    but fixed by the size (:func:`fixed_threads`), so that the same seed
    gives the same model on a quiet and on a busy machine."""
    most = threads_allowed()
    key = (int(flops_per_iteration).bit_length(), most, bool(invariant), kind)
    if key not in _policies:
        fixed = None if invariant else fixed_threads(flops_per_iteration, most)
        _policies[key] = ThreadPolicy(most, fixed)
    return _policies[key]


def fixed_threads(flops_per_iteration, most):
    """The thread count of a step whose numbers depend on it: ``most`` from
    ``config.BLAS_THREADS_FLOPS`` up, one below."""
    return most if flops_per_iteration >= config.BLAS_THREADS_FLOPS else 1


_invariant = {}


def blas_count_invariant(sizes, rows, dtype, loop_max, dense_input=True, scored=()):
    """Whether every BLAS product of a training step of a net of layer
    ``sizes`` on batches of each of ``rows`` (the row counts its batches
    take: a full batch, an epoch's last one, ...), and of its scoring of
    each of ``scored`` rows (the validation set's last chunk), gives the
    same bits on one thread and on the most allowed. OpenBLAS splits a product's output over its
    threads, and at some shapes the pieces' edges go through other
    micro-kernels that round differently (float32 here: 64 x 150 @ 150 x
    100 differs in the last bits; float64 at 256 x 784 @ 784 x 512 on
    AVX-512 kernels, and 100 x 100 @ 100 x 64 on this machine's). Found once
    per shape and process by running on random numbers, both ways, the
    products the step runs (:func:`step_products`) that go to BLAS: those
    with ``m n k`` at or below their form's limit in ``loop_max`` (the
    ``config.loop_max`` triple) and an inner size ``matmul.looped`` allows
    are loops; so are the first layer's where the input is sparse, not
    ``dense_input``."""
    most = threads_allowed()
    if most < 2:
        return True
    sizes = tuple(int(n) for n in sizes)
    limits = tuple(int(v) for v in loop_max)
    trained = {int(B) for B in rows if B > 0}
    checks = [(B, True) for B in sorted(trained)]
    checks += [(int(B), False) for B in sorted({int(B) for B in scored})
               if B > 0 and B not in trained]
    return all(_invariant_at(sizes, B, np.dtype(dtype), limits, dense_input, most, backward)
               for B, backward in checks)


def _invariant_at(sizes, B, dtype, limits, dense_input, most, backward=True):
    """:func:`blas_count_invariant` for B rows, trained (``backward``) or
    only scored (found once a process); limits: ``loop_max`` as a tuple."""
    key = (sizes, B, dtype.str, most, bool(dense_input), limits, bool(backward))
    if key not in _invariant:
        rng = np.random.default_rng(0)
        same = True
        for layer, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            if layer == 0 and not dense_input:
                continue
            X, W, dZ = (rng.standard_normal(shape).astype(dtype)
                        for shape in ((B, fan_in), (fan_in, fan_out), (B, fan_out)))
            # Their inner sizes k: too long a k goes to BLAS whatever the limit.
            ks = {XW: fan_in, XT_DZ: B, DZ_WT: fan_out}
            blas = [(a, b) for form, a, b in step_products(layer, X, W, dZ, backward)
                    if B * fan_in * fan_out > limits[form] or not looped(form, ks[form])]
            products = []
            for n in (1, most):
                with threads.blas_threads(n):
                    products.append([a @ b for a, b in blas])
            same = same and all(np.array_equal(a, b) for a, b in zip(*products))
        _invariant[key] = same
    return _invariant[key]


def step_products(layer, X, W, dZ, backward):
    """The products a step runs at ``layer``, as ``(form, A, B)`` (``form``:
    ``kernels.matmul``'s limit slot): the forward ``X W``; when ``backward``
    also ``X^T dZ`` and, past the first layer, ``dZ W^T``."""
    products = [(XW, X, W)]
    if backward:
        products.append((XT_DZ, X.T, dZ))
        if layer > 0:
            products.append((DZ_WT, dZ, W.T))
    return products


def call_chunk(call, parallel, blas):
    """``call(parallel)`` for one chunk. With ``parallel``, in a work-stealing
    region with BLAS on one thread where a parallel call is safe; otherwise
    ``call(False)`` with BLAS on ``blas`` threads. A threading layer that
    fails to load at the call (it warns once, and nothing ran) also falls
    back to serial."""
    if parallel:
        with threads.blas_threads(1):
            try:
                with threads.stealing_region() as ok:
                    if ok:
                        return call(True)
            except ValueError as exc:
                if "threading layer" not in str(exc):
                    raise
    with threads.blas_threads(blas):
        return call(False)
