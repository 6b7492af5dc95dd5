"""Reading the files of a run folder as if a hostile user had written them.

A run folder is data from outside: copied from a colleague, downloaded, edited by hand, or
replaced by something that is not a file at all. Everything here reads it without trusting it:

- only regular files: a FIFO would block `open()` forever and a device (a link to /dev/zero or
  /dev/urandom) never ends, so a file is opened non-blocking and `fstat` must say "regular";
- only inside the folder: a symbolic link that resolves outside it is refused;
- sizes first: a file larger than its kind may be is refused before it is read;
- JSON with limits: at most `MAX_DEPTH` levels of nesting (deeper files end Python's recursive
  parser early, and are refused), no NaN or Infinity, no integers of thousands of digits;
- every problem is a `CheckpointError` naming the file and what is wrong.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path


class CheckpointError(ValueError):
    """A checkpoint or weights file that cannot be used: missing, truncated, corrupted, or not
    matching what the model expects. The message names the file and what is wrong."""

    def __init__(self, path, problem: str):
        self.path, self.problem = Path(path), problem
        super().__init__(f"{path}: {problem}")


MAX_DEPTH = 64  # levels of nesting a JSON file of rnnlab may have (it writes at most 6)
MAX_JSON = 64 * 2**20  # bytes of a run.json (its vocabularies make it large, not this large)


def inside(path: Path, folder: Path) -> Path:
    """`path` resolved, refused unless it lies inside `folder` (links included)."""
    real, root = Path(os.path.realpath(path)), Path(os.path.realpath(folder))
    if real != root and root not in real.parents:
        raise CheckpointError(path, f"is a link to {real}, outside {folder}; only files inside the folder are read")
    return real


def read_bytes(path, limit: int, folder=None) -> bytes:
    """The bytes of the regular file `path` (at most `limit` of them), inside `folder` if given."""
    path = Path(path)
    if folder is not None:
        inside(path, Path(folder))
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    except FileNotFoundError:
        raise CheckpointError(path, "does not exist") from None
    except OSError as err:
        raise CheckpointError(path, f"cannot be read ({err.strerror or err})") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise CheckpointError(path, f"is {_kind(info.st_mode)}, not a regular file")
        if info.st_size > limit:
            raise CheckpointError(path, f"is {info.st_size:,} bytes, more than the {limit:,} such a file may have")
        chunks, left = [], info.st_size
        while left > 0:
            chunk = os.read(fd, min(left, 2**26))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
    except OSError as err:
        raise CheckpointError(path, f"cannot be read ({err.strerror or err})") from None
    finally:
        os.close(fd)
    data = b"".join(chunks)
    if len(data) != info.st_size:
        raise CheckpointError(path, f"changed while it was read ({len(data):,} of {info.st_size:,} bytes)")
    return data


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def json_depth(value) -> int:
    """How deeply a parsed JSON value's arrays and objects nest (an explicit stack: no recursion)."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, (dict, list)):
            deepest = max(deepest, depth + 1)
            children = node.values() if isinstance(node, dict) else node
            stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return deepest


def _no_constant(name: str):
    raise ValueError(f"{name} is not a number JSON allows")


def parse_json(data: bytes, path, what: str = "the file") -> object:
    """`data` parsed as JSON under this module's limits, or a CheckpointError naming `path`.
    Python's parser recurses: JSON nested about a thousand deep ends it in a RecursionError,
    cheaply (a pre-scan of the bytes would cost more memory than the parse)."""
    try:
        value = json.loads(data.decode("utf-8"), parse_constant=_no_constant)
    except UnicodeDecodeError as err:
        raise CheckpointError(path, f"{what} is not UTF-8 text (byte {err.start})") from None
    except RecursionError:
        raise CheckpointError(path, f"{what} nests deeper than the {MAX_DEPTH} levels rnnlab reads") from None
    except ValueError as err:  # JSONDecodeError, NaN, an integer of too many digits
        raise CheckpointError(path, f"{what} is not valid JSON ({err})") from None
    depth = json_depth(value)
    if depth > MAX_DEPTH:
        raise CheckpointError(path, f"{what} nests {depth} levels deep, more than the {MAX_DEPTH} rnnlab reads")
    return value


def read_json(path, folder=None, limit: int = MAX_JSON) -> object:
    """A JSON file of a run folder, read and parsed under this module's limits."""
    return parse_json(read_bytes(path, limit, folder), path)
