"""``TwoLayerNet``: the CS231n class, same interface and same numbers."""
import numpy as np

from .. import kernels
from ..kernels.checks import check_number, l2_factor
from ..kernels.sparse import CSR
from . import modelfile, sampling
from .mlp import MLP


class TwoLayerNet(MLP):
    """Two-layer net: input - affine - relu - affine - softmax.

    A drop-in for the course's class: ``params`` holds ``W1`` (D, H), ``b1``,
    ``W2`` (H, C), ``b2``; weights are ``std * np.random.randn(...)``, W1
    first, biases zero, so a notebook that seeds ``np.random`` gets the
    classic solution's numbers. Training draws minibatches from
    ``np.random`` too (``np.random.choice(N, batch_size)`` per iteration,
    drawn in chunks up front, which gives the same stream; shuffled epochs,
    ``sampling='epochs'``, from ``np.random.permutation``).

    ``l2`` sets the L2 convention of :meth:`loss` and :meth:`train`: 'full'
    (``reg * sum(W**2)``, CS231n 2017 on) or 'half' (``0.5 * reg *
    sum(W**2)``, CS231n 2016; see :class:`TwoLayerNet2016`).
    """

    #: The L2 convention when the constructor is not given one.
    default_l2 = "full"

    def __init__(self, input_size, hidden_size, output_size, std=1e-4, *, dtype=np.float64,
                 l2=None):
        D, H, C = (check_number(name, value, 1, integer=True) for name, value in
                   (("input_size", input_size), ("hidden_size", hidden_size),
                    ("output_size", output_size)))
        std = check_number("std", std, 0)
        super().__init__([D, H, C], "relu", weight_scale=0.0, dtype=dtype)
        self.l2 = self._check_l2(self.default_l2 if l2 is None else l2)
        self._source = sampling.NUMPY_GLOBAL
        self.params["W1"][...] = std * np.random.randn(D, H)
        self.params["W2"][...] = std * np.random.randn(H, C)

    @classmethod
    def from_params(cls, params):
        """A net over copies of ``params`` (W1, b1, W2, b2), drawing nothing
        from ``np.random``."""
        W1, W2 = params["W1"], params["W2"]
        net = cls.__new__(cls)
        MLP.__init__(net, [W1.shape[0], W1.shape[1], W2.shape[1]], "relu", weight_scale=0.0,
                     dtype=W1.dtype)
        net.l2 = cls.default_l2
        net._source = sampling.NUMPY_GLOBAL
        for k in ("W1", "b1", "W2", "b2"):
            net.params[k] = params[k]
        net._sync_params()
        return net

    @staticmethod
    def _check_l2(l2):
        l2_factor(0.0, l2)        # ValueError unless 'full' or 'half'
        return l2

    @classmethod
    def load(cls, path, *, expect=None):
        """A TwoLayerNet from :meth:`MLP.save`'s file of a relu 2-layer net."""
        model = MLP.load(path, expect=expect)
        if len(model.layer_sizes) != 3 or model.activation != "relu" or model.residual:
            raise ValueError(f"{modelfile.resolve(path)} holds {model.layer_sizes} {model.activation!r} "
                             f"residual={model.residual}, not a relu two-layer net")
        return cls.from_params(model.params)

    def loss(self, X, y=None, reg=0.0, *, l2=None, need_dX=False):
        """Scores (N, C) when y is None, else ``(loss, grads)`` (and dX with
        ``need_dX``). L2 is ``reg * sum(W**2)`` (``l2='full'``) or ``0.5 reg
        sum(W**2)`` (``'half'``); None takes the net's ``l2``."""
        if y is None:
            return self.scores(X)
        l2 = self._l2(l2)
        self._sync_params()
        X = self._inputs(X)
        if isinstance(X, CSR):  # the public fused kernel takes dense rows; the model's pass both
            return super().loss(X, y, reg, l2=l2, need_dX=need_dX)
        p = self._views
        out = kernels.two_layer_loss(p["W1"], p["b1"], p["W2"], p["b2"], X,
                                     self._targets(y, X.shape[0]), reg, l2=l2, need_dX=need_dX)
        grads = dict(zip(("W1", "b1", "W2", "b2"), out[1:5]))
        return (out[0], grads, out[5]) if need_dX else (out[0], grads)

    def _l2(self, l2):
        # Nets unpickled from before the switch existed have no l2 attribute.
        return self._check_l2(l2) if l2 is not None else getattr(self, "l2", "full")

    def train(self, X, y, X_val, y_val, learning_rate=1e-3, learning_rate_decay=0.95,
              reg=5e-6, num_iters=100, batch_size=200, verbose=False, **options):
        """The course's SGD loop, compiled; see :meth:`MLP.train` for ``options``
        (``l2`` defaults to the net's)."""
        options["l2"] = self._l2(options.get("l2"))
        return super().train(X, y, X_val, y_val, learning_rate, learning_rate_decay, reg,
                             num_iters, batch_size, verbose, **options)


class TwoLayerNet2016(TwoLayerNet):
    """CS231n 2016's ``TwoLayerNet``: L2 as ``0.5 * reg * sum(W**2)``
    (gradient ``reg * W``) and ``train``'s default ``reg=1e-5``; otherwise
    :class:`TwoLayerNet`. The 2016 notebook's one import line:
    ``from fusednet.cs231n import TwoLayerNet2016 as TwoLayerNet``."""

    default_l2 = "half"

    def train(self, X, y, X_val, y_val, learning_rate=1e-3, learning_rate_decay=0.95,
              reg=1e-5, num_iters=100, batch_size=200, verbose=False, **options):
        return super().train(X, y, X_val, y_val, learning_rate, learning_rate_decay, reg,
                             num_iters, batch_size, verbose, **options)
