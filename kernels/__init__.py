"""Fused Numba kernels for two-layer and deeper fully-connected nets.

Every public function validates its arguments and then runs one compiled
kernel; ``kernels.reference`` holds the same functions in plain NumPy, the
oracle of the tests and the baseline of the benchmarks.
"""
from . import config  # noqa: F401  (drops a stale cache before any kernel loads)
from . import threads  # noqa: F401  (picks the threading layer before any parallel call)
from . import blas  # noqa: F401  (registers the BLAS symbols the kernels call)
from . import compiling  # noqa: F401  (says once when the kernels compile)
from . import interrupts  # noqa: F401  (holds Ctrl-C while Numba's compiler runs)
from . import compile_helper  # noqa: F401  (and then starts the compile helper)
from .activations import CODES as ACTIVATIONS
from .affine import (
    affine_act_backward,
    affine_act_forward,
    affine_forward,
    affine_relu_backward,
    affine_relu_forward,
)
from .heads import CODES as HEADS
from .losses import logistic_loss, poisson_loss, squared_loss
from .softmax import softmax_loss
from .two_layer import TwoLayerWorkspace, two_layer_loss

__all__ = [
    "ACTIVATIONS",
    "HEADS",
    "TwoLayerWorkspace",
    "affine_act_backward",
    "affine_act_forward",
    "affine_forward",
    "affine_relu_backward",
    "affine_relu_forward",
    "logistic_loss",
    "softmax_loss",
    "squared_loss",
    "poisson_loss",
    "two_layer_loss",
]

compile_helper.start_if_cold()  # a fresh environment: the helper sets up meanwhile
