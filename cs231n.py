"""CS231n's two-layer net and gradient-check helpers, under the course's names:

    from fusednet.cs231n import TwoLayerNet                       # 2017, 2019
    from fusednet.cs231n import TwoLayerNet2016 as TwoLayerNet    # 2016 (0.5 reg L2)
    from fusednet.cs231n import eval_numerical_gradient, grad_check_sparse, rel_error

``TwoLayerNet`` is ``fusednet.TwoLayerNet``; the helpers are those of
``fusednet.net.gradcheck`` (the course's ``gradient_check.py``).
"""
from .net.gradcheck import (
    eval_numerical_gradient,
    eval_numerical_gradient_array,
    eval_numerical_gradient_blobs,
    eval_numerical_gradient_net,
    grad_check_sparse,
    rel_error,
)
from .net.two_layer_net import TwoLayerNet, TwoLayerNet2016

__all__ = ["TwoLayerNet", "TwoLayerNet2016", "eval_numerical_gradient",
           "eval_numerical_gradient_array", "eval_numerical_gradient_blobs",
           "eval_numerical_gradient_net", "grad_check_sparse", "rel_error"]
