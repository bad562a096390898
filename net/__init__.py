"""The trainer and its public classes (built on ``kernels``)."""
from .architecture import parameter_count

__all__ = ["parameter_count"]
