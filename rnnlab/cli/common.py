"""What every command group of the command line shares: the parser that errs in one line and the
way a line reaches a person while a progress bar runs. (The value types, positive_int and the
like, live in rnnlab.experiments.common, where the experiments declare their options too.)"""

from __future__ import annotations

import argparse
from collections.abc import Callable


class Parser(argparse.ArgumentParser):
    """Usage errors as one line on stderr (with a pointer to --help) and exit code 2."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def say(progress: bool) -> Callable[[str], None]:
    """Print a line for a person: through tqdm while a progress bar is on screen (so the bar is
    redrawn below it), else straight to stdout."""

    def write(line: str) -> None:
        if progress:
            from tqdm.auto import tqdm

            tqdm.write(line)
        else:
            print(line, flush=True)

    return write


def one_blas_thread():
    """A context in which BLAS/LAPACK use one thread (many small SVDs and matmuls: faster)."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(1)


def plots_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("matplotlib") is not None
