"""Validation at the public boundary, before any compute kernel runs.

The compiled kernels assume what is checked here (float32/float64, C order,
agreeing shapes, labels in range, finite values), so no user input can make
them read or write out of bounds. Errors name the argument and what was
expected: TypeError for a wrong type or dtype, ValueError for a wrong shape,
range, layout or value.
"""
import numbers

import numpy as np
from numba import njit

from .config import CACHE, ORDER_FREE_FASTMATH

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


@njit(cache=CACHE, nogil=True, fastmath=set(ORDER_FREE_FASTMATH))
def _first_nonfinite(flat):
    """Index of the first NaN or Inf in a 1-d array, or -1.

    ``x * 0.0`` is 0 for finite x and NaN otherwise (``nnan`` stays off, so
    LLVM keeps it); its sum per block vectorizes where an early-exit loop over
    ``isfinite`` does not. Only a block whose sum is not 0 is searched.
    Indexing a block slice from 0 lets LLVM drop the negative-index checks.
    """
    for start in range(0, flat.size, 4096):
        block = flat[start:start + 4096]
        acc = 0.0
        for i in range(block.size):
            acc += block[i] * 0.0
        if acc != 0.0:
            for i in range(block.size):
                if not np.isfinite(block[i]):
                    return start + i
    return -1


@njit(cache=CACHE, nogil=True)
def _first_out_of_range(y, upper):
    for i in range(y.size):
        if y[i] < 0 or y[i] >= upper:
            return i
    return -1


def plain_array(name, a):
    """``a`` (an ndarray, or a subclass of it) as a base-class ndarray, no copy.

    ``np.matrix`` (what ``scipy.sparse``'s ``todense()`` returns) and
    ``np.memmap`` are viewed as plain arrays: compiled code sees no subclass
    (a matrix's ``reshape(-1)`` stays 2-d). A masked array gives its data
    when nothing is masked and is refused otherwise: the kernels would read
    the values behind the mask.
    """
    if isinstance(a, np.ma.MaskedArray):
        masked = int(np.ma.count_masked(a))
        if masked:
            raise ValueError(f"{name} is a masked array with {masked} masked entries; fill them "
                             f"({name}.filled(value)) or drop those rows first")
        a = a.data
    return a if type(a) is np.ndarray else a.view(np.ndarray)


def float_dtype(name, a):
    """The dtype of parameter ``a`` if float32/float64, else TypeError."""
    if not isinstance(a, np.ndarray):
        raise TypeError(f"{name} must be a NumPy array, got {type(a).__name__}")
    if a.dtype not in FLOAT_DTYPES:
        raise TypeError(
            f"{name} must be a float32 or float64 array, got {a.dtype}; convert it "
            f"once with {name}.astype(np.float64) (or np.float32)"
        )
    return a.dtype


def as_input(name, a, ndim, dtype, shape=None):
    """``a`` as a C-contiguous, finite array of ``dtype`` and ``ndim`` dims.

    ``shape`` may fix some dimensions (None entries are free). Non-contiguous
    input is copied once; a different float dtype is refused (the parameters'
    dtype decides, and converting silently on every call would hide a copy).
    """
    if not isinstance(a, np.ndarray):
        hint = (f" (a scipy.sparse matrix: pass {name}.toarray(), or give it to a model, "
                "which reads sparse rows)" if hasattr(a, "tocsr") else "")
        raise TypeError(f"{name} must be a NumPy array, got {type(a).__name__}{hint}")
    a = plain_array(name, a)
    if a.dtype != dtype:
        raise TypeError(
            f"{name} has dtype {a.dtype} but the parameters are {dtype}; "
            f"convert it once with {name}.astype(np.{dtype})"
        )
    check_shape(name, a, ndim, shape)
    if a.size == 0:
        raise ValueError(f"{name} is empty (shape {a.shape}); expected at least one row and column")
    return check_finite(name, np.ascontiguousarray(a))


def check_finite(name, a):
    """``a`` (C-contiguous) itself, or ValueError naming the first NaN/Inf and its index."""
    bad = _first_nonfinite(a.reshape(-1))
    if bad >= 0:
        idx = tuple(int(i) for i in np.unravel_index(bad, a.shape))
        raise ValueError(f"{name} contains a non-finite value ({a[idx]}) at index {idx}")
    return a


def check_unit_targets(name, t, what):
    """``t`` (n, C) itself, or ValueError naming ``what`` and the first row
    with a target outside [0, 1] (the logistic head's targets)."""
    bad = np.flatnonzero(((t < 0) | (t > 1)).any(axis=1))
    if bad.size:
        raise ValueError(f"{name} must hold targets in [0, 1] for {what}; row {bad[0]} is "
                         f"{t[bad[0]].tolist()}")
    return t


