"""The safetensors file format, read and written with NumPy alone, checked byte by byte.

A .safetensors file (https://github.com/huggingface/safetensors) is
    8 bytes   N, the header length, unsigned little-endian
    N bytes   a JSON object: {name: {"dtype": "F32", "shape": [...], "data_offsets": [begin, end]},
              ..., optionally "__metadata__": {str: str}}
    the rest  the tensors' bytes, little-endian, C order, back to back in offset order.
No code is ever executed on load (unlike pickle). Files written here load with
`safetensors.numpy.load_file` and `safetensors.torch.load_file`, and files they write load here.

Reading checks everything a truncated, corrupted or hostile file could get wrong (header length,
JSON, dtypes, shapes, offsets that overlap, leave holes or run past the end) and reports it as a
`CheckpointError` naming the file. Writing is atomic: a temporary file in the same folder,
flushed and fsynced, then renamed over the target, so a crash leaves the old file or the new one.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

DTYPES = {
    "F64": "<f8",
    "F32": "<f4",
    "F16": "<f2",
    "I64": "<i8",
    "I32": "<i4",
    "I16": "<i2",
    "I8": "i1",
    "U8": "u1",
    "U16": "<u2",
    "U32": "<u4",
    "U64": "<u8",
    "BOOL": "?",
}
CODES = {np.dtype(v): k for k, v in DTYPES.items()}
MAX_HEADER = 100 * 1024 * 1024  # the reference implementation's limit


class CheckpointError(ValueError):
    """A checkpoint or weights file that cannot be used: missing, truncated, corrupted, or not
    matching what the model expects. The message names the file and what is wrong."""

    def __init__(self, path, problem: str):
        self.path, self.problem = Path(path), problem
        super().__init__(f"{path}: {problem}")


def write_atomic(path: Path, data: bytes) -> None:
    """Write `data` to `path` through a temporary file, fsync and rename: all or nothing."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    fsync_dir(path.parent)


def fsync_dir(folder: Path) -> None:
    """Make a rename inside `folder` durable."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def encode(tensors: dict[str, np.ndarray], metadata: dict[str, str] | None = None) -> bytes:
    """The bytes of a safetensors file holding `tensors` (sorted by name) and `metadata`."""
    header: dict = {}
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    chunks, offset = [], 0
    for name in sorted(tensors):
        a = np.asarray(tensors[name])
        code = CODES.get(a.dtype.newbyteorder("<"))
        if code is None:
            raise TypeError(f"tensor {name!r} has dtype {a.dtype}, which safetensors cannot hold")
        raw = np.ascontiguousarray(a, dtype=a.dtype.newbyteorder("<")).tobytes()
        header[name] = {"dtype": code, "shape": list(a.shape), "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    head = json.dumps(header, separators=(",", ":")).encode()
    head += b" " * (-len(head) % 8)  # pad to 8 bytes, as the reference writer does
    return len(head).to_bytes(8, "little") + head + b"".join(chunks)


def save(path, tensors: dict[str, np.ndarray], metadata: dict[str, str] | None = None) -> None:
    write_atomic(Path(path), encode(tensors, metadata))


def load(path) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """(tensors, metadata) from a safetensors file, or a CheckpointError saying what is wrong."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as err:
        raise CheckpointError(path, f"cannot be read ({err.strerror or err})") from None
    return decode(data, path)


def decode(data: bytes, path) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    if len(data) < 8:
        raise CheckpointError(path, f"is {len(data)} bytes long, too short for a safetensors header")
    n = int.from_bytes(data[:8], "little")
    if n > MAX_HEADER or 8 + n > len(data):
        raise CheckpointError(
            path, f"header length {n} does not fit in a file of {len(data)} bytes (truncated or not a safetensors file)"
        )
    try:
        header = json.loads(data[8 : 8 + n])
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise CheckpointError(path, f"header is not valid JSON ({err})") from None
    if not isinstance(header, dict):
        raise CheckpointError(path, "header is not a JSON object")
    metadata = header.pop("__metadata__", None) or {}
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise CheckpointError(path, "__metadata__ must map strings to strings")
    body = memoryview(data)[8 + n :]
    tensors, spans = {}, []
    for name, entry in header.items():
        try:
            dtype = np.dtype(DTYPES[entry["dtype"]])
            shape = tuple(entry["shape"])
            begin, end = entry["data_offsets"]
        except (KeyError, TypeError, ValueError):
            raise CheckpointError(path, f"tensor {name!r} has a malformed entry {entry!r}") from None
        if not all(isinstance(d, int) and d >= 0 for d in shape) or not (
            isinstance(begin, int) and isinstance(end, int) and 0 <= begin <= end <= len(body)
        ):
            raise CheckpointError(
                path,
                f"tensor {name!r}: shape {list(shape)} or offsets "
                f"[{begin}, {end}] are invalid for {len(body)} data bytes",
            )
        if end - begin != int(np.prod(shape, dtype=np.int64)) * dtype.itemsize:
            raise CheckpointError(
                path, f"tensor {name!r}: {end - begin} bytes do not hold {entry['dtype']} of shape {list(shape)}"
            )
        spans.append((begin, end, name))
        tensors[name] = np.frombuffer(body[begin:end], dtype=dtype).reshape(shape).astype(dtype.newbyteorder("="))
    position = 0
    for begin, end, name in sorted(spans):
        if begin != position:
            raise CheckpointError(
                path,
                f"tensor {name!r} starts at byte {begin}, expected {position} "
                "(overlapping tensors or a hole in the data)",
            )
        position = end
    if position != len(body):
        raise CheckpointError(path, f"{len(body) - position} bytes after the last tensor")
    return tensors, metadata
