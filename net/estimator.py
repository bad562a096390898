"""``MLPClassifier`` and ``MLPRegressor``: scikit-learn estimators over the
compiled training loop.

Constructor parameters keep ``sklearn.neural_network``'s names and meanings:
``alpha`` is ``0.5 * alpha * sum(W**2) / n_batch``, ``batch_size='auto'`` is
``min(200, n)``, shuffled epochs without replacement, ``tol`` /
``n_iter_no_change`` stopping on the training loss or, with
``early_stopping``, on the score of a ``validation_fraction`` split (accuracy,
or R^2 for the regressor); solvers 'sgd' (momentum, Nesterov, 'constant' /
'invscaling' / 'adaptive' learning rates) and 'adam' (scikit-learn's form).
Weights start Glorot-uniform from the estimator's random state, drawn as
scikit-learn draws them.

The outputs are scikit-learn's (``out_activation_``): a softmax over the
classes of a multiclass problem, one logistic unit for two classes, one
logistic unit per label of an indicator matrix (multilabel), identity
outputs for the regressor (squared error, reported as scikit-learn reports
it: averaged over the outputs) or, with ``loss='poisson'``, exponential ones
(half the Poisson deviance). ``X`` may be sparse (CSR or CSC): it is read
as sparse rows (``kernels.sparse``), never densified. ``coefs_`` and
``intercepts_`` are the model's own arrays (views of its flat parameters):
changing one in place changes the model, and a list entry replaced by a new
array is copied in at the next call, as scikit-learn's attributes work.
"""
import inspect
import time
import warnings
from numbers import Integral, Real

import numpy as np
import scipy.optimize
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, _fit_context
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import r2_score
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, Options, StrOptions
from sklearn.utils.multiclass import (_check_partial_fit_first_call, type_of_target,
                                      unique_labels)
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import (_check_sample_weight, check_is_fitted, column_or_1d,
                                      validate_data)

from threadpoolctl import threadpool_limits

from ..kernels import config, full_batch, loop
from . import chunks, sampling, schedules, signals, training
from ..kernels.sparse import take_rows
from .inputs import as_csr, is_sparse
from .mlp import MLP, _sigmoid

_ACTIVATIONS = {"identity": "identity", "logistic": "sigmoid", "tanh": "tanh", "relu": "relu"}

#: scikit-learn's message for weights that stopped being finite, kept so that
#: code matching it keeps working.
NON_FINITE = ("Solver produced non-finite parameter weights. The input data may contain large "
              "values and need to be preprocessed.")


class EstimatorDiverged(training.TrainingDiverged, ValueError):
    """Training diverged (a ``TrainingDiverged``) inside ``fit``; also a
    ValueError, which scikit-learn raises for non-finite weights."""


def _sklearn_packing(net):
    """Where scikit-learn's packed vector (every layer's W, raveled, then
    every b) finds its entries in ``net.theta`` (W_l, b_l layer after layer)."""
    sizes, w_off = net.sizes, net.w_off
    W = [np.arange(w_off[l], w_off[l] + sizes[l] * sizes[l + 1]) for l in range(len(w_off))]
    b = [np.arange(w_off[l] + sizes[l] * sizes[l + 1], w_off[l] + sizes[l] * sizes[l + 1]
                   + sizes[l + 1]) for l in range(len(w_off))]
    return np.concatenate(W + b)


def _rows(X):
    """X as the compiled loop reads it: a C-contiguous array, or for a
    scipy.sparse X its CSR rows (``kernels.sparse.CSR``, never densified)."""
    return as_csr("X", X, None, X.dtype) if is_sparse(X) else np.ascontiguousarray(X)


