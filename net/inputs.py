"""What the models accept as data, and the one conversion they make.

The kernels of ``fusednet.kernels`` take NumPy arrays of the parameters'
dtype and refuse anything else. The models (``MLP``, ``TwoLayerNet``) also
take array-likes, converted here once per call, at the boundary:

- lists, pandas objects, ``np.matrix`` (what ``scipy.sparse``'s
  ``todense()`` returns), ``np.memmap`` and masked arrays without masked
  entries are read as plain arrays;
- a ``scipy.sparse`` matrix or array as X (CSR, or any format, turned
  into CSR as scikit-learn's ``check_array`` does) is read as sparse rows
  (``kernels.sparse.CSR``): the first layer's products run on its stored
  entries and it is never densified;
- a masked array with masked entries, a sparse matrix where labels or
  targets are expected, ragged lists and non-numeric data are refused with
  the argument's name.

The compiled loop reads X as a C-contiguous, writeable array of the model's
dtype, so X of another dtype (float32 data for a float64 model), a
read-only array (a memmap opened with ``mode='r'``, a pandas frame under
copy-on-write) or a strided view is copied for the call. Above
 ``kernels.config.COPY_WARN_BYTES`` that copy is announced once per process and kind, by
an :class:`InputCopyWarning` that says how to avoid it.
"""
import warnings

import numpy as np

from ..kernels import config
from ..kernels.sparse import CSR
from ..kernels.checks import (as_labels, check_finite, check_nonnegative_targets, check_shape,
                              check_unit_targets, plain_array)

_warned = set()


class InputCopyWarning(UserWarning):
    """X was copied (to the model's dtype, or to writeable C-contiguous memory)."""


def as_array(name, a):
    """``a`` as a plain ndarray (no copy when it already is an ndarray or a
    subclass), or a TypeError/ValueError naming ``name``."""
    if is_sparse(a):
        raise TypeError(f"{name} is a scipy.sparse {type(a).__name__}; it must be dense: "
                        f"pass {name}.toarray()")
    if not isinstance(a, np.ndarray):
        try:
            a = np.asarray(a)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{name} cannot be read as an array ({type(a).__name__}): {exc}") from None
    return plain_array(name, a)


def _announce_copy(name, X, dtype):
    flags = X.flags
    if X.dtype == dtype and flags.writeable and flags.c_contiguous:
        return  # no copy (the common case: first, and without formatting a dtype)
    nbytes = X.size * dtype.itemsize
    if nbytes < config.COPY_WARN_BYTES:
        return
    reasons = [kind for kind, applies in (
        (f"{X.dtype} to {dtype}", X.dtype != dtype),
        ("read-only", not flags.writeable),
        ("not C-contiguous", not flags.c_contiguous)) if applies]
    key = tuple(reasons)
    if key in _warned:
        return
    _warned.add(key)
    if X.dtype != dtype:
        fix = (f"convert it once ({name} = {name}.astype(np.{dtype})), or make the model "
               f"dtype=np.{X.dtype}" if X.dtype in (np.float32, np.float64)
               else f"convert it once ({name} = {name}.astype(np.{dtype}))")
    else:
        fix = f"pass a writeable C-contiguous array ({name} = np.array({name}, order='C'))"
    warnings.warn(f"{name} ({' x '.join(map(str, X.shape))}, {', '.join(reasons)}) is copied to "
                  f"a writeable C-contiguous {dtype} array of {nbytes / 2**30:.2f} GiB on every call "
                  f"that takes it; {fix} to avoid the copy", InputCopyWarning, stacklevel=4)


def is_sparse(X):
    """Whether X is a scipy.sparse matrix or array."""
    return hasattr(X, "tocsr") and hasattr(X, "nnz")


