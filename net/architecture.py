"""Shapes of fully-connected nets."""


def parameter_count(layer_sizes):
    """Learnable parameters of a fully-connected net with these layer widths.

    Each layer ``fan_in -> fan_out`` holds a weight matrix (fan_in, fan_out)
    and a bias (fan_out,): 30 -> 1024 -> 512 -> 1 has 557,057.
    """
    sizes = [int(s) for s in layer_sizes]
    if len(sizes) < 2 or min(sizes) < 1:
        raise ValueError(f"layer_sizes must hold at least two positive widths, got {layer_sizes!r}")
    return sum(fan_in * fan_out + fan_out for fan_in, fan_out in zip(sizes, sizes[1:]))
