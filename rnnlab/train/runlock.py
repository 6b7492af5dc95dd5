"""One writer per run folder: a lock file held with fcntl.flock while a run trains.

Two `rnnlab resume` on one run would both append to metrics.jsonl and both write checkpoints;
the second is refused instead, with the first one's process id:

    with hold_run("runs/lm"):        # RunBusyError when another process holds it
        ...

The lock is the kernel's (flock on RUN/.lock), so it is released when the holder exits in any way,
kill -9 included; the file itself stays and means nothing without the lock. A process may take the
lock of a folder it already holds (the command line holds it around the Trainer, which takes it
too). Where fcntl does not exist (Windows) runs are not locked.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None

LOCK_FILE = ".lock"
_held: dict[str, list] = {}  # real path of a run folder -> [file descriptor, depth]


class RunBusyError(ValueError):
    """Another process is training or resuming this run."""


@contextmanager
def hold_run(run_dir) -> Iterator[None]:
    """Hold RUN_DIR's lock for the duration (the folder is created if missing)."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    key = os.path.realpath(run_dir)
    if fcntl is None:
        yield
        return
    if key in _held:
        _held[key][1] += 1
    else:
        _held[key] = [_acquire(run_dir), 1]
    try:
        yield
    finally:
        _held[key][1] -= 1
        if _held[key][1] == 0:
            os.close(_held.pop(key)[0])  # closing the descriptor releases the lock


def _acquire(run_dir: Path) -> int:
    path = run_dir / LOCK_FILE
    fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "another process"
        os.close(fd)
        raise RunBusyError(f"{run_dir} is in use by {holder}; wait for it to finish or stop it") from None
    except OSError:
        os.close(fd)
        raise
    os.ftruncate(fd, 0)
    command = " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]) if sys.argv and sys.argv[0] else "python"
    os.pwrite(fd, f"process {os.getpid()} ({command[:160]})\n".encode(), 0)
    return fd
