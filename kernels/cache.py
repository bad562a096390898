"""The kernels' on-disk cache: Numba's, made safe against a damaged, full or
read-only cache directory.

What Numba 0.68's own cache (``numba.core.caching``) does, and what it did
here:

- A truncated or garbage index (``.nbi``) or data (``.nbc``) file: the
  unpickling error (``UnpicklingError``; random bytes can raise others, such
  as ``UnicodeDecodeError``) goes up through the call that needed the
  kernel; training crashed, in every process, until the file was deleted.
- A write that fails (a full disk: ``OSError: File too large`` under a file
  size limit, or ``ENOSPC``; a directory made read-only: ``PermissionError``
  from the writability probe before each save): the ``OSError`` goes up
  through the call that compiled; only Windows' ``EACCES`` is swallowed.
- It writes the index before the data file, and the index names data files
  by number: a failed data write, or two processes saving different entries
  of one kernel at once, can leave an index naming a file that holds other
  code (a stale kernel, or another signature's), which Numba loads without a
  check: a swapped pair of data files crashed here in unboxing. (Two
  processes compiling the same kernels into one empty cache went right.)
- A directory that is not writable when a kernel is first seen: the next
  location in Numba's list (the ``__pycache__`` beside the sources, then the
  per-user directory) is used for that kernel, so one process may write to
  two caches.

``install`` makes the package's kernels use ``KernelCache`` instead, in the
directory that ``config`` found writable at import. Numba picks a
dispatcher's cache in ``enable_caching`` (what ``cache=True`` calls, also
for the ``@overload`` implementations the kernels compile); ``install``
replaces that method of ``CPUDispatcher`` with one that gives functions of
the package's modules a ``KernelCache`` and calls Numba's own for every other
function, whose caching is unchanged. With it:

- any failure to read an index or data file (or to rebuild what it holds) is a
  miss: the kernel recompiles and the entry is written again;
- each data file starts with a checksum of its contents and holds its own
  index key, checked on load, and is written before the index names it;
- a failed write (any ``OSError``: ``EFBIG``, ``ENOSPC``, ``EACCES``,
  ``EROFS``...) stops this process from writing the cache: its other new
  kernels compile in memory; so does a directory that is no longer writable
  when a kernel is first seen (that kernel is not cached at all);
- the first such event in a process says so in one ``RuntimeWarning``; the
  others are silent.

The index keeps Numba's layout with its own version, so an index written by
Numba's cache reads as another version's: a miss, not damage.

Two more things a cache entry must match before it is used:

- **The sources of every kernel.** Numba's stamp is a digest of the
  function's own file only, so a kernel whose callee in another module was
  edited (or upgraded by ``pip``) would load stale machine code. The stamp
  here adds :data:`SOURCES`, a digest of every ``kernels/*.py`` and of the
  name the package is imported under (compiled code calls the product's
  entry point through a symbol named after its module: a checkout's
  ``kernels`` imported as itself and as ``fusednet.kernels`` shares one
  ``__pycache__``, and each name's entries failed under the other).
- **The CPU.** Numba's key holds the target (triple, CPU name, features) and
  matches it exactly.

**The shipped cache** is a read-only cache directory installed with the
package (``kernels/shipped``, or ``FUSEDNET_SHIPPED_CACHE``), built when the
wheel is built (``fusednet precompile --ship``, ``scripts/precompile.py``) so that a fresh install loads the kernels
instead of compiling them. It is tried before the writable cache. Its entries
are keyed by their sources' digests, not by where the files are, and may be
built for a CPU family (``x86-64-v3``: the ISA features the code may use,
listed in the key) so that one build serves every machine that has those
features. An entry is used only when (see :func:`runs_here`) it was built for
this triple, by this Numba and Python, from these exact sources, and either
for this CPU model with no feature this machine lacks, or for a family whose
features this machine all has. Anything else is a miss: the kernel compiles
and goes to the writable cache as before.
"""
import hashlib
import inspect
import itertools
import os
import pickle
import threading
import warnings
import zlib

import numba
from numba.core import caching
from numba.core.registry import CPUDispatcher

#: The first bytes of every data file, followed by the CRC-32 of the rest.
MAGIC = b"fusednet kernel cache 1\n"
#: Stored in each index beside Numba's version.
VERSION = (numba.__version__, "fusednet-1")

#: CPU names whose code may run on any CPU with the features listed beside
#: them in the key (LLVM's x86-64 micro-architecture levels).
FAMILIES = ("x86-64", "x86-64-v2", "x86-64-v3", "x86-64-v4")


