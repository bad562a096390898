"""The model file: an ``.npz`` with the parameters ``W1, b1, ..., WL, bL`` and
``__meta__``, a JSON record of the architecture::

    {"format": "fusednet.MLP/1", "layer_sizes": [D, H1, ..., C],
     "activation": "relu", "residual": false, "dtype": "float64", "cls": "MLP",
     "head": "softmax"}

``head`` ('softmax', 'logistic', 'squared_error', 'poisson') is optional: a record
without it (written before heads) describes a softmax net.

Saving and loading agree on the name: like ``np.savez``, :func:`write`
appends ``.npz`` to a name without it, and :func:`read` of ``'m'`` reads
``m.npz`` when there is no file ``m``. Reading checks the record's types,
then every array's shape and dtype from its header against the record,
before any array is read or any model allocated; every error names the file.
Writing is atomic: a save that fails part-way (a full disk) keeps the old file.
"""
import json
import os
import zipfile
import zlib

import numpy as np

from ..kernels.activations import CODES
from ..kernels.heads import ALL_CODES as HEADS
from ..kernels.checks import check_bool
from . import files
from .architecture import as_layer_sizes

FORMAT = "fusednet.MLP/1"
_META = "__meta__"
#: Largest architecture record read (a JSON string of a few hundred bytes).
_META_MAX_CHARS = 1 << 16


class ModelFileError(ValueError):
    """A model file that cannot be read or does not hold what its record says."""


def write(path, meta, arrays):
    """Write ``meta`` (dict) and ``arrays`` (name -> array); returns the path
    written (``.npz`` appended when missing), or ``path`` if it is a file object.
    A path is written atomically (:mod:`fusednet.net.files`): a failed save
    leaves the file it would have replaced as it was."""
    contents = {_META: np.array(json.dumps(dict(meta, format=FORMAT))), **arrays}
    if not isinstance(path, (str, os.PathLike)):
        np.savez(path, **contents)
        return path
    path = os.fspath(path)
    if not path.endswith(".npz"):
        path += ".npz"
    files.savez(path, **contents)
    return path


def resolve(path):
    """The file :func:`read` opens for ``path``: itself if it exists, else
    ``path + '.npz'`` when that exists (what ``write`` made of the name)."""
    if not isinstance(path, (str, os.PathLike)):
        return path
    path = os.fspath(path)
    if os.path.exists(path) or path.endswith(".npz") or not os.path.exists(path + ".npz"):
        return path
    return path + ".npz"


def read(path):
    """``(meta, arrays)`` of a model file, both checked (see the module)."""
    path = resolve(path)
    name = os.fspath(path) if isinstance(path, (str, os.PathLike)) else repr(path)
    if isinstance(path, str) and not os.path.exists(path):
        raise FileNotFoundError(f"no such model file: {path}"
                                + ("" if path.endswith(".npz") else f" (nor {path}.npz)"))
    try:
        if not zipfile.is_zipfile(path):
            raise ModelFileError(f"{name} is not a fusednet model file: not an .npz archive "
                                 f"(or a truncated one)")
        with np.load(path, allow_pickle=False) as f:
            if _META not in f.files:
                raise ModelFileError(f"{name} is not a fusednet model file (no architecture record)")
            meta = _record(name, f)
            for key, (shape, dtype) in _expected_arrays(meta).items():
                _check_header(name, f, key, shape, dtype)
            arrays = {key: f[key] for key in _expected_arrays(meta)}
    except ModelFileError:
        raise
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, zlib.error,
            UnicodeDecodeError) as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        raise ModelFileError(f"{name} cannot be read as a fusednet model file (corrupted or "
                             f"truncated?): {type(exc).__name__}: {exc}") from None
    for key, a in arrays.items():
        if not np.isfinite(a).all():
            raise ModelFileError(f"{name}: {key} contains NaN or Inf")
    return meta, arrays


def _header(f, key):
    """``(shape, fortran_order, dtype)`` of member ``key`` from its .npy header alone."""
    with f.zip.open(key + ".npy") as fp:
        version = np.lib.format.read_magic(fp)
        read = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                else np.lib.format.read_array_header_2_0)
        return read(fp)


def _record(name, f):
    shape, _, dtype = _header(f, _META)
    if shape != () or dtype.kind != "U" or dtype.itemsize // 4 > _META_MAX_CHARS:
        raise ModelFileError(f"{name}: the architecture record is not a JSON string "
                             f"(shape {shape}, dtype {dtype})")
    try:
        meta = json.loads(str(f[_META]))
    except json.JSONDecodeError as exc:
        raise ModelFileError(f"{name}: the architecture record is not valid JSON: {exc}") from None
    if not isinstance(meta, dict):
        raise ModelFileError(f"{name}: the architecture record is not a JSON object")
    if meta.get("format") != FORMAT:
        raise ModelFileError(f"{name}: unknown model format {meta.get('format')!r}; expected {FORMAT!r}")
    missing = [k for k in ("layer_sizes", "activation", "residual", "dtype") if k not in meta]
    if missing:
        raise ModelFileError(f"{name}: the architecture record lacks {', '.join(missing)}")
    try:
        sizes = as_layer_sizes(meta["layer_sizes"])
        residual = check_bool("residual", meta["residual"])
    except (TypeError, ValueError) as exc:
        raise ModelFileError(f"{name}: {exc}") from None
    head = meta.get("head", "softmax")
    if not isinstance(head, str) or head not in HEADS:
        raise ModelFileError(f"{name}: head must be one of {sorted(HEADS)}, got {head!r}")
    if head == "softmax" and sizes[-1] < 2:
        raise ModelFileError(f"{name}: the last width is the number of classes and must be >= 2 "
                             f"for a softmax net, got {sizes[-1]}")
    if not isinstance(meta["activation"], str) or meta["activation"] not in CODES:
        raise ModelFileError(f"{name}: activation must be one of {sorted(CODES)}, "
                             f"got {meta['activation']!r}")
    if meta["dtype"] not in ("float32", "float64"):
        raise ModelFileError(f"{name}: dtype must be 'float32' or 'float64', got {meta['dtype']!r}")
    return dict(meta, layer_sizes=list(sizes), residual=residual, head=head)


def _expected_arrays(meta):
    """name -> (shape, dtype) of every parameter the record describes."""
    sizes, dtype = meta["layer_sizes"], np.dtype(meta["dtype"])
    out = {}
    for l, (fi, fo) in enumerate(zip(sizes[:-1], sizes[1:]), 1):
        out[f"W{l}"] = ((fi, fo), dtype)
        out[f"b{l}"] = ((fo,), dtype)
    return out


def _check_header(name, f, key, shape, dtype):
    if key not in f.files:
        raise ModelFileError(f"{name}: {key} is missing (the record's layer_sizes need it)")
    got_shape, _, got_dtype = _header(f, key)
    if got_shape != shape:
        raise ModelFileError(f"{name}: {key} has shape {got_shape}; the record's layer_sizes "
                             f"need {shape}")
    if got_dtype != dtype:
        raise ModelFileError(f"{name}: {key} has dtype {got_dtype}, the record says {dtype}")
