"""The ``fusednet`` command: ``fusednet train|search|gradcheck|bench ...``
(also ``python -m fusednet ...``), and what its subcommands share."""
import argparse
import importlib
import math
import signal
import sys
import tempfile
from pathlib import Path

#: subcommand -> (module, one line of help)
COMMANDS = {
    "train": (".train", "train a net on a dataset; write the model, history and pictures"),
    "search": (".search", "search hidden size, learning rate, regularization and decay"),
    "gradcheck": (".gradcheck", "numerical against analytic gradients, per parameter"),
    "precompile": (".precompile", "compile the kernels now, or build a shipped cache for a wheel"),
    "bench": ("..bench.__main__", "time a training step against NumPy, PyTorch and JAX"),
}

#: optional package -> the extra of pyproject.toml that installs it for the commands.
EXTRAS = {"sklearn": "cli", "matplotlib": "cli", "tqdm": "cli", "joblib": "cli",
          "dask": "dask", "distributed": "dask"}


def install_hint(modules, extra=None):
    """The ``pip install`` line that adds ``modules``: ``extra``, or each
    one's own extra (``EXTRAS``)."""
    extras = [extra] if extra else list(dict.fromkeys(EXTRAS.get(m, "cli") for m in modules))
    return f"pip install 'fusednet[{','.join(extras)}]'"


class OneLineParser(argparse.ArgumentParser):
    """Bad flags end with one line on stderr and exit status 2 (no usage dump)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")

    def fail(self, message, status=2):
        """One line on stderr, then exit: for errors found after parsing."""
        self.exit(status, f"{self.prog}: error: {message}\n")

    def stopped(self, message, exc):
        """One line on stderr after a run stopped by ``exc`` (Ctrl-C, SIGTERM,
        SIGHUP) kept its work; then exit 130 for Ctrl-C, or end by the
        signal, as its default action would have (143 / -15 for SIGTERM)."""
        from ..net import signals
        signum = signals.signum_of(exc)
        if signum == signal.SIGINT:
            self.fail(message, status=130)
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        signals.exit_by(signum)

    def require(self, *modules, extra=None):
        """Exit with the line that installs them when optional packages
        cannot be imported, before any work starts (``extra``: the extra to
        name instead of each package's own, ``EXTRAS``)."""
        missing = []
        for m in modules:
            try:
                __import__(m)  # as an import statement would, hooks included
            except ImportError:
                missing.append(m)
        if missing:
            names = ", ".join(missing)
            self.fail(f"{names} {'is' if len(missing) == 1 else 'are'} needed for this and not "
                      f"installed: {install_hint(missing, extra)}")


def number(kind=float, low=None, high=None, *, low_open=False):
    """An argparse ``type``: the text as ``kind`` (int or float), finite and in
    ``[low, high]`` (``low`` itself excluded with ``low_open``)."""
    what = "an integer" if kind is int else "a number"
    if low is not None and high is not None:
        what += f" in {'(' if low_open else '['}{low}, {high}]"
    elif low is not None:
        what = ("a positive number" if low == 0 and low_open and kind is float
                else f"{what} {'>' if low_open else '>='} {low}")

    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if ((kind is float and not math.isfinite(value))
                or (low is not None and (value <= low if low_open else value < low))
                or (high is not None and value > high)):
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
        return value
    parse.what = what
    return parse


def number_list(kind=float, low=None, high=None, *, low_open=False):
    """An argparse ``type``: comma-separated values, each as :func:`number` checks it."""
    one = number(kind, low, high, low_open=low_open)

    def parse(text):
        try:
            return [one(v) for v in text.split(",")]
        except argparse.ArgumentTypeError:
            raise argparse.ArgumentTypeError(
                f"expected comma-separated numbers, each {one.what}, got {text!r}") from None
    return parse


#: ``np.random.seed`` takes 0 .. 2**32 - 1.
seed = number(int, 0, 2**32 - 1)


def writable_dir(ap, path, flag="--out"):
    """``path`` as a Path, created (with its parents) and checked writable by
    writing a file there, before any work; else one line and exit 2."""
    out = Path(path)
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out, prefix=".fusednet-write-check-"):
            pass
    except OSError as exc:
        ap.fail(f"cannot write to {flag} {path}: {exc.strerror or exc}")
    return out


def check_memory(ap, need, what, hint):
    """Exit with one line when ``need`` bytes exceed the memory available
    (the library's check, ``fusednet.net.memory.check_fits``)."""
    from ..net.memory import check_fits
    try:
        check_fits(need, what, hint)
    except MemoryError as exc:
        ap.fail(exc)


def _usage():
    width = max(map(len, COMMANDS))
    lines = ["usage: fusednet [--version] COMMAND [ARGS ...]", "",
             "Fused Numba kernels and a drop-in trainer for small fully-connected nets.", "",
             "commands:"]
    lines += [f"  {name:{width}s}  {text}" for name, (_, text) in COMMANDS.items()]
    lines += ["", "fusednet COMMAND --help describes a command's flags."]
    return "\n".join(lines) + "\n"


def main(argv=None):
    """Dispatch to a subcommand's ``main(argv, prog)``; returns its exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv:
        sys.stderr.write(_usage())
        return 2
    if argv[0] in ("-h", "--help"):
        sys.stdout.write(_usage())
        return 0
    if argv[0] == "--version":
        from .. import __version__
        print(f"fusednet {__version__}")
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        sys.stderr.write(f"fusednet: error: unknown command {name!r}; choose from "
                         f"{', '.join(COMMANDS)} (see fusednet --help)\n")
        return 2
    module = importlib.import_module(COMMANDS[name][0], __package__)
    try:
        return module.main(rest, prog=f"fusednet {name}") or 0
    except KeyboardInterrupt as exc:
        # Training saves its own work before it gets here; anything else
        # interrupted had nothing to keep. SIGTERM and SIGHUP reach here
        # only from training (``net.signals``), which imported the module.
        signum = getattr(exc, "signum", signal.SIGINT)
        if signum == signal.SIGINT:
            sys.stderr.write(f"\nfusednet {name}: interrupted\n")
            return 130
        from ..net import signals
        sys.stderr.write(f"\nfusednet {name}: stopped by {signal.Signals(signum).name}\n")
        signals.exit_by(signum)
