"""What the command-line entry points share."""
import argparse


class OneLineParser(argparse.ArgumentParser):
    """Bad flags end with one line on stderr and exit status 2 (no usage dump)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")