def check_nonnegative_targets(name, t, what):
    """``t`` (n, C) itself, or ValueError naming ``what`` and the first row
    with a negative target (the Poisson head's counts)."""
    bad = np.flatnonzero((t < 0).any(axis=1))
    if bad.size:
        raise ValueError(f"{name} must hold targets >= 0 for {what}; row {bad[0]} is "
                         f"{t[bad[0]].tolist()}")
    return t


def check_shape(name, a, ndim, shape=None):
    if a.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-dimensional, got shape {a.shape}")
    if shape is not None:
        for got, want in zip(a.shape, shape):
            if want is not None and got != want:
                expected = "(" + ", ".join("*" if s is None else str(s) for s in shape) + ("," if ndim == 1 else "") + ")"
                raise ValueError(f"{name} has shape {a.shape}; expected {expected}")


def as_labels(name, y, n, num_classes):
    """Class labels as a C-contiguous intp array (n,) in [0, num_classes).

    ``y`` holds integer labels (n,), or one-hot rows (n, num_classes) (any
    numeric or bool dtype, each row one 1 and zeros elsewhere), which become
    the index of each row's 1.
    """
    if not isinstance(y, np.ndarray):
        raise TypeError(f"{name} must be a NumPy array of integer labels, got {type(y).__name__}")
    y = plain_array(name, y)  # a masked array's hidden values must not be read as labels
    if y.ndim == 2:
        return _onehot_labels(name, y, n, num_classes)
    if y.dtype.kind not in "iu":
        raise TypeError(f"{name} must hold integer class labels, got dtype {y.dtype}")
    check_shape(name, y, 1, (n,))
    y = np.ascontiguousarray(y, dtype=np.intp)
    bad = _first_out_of_range(y, num_classes)
    if bad >= 0:
        raise ValueError(
            f"{name} must hold labels in [0, {num_classes}); found {y[bad]} at index {bad}"
        )
    return y


def _onehot_labels(name, y, n, num_classes):
    """The class index of each one-hot row of y (n, num_classes)."""
    if y.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold one-hot rows of numbers, got dtype {y.dtype}")
    if y.shape != (n, num_classes):
        raise ValueError(f"{name} has shape {y.shape}; expected integer labels ({n},) "
                         f"or one-hot rows ({n}, {num_classes})")
    ones = y == 1
    bad = ~(ones | (y == 0)).all(axis=1) | (np.count_nonzero(ones, axis=1) != 1)
    if bad.any():
        row = int(np.argmax(bad))
        raise ValueError(f"{name} holds one-hot rows (N, C) but row {row} is {y[row].tolist()}; "
                         f"each row must have exactly one 1 and zeros elsewhere")
    return np.ascontiguousarray(np.argmax(ones, axis=1), dtype=np.intp)


def as_bias(name, b, dtype, width):
    """``(b1d, shape)``: a bias of shape (width,) or (1, width) as a checked
    1-d array (see :func:`as_input`), and the caller's shape, for returning
    its gradient in the same shape."""
    if isinstance(b, np.ndarray) and b.ndim == 2 and b.shape[0] == 1:
        shape = b.shape
        check_shape(name, b, 2, (1, width))
        b = b.reshape(width)
    else:
        shape = (width,)
    return as_input(name, b, 1, dtype, (width,)), shape


def as_output(name, out, shape, dtype, inputs=()):
    """Check a caller's output buffer, or allocate one when ``out`` is None."""
    if out is None:
        return np.empty(shape, dtype)
    if not isinstance(out, np.ndarray) or isinstance(out, np.ma.MaskedArray):
        raise TypeError(f"{name} must be a NumPy array or None, got {type(out).__name__}")
    if out.dtype != dtype:
        raise TypeError(f"{name} has dtype {out.dtype}; expected {dtype}")
    if out.shape != tuple(shape):
        raise ValueError(f"{name} has shape {out.shape}; expected {tuple(shape)}")
    if not out.flags.c_contiguous or not out.flags.writeable:
        raise ValueError(f"{name} must be a writeable C-contiguous array")
    for other in inputs:
        if other is not None and np.may_share_memory(out, other):
            raise ValueError(f"{name} overlaps an input array; pass a separate buffer")
    return out


def as_reg(reg):
    """A finite, non-negative regularization strength as a float."""
    return check_number("reg", reg, 0)


# -- scalar arguments ------------------------------------------------------------

def _describe(value):
    return f"{type(value).__name__} {value!r}"


