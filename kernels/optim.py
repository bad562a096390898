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
from typing import NamedTuple

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


class Optimizer(NamedTuple):
    """An update rule and its state, one meaning per field.

    rule: the rule's code (above). Settings, each used only by the rules that
    name it (0 elsewhere): momentum (sgd_momentum, nesterov), decay_rate
    (rmsprop), beta1, beta2 (adam, adam_folded), eps (rmsprop, adam,
    adam_folded). State, (P,) like theta or (0,) for a rule that keeps none:
    m the running mean of gradients (the velocity of sgd_momentum and
    nesterov, Adam's first moment), v the running mean of squared gradients
    (RMSprop's cache, Adam's second moment). backup (P,) receives theta
    before each update, to restore after a non-finite loss.
    """
    rule: int
    momentum: float
    decay_rate: float
    beta1: float
    beta2: float
    eps: float
    m: np.ndarray
    v: np.ndarray
    backup: np.ndarray


def settings(rule, config):
    """``(code, learning_rate, named settings)`` of update rule ``rule`` from a
    CS231n-style ``config`` (its keys, CS231n's defaults, each value checked)."""
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
    named = dict(momentum=cfg.get("momentum", 0.0), decay_rate=cfg.get("decay_rate", 0.0),
                 beta1=cfg.get("beta1", 0.0), beta2=cfg.get("beta2", 0.0),
                 eps=cfg.get("epsilon", 0.0))
    return code, float(cfg["learning_rate"]), {k: float(v) for k, v in named.items()}


def optimizer(rule, config, theta):
    """``(Optimizer, learning_rate)`` for rule ``rule`` with CS231n-style
    ``config`` keys (``learning_rate`` among them) over parameters ``theta``:
    zeroed state where the rule keeps state."""
    code, lr, named = settings(rule, config)
    P = theta.size
    m = np.zeros(P if code in (SGD_MOMENTUM, NESTEROV, ADAM, ADAM_FOLDED) else 0, theta.dtype)
    v = np.zeros(P if code in (RMSPROP, ADAM, ADAM_FOLDED) else 0, theta.dtype)
    return Optimizer(code, **named, m=m, v=v, backup=np.empty_like(theta)), lr


@njit(inline="always", **JIT)
def update(opt, theta, grad, lr, t):
    """One step of ``opt``'s rule on all of ``theta`` in place, from ``grad``
    (same layout); ``opt.backup`` gets the old values. ``t`` is Adam's step
    count after this step (1 for the first)."""
    _apply(opt, theta, grad, opt.m, opt.v, opt.backup, lr, t)


@njit(**JIT)
def update_range(opt, theta, grad, lr, t, start, stop):
    """:func:`update` of ``theta[start:stop]`` only (a block of rows)."""
    # A state the rule keeps none of is empty, and stays so.
    m = opt.m[start:stop] if opt.m.size else opt.m
    v = opt.v[start:stop] if opt.v.size else opt.v
    _apply(opt, theta[start:stop], grad[start:stop], m, v, opt.backup[start:stop], lr, t)


@njit(**JIT)
def _apply(opt, theta, grad, m, v, backup, lr, t):
    """The rule of ``opt`` (its settings) on ``theta`` with state ``m``,
    ``v`` and ``backup``, each indexed as theta (or empty where unused)."""
    # Adam's bias corrections, divided by (not multiplied by reciprocals) to
    # round as the NumPy formulation does.
    code = opt.rule
    adam = code == ADAM or code == ADAM_FOLDED
    b1, b2 = opt.beta1, opt.beta2
    d1 = 1.0 - b1 ** t if adam else 1.0
    d2 = 1.0 - b2 ** t if adam else 1.0
    lr_folded = lr * np.sqrt(d2) / d1
    mu, rho, eps = opt.momentum, opt.decay_rate, opt.eps
    for i in range(theta.size):
        w = theta[i]
        g = grad[i]
        backup[i] = w
        if code == SGD:
            w -= lr * g
        elif code == SGD_MOMENTUM:
            vel = mu * m[i] - lr * g
            m[i] = vel
            w += vel
        elif code == NESTEROV:
            v_prev = m[i]
            vel = mu * v_prev - lr * g
            m[i] = vel
            w += -mu * v_prev + (1 + mu) * vel
        elif code == RMSPROP:
            s = rho * v[i] + (1 - rho) * g * g
            v[i] = s
            w -= lr * g / (np.sqrt(s) + eps)
        else:
            mi = b1 * m[i] + (1 - b1) * g
            vi = b2 * v[i] + (1 - b2) * g * g
            m[i] = mi
            v[i] = vi
            if code == ADAM:
                w -= lr * (mi / d1) / (np.sqrt(vi / d2) + eps)
            else:
                w -= lr_folded * mi / (np.sqrt(vi) + eps)
        theta[i] = w
