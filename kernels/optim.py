"""Parameter updates, one fused pass over the flat parameter vector.

CS231n's update rules and config keys (``optim.py`` of the assignments):

  sgd            w -= lr dw
  sgd_momentum   v = mu v - lr dw;  w += v
  nesterov       v' = mu v - lr dw;  w += -mu v + (1 + mu) v';  v = v'
  rmsprop        s = rho s + (1 - rho) dw^2;  w -= lr dw / (sqrt(s) + eps)
  adam           t += 1;  m = b1 m + (1 - b1) dw;  v = b2 v + (1 - b2) dw^2;
                 w -= lr (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)
  adam_folded    Adam as scikit-learn writes it, the corrections folded into
                 the step: w -= lr sqrt(1 - b2^t) / (1 - b1^t) m / (sqrt(v) + eps)

scikit-learn's SGD momentum and Nesterov updates are the same as these.

The rule is an integer code; its branch is loop-invariant and unswitched.
"""
import numpy as np
from numba import njit

from .checks import check_number
from .config import JIT

SGD, SGD_MOMENTUM, NESTEROV, RMSPROP, ADAM, ADAM_FOLDED = 0, 1, 2, 3, 4, 5

#: Each rule's code and its config keys with CS231n's defaults.
RULES = {
    "sgd": (SGD, {"learning_rate": 1e-2}),
    "sgd_momentum": (SGD_MOMENTUM, {"learning_rate": 1e-2, "momentum": 0.9}),
    "nesterov": (NESTEROV, {"learning_rate": 1e-2, "momentum": 0.9}),
    "rmsprop": (RMSPROP, {"learning_rate": 1e-2, "decay_rate": 0.99, "epsilon": 1e-8}),
    "adam": (ADAM, {"learning_rate": 1e-3, "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8}),
    "adam_folded": (ADAM_FOLDED, {"learning_rate": 1e-3, "beta1": 0.9, "beta2": 0.999,
                                  "epsilon": 1e-8}),
}


#: The range of each config key: rates and epsilon > 0, momentum in [0, 1],
#: decay and Adam's betas in [0, 1) (a beta of 1 divides by zero).
LIMITS = {
    "learning_rate": dict(low=0, low_open=True),
    "momentum": dict(low=0, high=1),
    "decay_rate": dict(low=0, high=1, high_open=True),
    "beta1": dict(low=0, high=1, high_open=True),
    "beta2": dict(low=0, high=1, high_open=True),
    "epsilon": dict(low=0, low_open=True),
}


def hyper(rule, config):
    """``(code, lr, p1, p2, eps)`` for the kernel from a CS231n-style config."""
    if rule not in RULES:
        raise ValueError(f"update rule must be one of {sorted(RULES)}, got {rule!r}")
    code, defaults = RULES[rule]
    unknown = set(config) - set(defaults) - {"velocity", "cache", "m", "v", "t"}
    if unknown:
        raise ValueError(f"unknown {rule} config keys {sorted(unknown)}; "
                         f"it takes {sorted(defaults)}")
    cfg = dict(defaults, **{k: v for k, v in config.items() if k in defaults})
    cfg = {key: check_number(key if key == "learning_rate" else f"optim_config[{key!r}]", value,
                             **LIMITS[key]) for key, value in cfg.items()}
    p1 = cfg.get("momentum", cfg.get("decay_rate", cfg.get("beta1", 0.0)))
    p2 = cfg.get("beta2", 0.0)
    return code, float(cfg["learning_rate"]), float(p1), float(p2), float(cfg.get("epsilon", 0.0))


@njit(**JIT)
def update(theta, grad, s1, s2, backup, code, lr, p1, p2, eps, t):
    """One step of rule ``code`` on theta in place; ``backup`` gets the old theta.

    s1, s2: the rule's state (velocity; cache; Adam's m and v), same shape as
    theta. ``t`` is Adam's step count after this step (1 for the first).
    """
    # Adam's bias corrections, divided by (not multiplied by reciprocals) to
    # round as the NumPy formulation does.
    adam = code == ADAM or code == ADAM_FOLDED
    d1 = 1.0 - p1 ** t if adam else 1.0
    d2 = 1.0 - p2 ** t if adam else 1.0
    lr_folded = lr * np.sqrt(d2) / d1
    for i in range(theta.size):
        w = theta[i]
        g = grad[i]
        backup[i] = w
        if code == SGD:
            w -= lr * g
        elif code == SGD_MOMENTUM:
            v = p1 * s1[i] - lr * g
            s1[i] = v
            w += v
        elif code == NESTEROV:
            v_prev = s1[i]
            v = p1 * v_prev - lr * g
            s1[i] = v
            w += -p1 * v_prev + (1 + p1) * v
        elif code == RMSPROP:
            s = p1 * s1[i] + (1 - p1) * g * g
            s1[i] = s
            w -= lr * g / (np.sqrt(s) + eps)
        else:
            m = p1 * s1[i] + (1 - p1) * g
            v = p2 * s2[i] + (1 - p2) * g * g
            s1[i] = m
            s2[i] = v
            if code == ADAM:
                w -= lr * (m / d1) / (np.sqrt(v / d2) + eps)
            else:
                w -= lr_folded * m / (np.sqrt(v) + eps)
        theta[i] = w
