"""Every argument of train() is checked by name, with the type and range it
takes, before any training (the estimator's are scikit-learn's constraints)."""
import numpy as np
import pytest

from fusednet import MLP, TwoLayerNet
from helpers import blobs

CASES = [
    (dict(learning_rate="0.1"), TypeError, "learning_rate must be a real number, got str"),
    (dict(learning_rate=0.0), ValueError, "learning_rate"),
    (dict(learning_rate=np.nan), ValueError, "learning_rate must be finite"),
    (dict(learning_rate_decay="0.9"), TypeError, "learning_rate_decay must be a real number"),
    (dict(learning_rate_decay=-0.5), ValueError, "learning_rate_decay"),
    (dict(reg="0.1"), TypeError, "reg must be a real number"),
    (dict(reg=True), TypeError, "reg must be a real number"),
    (dict(num_iters=2.5), TypeError, "num_iters must be an integer"),
    (dict(num_iters=0), ValueError, "num_iters"),
    (dict(batch_size="200"), TypeError, "batch_size must be an integer"),
    (dict(callback_every="10", callback=print), TypeError, "callback_every must be an integer"),
    (dict(callback=5), TypeError, "callback must be callable"),
    (dict(keep_best="yes"), TypeError, "keep_best must be True or False"),
    (dict(verbose=1), TypeError, "verbose must be True or False"),
    (dict(eval_every=-1), ValueError, "eval_every"),
    (dict(update="adam", optim_config={"beta1": 5.0}), ValueError, r"optim_config\['beta1'\]"),
    (dict(update="adam", optim_config={"beta2": 1.0}), ValueError, r"optim_config\['beta2'\]"),
    (dict(update="sgd_momentum", optim_config={"momentum": "x"}), TypeError,
     r"optim_config\['momentum'\] must be a real number"),
    (dict(update="rmsprop", optim_config={"epsilon": 0.0}), ValueError, r"optim_config\['epsilon'\]"),
    (dict(optim_config=[("momentum", 0.9)]), TypeError, "optim_config must be a dict"),
    (dict(sampling="shuffle"), ValueError, "sampling must be 'replacement' or 'epochs'"),
]


@pytest.mark.parametrize("kwargs, kind, words", CASES)
@pytest.mark.parametrize("make", [lambda: MLP([10, 8, 3], seed=0),
                                  lambda: TwoLayerNet(10, 8, 3, std=0.1)])
def test_a_bad_training_argument_is_named_before_any_training(make, kwargs, kind, words):
    X, y = blobs(40, 10, 3)
    model = make()
    before = {k: v.copy() for k, v in model.params.items()}
    with pytest.raises(kind, match=words):
        model.train(X, y, X, y, **kwargs)
    for k, v in before.items():
        np.testing.assert_array_equal(model.params[k], v)      # nothing trained
