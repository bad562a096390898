"""The trainer and its public classes (built on ``kernels``)."""
from . import gradcheck
from .architecture import parameter_count
from .mlp import MLP, TrainingDiverged
from .two_layer_net import TwoLayerNet

__all__ = ["MLP", "TrainingDiverged", "TwoLayerNet", "gradcheck", "parameter_count"]