def check_number(name, value, low=None, high=None, *, integer=False, low_open=False,
                 high_open=False):
    """``value`` as a Python float (``int`` with ``integer=True``), or an error
    naming ``name``.

    TypeError for anything that is not a real number: strings (``"0.1"``),
    bools, None, complex, arrays; with ``integer=True`` also floats (``2.7``
    and ``1e9`` alike). ValueError for NaN or Inf and for a value outside
    ``[low, high]`` (either bound None for none; ``low_open`` / ``high_open``
    exclude the bound itself). NumPy scalars and 0-d arrays are accepted.
    """
    if type(value) is float and not integer and low is not None and high is None \
            and not low_open and value >= low and value != np.inf:
        return value  # the common case, without the ABC checks (NaN fails value >= low)
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value[()]
    kind = numbers.Integral if integer else numbers.Real
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, kind):
        expected = "an integer" if integer else "a real number"
        raise TypeError(f"{name} must be {expected}, got {_describe(value)}")
    number = int(value) if integer else float(value)
    if not integer and not np.isfinite(number):
        raise ValueError(f"{name} must be finite, got {value!r}")
    too_low = low is not None and (number <= low if low_open else number < low)
    too_high = high is not None and (number >= high if high_open else number > high)
    if too_low or too_high:
        raise ValueError(f"{name} must be {_range_text(low, high, low_open, high_open, integer)}, "
                         f"got {value!r}")
    return number


def _range_text(low, high, low_open, high_open, integer):
    """'finite and >= 0', 'an integer >= 1', 'in [0, 1)' ..."""
    what = "an integer" if integer else "finite and"
    if high is None:
        return f"{what} {'>' if low_open else '>='} {low}"
    if low is None:
        return f"{what} {'<' if high_open else '<='} {high}"
    interval = f"{'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
    return f"an integer in {interval}" if integer else f"in {interval}"


def check_bool(name, value):
    """``value`` as a bool if it is one (Python or NumPy), else TypeError:
    ``"no"``, 0 and None are refused rather than read by truthiness."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {_describe(value)}")
    return bool(value)


def check_float_dtype(name, dtype):
    """``dtype`` (anything ``np.dtype`` takes) as float32 or float64, else TypeError."""
    try:
        dt = np.dtype(dtype)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be float32 or float64, got {dtype!r}") from None
    if dt not in FLOAT_DTYPES:
        raise TypeError(f"{name} must be float32 or float64, got {dtype!r}")
    return dt


def check_seed(name, seed, high=None):
    """``seed`` if it is None, a NumPy ``Generator``/``SeedSequence``/
    ``BitGenerator`` or an integer in ``[0, high]`` (``np.random.seed``
    takes at most ``2**32 - 1``), else an error."""
    if seed is None or isinstance(seed, (np.random.Generator, np.random.SeedSequence,
                                         np.random.BitGenerator)):
        return seed
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"{name} must be None, an integer or a np.random.Generator, "
                        f"got {_describe(seed)}")
    return check_number(name, seed, 0, high, integer=True)


#: ``l2`` switch: factor on ``reg * W`` in the gradient. ``'full'`` is
#: ``reg * sum(W**2)`` (gradient ``2 reg W``), ``'half'`` is
#: ``0.5 reg * sum(W**2)`` (gradient ``reg W``).
L2_FACTOR = {"full": 2.0, "half": 1.0}


def l2_factor(reg, l2):
    """The L2 factor ``c`` of ``reg`` under convention ``l2``: dW += c W and
    loss += 0.5 c sum(W**2) (c = 2 reg for 'full', reg for 'half')."""
    if not isinstance(l2, str) or l2 not in L2_FACTOR:
        raise ValueError(f"l2 must be 'full' or 'half', got {l2!r}")
    return L2_FACTOR[l2] * as_reg(reg)


def check_choice(name, value, options):
    """``value`` if it is one of ``options`` (strings), else ValueError
    listing them in their order: ``sampling must be 'replacement' or 'epochs', got ...``."""
    if isinstance(value, str) and value in options:
        return value
    names = [repr(o) for o in options]
    listed = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]
    raise ValueError(f"{name} must be {listed}, got {value!r}")


def check_arguments(table, values):
    """Each of ``values`` (a dict by name) checked by its entry of ``table``:
    the keyword arguments of :func:`check_number`, or ``bool=True``,
    ``options=(...)`` (:func:`check_choice`), ``callable=True``; with
    ``optional=True`` None passes as None. Returns the checked values."""
    out = {}
    for name, rule in table.items():
        value = values[name]
        if value is None and rule.get("optional"):
            out[name] = None
        elif rule.get("bool"):
            out[name] = check_bool(name, value)
        elif "options" in rule:
            out[name] = check_choice(name, value, rule["options"])
        elif rule.get("callable"):
            if not callable(value):
                raise TypeError(f"{name} must be callable or None, got {type(value).__name__}")
            out[name] = value
        else:
            out[name] = check_number(name, value,
                                     **{k: v for k, v in rule.items() if k != "optional"})
    return out
