"""``MLPClassifier``: a scikit-learn estimator over the compiled training loop.

Constructor parameters keep ``sklearn.neural_network.MLPClassifier``'s names
and meanings: ``alpha`` is ``0.5 * alpha * sum(W**2) / n_batch``,
``batch_size='auto'`` is ``min(200, n)``, shuffled epochs without
replacement, ``tol`` / ``n_iter_no_change`` stopping on the training loss or,
with ``early_stopping``, on the accuracy of a ``validation_fraction`` split;
solvers 'sgd' (momentum, Nesterov, 'constant' / 'invscaling' / 'adaptive'
learning rates) and 'adam' (scikit-learn's form). Weights start Glorot-uniform
as scikit-learn's do. One difference: every problem uses a softmax output,
also with two classes (scikit-learn uses one logistic unit there), so
``coefs_[-1]`` has ``n_classes`` columns.
"""
import warnings
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, _fit_context
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import LabelEncoder
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, Options, StrOptions
from sklearn.utils.multiclass import check_classification_targets, unique_labels
from sklearn.utils.validation import check_is_fitted, validate_data

from ..kernels import loop
from . import sampling, schedules, training
from .mlp import MLP

_ACTIVATIONS = {"identity": "identity", "logistic": "sigmoid", "tanh": "tanh", "relu": "relu"}


