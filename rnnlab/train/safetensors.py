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
import math
import os
from pathlib import Path

import numpy as np

from .files import CheckpointError, parse_json, read_bytes

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
MAX_HEADER = 8 * 2**20  # the reference allows 100 MB; a header is ~100 bytes per tensor, and parsing
#                        100 MB of hostile JSON would take a gigabyte


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


def _entry(entry, name: str, path) -> tuple[np.dtype, tuple[int, ...], int, int]:
    """(dtype, shape, begin, end) of one header entry, every field's type checked."""
    if not isinstance(entry, dict) or set(entry) != {"dtype", "shape", "data_offsets"}:
        raise CheckpointError(path, f"tensor {name!r} has a malformed entry (dtype, shape, data_offsets)")
    code, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
    if not isinstance(code, str) or code not in DTYPES:
        raise CheckpointError(path, f"tensor {name!r} has an unknown dtype {str(code)[:20]!r}")
    if not isinstance(shape, list) or len(shape) > 32 or not all(_count(d) for d in shape):
        raise CheckpointError(path, f"tensor {name!r} has an invalid shape (a list of at most 32 sizes >= 0)")
    if math.prod(d for d in shape if d) >= 2**62:  # NumPy cannot shape even an empty array so
        raise CheckpointError(path, f"tensor {name!r} has a shape too large for any array: {shape}")
    if not isinstance(offsets, list) or len(offsets) != 2 or not all(_count(o) for o in offsets):
        raise CheckpointError(path, f"tensor {name!r} has invalid data_offsets (two byte positions >= 0)")
    return np.dtype(DTYPES[code]), tuple(shape), offsets[0], offsets[1]


def _count(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**63


def save(path, tensors: dict[str, np.ndarray], metadata: dict[str, str] | None = None) -> None:
    write_atomic(Path(path), encode(tensors, metadata))


def load(path) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """(tensors, metadata) from a safetensors file, or a CheckpointError saying what is wrong."""
    return decode(read_bytes(path, 2**40), Path(path))  # a regular file (not a FIFO or device)


def decode(data: bytes, path) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    if len(data) < 8:
        raise CheckpointError(path, f"is {len(data)} bytes long, too short for a safetensors header")
    n = int.from_bytes(data[:8], "little")
    if n > MAX_HEADER or 8 + n > len(data):
        raise CheckpointError(
            path, f"header length {n} does not fit in a file of {len(data)} bytes (truncated or not a safetensors file)"
        )
    header = parse_json(bytes(data[8 : 8 + n]), path, what="header")
    if not isinstance(header, dict):
        raise CheckpointError(path, "header is not a JSON object")
    metadata = header.pop("__metadata__", None) or {}
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise CheckpointError(path, "__metadata__ must map strings to strings")
    body = memoryview(data)[8 + n :]
    tensors, spans = {}, []
    for name, entry in header.items():
        dtype, shape, begin, end = _entry(entry, name, path)
        # Python integers: a shape like [2**32, 2**32] must not wrap around to 0 as an int64 would
        nbytes = math.prod(shape) * dtype.itemsize
        if not 0 <= begin <= end <= len(body):
            raise CheckpointError(
                path, f"tensor {name!r}: offsets [{begin}, {end}] are invalid for {len(body)} data bytes"
            )
        if end - begin != nbytes:
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
