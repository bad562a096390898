"""Activation functions and their derivatives, as one compiled body.

An activation is an integer code. The elementwise kernels take the code as a
run-time argument; the branch is loop-invariant, and LLVM unswitches it, so a
ReLU pass runs as fast as a hand-written ReLU loop (measured). This keeps one
kernel body for every activation, and the on-disk cache keeps working (a
function passed as an argument defeats Numba's cache; ``literally`` costs
milliseconds per call).

Derivatives are written in terms of the activation's output ``a``, so a
backward pass needs no stored pre-activation:
relu ``[a > 0]``, tanh ``1 - a**2``, sigmoid ``a (1 - a)``, identity ``1``.
"""
import numpy as np
from numba import njit

from .config import JIT
from .exp import exp_nonpositive

IDENTITY, RELU, TANH, SIGMOID = 0, 1, 2, 3

#: Public names of the activations and their codes.
CODES = {"identity": IDENTITY, "relu": RELU, "tanh": TANH, "sigmoid": SIGMOID}


def activation_code(activation):
    """The integer code of ``activation`` (a name of ``CODES``), or ValueError."""
    try:
        return CODES[activation]
    except (KeyError, TypeError):
        raise ValueError(
            f"activation must be one of {sorted(CODES)}, got {activation!r}"
        ) from None


@njit(inline="always", **JIT)
def activate(z, code):
    """The activation ``code`` applied to the scalar ``z``."""
    if code == RELU:
        return z if z > 0 else z * 0
    if code == TANH:
        return np.tanh(z)
    if code == SIGMOID:
        # Split by sign so that exp never overflows.
        if z >= 0:
            return 1 / (1 + exp_nonpositive(-z))
        e = exp_nonpositive(z)
        return e / (1 + e)
    return z


@njit(inline="always", **JIT)
def derivative(a, code):
    """d activation / dz expressed through the activation's output ``a``."""
    if code == RELU:
        return 1 if a > 0 else 0
    if code == TANH:
        # 1 - a**2, factored: near saturation (|a| -> 1) a * a rounds before
        # the subtraction cancels (float32 a = 0.9998: 1e-5 relative error);
        # 1 - a is exact there.
        return (1 - a) * (1 + a)
    if code == SIGMOID:
        return a * (1 - a)
    return 1
