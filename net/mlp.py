"""``MLP``: a fully-connected net of any depth with a softmax, logistic or
squared-error head, trained by the compiled loop of ``fusednet.kernels.loop``,
driven by ``net.training``.

The parameters live in one flat buffer; ``params`` maps ``W1, b1, ..., WL,
bL`` to views into it, so code that reads or perturbs ``net.params['W1']`` in
place (gradient checks, weight pictures) sees and changes the real weights. A
``params`` entry replaced by a new array is copied back into the buffer at
the next call.
"""
import math

import numpy as np

from ..kernels import config, loop
from ..kernels import mlp as K
from ..kernels.activations import IDENTITY, activation_code
from ..kernels.heads import head_code
from ..kernels.checks import (_first_nonfinite, check_arguments, check_bool, check_float_dtype,
                              check_number, check_seed, l2_factor)
from . import modelfile, training
from . import sampling as sampling_
from .architecture import as_layer_sizes
from .inputs import as_rows, as_targets
from .training import TrainingDiverged, TrainingInterrupted  # noqa: F401  (public here too)


#: How each argument of :meth:`MLP.train` is checked (``learning_rate`` and
#: ``optim_config`` by the update rule, ``update`` too, ``reg`` and ``l2`` by
#: ``l2_factor``), before any training: see ``kernels.checks.check_arguments``.
TRAIN_ARGS = {
    "learning_rate_decay": dict(low=0),
    "num_iters": dict(low=1, integer=True),
    "batch_size": dict(low=1, integer=True),
    "verbose": dict(bool=True),
    "sampling": dict(options=tuple(sampling_.SAMPLERS)),
    "decay_every": dict(low=1, integer=True),
    "keep_best": dict(bool=True),
    "callback": dict(callable=True, optional=True),
    "callback_every": dict(low=1, integer=True),
    "eval_every": dict(low=0, integer=True, optional=True),
}