class _BaseMLP(BaseEstimator):
    """What the classifier and the regressor share: parameters, the model,
    the epoch loop and the fitted attributes."""

    # scikit-learn's own constraints for these names, checked by its
    # validation at fit and partial_fit (InvalidParameterError, a ValueError
    # naming the parameter); a validation fraction of 0 (no validation set)
    # is refused.
    _parameter_constraints: dict = {
        "hidden_layer_sizes": ["array-like", Interval(Integral, 1, None, closed="left")],
        "activation": [StrOptions({"identity", "logistic", "tanh", "relu"})],
        "solver": [StrOptions({"lbfgs", "sgd", "adam"})],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "batch_size": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
        "learning_rate": [StrOptions({"constant", "invscaling", "adaptive"})],
        "learning_rate_init": [Interval(Real, 0, None, closed="neither")],
        "power_t": [Interval(Real, 0, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "shuffle": ["boolean"],
        "random_state": ["random_state"],
        "tol": [Interval(Real, 0, None, closed="left")],
        "verbose": ["verbose"],
        "warm_start": ["boolean"],
        "momentum": [Interval(Real, 0, 1, closed="both")],
        "nesterovs_momentum": ["boolean"],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "beta_1": [Interval(Real, 0, 1, closed="left")],
        "beta_2": [Interval(Real, 0, 1, closed="left")],
        "epsilon": [Interval(Real, 0, None, closed="neither")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left"), Options(Real, {np.inf})],
        "max_fun": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, solver="adam",
                 alpha=0.0001, batch_size="auto", learning_rate="constant",
                 learning_rate_init=0.001, power_t=0.5, max_iter=200, shuffle=True,
                 random_state=None, tol=1e-4, verbose=False, warm_start=False, momentum=0.9,
                 nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1,
                 beta_1=0.9, beta_2=0.999, epsilon=1e-8, n_iter_no_change=10, max_fun=15000):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun

    def _hidden_sizes(self):
        sizes = ([self.hidden_layer_sizes] if np.isscalar(self.hidden_layer_sizes)
                 else list(self.hidden_layer_sizes))
        if not sizes or any(isinstance(s, (bool, np.bool_)) or int(s) != s or s < 1 for s in sizes):
            raise ValueError("hidden_layer_sizes must hold positive integers, got "
                             f"{self.hidden_layer_sizes!r}")
        return [int(s) for s in sizes]

    # -- fitting ----------------------------------------------------------------------

    def _fit(self, X, y, incremental, sample_weight=None):
        hidden = self._hidden_sizes()
        if self.early_stopping and incremental:
            raise ValueError("partial_fit does not support early_stopping=True")
        first = not hasattr(self, "coefs_") or not (incremental or self.warm_start)
        X, targets, strata = self._validate_input(X, y, incremental, reset=first)
        if sample_weight is not None:
            # scikit-learn's check; the kernels weigh rows in float64.
            sample_weight = np.ascontiguousarray(_check_sample_weight(sample_weight, X),
                                                 dtype=np.float64)
        # As scikit-learn: drawn afresh from random_state at every call (an
        # int seeds the same stream each time: its initial weights, split
        # and shuffles).
        self._random_state = check_random_state(self.random_state)
        if first:
            self._init_model(X.shape[1], hidden, X.dtype)
        else:
            self._adopt_attributes(X.dtype)
            X = X.astype(self._model.dtype, copy=False)
            if targets.ndim == 2:  # targets, not labels: in the model's dtype
                targets = targets.astype(self._model.dtype, copy=False)
        if self.solver == "lbfgs":
            self._fit_lbfgs(X, targets, sample_weight)
        else:
            self._train(X, targets, strata, incremental, sample_weight)
        if not all(np.isfinite(w).all() for w in self.coefs_ + self.intercepts_):
            raise ValueError(NON_FINITE)
        return self

    def _new_model(self, sizes, dtype):
        """A zero-initialised model of widths ``sizes`` with this estimator's
        activation and head."""
        return MLP(sizes, _ACTIVATIONS[self.activation], weight_scale=0.0, dtype=dtype,
                   head=self._head)

    def _init_model(self, n_features, hidden, dtype):
        sizes = [n_features] + hidden + [self.n_outputs_]
        self._model = self._new_model(sizes, dtype)
        rs = self._random_state
        factor = 2.0 if self.activation == "logistic" else 6.0
        for l, (fi, fo) in enumerate(zip(sizes[:-1], sizes[1:])):
            bound = np.sqrt(factor / (fi + fo))
            self._model.params[f"W{l + 1}"][...] = rs.uniform(-bound, bound, (fi, fo))
            self._model.params[f"b{l + 1}"][...] = rs.uniform(-bound, bound, fo)
        self._link_attributes()
        self._optimizer = None
        self.n_layers_ = len(sizes)
        self.n_iter_ = 0
        self.t_ = 0
        if self.solver != "lbfgs":  # as scikit-learn: the stochastic solvers' record
            self.loss_curve_ = []
            self._no_improvement_count = 0
            self.best_loss_ = None if self.early_stopping else np.inf
            self.validation_scores_ = [] if self.early_stopping else None
            self.best_validation_score_ = -np.inf if self.early_stopping else None

    def _model_views(self):
        """The model's parameters as views: ``([W1, ...], [b1, ...])``."""
        L = len(self._model.layer_sizes) - 1
        views = self._model.params
        return ([views[f"W{l + 1}"] for l in range(L)], [views[f"b{l + 1}"] for l in range(L)])

    def _link_attributes(self):
        """``coefs_`` and ``intercepts_`` as views of the model's parameters."""
        self.coefs_, self.intercepts_ = self._model_views()

    def _adopt_attributes(self, dtype):
        """Continue from ``coefs_`` and ``intercepts_`` as they are now: the
        model's own views, arrays put in their place, or (no model yet)
        arrays set by hand, as scikit-learn's worked example does."""
        coefs, intercepts = list(self.coefs_), list(self.intercepts_)
        sizes = [np.shape(coefs[0])[0]] + [np.shape(c)[1] for c in coefs]
        model = getattr(self, "_model", None)
        if sizes[-1] != self.n_outputs_ or (model is not None and model.head != self._head):
            raise ValueError(
                f"this model has {sizes[-1]} {model.head if model else ''} output(s) where "
                f"these targets need {self.n_outputs_} {self._head} output(s) (a model fitted by "
                f"fusednet before scikit-learn's outputs has two softmax outputs for two "
                f"classes); fit it anew (warm_start=False) instead of continuing it")
        if model is None or list(model.layer_sizes) != sizes:
            self._model = self._new_model(sizes, dtype)
            self._optimizer = None
        for l, (W, b) in enumerate(zip(coefs, intercepts)):
            self._model.params[f"W{l + 1}"][...] = W
            self._model.params[f"b{l + 1}"][...] = np.reshape(b, -1)
        self._link_attributes()
        self.n_layers_ = len(sizes)
        for name, value in (("n_iter_", 0), ("t_", 0), ("loss_curve_", []),
                            ("_no_improvement_count", 0), ("best_loss_", np.inf),
                            ("validation_scores_", None), ("best_validation_score_", None)):
            if not hasattr(self, name):
                setattr(self, name, value)

    def _optimizer_for(self):
        """A new optimizer (the rule's state, the learning rate and the step
        count), made at each ``fit`` and kept across ``partial_fit`` calls,
        as scikit-learn's."""
        if self.solver == "sgd":
            rule = "nesterov" if self.nesterovs_momentum and self.momentum > 0 else "sgd_momentum"
            cfg = {"momentum": self.momentum}
            schedule = {"constant": schedules.Constant(), "adaptive": schedules.Adaptive(),
                        "invscaling": schedules.InvScaling(self.power_t)}[self.learning_rate]
        else:
            rule = "adam_folded"
            cfg = {"beta1": self.beta_1, "beta2": self.beta_2, "epsilon": self.epsilon}
            schedule = schedules.Constant()
        return training.Optimizer(rule, cfg, self.learning_rate_init, self._model.packed().theta,
                                  schedule)

    def _fit_lbfgs(self, X, y, sample_weight):
        """Full-batch L-BFGS-B through SciPy, called as scikit-learn calls it
        (``max_iter``, ``max_fun``, ``gtol=tol``), over scikit-learn's packing
        of the parameters (every W, then every b); the loss and gradient one
        compiled call on all of X in fixed blocks of rows, over threads
        (``kernels.full_batch``: the same bits on any thread count).

        Ctrl-C keeps the last iterate SciPy accepted and raises
        ``TrainingInterrupted``; a run whose loss or parameters end
        non-finite keeps the last finite iterate and raises
        ``EstimatorDiverged`` (scikit-learn's ValueError)."""
        X = _rows(X)
        n = X.shape[0]
        net = self._model.packed()
        total = float(sample_weight.sum()) if sample_weight is not None else float(n)
        loop_max = config.loop_max(net.theta.dtype)
        bl = full_batch.blocks(net, n, config.FULL_BATCH_ROWS, loop_max, sample_weight)
        c = float(self.alpha) / total
        theta, grad = net.theta, net.grad
        order = _sklearn_packing(net)  # x = theta[order]
        split = bl.losses.shape[0] > 1

        # A policy of its own: a full-batch evaluation is not a training
        # chunk, and its timings must not steer the minibatch loop's. One
        # block's products run on BLAS's threads: where their numbers depend
        # on the count, it is fixed (net.chunks.thread_policy).
        most = chunks.threads_allowed()
        invariant = split or chunks.blas_count_invariant(
            net.sizes, (n,), theta.dtype, loop_max,
            dense_input=isinstance(X, np.ndarray))
        policy = chunks.ThreadPolicy(most, None if invariant else chunks.fixed_threads(
            chunks.step_flops(net.sizes, n), most))

        def evaluate(parallel):
            return full_batch.full_batch_loss_grad(net, X, y, c, bl, total, parallel)

        def loss_grad(x):
            theta[order] = x
            n_threads, probing = policy.next(time.perf_counter())
            start = time.perf_counter()
            loss = chunks.call_chunk(evaluate, split and n_threads >= 2, n_threads)
            policy.record(n_threads, time.perf_counter() - start, probing)
            return float(loss), grad[order].astype(np.float64)

        accepted = {"x": theta[order].astype(np.float64), "fun": np.nan, "nit": 0}

        def keep(intermediate_result):  # each iterate SciPy accepts
            if np.isfinite(intermediate_result.fun) and np.isfinite(intermediate_result.x).all():
                accepted.update(x=intermediate_result.x.copy(), fun=intermediate_result.fun)
            accepted["nit"] += 1

        # SciPy's L-BFGS-B makes BLAS calls of P entries between ours: on
        # more than one thread its pool and the kernels' spin against each
        # other, and a fit took 10x longer on 2 cores (digits: 1.1 s against
        # 0.12 s). Its BLAS runs on one thread; the kernels' blocks on the
        # threads the policy measures best, as in minibatch training.
        try:
            with threadpool_limits(limits=1, user_api="blas"), signals.stop_on_terminate():
                res = scipy.optimize.minimize(
                    loss_grad, accepted["x"], method="L-BFGS-B", jac=True, callback=keep,
                    options={"maxfun": self.max_fun, "maxiter": self.max_iter, "gtol": self.tol})
        except KeyboardInterrupt as exc:
            theta[order] = accepted["x"]
            self.n_iter_ = accepted["nit"]
            raise training.TrainingInterrupted(
                f"{training.interrupted(exc, 'lbfgs')} after iteration {accepted['nit']}; the "
                f"model keeps the parameters of that iterate", {"loss": accepted["fun"]},
                signals.signum_of(exc)) from None
        self.n_iter_ = min(res.nit, self.max_iter)
        if not (np.isfinite(res.fun) and np.isfinite(res.x).all()):
            theta[order] = accepted["x"]
            raise EstimatorDiverged(
                f"{NON_FINITE} (lbfgs: the loss or the parameters became NaN or Inf; the "
                f"model keeps the last finite iterate, after iteration {accepted['nit']})",
                {"loss": accepted["fun"]}, res.nit)
        if res.status != 0:
            warnings.warn(f"lbfgs failed to converge after {self.n_iter_} iteration(s) "
                          f"(status={res.status}):\n{res.message}\n"
                          + (f"\nIncrease the number of iterations to improve the convergence "
                             f"(max_iter={self.max_iter})." if self.n_iter_ == self.max_iter
                             else ""), ConvergenceWarning)
        self.loss_ = float(res.fun)
        theta[order] = res.x

    def _train(self, X, y, strata, incremental, w):
        """Epochs over (X, y) (``y`` as the model takes it), rows weighted by
        ``w`` (or None); ``strata`` stratifies the early-stopping split (or
        None)."""
        model = self._model
        if self._optimizer is None or not incremental:
            self._optimizer = self._optimizer_for()
        rs = self._random_state
        early = self.early_stopping and not incremental
        X_val = y_val = w_val = None
        if early:
            # One call, as scikit-learn's: the same split, weights alongside.
            parts = train_test_split(X, y, *(() if w is None else (w,)), random_state=rs,
                                     test_size=self.validation_fraction, stratify=strata)
            X, X_val, y, y_val = parts[:4]
            if w is not None:
                w, w_val = parts[4:]
            if X_val.shape[0] < 2:
                raise ValueError("The validation set is too small. Increase "
                                 "'validation_fraction' or the size of your dataset.")
        X, y = _rows(X), np.ascontiguousarray(y)
        n = X.shape[0]
        B = min(200, n) if self.batch_size == "auto" else min(int(self.batch_size), n)
        if self.batch_size != "auto" and self.batch_size > n:
            warnings.warn("Got `batch_size` less than 1 or larger than sample size. "
                          "It is going to be clipped", UserWarning)
        batches = sampling.Ordered(n, B)
        self.n_iter_ = 0  # epochs of this call, as scikit-learn counts them (t_ adds up)
        # An epoch evaluates nothing in the loop (no schedule): scikit-learn
        # scores the validation split itself, below, once per epoch.
        data = loop.Data(X, y, take_rows(X, 0, 0), y[:0],
                         np.empty(0) if w is None else np.ascontiguousarray(w))
        s = training.Session(model.packed(), data, batch_rows=B,
                             optimizer=self._optimizer, l2_factor=float(self.alpha),
                             per_row=True, num_iters=batches.epoch_len, keep_best=early,
                             batch_counts=batches.batch_counts)
        order = np.arange(n)
        for _ in range(1 if incremental else self.max_iter):
            if self.shuffle:
                # scikit-learn's scheme: each epoch shuffles the previous
                # epoch's order (utils.shuffle: a permutation drawn from the
                # random state, applied to the order so far).
                order = order[rs.permutation(n)]
            batches.start(order)
            try:
                training.run(s, batches.draw, 0, batches.epoch_len)
            except training.TrainingDiverged as exc:
                if early:
                    # scikit-learn scores a diverged epoch NaN and keeps the
                    # best epoch's weights; it stops here, the rest lost anyway.
                    self.validation_scores_.append(float("nan"))
                    warnings.warn(f"epoch {self.n_iter_ + 1}: {exc}; the weights of the best "
                                  "validation score are kept", ConvergenceWarning)
                    break
                raise EstimatorDiverged(
                    f"{NON_FINITE} (epoch {self.n_iter_ + 1}: {exc}; try a smaller "
                    "learning_rate_init)", {"loss_curve": list(self.loss_curve_)},
                    exc.iteration) from None
            self.n_iter_ += 1
            self.loss_ = float(np.dot(s.history(batches.epoch_len)["loss_history"],
                                      batches.lens) / n)
            self.t_ += n
            self.loss_curve_.append(self.loss_)
            if self.verbose:
                print(f"Iteration {self.n_iter_}, loss = {self.loss_:.8f}")
            if early:
                score = self._validation_score(X_val, y_val, w_val)
                self.validation_scores_.append(score)
                if self.verbose:
                    print(f"Validation score: {score:f}")
                if score < self.best_validation_score_ + self.tol:
                    self._no_improvement_count += 1
                else:
                    self._no_improvement_count = 0
                if score > self.best_validation_score_:
                    self.best_validation_score_ = score
                    s.remember_best()
            else:
                if self.loss_curve_[-1] > self.best_loss_ - self.tol:
                    self._no_improvement_count += 1
                else:
                    self._no_improvement_count = 0
                self.best_loss_ = min(self.best_loss_, self.loss_curve_[-1])
            self._optimizer.iteration_ends(self.t_)
            if self._no_improvement_count > self.n_iter_no_change:
                if self._optimizer.trigger_stopping("", False):
                    break
                self._no_improvement_count = 0
            if incremental:
                break
        else:
            if not incremental:
                warnings.warn(f"Stochastic Optimizer: Maximum iterations ({self.max_iter}) reached "
                              "and the optimization hasn't converged yet.", ConvergenceWarning)
        s.restore_best()

    def _check_solver(self):
        """partial_fit exists for the stochastic solvers only (an
        AttributeError otherwise, so ``hasattr`` says so), as scikit-learn's."""
        if self.solver == "lbfgs":
            raise AttributeError(f"partial_fit is only available for stochastic optimizers. "
                                 f"{self.solver} is not stochastic.")
        return True

    # -- prediction -------------------------------------------------------------------------

    def _checked(self, X):
        check_is_fitted(self, "coefs_")
        if getattr(self, "_model", None) is None or self._replaced():
            self._adopt_attributes(np.asarray(self.coefs_[0]).dtype)
        X = validate_data(self, X, accept_sparse=["csr", "csc"], dtype=(np.float64, np.float32),
                          reset=False)
        return X.astype(self._model.dtype, copy=False)

    def _replaced(self):
        """Whether an entry of ``coefs_`` or ``intercepts_`` is no longer the
        model's own view (a new array put in the list)."""
        coefs, intercepts = self._model_views()
        return any(a is not b for a, b in zip(self.coefs_ + self.intercepts_, coefs + intercepts))

    def __setstate__(self, state):
        super().__setstate__(state)
        if getattr(self, "_model", None) is not None and "coefs_" in self.__dict__:
            self._link_attributes()  # the pickled lists are copies; views again

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags


class MLPClassifier(ClassifierMixin, _BaseMLP):
    """Multi-layer perceptron classifier, trained by fused Numba kernels.

    See ``sklearn.neural_network.MLPClassifier`` for the parameters; 'lbfgs'
    runs SciPy's L-BFGS-B on the full batch (``max_iter``, ``max_fun``,
    ``tol`` as scikit-learn passes them), 'sgd' and 'adam' the compiled
    minibatch loop. ``y`` holds labels of two or more classes
    (softmax over them; one logistic unit for two), or a label indicator
    matrix (multilabel: a logistic unit per label; ``predict`` returns the
    indicator matrix, ``predict_proba`` each label's probability).
    """

    # The constructor is _BaseMLP's: scikit-learn's MLPClassifier signature.

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Train on X (n_samples, n_features) and labels y (or an indicator
        matrix), rows weighted by ``sample_weight`` as scikit-learn weighs
        them; returns self."""
        return self._fit(X, y, incremental=False, sample_weight=sample_weight)

    @available_if(lambda est: est._check_solver())
    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, sample_weight=None, classes=None):
        """One epoch over (X, y); ``classes`` is required on the first call."""
        if _check_partial_fit_first_call(self, classes):
            self._label_binarizer = LabelBinarizer()
            if type_of_target(y).startswith("multilabel"):
                self._label_binarizer.fit(y)
            else:
                self._label_binarizer.fit(classes)
        return self._fit(X, y, incremental=True, sample_weight=sample_weight)

    def _validate_input(self, X, y, incremental, reset):
        X, y = validate_data(self, X, y, accept_sparse=["csr", "csc"], multi_output=True,
                             dtype=(np.float64, np.float32),
                             reset=reset)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        if not hasattr(self, "classes_") or not (self.warm_start or incremental):
            self._label_binarizer = LabelBinarizer().fit(y)
            self.classes_ = self._label_binarizer.classes_
        else:
            classes = unique_labels(y)
            if self.warm_start:
                if set(classes) != set(self.classes_):
                    raise ValueError("warm_start can only be used where `y` has the same classes "
                                     f"as in the previous call to fit. Previously got "
                                     f"{self.classes_}, `y` has {classes}")
            elif len(np.setdiff1d(classes, self.classes_, assume_unique=True)):
                raise ValueError(f"`y` has classes not in `self.classes_`. `self.classes_` has "
                                 f"{self.classes_}. 'y' has {classes}.")
        Y = self._label_binarizer.transform(y).astype(bool)
        if self._label_binarizer.y_type_ == "multiclass":
            self._head, self.out_activation_ = "softmax", "softmax"
            targets = np.argmax(Y, axis=1).astype(np.intp)
        else:
            self._head, self.out_activation_ = "logistic", "logistic"
            targets = np.asarray(Y, dtype=X.dtype)
        self.n_outputs_ = Y.shape[1]
        # The early-stopping split is stratified for one output (two
        # classes) only, by the binarized labels, as scikit-learn's.
        return X, targets, (Y if self.n_outputs_ == 1 else None)

    def _validation_score(self, X_val, y_val, w_val):
        """Accuracy on the validation split (y_val as the model takes it),
        weighted by ``w_val`` (or None)."""
        pred = self._model.predict(X_val)
        if pred.ndim == 1 and y_val.ndim == 2:
            pred = pred[:, None]
        right = np.all(pred == y_val, axis=1) if y_val.ndim == 2 else pred == y_val
        return float(np.average(right, weights=w_val))

    def _probabilities(self, X):
        s = self._model.scores(X)
        if self.out_activation_ == "logistic":
            return _sigmoid(s)
        s -= s.max(axis=1, keepdims=True)
        np.exp(s, out=s)
        s /= s.sum(axis=1, keepdims=True)
        return s

    def predict_proba(self, X):
        """Class probabilities (n_samples, n_classes), columns in ``classes_``
        order; for an indicator matrix each label's probability."""
        p = self._probabilities(self._checked(X))
        return np.hstack([1 - p, p]) if p.shape[1] == 1 else p

    def predict_log_proba(self, X):
        """Log of :meth:`predict_proba`: for a softmax, from the scores without
        underflow; for logistic units, ``log(predict_proba)`` as scikit-learn
        computes it (so that its argmax ties where the probabilities' do)."""
        X = self._checked(X)  # first: it raises NotFittedError before fit
        if self.out_activation_ == "logistic":
            p = self.predict_proba(X)
            with np.errstate(divide="ignore"):
                return np.log(p, out=p)
        s = self._model.scores(X)
        s -= s.max(axis=1, keepdims=True)
        return s - np.log(np.exp(s).sum(axis=1, keepdims=True))

    def predict(self, X):
        """Labels (n_samples,) from ``classes_``, or the indicator matrix."""
        X = self._checked(X)
        if self.out_activation_ == "softmax":
            return self.classes_[np.argmax(self._model.scores(X), axis=1)]
        p = self._probabilities(X)
        return self._label_binarizer.inverse_transform(p[:, 0] if p.shape[1] == 1 else p)

    def __setstate__(self, state):
        if "_label_encoder" in state and "coefs_" not in state:
            # Pickled before scikit-learn's outputs (fusednet 0.1.0 up to heads):
            # a softmax over every class, two for a binary problem. It keeps
            # predicting as it did; a new fit makes scikit-learn's outputs.
            state = dict(state, out_activation_="softmax", _head="softmax",
                         _label_binarizer=LabelBinarizer().fit(state["classes_"]))
            state.pop("_label_encoder")
        super().__setstate__(state)
        if "coefs_" not in self.__dict__ and getattr(self, "_model", None) is not None:
            self._link_attributes()

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags


class MLPRegressor(RegressorMixin, _BaseMLP):
    """Multi-layer perceptron regressor, trained by fused Numba kernels.

    See ``sklearn.neural_network.MLPRegressor`` for the parameters. ``y`` is
    (n_samples,) or (n_samples, n_outputs). ``loss='squared_error'``: half
    the squared error averaged over the outputs, as scikit-learn reports it,
    with the gradient scikit-learn follows ((prediction - y) / n_batch);
    ``loss='poisson'``: exponential outputs (``out_activation_ = 'exp'``)
    and half the Poisson deviance summed over the outputs, for counts
    ``y >= 0``.
    """

    _parameter_constraints: dict = {**_BaseMLP._parameter_constraints,
                                    "loss": [StrOptions({"squared_error", "poisson"})]}
    def __init__(self, loss="squared_error", hidden_layer_sizes=(100,), activation="relu",
                 **shared):
        self.loss = loss
        super().__init__(hidden_layer_sizes, activation, **shared)

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Train on X (n_samples, n_features) and targets y (n_samples,) or
        (n_samples, n_outputs), rows weighted by ``sample_weight``; returns self."""
        return self._fit(X, y, incremental=False, sample_weight=sample_weight)

    @available_if(lambda est: est._check_solver())
    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, sample_weight=None):
        """One epoch over (X, y)."""
        return self._fit(X, y, incremental=True, sample_weight=sample_weight)

    def _validate_input(self, X, y, incremental, reset):
        X, y = validate_data(self, X, y, accept_sparse=["csr", "csc"], multi_output=True,
                             y_numeric=True,
                             dtype=(np.float64, np.float32), reset=reset)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        Y = y.reshape(-1, 1) if y.ndim == 1 else y
        if self.loss == "poisson":
            if (y < 0).any():  # scikit-learn would train on a NaN loss
                raise ValueError("loss='poisson' needs targets y >= 0 (counts or rates); "
                                 f"y has {int((y < 0).sum())} negative value(s)")
            self._head, self.out_activation_ = "poisson", "exp"
        else:  # squared_mean: scikit-learn's report (the mean over outputs), its gradient
            self._head, self.out_activation_ = "squared_mean", "identity"
        self.n_outputs_ = Y.shape[1]
        return X, np.ascontiguousarray(Y, dtype=X.dtype), None

    def _validation_score(self, X_val, y_val, w_val):
        pred = self._model.predict(X_val).reshape(y_val.shape)
        if not np.isfinite(pred).all():
            return float("nan")
        return float(r2_score(y_val, pred, sample_weight=w_val))

    def predict(self, X):
        """Predictions (n_samples,) for one output, else (n_samples, n_outputs)."""
        X = self._checked(X)  # first: NotFittedError before fit
        return self._model.predict(X)


# scikit-learn reads an estimator's parameters from its constructor's
# signature (get_params, clone, repr): the regressor's is scikit-learn's,
# ``loss`` first and then the shared keyword-only ones, not ``**shared``.
_SHARED = list(inspect.signature(_BaseMLP.__init__).parameters.values())
MLPRegressor.__init__.__signature__ = inspect.Signature(
    [_SHARED[0], inspect.Parameter("loss", inspect.Parameter.POSITIONAL_OR_KEYWORD,
                                   default="squared_error"), *_SHARED[1:]])