def _sources_digest():
    here = os.path.dirname(os.path.abspath(__file__))
    # The import name too: compiled code names the entry points' cells after
    # their module (``matmul.ENTRIES``), so one folder imported under two
    # names (``kernels`` from a checkout, ``fusednet.kernels``) shares its
    # ``__pycache__`` but not its entries.
    digest = hashlib.sha256(__name__.encode() + b"\0")
    for name in sorted(os.listdir(here)):
        if name.endswith(".py"):
            digest.update(name.encode() + b"\0")
            with open(os.path.join(here, name), "rb") as f:
                digest.update(f.read())
    return digest.hexdigest()


#: Digest of every kernel source (``kernels/*.py``) and of the name they are
#: imported under: part of every entry's stamp.
SOURCES = _sources_digest()

#: Called as ``hook(data)`` with the bytes of each data file read (checksum
#: verified) before the kernel in it loads: what its machine code calls by
#: name must be registered first (``matmul``'s entry points).
before_load = []
#: Called as ``hook(py_func, argument types)`` after a kernel missed; True
#: means it may be there now (the compile helper just wrote it): look again.
after_miss = []
#: Called as ``hook(py_func, argument types)`` after a kernel's entry is written.
after_save = []

_lock = threading.Lock()
_warned = False
#: Cleared by the first failed write: the process writes no more.
_writing = True


def _warn(message):
    """The process's one warning about the cache; later calls are silent."""
    global _warned
    with _lock:
        if _warned:
            return
        _warned = True
    warnings.warn("fusednet: " + message, RuntimeWarning, stacklevel=3)


def _damaged(path, exc):
    _warn(f"Numba's cache file {path} is damaged or unreadable ({_describe(exc)}); "
          "it is ignored and the kernels it held recompile (and are cached again where the "
          "directory allows).")


def _describe(exc):
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


class Damaged(Exception):
    """A data file whose header or checksum does not match its contents."""


class _Files(caching.IndexDataCacheFile):
    """One kernel's index and data files, read defensively."""

    def __init__(self, cache_path, filename_base, source_stamp):
        super().__init__(cache_path, filename_base, (source_stamp, SOURCES))
        self._version = VERSION

    def load_compatible(self, key):
        """The entry for ``key``'s signature and bytecode built for the best
        target this machine runs (:func:`best_target`), or None."""
        sig, target, code = key
        built = [t for s, t, c in self._load_index() if s == sig and c == code]
        best = best_target(built, target)
        return None if best is None else self.load((sig, best, code))

    def load(self, key):
        overloads = self._load_index()
        name = overloads.get(key)
        if name is None:
            return None
        try:
            stored_key, data = self._load_data(name)
        except FileNotFoundError:
            return None  # never written (a failed save) or removed since
        except Exception as e:
            _damaged(self._data_path(name), e)
            return None
        if stored_key != key:
            return None  # the index and the file disagree (two writers at once): a miss
        return data

    def save(self, key, data):
        overloads = self._load_index()
        name = overloads.get(key)
        if name is None:
            taken = set(overloads.values())
            name = next(n for n in map(self._data_name, itertools.count(1)) if n not in taken)
        self._save_data(name, (key, data))
        overloads = self._load_index()  # what other processes added meanwhile
        overloads[key] = name
        self._save_index(overloads)

    def _load_index(self):
        try:
            return super()._load_index()
        except Exception as e:
            _damaged(self._index_path, e)
            return {}

    def _load_data(self, name):
        path = self._data_path(name)
        with open(path, "rb") as f:
            blob = f.read()
        start = len(MAGIC) + 4
        payload = memoryview(blob)[start:]
        if (not blob.startswith(MAGIC)
                or zlib.crc32(payload) != int.from_bytes(blob[len(MAGIC):start], "little")):
            raise Damaged("its header or checksum does not match its contents")
        for hook in before_load:
            hook(blob)
        return pickle.loads(payload)

    def _save_data(self, name, data):
        payload = self._dump(data)
        with self._open_for_write(self._data_path(name)) as f:
            f.write(MAGIC + zlib.crc32(payload).to_bytes(4, "little") + payload)


class _Impl(caching.CompileResultCacheImpl):
    # Set by install: the one locator the package uses in this process.
    _locator_classes = []


def runs_here(built, host):
    """Whether code built for the target ``built`` (Numba's ``magic_tuple``:
    triple, CPU name, ``+feature,-feature`` string) runs on ``host``: the same
    triple, every feature it enabled enabled here, and the same CPU model or a
    family of :data:`FAMILIES` (a model may imply features its string omits)."""
    (triple, cpu, features), (host_triple, host_cpu, host_features) = built, host
    if triple != host_triple or not features or (cpu != host_cpu and cpu not in FAMILIES):
        return False

    def enabled(f):
        return {x[1:] for x in f.split(",") if x.startswith("+")}
    return enabled(features) <= enabled(host_features)