class MLP:
    """Fully-connected net: affine -> act -> ... -> affine -> head.

    Parameters
    ----------
    layer_sizes : widths ``[D, H1, ..., C]``; at least two.
    activation : hidden activation, 'relu', 'tanh', 'sigmoid' or 'identity'.
    residual : add the identity skip ``a_l = act(a_{l-1} W_l + b_l + a_{l-1})``
        to every hidden layer whose fan-in equals its fan-out.
    weight_scale : std of the initial weights; None draws He-scaled
        (``sqrt(2 / fan_in)``, relu) or LeCun-scaled (``sqrt(1 / fan_in)``,
        the other activations).
    dtype : float64 or float32, for parameters and computation. Inputs of
        another dtype (or integers) are converted to it once per call, at the
        boundary; the kernels of ``fusednet.kernels`` refuse them instead.
    seed : int or ``np.random.Generator`` for initialisation and minibatches.
    head : the output and its loss (``kernels.heads``): 'softmax' (C >= 2
        classes, labels y (N,); mean cross-entropy), 'logistic' (one sigmoid
        unit per output: labels 0/1 (N,) with C = 1, or an indicator matrix
        (N, C) for multilabel; mean over rows of the summed binary
        cross-entropy), 'squared_error' (identity outputs, real targets
        (N,) or (N, C); ``0.5 * mean over rows of sum (s - t)**2``) or
        'poisson' (exponential outputs, counts t >= 0 (N,) or (N, C); half
        the Poisson deviance, ``mean over rows of sum t log(t / e^s) - t +
        e^s``: predictions are ``exp(scores)``).
    """

    def __init__(self, layer_sizes, activation="relu", residual=False, weight_scale=None,
                 dtype=np.float64, seed=None, *, head="softmax"):
        sizes = as_layer_sizes(layer_sizes)
        self._head = head_code(head)
        if head == "softmax" and sizes[-1] < 2:
            raise ValueError(f"the last width is the number of classes and must be >= 2 for the "
                             f"softmax head, got {sizes[-1]} (one output: head='logistic')")
        code = activation_code(activation)
        residual = check_bool("residual", residual)
        if weight_scale is not None:
            weight_scale = check_number("weight_scale", weight_scale, 0)
        dtype = check_float_dtype("dtype", dtype)
        self.layer_sizes = sizes
        self.activation = activation
        self.residual = residual
        self.dtype = dtype
        self.head = head
        self._rng = np.random.default_rng(check_seed("seed", seed))
        #: Where minibatches are drawn from (``net.sampling``).
        self._source = sampling_.GeneratorSource(self._rng)
        L = len(sizes) - 1
        self._sizes = np.array(sizes, np.int64)
        self._w_off, total = K.offsets(sizes)
        self._codes = np.array([code] * (L - 1) + [IDENTITY], np.int64)
        self._skip = np.array([self.residual and l < L - 1 and sizes[l] == sizes[l + 1]
                               for l in range(L)], np.bool_)
        self._theta = np.zeros(total, dtype)
        self._slices = {}
        for l in range(L):
            fi, fo = sizes[l], sizes[l + 1]
            start = int(self._w_off[l])
            self._slices[f"W{l + 1}"] = (slice(start, start + fi * fo), (fi, fo))
            self._slices[f"b{l + 1}"] = (slice(start + fi * fo, start + fi * fo + fo), (fo,))
        self._make_views()
        self._init_weights(weight_scale)

    def _make_views(self):
        """``params`` and ``_views``: each parameter as a view of the flat buffer."""
        self._views = {name: self._theta[sl].reshape(shape)
                       for name, (sl, shape) in self._slices.items()}
        self.params = dict(self._views)

    def _init_weights(self, weight_scale):
        for l, (fi, fo) in enumerate(zip(self.layer_sizes[:-1], self.layer_sizes[1:])):
            scale = weight_scale
            if scale == 0:
                continue
            if scale is None:
                scale = math.sqrt((2.0 if self.activation == "relu" else 1.0) / fi)
            self._views[f"W{l + 1}"][...] = scale * self._rng.standard_normal((fi, fo))

    def __getstate__(self):
        # The views into the flat buffer do not survive pickling as views:
        # keep the buffer and rebuild them.
        self._sync_params()
        state = dict(self.__dict__)
        del state["_views"], state["params"]
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        if "_source" not in state:  # pickled before samplers had sources
            self._source = sampling_.GeneratorSource(self._rng)
        if "head" not in state:  # pickled before heads
            self.head, self._head = "softmax", head_code("softmax")
        self._theta = np.array(self._theta, copy=True)
        self._make_views()

    # -- shape ------------------------------------------------------------------

    @property
    def num_parameters(self):
        """Learnable parameters: every weight and bias."""
        return int(self._theta.size)

    @property
    def num_classes(self):
        return self.layer_sizes[-1]

    def _sync_params(self):
        """Copy any ``params`` entry that was replaced back into the flat buffer."""
        for name, view in self._views.items():
            value = self.params.get(name)
            if value is view:
                continue
            if value is None:
                raise KeyError(f"params[{name!r}] is missing")
            value = np.asarray(value)
            if value.shape != view.shape:
                raise ValueError(f"params[{name!r}] has shape {value.shape}; expected {view.shape}")
            view[...] = value
            self.params[name] = view
        for name, view in self._views.items():
            if _first_nonfinite(view.reshape(-1)) >= 0:
                raise ValueError(f"params[{name!r}] contains NaN or Inf")

    # -- data ---------------------------------------------------------------------

    def _inputs(self, X, name="X"):
        """X as a C-contiguous, writeable, finite (n, D) array of the net's dtype
        (see :func:`fusednet.net.inputs.as_rows`)."""
        return as_rows(name, X, self.layer_sizes[0], self.dtype)

    def _targets(self, y, n, name="y"):
        """y as the head takes it (see :func:`fusednet.net.inputs.as_targets`)."""
        return as_targets(name, y, n, self.layer_sizes[-1], self.dtype, self.head)

    # -- evaluation -----------------------------------------------------------------

    def _net(self, grad=None):
        """A ``kernels.mlp.Net`` over this model's flat buffer (shared, not
        copied) and ``grad`` (a fresh buffer when None)."""
        return K.Net(self._theta, np.empty_like(self._theta) if grad is None else grad,
                     self._sizes, self._w_off, self._codes, self._skip, self._head)

    def scores(self, X):
        """The last layer's outputs (N, C) of X (N, D), before the head: class
        scores, logits, or the regression's predictions."""
        self._sync_params()
        X = self._inputs(X)
        net = self._net(self._theta[:0])
        sc = K.scratch(self._sizes, self.dtype, X.shape[0], config.loop_max(self.dtype))
        return K.forward(net, X, sc).copy()

    def score(self, X, y):
        """The score ``train()`` records for a split, computed the same way
        (compiled, ``kernels.mlp.score``): the accuracy (a multilabel net: the
        fraction of rows with every label right), or for a 'squared_error'
        head R^2 averaged over the outputs."""
        self._sync_params()
        X = self._inputs(X)
        n = X.shape[0]
        y = self._targets(y, n)
        sc = K.scratch(self._sizes, self.dtype, min(n, 4096), config.loop_max(self.dtype))
        return float(K.score(self._net(self._theta[:0]), X, y, sc))

    def predict(self, X):
        """softmax: labels (N,), the class of each row's highest score;
        logistic: labels 0/1 (N,) for one output, the indicator matrix (N, C)
        for several (each label on where its probability exceeds 0.5);
        squared_error: the predictions, (N,) for one output, else (N, C);
        poisson: the predicted means ``exp(scores)``, shaped alike."""
        s = self.scores(X)
        if self.head == "softmax":
            return np.argmax(s, axis=1)
        if self.head == "logistic":
            on = (s > 0).astype(np.int64)
            return on[:, 0] if on.shape[1] == 1 else on
        if self.head == "poisson":
            np.exp(s, out=s)
        return s[:, 0] if s.shape[1] == 1 else s

    def predict_proba(self, X):
        """softmax: class probabilities (N, C); logistic: (N, 2) for one
        output (the probabilities of 0 and 1), else each label's (N, C)."""
        s = self.scores(X)
        if self.head == "logistic":
            p = _sigmoid(s)
            return np.hstack([1 - p, p]) if p.shape[1] == 1 else p
        if self.head != "softmax":
            raise ValueError(f"predict_proba needs a softmax or logistic head; this net's is "
                             f"{self.head!r}")
        s -= s.max(axis=1, keepdims=True)
        np.exp(s, out=s)
        s /= s.sum(axis=1, keepdims=True)
        return s

    def loss(self, X, y=None, reg=0.0, *, l2="full", need_dX=False):
        """Scores (N, C) when y is None; else ``(loss, grads)``, grads keyed as
        ``params``, and with ``need_dX`` also dX (N, D), the input gradient."""
        if y is None:
            return self.scores(X)
        c = l2_factor(reg, l2)
        self._sync_params()
        X = self._inputs(X)
        n = X.shape[0]
        y = self._targets(y, n)
        net = self._net()
        sc = K.scratch(self._sizes, self.dtype, n, config.loop_max(self.dtype),
                       need_dX=bool(need_dX))
        loss = K.loss_grad(net, X, y, c, sc, bool(need_dX))
        grads = {name: net.grad[sl].reshape(shape) for name, (sl, shape) in self._slices.items()}
        return (float(loss), grads, sc.dX) if need_dX else (float(loss), grads)

    # -- training --------------------------------------------------------------------

    def packed(self):
        """The parameters as the compiled loop takes them: a
        ``kernels.mlp.Net`` over this model's flat buffer (shared, not
        copied), with a fresh gradient buffer."""
        self._sync_params()
        return self._net()

    def train(self, X, y, X_val, y_val, learning_rate=1e-3, learning_rate_decay=0.95,
              reg=5e-6, num_iters=100, batch_size=200, verbose=False, *, update="sgd",
              optim_config=None, sampling="replacement", decay_every=1, l2="full",
              keep_best=False, callback=None, callback_every=100, eval_every=None):
        """Minibatch training in compiled code; returns the histories.

        Each iteration: a minibatch (``sampling='replacement'``: drawn with
        replacement; ``'epochs'``: a shuffled pass without replacement, the
        last batch of an epoch smaller), loss and gradient, one ``update``
        step ('sgd', 'sgd_momentum', 'nesterov', 'rmsprop', 'adam', with
        CS231n's ``optim_config`` keys). An epoch is ``max(N // batch_size,
        1)`` iterations (``ceil(N / batch_size)`` for 'epochs'); at each epoch
        boundary, iteration 0 included, the minibatch's train accuracy (after
        its update) and the validation accuracy are recorded (for a
        'logistic' head with several outputs the fraction of rows with every
        label right; for 'squared_error' and 'poisson', R^2 of the
        predictions, averaged over the outputs),
        and every
        ``decay_every`` epochs the learning rate is multiplied by
        ``learning_rate_decay``. ``eval_every`` puts that boundary every
        ``eval_every`` iterations instead (0: never record nor decay).
        ``keep_best`` leaves the model with the parameters of the best
        validation accuracy, as CS231n's Solver does.
        ``callback(iteration, loss)`` is called every ``callback_every``
        iterations and after the last (between compiled chunks, so it costs
        nothing per step).

        A NaN or Inf loss, or parameters made NaN or Inf by the last update,
        stop training with :class:`TrainingDiverged` naming the iteration;
        the model keeps the parameters of the last iteration with a finite
        loss (the message says which). Ctrl-C raises
        :class:`TrainingInterrupted` within about a quarter of a second; the
        model keeps the parameters of the last finished iteration. Both
        exceptions carry the history so far.

        Returns ``{'loss_history', 'train_acc_history', 'val_acc_history'}``.
        """
        c = l2_factor(reg, l2)
        a = check_arguments(TRAIN_ARGS, dict(
            learning_rate_decay=learning_rate_decay, num_iters=num_iters, batch_size=batch_size,
            verbose=verbose, sampling=sampling, decay_every=decay_every, keep_best=keep_best,
            callback=callback, callback_every=callback_every, eval_every=eval_every))
        opt = training.Optimizer(update, optim_config, learning_rate, self._theta)
        net = self.packed()
        X, X_val = self._inputs(X), self._inputs(X_val, "X_val")
        N = X.shape[0]
        data = loop.Data(X, self._targets(y, N), X_val,
                         self._targets(y_val, X_val.shape[0], "y_val"))
        sampler = sampling_.sampler(a["sampling"], N, a["batch_size"], self._source)
        history = training.train(
            net, data, sampler, opt, l2_factor=c, decay=a["learning_rate_decay"],
            decay_every=a["decay_every"], eval_every=a["eval_every"], num_iters=a["num_iters"],
            keep_best=a["keep_best"], callback=a["callback"],
            callback_every=a["callback_every"] if a["callback"] else 0, verbose=a["verbose"])
        self.best_val_acc = float(opt.progress.best_val[0])
        return history

    # -- files ---------------------------------------------------------------------------

    def save(self, path):
        """Write the parameters and the architecture to an ``.npz`` file (``.npz``
        is appended to a name without it, as ``np.savez`` does); returns the path
        written. See :mod:`fusednet.net.modelfile` for the format."""
        self._sync_params()
        meta = dict(layer_sizes=list(self.layer_sizes), activation=self.activation,
                    residual=self.residual, dtype=self.dtype.name, cls=type(self).__name__,
                    head=self.head)
        return modelfile.write(path, meta, self._views)

    @classmethod
    def load(cls, path, *, expect=None):
        """A model from :meth:`save`'s file (``'m'`` reads ``m.npz`` when there
        is no file ``m``). ``expect`` (an MLP) makes any difference of
        architecture, activation or dtype an error. Every error names the file."""
        meta, arrays = modelfile.read(path)
        name = modelfile.resolve(path)
        head = meta.get("head", "softmax")  # files written before heads hold softmax nets
        if expect is not None:
            mine = (list(expect.layer_sizes), expect.activation, expect.residual, expect.dtype.name,
                    expect.head)
            theirs = (meta["layer_sizes"], meta["activation"], meta["residual"], meta["dtype"],
                      head)
            if mine != theirs:
                raise ValueError(f"{name} holds layer_sizes={theirs[0]}, activation={theirs[1]!r}, "
                                 f"residual={theirs[2]}, dtype={theirs[3]}, head={theirs[4]!r}; "
                                 f"expected layer_sizes={mine[0]}, activation={mine[1]!r}, "
                                 f"residual={mine[2]}, dtype={mine[3]}, head={mine[4]!r}")
        model = MLP(meta["layer_sizes"], meta["activation"], meta["residual"],
                    dtype=meta["dtype"], seed=0, head=head)
        for key, view in model._views.items():
            view[...] = arrays[key]
        return model

    def load_params(self, path):
        """Load :meth:`save`'s file into this model, refusing a mismatched one."""
        other = MLP.load(path, expect=self)
        self._theta[:] = other._theta
        self._make_views()


def _sigmoid(s):
    """sigmoid(s) without overflow: exp of a non-positive number only."""
    e = np.exp(-np.abs(s))
    return np.where(s >= 0, 1 / (1 + e), e / (1 + e))
