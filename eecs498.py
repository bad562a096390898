"""EECS 498 (Deep Learning for Computer Vision) A2, as its notebook imports it:

    from fusednet.eecs498 import nn_forward_pass, nn_forward_backward, nn_train, nn_predict
    from fusednet.eecs498 import TwoLayerNet, find_best_net, nn_get_search_params

The functions take params dicts and data as torch tensors (CPU) or NumPy
arrays and answer in kind; see :mod:`fusednet.net.eecs498`.
"""
from .net.eecs498 import (
    TwoLayerNet,
    find_best_net,
    nn_forward_backward,
    nn_forward_pass,
    nn_get_search_params,
    nn_predict,
    nn_train,
)

__all__ = ["TwoLayerNet", "find_best_net", "nn_forward_backward", "nn_forward_pass",
           "nn_get_search_params", "nn_predict", "nn_train"]
