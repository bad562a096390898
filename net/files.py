"""Files written whole or not at all.

Every file the library and the commands write (models, histories, pictures,
search and benchmark results) goes through :func:`atomic_write`: the data
goes to a temporary file in the target's directory (so the final rename
stays on one filesystem), is flushed and fsync'ed, then ``os.replace``\\ s
the target in one step. A write that fails part-way (a full disk or quota:
``OSError`` EFBIG or ENOSPC; or any exception from the writer, matplotlib's
included) leaves the old file as it was and no temporary file behind, and
the error names the path: an ``OSError`` keeps its type and errno, with the
path as its ``filename`` (``[Errno 27] File too large: 'runs/m.npz'``).

A new file gets the mode ``open()`` would give it (0o666 less the umask);
a file replaced keeps its mode. A symbolic link is followed: the file it
points to is replaced and the link stays.
"""
import contextlib
import os
import secrets
import stat


@contextlib.contextmanager
def atomic_write(path, mode="wb", **open_kwargs):
    """Open a temporary file to stand in for ``path`` (``mode`` 'wb' or 'w',
    ``open_kwargs`` as ``open`` takes them); when the block ends without an
    error it replaces ``path``, otherwise it is removed (see the module)."""
    if mode not in ("wb", "w"):
        raise ValueError(f"mode must be 'wb' or 'w', got {mode!r}")
    path = os.fspath(path)
    target = os.path.realpath(path) if os.path.islink(path) else path
    try:
        temporary, f = _create_temporary(target, mode.replace("w", "x"), open_kwargs)
    except OSError as exc:
        raise _naming(exc, path) from None
    try:
        with f:
            yield f
            f.flush()
            os.fsync(f.fileno())
            _keep_mode(target, temporary)
        os.replace(temporary, target)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        named = _naming(exc, path) if isinstance(exc, OSError) else exc
        if hasattr(named, "add_note"):  # Python 3.11+
            named.add_note(f"while writing {path}; the file is left as it was")
        if named is not exc:
            raise named from exc
        raise
    _sync_directory(target)


def write_text(path, text, encoding="utf-8"):
    """``path`` holds ``text`` afterwards, written atomically."""
    with atomic_write(path, "w", encoding=encoding) as f:
        f.write(text)


def write_bytes(path, data):
    """``path`` holds ``data`` afterwards, written atomically."""
    with atomic_write(path, "wb") as f:
        f.write(data)


def save_figure(fig, path, **savefig_kwargs):
    """``fig.savefig(path, ...)`` written atomically; the format follows the
    file's suffix, as ``savefig`` reads it from a name."""
    if "format" not in savefig_kwargs:
        suffix = os.path.splitext(os.fspath(path))[1][1:].lower()
        savefig_kwargs["format"] = suffix or None
    with atomic_write(path, "wb") as f:
        fig.savefig(f, **savefig_kwargs)


def savez(path, **arrays):
    """``np.savez`` at exactly ``path`` (no suffix added), written atomically."""
    import numpy as np
    with atomic_write(path, "wb") as f:
        np.savez(f, **arrays)


def check_writable(path):
    """OSError naming ``path`` unless :func:`atomic_write` could write it:
    its directory exists and takes a new file, and it is not a directory.
    Nothing is left behind: for a command to check its output before working."""
    path = os.fspath(path)
    if os.path.isdir(path):
        raise IsADirectoryError(21, os.strerror(21), path)
    target = os.path.realpath(path) if os.path.islink(path) else path
    try:
        temporary, f = _create_temporary(target, "xb", {})
    except OSError as exc:
        raise _naming(exc, path) from None
    f.close()
    os.unlink(temporary)


def _create_temporary(target, mode, open_kwargs):
    """``(name, file)``: a new file beside ``target``, opened exclusively."""
    directory, name = os.path.split(target)
    for _ in range(100):
        temporary = os.path.join(directory, f".{name}.{secrets.token_hex(4)}.tmp")
        try:
            return temporary, open(temporary, mode, **open_kwargs)
        except FileExistsError:
            continue
    raise FileExistsError(17, "no free temporary name", target)


def _keep_mode(target, temporary):
    """A file being replaced keeps its permission bits (new ones keep the umask's)."""
    try:
        st = os.stat(target)
    except FileNotFoundError:
        return
    os.chmod(temporary, stat.S_IMODE(st.st_mode))


def _sync_directory(target):
    """Make the rename itself durable where the platform allows it."""
    with contextlib.suppress(OSError, AttributeError):
        fd = os.open(os.path.dirname(target) or ".", os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _naming(exc, path):
    """``exc`` again with ``path`` as its file name: the same type and errno."""
    if exc.errno is None:
        return exc
    try:
        return type(exc)(exc.errno, exc.strerror or os.strerror(exc.errno), path)
    except TypeError:  # an OSError subclass with a constructor of its own
        return OSError(exc.errno, exc.strerror or os.strerror(exc.errno), path)
