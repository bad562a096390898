"""CS224d assignment 1, as its ``q2_neural.py`` callers use it:

    from fusednet.cs224d import forward_backward_prop

``forward_backward_prop(data, labels, params, dimensions)`` with a flat
parameter vector, one-hot labels, a sigmoid hidden layer and the cost summed
over the batch; see :mod:`fusednet.net.cs224d`.
"""
from .net.cs224d import forward_backward_prop, unpack_params

__all__ = ["forward_backward_prop", "unpack_params"]
