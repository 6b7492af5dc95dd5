"""What every command group of the command line shares: the parser that errs in one line and the
way a line reaches a person while a progress bar runs. (The value types, positive_int and the
like, live in rnnlab.experiments.common, where the experiments declare their options too.)"""

from __future__ import annotations

import argparse
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path


class Parser(argparse.ArgumentParser):
    """Usage errors as one line on stderr (with a pointer to --help) and exit code 2."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def out_folder(path, default: Path, option: str = "--out") -> Path:
    """The folder a command writes into: `path` (the option's value) or `default`; a file there
    is refused in one line naming the option (mkdir would say "[Errno 17] File exists")."""
    folder = Path(path) if path else default
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"{option} {folder}: is a file, not a folder; choose a folder's path")
    return folder


def out_file(path, option: str = "--out") -> Path:
    """A file a command writes: refused in one line naming the option when it is a folder or its
    folder does not exist (before any work, not as an OSError after it)."""
    file = Path(path)
    if file.is_dir():
        raise ValueError(f"{option} {file}: is a folder; give the path of the file to write")
    if not file.parent.is_dir():
        raise ValueError(f"{option} {file}: there is no folder {file.parent}; create it first")
    return file


def check_new_run_folder(folder: Path) -> None:
    """Refuse to start a run in a folder that holds one: its run.json (continue it with `rnnlab
    resume`), or another run's checkpoints without one, which training would prune and whose
    best/ it would replace (the Trainer refuses them too; here it happens before run.json is
    written)."""
    from ..train.checkpoint import checkpoints_held

    if (folder / "run.json").exists():
        raise ValueError(
            f"{folder} already holds a run: continue it with `rnnlab resume {folder}` or choose another --out"
        )
    found = checkpoints_held(folder)
    if found:
        raise ValueError(
            f"{folder} holds checkpoints of another run ({', '.join(found[:3])}{', ...' if len(found) > 3 else ''})"
            " but no run.json: choose another --out, or remove them"
        )


@contextmanager
def removed_unless_started(folder: Path) -> Iterator[None]:
    """A run started in `folder`: when the block fails before the first training step (a
    ResourceError, a bad file, Ctrl-C while building), what it wrote there is removed again, and
    the folder too when the block made it, so the corrected command can run into the same --out
    (a run.json left behind would make it refuse: "already holds a run"). A run that has taken a
    step (metrics.jsonl holds a line) or saved a checkpoint is kept, to be looked at or resumed."""
    existed = folder.is_dir()
    before = set(folder.iterdir()) if existed else set()
    try:
        yield
    except BaseException:
        if folder.is_dir() and not _started(folder):
            for path in set(folder.iterdir()) - before:
                if path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    path.unlink(missing_ok=True)
            if not existed and not any(folder.iterdir()):
                folder.rmdir()
        raise


def _started(folder: Path) -> bool:
    from ..train.checkpoint import list_checkpoints

    metrics = folder / "metrics.jsonl"
    return (metrics.is_file() and metrics.stat().st_size > 0) or bool(list_checkpoints(folder))


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
