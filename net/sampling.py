"""Where minibatches come from: the samplers by name, each with its epoch
length, over an explicit source of random numbers.

A sampler's ``draw(it, k)`` returns ``(idx, lens)``: (k, B) int64 rows of X
and (k,) rows used, for iterations ``it .. it + k - 1``; ``batch_rows`` is B
and ``epoch_len`` the iterations of an epoch (the schedule's boundaries).

Sources keep each caller's stream exactly: the CS231n classes draw from
``np.random``'s global state (a notebook's ``np.random.seed`` decides), EECS
498 from torch's generator, ``MLP`` from its own ``Generator``, a search's
models from a private ``RandomState`` each.
"""
import numpy as np

from ..kernels.checks import check_choice


class GeneratorSource:
    """Draws from a ``np.random.Generator``."""

    def __init__(self, rng):
        self.rng = rng

    def integers(self, n, shape):
        return self.rng.integers(0, n, shape)

    def permutation(self, n):
        return self.rng.permutation(n)


class RandomStateSource:
    """Draws from a ``np.random.RandomState`` (``choice``, as the course's
    loop calls ``np.random.choice``)."""

    def __init__(self, state):
        self.state = state

    def integers(self, n, shape):
        return self.state.choice(n, shape)

    def permutation(self, n):
        return self.state.permutation(n)


class NumpyGlobalSource(RandomStateSource):
    """Draws from ``np.random``'s global state, as the CS231n course's code
    does (``np.random.choice(N, batch_size)`` per iteration; drawn a chunk at
    a time, which gives the same stream)."""

    def __init__(self):
        pass

    @property
    def state(self):
        return np.random


class TorchSource:
    """Draws as EECS 498's ``sample_batch`` does: ``torch.randint(0, N,
    (batch_size,))`` once per iteration from torch's default generator."""

    def integers(self, n, shape):
        from . import tensors
        torch = tensors.torch()
        count, batch = shape
        return np.stack([torch.randint(0, n, (batch,)).numpy() for _ in range(count)])

    def permutation(self, n):
        from . import tensors
        return tensors.torch().randperm(n).numpy()


NUMPY_GLOBAL = NumpyGlobalSource()
TORCH = TorchSource()


class Replacement:
    """Minibatches of ``batch_size`` rows drawn with replacement; an epoch is
    ``max(N // batch_size, 1)`` iterations (the course's)."""

    def __init__(self, n_rows, batch_size, source):
        self.n_rows, self.batch_rows, self.source = n_rows, batch_size, source
        self.epoch_len = max(n_rows // batch_size, 1)

    @property
    def batch_counts(self):
        """The row counts its batches take: always full."""
        return (self.batch_rows,)

    def draw(self, it, k):
        idx = self.source.integers(self.n_rows, (k, self.batch_rows))
        return idx, np.full(k, self.batch_rows, np.int64)


class Epochs:
    """Shuffled passes without replacement: a new permutation every
    ``ceil(N / B)`` iterations (an epoch), B = ``min(batch_size, N)``, the
    last batch of an epoch smaller."""

    def __init__(self, n_rows, batch_size, source):
        self.n_rows, self.source = n_rows, source
        self.batch_rows = min(batch_size, n_rows)
        self.epoch_len = -(-n_rows // self.batch_rows)
        self.order = None

    @property
    def batch_counts(self):
        """The row counts its batches take: full, and an epoch's last."""
        return (self.batch_rows, self.n_rows % self.batch_rows)

    def draw(self, it, k):
        B = self.batch_rows
        idx = np.zeros((k, B), np.int64)
        lens = np.empty(k, np.int64)
        for j in range(k):
            pos = (it + j) % self.epoch_len
            if pos == 0 or self.order is None:
                self.order = self.source.permutation(self.n_rows)
            rows = self.order[pos * B:(pos + 1) * B]
            idx[j, :len(rows)] = rows
            lens[j] = len(rows)
        return idx, lens


class Ordered:
    """One epoch over the rows in an order the caller gives (scikit-learn's
    shuffle, or none), ``ceil(N / B)`` batches of B rows, the last smaller:
    :meth:`start` sets the epoch's order, iterations count from 0 in it."""

    def __init__(self, n_rows, batch_size):
        self.n_rows = n_rows
        self.batch_rows = min(batch_size, n_rows)
        self.epoch_len = -(-n_rows // self.batch_rows)
        self.idx = np.zeros((self.epoch_len, self.batch_rows), np.int64)
        self.lens = np.full(self.epoch_len, self.batch_rows, np.int64)
        self.lens[-1] = n_rows - self.batch_rows * (self.epoch_len - 1)

    @property
    def batch_counts(self):
        """The row counts its batches take: full, and the epoch's last."""
        return (self.batch_rows, self.n_rows % self.batch_rows)

    def start(self, order):
        """Batches of this epoch: ``order`` (N,) cut into B-row pieces."""
        B = self.batch_rows
        for k in range(self.epoch_len):
            rows = order[k * B:(k + 1) * B]
            self.idx[k, :len(rows)] = rows

    def draw(self, it, k):
        return self.idx[it:it + k], self.lens[it:it + k]


#: The samplers ``MLP.train`` offers by name.
SAMPLERS = {"replacement": Replacement, "epochs": Epochs}


def sampler(name, n_rows, batch_size, source):
    """The sampler called ``name`` (a key of :data:`SAMPLERS`)."""
    return SAMPLERS[check_choice("sampling", name, tuple(SAMPLERS))](n_rows, batch_size, source)
