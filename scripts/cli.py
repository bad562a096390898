"""The ``fusednet`` command: ``fusednet train|search|gradcheck|bench ...``
(also ``python -m fusednet ...``), and what its subcommands share."""
import argparse
import importlib
import importlib.util
import sys

#: subcommand -> (module, one line of help)
COMMANDS = {
    "train": (".train", "train a net on a dataset; write the model, history and pictures"),
    "search": (".search", "search hidden size, learning rate, regularization and decay"),
    "gradcheck": (".gradcheck", "numerical against analytic gradients, per parameter"),
    "bench": ("..bench.__main__", "time a training step against NumPy, PyTorch and JAX"),
}

EXTRA_HINT = "pip install 'fusednet[cli]'"


class OneLineParser(argparse.ArgumentParser):
    """Bad flags end with one line on stderr and exit status 2 (no usage dump)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")

    def fail(self, message, status=2):
        """One line on stderr, then exit: for errors found after parsing."""
        self.exit(status, f"{self.prog}: error: {message}\n")

    def require(self, *modules):
        """Exit with an install hint when an optional package is missing,
        before any work starts."""
        missing = [m for m in modules if importlib.util.find_spec(m) is None]
        if missing:
            names = ", ".join(missing)
            self.fail(f"{names} {'is' if len(missing) == 1 else 'are'} needed for this and not "
                      f"installed: {EXTRA_HINT}")


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
    except KeyboardInterrupt:
        # Training saves its own work before it gets here; anything else
        # interrupted had nothing to keep.
        sys.stderr.write(f"\nfusednet {name}: interrupted\n")
        return 130