def as_csr(name, X, width, dtype):
    """A scipy.sparse X (n, width) as a ``kernels.sparse.CSR`` of ``dtype``
    (data), int32 column indices and int64 row pointers, each copied only
    when it is not so already. Its structure is checked before any kernel
    reads it: row pointers from 0, non-decreasing, to the number of entries;
    column indices in [0, width); finite values."""
    X = X.tocsr()
    if X.ndim != 2:
        raise ValueError(f"{name} has shape {X.shape}; expected (*, {width})")
    n, D = X.shape
    if width is not None and D != width:
        raise ValueError(f"{name} has shape {X.shape}; expected (*, {width})")
    if n == 0:
        raise ValueError(f"{name} is empty (shape {X.shape}); expected at least one row")
    if X.dtype.kind not in "fiub":
        raise TypeError(f"{name} must hold real numbers, got dtype {X.dtype}")
    indptr = np.ascontiguousarray(X.indptr, np.int64)
    nnz = int(indptr[-1]) if indptr.shape == (n + 1,) else -1
    if (indptr.shape != (n + 1,) or indptr[0] != 0 or np.any(np.diff(indptr) < 0)
            or nnz > min(X.indices.shape[0], X.data.shape[0])):
        raise ValueError(f"{name} is a sparse matrix whose row pointers (indptr) are not valid "
                         f"for {n} rows and {X.data.shape[0]} stored entries")
    indices = np.ascontiguousarray(X.indices[:nnz], np.int32)
    if nnz and (indices.min() < 0 or indices.max() >= D):
        raise ValueError(f"{name} is a sparse matrix with column indices outside [0, {D})")
    data = np.ascontiguousarray(X.data[:nnz], dtype)
    check_finite(name, data)
    return CSR(data, indices, indptr, (int(n), int(D)))


def as_rows(name, X, width, dtype):
    """X (n, width) as a C-contiguous, writeable, finite array of ``dtype``,
    or, for a scipy.sparse X, as a ``kernels.sparse.CSR`` (:func:`as_csr`).

    Integers and booleans are converted too; see the module for what else is
    accepted, refused, and when the copy is announced.
    """
    if is_sparse(X):
        return as_csr(name, X, width, dtype)
    if isinstance(X, CSR) and X.shape[1] == width and X.data.dtype == dtype:
        return X  # checked already (by as_csr)
    X = as_array(name, X)
    if X.dtype.kind not in "fiub":
        raise TypeError(f"{name} must hold real numbers, got dtype {X.dtype}")
    check_shape(name, X, 2, (None, width))
    if X.shape[0] == 0:
        raise ValueError(f"{name} is empty (shape {X.shape}); expected at least one row")
    _announce_copy(name, X, dtype)
    return check_finite(name, np.require(X, dtype, ["C_CONTIGUOUS", "WRITEABLE"]))


def as_class_labels(name, y, n, num_classes):
    """y (n,) integer labels in [0, num_classes) from any array-like."""
    return as_labels(name, as_array(name, y), n, num_classes)


def as_targets(name, y, n, width, dtype, head):
    """y as the ``head`` (``kernels.heads`` name) of a net with ``width``
    outputs trains on it: 'softmax', labels (n,) in [0, width) (or one-hot
    rows); 'logistic', targets (n, width) in [0, 1] (with one output, labels
    0/1 (n,) too); 'squared_error' (and the estimators' 'squared_mean'),
    finite targets (n, width) ((n,) with one output); 'poisson', the same,
    none negative. Targets come back
    C-contiguous in ``dtype``."""
    if head == "softmax":
        return as_class_labels(name, y, n, width)
    y = as_array(name, y)
    if y.dtype.kind not in "fiub":
        raise TypeError(f"{name} must hold real numbers, got dtype {y.dtype}")
    if y.ndim == 1 and width == 1:
        y = y.reshape(-1, 1)
    wanted = f"({n}, {width})" + (f" or ({n},)" if width == 1 else "")
    if y.shape != (n, width):
        raise ValueError(f"{name} has shape {y.shape}; the {head} head of {width} output"
                         f"{'s' if width > 1 else ''} takes targets {wanted}")
    y = check_finite(name, np.require(y, dtype, ["C_CONTIGUOUS", "WRITEABLE"]))
    if head == "logistic":
        check_unit_targets(name, y, "the logistic head (labels 0/1, or one column per label)")
    if head == "poisson":
        check_nonnegative_targets(name, y, "the poisson head (counts, or any rates >= 0)")
    return y