class MLPClassifier(ClassifierMixin, BaseEstimator):
    """Multi-layer perceptron classifier, trained by fused Numba kernels.

    See ``sklearn.neural_network.MLPClassifier`` for the parameters; 'lbfgs'
    is not offered (it is not a minibatch method). ``max_fun`` is accepted
    for compatibility and unused.
    """

    # scikit-learn's own constraints for these names, checked by its
    # validation at fit and partial_fit (InvalidParameterError, a ValueError
    # naming the parameter); only 'lbfgs' is left out, and a validation
    # fraction of 0 (no validation set) is refused.
    _parameter_constraints: dict = {
        "hidden_layer_sizes": ["array-like", Interval(Integral, 1, None, closed="left")],
        "activation": [StrOptions({"identity", "logistic", "tanh", "relu"})],
        "solver": [StrOptions({"sgd", "adam"})],
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

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        """Train on X (n_samples, n_features) and labels y; returns self."""
        return self._fit(X, y, incremental=False)

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, classes=None):
        """One epoch over (X, y); ``classes`` is required on the first call."""
        if not hasattr(self, "classes_") or getattr(self, "_model", None) is None:
            if classes is None:
                raise ValueError("classes must be passed on the first call to partial_fit")
            self._label_encoder = LabelEncoder().fit(classes)
            self.classes_ = self._label_encoder.classes_
        elif classes is not None and not np.array_equal(unique_labels(classes), self.classes_):
            raise ValueError(f"classes={classes!r} is not the same as on the first call "
                             f"({self.classes_!r})")
        return self._fit(X, y, incremental=True)

    def _fit(self, X, y, incremental):
        hidden = self._hidden_sizes()
        first = not (incremental or self.warm_start) or getattr(self, "_model", None) is None
        X, y = validate_data(self, X, y, dtype=(np.float64, np.float32), reset=first,
                             y_numeric=False, multi_output=False)
        check_classification_targets(y)
        if first and not incremental:
            self._label_encoder = LabelEncoder().fit(y)
            self.classes_ = self._label_encoder.classes_
        unknown = np.setdiff1d(np.unique(y), self.classes_)
        if unknown.size:
            raise ValueError(f"y holds labels {unknown!r} not seen in classes_ {self.classes_!r}")
        if len(self.classes_) < 2:
            raise ValueError("MLPClassifier needs samples of at least 2 classes in the data, "
                             f"but the data contains only one class: {self.classes_[0]!r}")
        y_enc = self._label_encoder.transform(y).astype(np.intp)
        if first:
            self._random_state = check_random_state(self.random_state)
            self._init_model(X.shape[1], hidden, len(self.classes_), X.dtype)
        elif self._model.dtype != X.dtype:
            X = X.astype(self._model.dtype)
        self._train(X, y_enc, incremental)
        return self

    def _init_model(self, n_features, hidden, n_classes, dtype):
        sizes = [n_features] + hidden + [n_classes]
        self._model = MLP(sizes, _ACTIVATIONS[self.activation], weight_scale=0.0, dtype=dtype)
        rs = self._random_state
        factor = 2.0 if self.activation == "logistic" else 6.0
        for l, (fi, fo) in enumerate(zip(sizes[:-1], sizes[1:])):
            bound = np.sqrt(factor / (fi + fo))
            self._model.params[f"W{l + 1}"][...] = rs.uniform(-bound, bound, (fi, fo))
            self._model.params[f"b{l + 1}"][...] = rs.uniform(-bound, bound, fo)
        if self.solver == "sgd":
            rule = "nesterov" if self.nesterovs_momentum and self.momentum > 0 else "sgd_momentum"
            cfg = {"momentum": self.momentum}
            schedule = {"constant": schedules.Constant(), "adaptive": schedules.Adaptive(),
                        "invscaling": schedules.InvScaling(self.power_t)}[self.learning_rate]
        else:
            rule = "adam_folded"
            cfg = {"beta1": self.beta_1, "beta2": self.beta_2, "epsilon": self.epsilon}
            schedule = schedules.Constant()
        # Kept across partial_fit calls: the rule's state, the learning rate and step count.
        self._optimizer = training.Optimizer(rule, cfg, self.learning_rate_init,
                                             self._model.packed().theta, schedule)
        self.n_layers_ = len(sizes)
        self.n_outputs_ = n_classes
        self.out_activation_ = "softmax"
        self.n_iter_ = 0
        self.t_ = 0
        self.loss_curve_ = []
        self._no_improvement_count = 0
        self.best_loss_ = np.inf
        self.validation_scores_ = [] if self.early_stopping else None
        self.best_validation_score_ = -np.inf if self.early_stopping else None

    def _train(self, X, y, incremental):
        model = self._model
        rs = self._random_state
        early = self.early_stopping and not incremental
        X_val = y_val = None
        if early:
            X, X_val, y, y_val = train_test_split(
                X, y, random_state=rs, test_size=self.validation_fraction,
                stratify=y if np.bincount(y).min() >= 2 else None)
        X = np.ascontiguousarray(X)
        n = X.shape[0]
        B = min(200, n) if self.batch_size == "auto" else min(int(self.batch_size), n)
        if self.batch_size != "auto" and self.batch_size > n:
            warnings.warn("Got `batch_size` less than 1 or larger than sample size. "
                          "It is going to be clipped", UserWarning)
        no_val = (np.empty((0, X.shape[1]), model.dtype), np.empty(0, np.intp))
        batches = sampling.Ordered(n, B)
        # An epoch evaluates nothing in the loop (no schedule): scikit-learn
        # scores the validation split itself, below, once per epoch.
        s = training.Session(model.packed(), loop.Data(X, y, *no_val), batch_rows=B,
                             optimizer=self._optimizer, l2_factor=float(self.alpha),
                             per_row=True, num_iters=batches.epoch_len, keep_best=early)
        for _ in range(1 if incremental else self.max_iter):
            batches.start(rs.permutation(n) if self.shuffle else np.arange(n))
            try:
                training.run(s, batches.draw, 0, batches.epoch_len)
            except training.TrainingDiverged as exc:
                raise training.TrainingDiverged(
                    f"epoch {self.n_iter_ + 1}: {exc} (try a smaller learning_rate_init)",
                    {"loss_curve": list(self.loss_curve_)}, exc.iteration) from None
            self.n_iter_ += 1
            self.loss_ = float(np.dot(s.history(batches.epoch_len)["loss_history"],
                                      batches.lens) / n)
            self.t_ += n
            self.loss_curve_.append(self.loss_)
            if self.verbose:
                print(f"Iteration {self.n_iter_}, loss = {self.loss_:.8f}")
            if early:
                score = float(np.mean(model.predict(X_val) == y_val))
                self.validation_scores_.append(score)
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

    # -- fitted attributes and prediction -------------------------------------------------

    @property
    def coefs_(self):
        check_is_fitted(self, "_model")
        L = len(self._model.layer_sizes) - 1
        return [self._model.params[f"W{l + 1}"].copy() for l in range(L)]

    @property
    def intercepts_(self):
        check_is_fitted(self, "_model")
        L = len(self._model.layer_sizes) - 1
        return [self._model.params[f"b{l + 1}"].copy() for l in range(L)]

    def _checked(self, X):
        check_is_fitted(self, "_model")
        X = validate_data(self, X, dtype=(np.float64, np.float32), reset=False)
        return X.astype(self._model.dtype, copy=False)

    def predict_proba(self, X):
        """Class probabilities (n_samples, n_classes), columns in ``classes_`` order."""
        X = self._checked(X)  # first: it raises NotFittedError before fit
        return self._model.predict_proba(X)

    def predict_log_proba(self, X):
        """Log of :meth:`predict_proba`, computed from the scores without underflow."""
        X = self._checked(X)
        s = self._model.scores(X)
        s -= s.max(axis=1, keepdims=True)
        return s - np.log(np.exp(s).sum(axis=1, keepdims=True))

    def predict(self, X):
        """Labels (n_samples,) from ``classes_``."""
        X = self._checked(X)
        best = np.argmax(self._model.scores(X), axis=1)
        return self.classes_[best]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = False
        return tags
