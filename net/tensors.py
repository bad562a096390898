"""The NumPy bridge for PyTorch tensors, with torch imported only when one is passed.

fusednet computes on NumPy arrays. A CPU tensor and the array
``tensor.detach().numpy()`` share one buffer, so a tensor goes in and a result
comes back out (``torch.from_numpy``) without copying, in the caller's dtype.
Tensors on another device are refused with the move to make: the kernels run
on the CPU only, and moving silently would hide two transfers per call.
"""
import numpy as np


def is_tensor(x):
    """True for a torch tensor (or Parameter), judged without importing torch."""
    return type(x).__module__.split(".")[0] == "torch" and hasattr(x, "detach")


def any_tensor(*values):
    """True if any value, or any value of a dict among them, is a torch tensor."""
    for v in values:
        if isinstance(v, dict):
            if any(is_tensor(t) for t in v.values()):
                return True
        elif is_tensor(v):
            return True
    return False


def torch():
    """The torch module (imported here, on first use)."""
    import torch as _torch
    return _torch


def require_torch(what):
    """The torch module, or ImportError saying what needed it and how to get it."""
    try:
        return torch()
    except ImportError:
        raise ImportError(f"{what} needs PyTorch, an optional dependency of fusednet: "
                          f"pip install 'fusednet[torch]' (or pass NumPy arrays)") from None


def check_device(name, device):
    """ValueError unless ``device`` (a string or torch.device) is the CPU."""
    kind = getattr(device, "type", None) or str(device).split(":")[0]
    if kind != "cpu":
        raise ValueError(f"{name} is on device {str(device)!r}, but fusednet runs on the CPU "
                         f"only; move it with .cpu() (or create it with device='cpu')")


def to_numpy(name, x):
    """A NumPy view of the CPU tensor ``x`` sharing its memory; anything else unchanged."""
    if not is_tensor(x):
        return x
    check_device(name, x.device)
    try:
        return x.detach().numpy()
    except (TypeError, RuntimeError) as e:
        raise TypeError(f"{name} is a {x.dtype} tensor that NumPy cannot view ({e}); "
                        f"convert it with {name}.to(torch.float64) or torch.float32") from None


def params_to_numpy(params):
    """A dict of NumPy views of the params' tensors (arrays pass through)."""
    return {k: to_numpy(f"params[{k!r}]", v) for k, v in params.items()}


def from_numpy(a):
    """A tensor over the NumPy array ``a`` (shared memory; 0-d for a scalar array)."""
    return torch().from_numpy(np.asarray(a))


def scalar(value, dtype):
    """A 0-d tensor of torch dtype ``dtype`` holding ``value``: the course's loss."""
    return torch().tensor(value, dtype=dtype)


def check_same_dtype(name, x, ref_name, ref):
    """TypeError if tensor ``x`` and tensor ``ref`` have different dtypes, naming the fix."""
    if is_tensor(x) and is_tensor(ref) and x.dtype != ref.dtype:
        raise TypeError(f"{name} is {x.dtype} but {ref_name} is {ref.dtype}; convert it once "
                        f"with {name}.to({ref.dtype})")