def best_target(built, host):
    """Of the targets ``built`` (a shipped cache may hold several levels),
    the one to load on ``host``: this CPU model's own build, else the highest
    x86-64 level it runs; None when it runs none."""
    usable = [t for t in built if runs_here(t, host)]
    return max(usable, key=lambda t: (t[1] == host[1], FAMILIES.index(t[1]) if t[1] in FAMILIES
                                      else -1), default=None)


class KernelCache(caching.FunctionCache):
    """Numba's per-function cache for one kernel, with the failures above
    turned into misses and in-memory compiles, and the shipped cache tried
    first."""

    _impl_class = _Impl

    def __init__(self, py_func):
        super().__init__(py_func)
        stamp = self._cache_file._source_stamp
        self._cache_file = _Files(self._cache_path, self._impl.filename_base, stamp)
        self._shipped = None
        if _shipped_dir and not _shipping:
            folder = os.path.basename(os.path.dirname(inspect.getfile(py_func)))
            self._shipped = _Files(os.path.join(_shipped_dir, folder), self._impl.filename_base,
                                   stamp)

    def _load_overload(self, sig, target_context):
        if self._enabled and self._shipped is not None:
            key = self._index_key(sig, target_context.codegen())
            data = self._shipped.load_compatible(key)
            if data is not None:
                return self._impl.rebuild(target_context, data)
        return super()._load_overload(sig, target_context)

    def load_overload(self, sig, target_context):
        data = self._load_or_none(sig, target_context)
        if data is None and after_miss:
            args = tuple(getattr(sig, "args", sig))
            if any([hook(self._py_func, args) for hook in after_miss]):
                data = self._load_or_none(sig, target_context)
        return data

    def _load_or_none(self, sig, target_context):
        try:
            return super().load_overload(sig, target_context)
        except Exception as e:  # a rebuild that failed: compile instead
            _damaged(os.path.join(self._cache_path, self._impl.filename_base + ".*"), e)
            return None

    def save_overload(self, sig, data):
        if not _writing:
            return
        try:
            super().save_overload(sig, data)
        except OSError as e:
            _stop_writing(self._cache_path, e)
            return
        for hook in after_save:
            hook(self._py_func, tuple(getattr(sig, "args", sig)))


def _stop_writing(path, exc):
    global _writing
    _writing = False
    _warn(f"cannot write Numba's cache in {path} ({_describe(exc)}); from now on this process "
          "compiles new kernels in memory, and the next process compiles them again.")


def _enable_caching(self):
    if not getattr(self.py_func, "__module__", "").startswith(_package):
        return _numba_enable_caching(self)
    self._cache = kernel_cache(self.py_func)


def kernel_cache(py_func):
    """A ``KernelCache`` for the kernel ``py_func`` (a dispatcher's, or a C
    entry point's: ``matmul``'s), or a ``NullCache`` when its directory is no
    longer writable (then this process stops writing, with the warning)."""
    try:
        return KernelCache(py_func)
    except (RuntimeError, OSError) as e:
        # No locator: the directory is no longer writable (or is gone).
        path, why = None, e
        try:
            locator = _Impl._locator_classes[0](py_func, inspect.getfile(py_func))
            path = locator.get_cache_path()
            locator.ensure_cache_path()
        except Exception as reason:
            why = reason
        _stop_writing(path, why)
        return caching.NullCache()


_package = None
_numba_enable_caching = None
_shipped_dir = None
_shipping = False


class ShippedLocator(caching.InTreeCacheLocator):
    """The shipped cache's directory as the one to write (while it is built):
    ``<dir>/<the source's folder>``, the same wherever the package lies."""

    directory = None

    def __init__(self, py_func, py_file):
        super().__init__(py_func, py_file)
        folder = os.path.basename(os.path.dirname(os.path.abspath(py_file)))
        self._cache_path = os.path.join(self.directory, folder)


def install(package, locator, shipped=None, shipping=False):
    """Give the kernels of ``package`` (its module names' prefix) a
    ``KernelCache`` in ``locator``'s directory (a Numba locator class),
    from now on, trying the read-only ``shipped`` directory first (when it
    exists). With ``shipping`` the cache is written into ``shipped`` instead.
    Other functions keep Numba's cache."""
    global _package, _numba_enable_caching, _shipped_dir, _shipping
    _package = package + "."
    _shipped_dir, _shipping = shipped, shipping
    if shipping:
        ShippedLocator.directory = shipped
        locator = ShippedLocator
    _Impl._locator_classes = [locator]
    if CPUDispatcher.enable_caching is not _enable_caching:
        _numba_enable_caching = CPUDispatcher.enable_caching
        CPUDispatcher.enable_caching = _enable_caching

