"""The trainer and its public classes (built on ``kernels``)."""
from . import gradcheck
from .architecture import parameter_count

__all__ = ["gradcheck", "parameter_count"]
