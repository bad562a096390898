"""Shapes of fully-connected nets."""
import numpy as np

from ..kernels.checks import check_number


def as_layer_sizes(layer_sizes, name="layer_sizes"):
    """``layer_sizes`` as a tuple of at least two positive Python ints.

    A string (``"23"``) or any other non-sequence is a TypeError, and so is a
    width that is not an integer (``2.7``, ``True``): nothing is truncated.
    """
    if isinstance(layer_sizes, (str, bytes)) or not isinstance(layer_sizes, (list, tuple, np.ndarray)):
        raise TypeError(f"{name} must be a list or tuple of integer widths, "
                        f"got {type(layer_sizes).__name__} {layer_sizes!r}")
    if isinstance(layer_sizes, np.ndarray) and layer_sizes.ndim != 1:
        raise ValueError(f"{name} must be 1-dimensional, got shape {layer_sizes.shape}")
    sizes = tuple(check_number(f"{name}[{i}]", s, 1, integer=True) for i, s in enumerate(layer_sizes))
    if len(sizes) < 2:
        raise ValueError(f"{name} must hold at least two widths (input and output), got {list(sizes)}")
    return sizes


def parameter_count(layer_sizes):
    """Learnable parameters of a fully-connected net with these layer widths.

    Each layer ``fan_in -> fan_out`` holds a weight matrix (fan_in, fan_out)
    and a bias (fan_out,): 30 -> 1024 -> 512 -> 1 has 557,057.
    """
    sizes = as_layer_sizes(layer_sizes)
    return sum(fan_in * fan_out + fan_out for fan_in, fan_out in zip(sizes, sizes[1:]))


def training_bytes(layer_sizes, batch_size, eval_rows, dtype, *, chunk_rows=1 << 20):
    """Rough peak bytes that building an MLP, ``train`` and ``predict`` allocate
    (not counting the data): the parameters with their gradient, backup, best
    copy and two optimizer states (six copies), one batch's input,
    activations and deltas, the minibatch indices drawn ``chunk_rows`` at a
    time, and ``predict``'s activations over ``eval_rows`` rows at once.

    For a command to refuse a run that cannot fit before allocating anything.
    """
    sizes = as_layer_sizes(layer_sizes)
    item = np.dtype(dtype).itemsize
    widths = sum(sizes[1:])
    params = 6 * parameter_count(sizes) * item
    batch = batch_size * ((sizes[0] + 2 * widths) * item + 3 * 8)
    indices = 8 * max(chunk_rows, batch_size)
    return params + batch + indices + eval_rows * widths * item
