"""A seeded mutation fuzzer of checkpoint loading: corrupt a real checkpoint folder in thousands of
ways and check that `rnnlab sample` and `rnnlab resume` either refuse it cleanly or load exactly
what was saved.

    python tests/checkpoint_fuzz.py --mutants 10000 --seed 0 [--markdown]     # the whole table
    python tests/checkpoint_fuzz.py --only raw/state.number --seed 123         # one mutant, in detail
    python tests/checkpoint_fuzz.py --list-kinds

How it works. A few tiny real runs are trained once (an LSTM, and a GRU with dropout and a cosine
schedule); their newest checkpoint folders are the references. Mutant number i is one mutation of
kind KINDS[i % len(KINDS)] with seed `--seed` + i, applied to a fresh copy of a reference (which
one, and every detail of the mutation, follows from the kind and the seed alone, so `--only KIND
--seed N` rebuilds it). Each mutant is loaded the two ways the commands load a checkpoint:

    sample   rnnlab.runs.charlm.load_charlm(folder)                        -> model, vocabulary
    resume   build_run(TrainSpec.from_file(run.json), scratch), then trainer._restore(load_checkpoint(folder))

and a successful load is reduced to a fingerprint (the weights' bytes, the vocabulary; for a resume
the step, every RNG state, the optimiser's state, the schedule, the carried hidden state, the
trainer's counters and attributes) compared with the reference's.

Two families of mutants, two rules:
    raw        the bytes as mutated (bit flips, insertions, truncations, edited JSON, files replaced
               by FIFOs, devices, links or folders): the load must raise CheckpointError or give a
               fingerprint IDENTICAL to the reference's. A corrupted file that loads as something
               else is the defect this catches.
    resealed   content mutations after which the checksums are recomputed (state.json's "sha256"
               entries and SHA256SUMS), so they pass the checksum layer, as a hostile but consistent
               file would: the load must raise CheckpointError, or another ValueError with a one-line
               message, or succeed (with any fingerprint).
Either family: no other exception, no load over `--timeout` seconds, no load whose peak memory
(tracemalloc, which NumPy reports to) exceeds twice the mutant folder's size plus 100 MB, and no
MemoryError under the worker's address-space cap.

Loads run in long-lived worker processes (spawned, at most two), which cap their address space
(RLIMIT_AS: what they hold after imports plus `--memory-budget`), make their mutants in memory
(/dev/shm) and take them in batches, answering after each load; the parent kills and restarts a
worker whose load outlives the timeout. A kind that timed out `max_timeouts_per_kind` times is not
loaded again in that run (its remaining mutants count as not_run), and an overall deadline bounds
the run, so the fuzzer itself never hangs. Seconds are measured with tracemalloc on, which makes
allocation-heavy code about three times slower than it runs in `rnnlab sample`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing
import multiprocessing.connection
import os
import random
import shutil
import sys
import tempfile
import time
import traceback
from collections import Counter, deque
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

RAW, RESEALED = "raw", "resealed"
SAMPLE, RESUME = "sample", "resume"
PATHS = (SAMPLE, RESUME)
MODEL, TRAIN, STATE, SUMS = "model.safetensors", "train.safetensors", "state.json", "SHA256SUMS"
SAFETENSORS = (MODEL, TRAIN)
CONTENT_FILES = (MODEL, STATE, TRAIN)
MiB = 2**20

# What each family may end in; every other outcome is a violation. "changed" is a successful load
# whose fingerprint differs from the reference's.
ALLOWED = {
    RAW: frozenset({"checkpoint_error", "identical"}),
    RESEALED: frozenset({"checkpoint_error", "other_value_error", "identical", "changed"}),
}
# Columns of the table, in order; exceptions are summed into one column and listed by type.
OUTCOMES = ("checkpoint_error", "other_value_error", "identical", "changed")
FAILURES = ("exception", "timeout", "memory", "crash", "fuzzer_error", "not_run")


# --- the reference runs --------------------------------------------------------------------------


@dataclass(frozen=True)
class Reference:
    """A trained run whose newest checkpoint is mutated: `folder` is that checkpoint, `sibling` an
    older one of the same run (a plausible target for a link leaving the folder)."""

    name: str
    run_dir: Path
    folder: Path
    sibling: Path

    def size(self) -> int:
        return folder_bytes(self.folder)


TEXT = (
    "It was the best of times, it was the worst of times, it was the age of wisdom, it was the age "
    "of foolishness; it was the epoch of belief, it was the epoch of incredulity.\n"
)


def make_references(workdir: Path) -> list[Reference]:
    """Train the reference runs into `workdir` (a few seconds): an LSTM, and a GRU with dropout (so
    its modules' RNGs matter) and a cosine schedule (so the schedule's state does)."""
    from rnnlab.runs.charlm import TrainSpec, build_run

    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    data = workdir / "text.txt"
    data.write_text(TEXT * 12)
    variants = {
        "lstm": {"model": "lstm"},
        "gru": {"model": "gru", "dropout": 0.1, "schedule": "cosine"},
    }
    references = []
    for name, options in variants.items():
        sizes = {"hidden": 16, "layers": 2, "embedding": 8, "seq_len": 10, "batch": 4}
        spec = TrainSpec(data=str(data), steps=4, eval_every=2, seed=0, **sizes, **options)
        run_dir = workdir / "runs" / name
        build_run(spec, run_dir, progress=False).trainer.run()
        spec.save(run_dir / "run.json")
        references.append(Reference(name, run_dir, run_dir / "checkpoint-00000004", run_dir / "checkpoint-00000002"))
    return references


def folder_bytes(folder: Path) -> int:
    """The bytes of the regular files directly in `folder` (links, FIFOs and folders count 0)."""
    total = 0
    for entry in os.scandir(folder):
        if entry.is_file(follow_symlinks=False):
            total += entry.stat(follow_symlinks=False).st_size
    return total


def memory_allowed(folder: Path) -> int:
    """The most a load of `folder` may allocate: twice the folder's size plus 100 MB."""
    return 2 * folder_bytes(folder) + 100 * MiB


# --- a mutant's folder and the helpers mutations share ---------------------------------------------


@dataclass
class Mutant:
    """A copy of a reference checkpoint being mutated; a mutation sets `file` to what it touched."""

    folder: Path
    reference: Reference
    family: str
    outside_file: Path  # a file of junk next to the mutant, outside its folder
    file: str = "-"

    def names(self) -> list[str]:
        """The files a mutation may pick: all of them for raw mutants; for resealed ones only those
        whose content resealing covers (SHA256SUMS itself is rewritten by the reseal)."""
        names = sorted(p.name for p in self.folder.iterdir())
        return names if self.family == RAW else [n for n in names if n in CONTENT_FILES]

    def path(self, name: str) -> Path:
        self.file = name
        return self.folder / name

    def read(self, name: str) -> bytes:
        return self.path(name).read_bytes()

    def write(self, name: str, data: bytes) -> None:
        self.path(name).write_bytes(data)


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def split_safetensors(data: bytes) -> tuple[dict, bytes]:
    """(header, data section) of a well-formed safetensors file."""
    n = int.from_bytes(data[:8], "little")
    return json.loads(data[8 : 8 + n]), data[8 + n :]


def join_safetensors(header: dict | bytes, body: bytes, pad: bool = True) -> bytes:
    head = header if isinstance(header, bytes) else json.dumps(header, separators=(",", ":")).encode()
    if pad:
        head += b" " * (-len(head) % 8)
    return len(head).to_bytes(8, "little") + head + body


def tensor_names(header: dict) -> list[str]:
    return [k for k in header if k != "__metadata__"]


PLACEHOLDER = "@@checkpoint-fuzz-placeholder@@"


def dump_state(state) -> bytes:
    """state.json as the saver writes it, so that an edit changes only the bytes it edits."""
    return json.dumps(state, indent=1, sort_keys=True).encode()


def dump_with_raw(state, path: tuple, raw: bytes) -> bytes:
    """state.json with the value at `path` replaced by the bytes `raw`: text json.dumps cannot
    write (an integer of 5000 digits, NaN, invalid UTF-8, 100,000 levels of brackets), or would
    write slowly (a 50 MB string)."""
    if not path:
        return raw
    set_at(state, path, PLACEHOLDER)
    return dump_state(state).replace(json.dumps(PLACEHOLDER).encode(), raw, 1)


def nodes(value, path: tuple = ()) -> Iterator[tuple[tuple, object]]:
    """Every (path, value) of a JSON document, the root included; a path is a tuple of keys and
    list indices."""
    yield path, value
    if isinstance(value, dict):
        for key, item in value.items():
            yield from nodes(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from nodes(item, (*path, index))


def get_at(root, path: tuple):
    for key in path:
        root = root[key]
    return root


def set_at(root, path: tuple, value) -> None:
    get_at(root, path[:-1])[path[-1]] = value


def path_text(path: tuple) -> str:
    return ".".join(str(k) for k in path) or "(the whole file)"


def is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def leaves(state) -> list[tuple]:
    return [p for p, v in nodes(state) if p and not isinstance(v, (dict, list))]


# --- the mutation kinds ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Kind:
    """A way to mutate a checkpoint, in one family. `expect`, for the controls, narrows what the
    family allows to the one outcome the fuzzer's own honesty depends on."""

    id: str
    family: str
    mutate: Callable[[random.Random, Mutant], str]
    expect: frozenset[str] | None = None

    def allowed(self) -> frozenset[str]:
        return self.expect or ALLOWED[self.family]


KINDS: dict[str, Kind] = {}


def kind(name: str, families: tuple[str, ...] = (RAW, RESEALED), expect: set[str] | None = None):
    """Register a mutation function under `family/name` for each family."""

    def register(mutate: Callable[[random.Random, Mutant], str]):
        for family in families:
            kind_id = f"{family}/{name}"
            KINDS[kind_id] = Kind(kind_id, family, mutate, frozenset(expect) if expect else None)
        return mutate

    return register


# controls: the fuzzer's own sanity, in every run


@kind("control.copy", families=(RAW,), expect={"identical"})
def unchanged_copy(rng: random.Random, m: Mutant) -> str:
    return "an unchanged copy"


@kind("control.flip_weight", families=(RAW,), expect={"checkpoint_error"})
def flip_one_weight_bit(rng: random.Random, m: Mutant) -> str:
    data = bytearray(m.read(MODEL))
    bit = rng.randrange(8)
    data[-1] ^= 1 << bit  # the last byte of the data section: part of a weight, never the header
    m.write(MODEL, bytes(data))
    return f"bit {bit} of the last byte flipped"


# bytes: any file for raw mutants; state.json and the .safetensors for resealed ones


@kind("bytes.flip")
def flip_bits(rng: random.Random, m: Mutant) -> str:
    name = rng.choice(m.names())
    data = bytearray(m.read(name))
    if not data:
        return "nothing to flip in an empty file"
    bits = sorted(rng.randrange(8 * len(data)) for _ in range(rng.randint(1, 8)))
    for bit in bits:
        data[bit // 8] ^= 1 << (bit % 8)
    m.write(name, bytes(data))
    return f"bits {bits} flipped"


def junk(rng: random.Random, size: int) -> bytes:
    """Bytes of one of the sorts that confuse parsers: random, digits, whitespace, NULs, JSON."""
    sort = rng.choice(["random", "digits", "spaces", "nul", "json"])
    if sort == "random":
        return rng.randbytes(size)
    if sort == "digits":
        return bytes(rng.choice(b"0123456789") for _ in range(size))
    if sort == "spaces":
        return b" " * size
    if sort == "nul":
        return b"\0" * size
    return bytes(rng.choice(b'{}[]",:-.0eE') for _ in range(size))


@kind("bytes.insert")
def insert_bytes(rng: random.Random, m: Mutant) -> str:
    name = rng.choice(m.names())
    data = m.read(name)
    at, extra = rng.randrange(len(data) + 1), junk(rng, rng.randint(1, 16))
    m.write(name, data[:at] + extra + data[at:])
    return f"{extra!r} inserted at byte {at}"


@kind("bytes.delete")
def delete_bytes(rng: random.Random, m: Mutant) -> str:
    name = rng.choice(m.names())
    data = m.read(name)
    at, count = rng.randrange(max(1, len(data))), rng.randint(1, 16)
    m.write(name, data[:at] + data[at + count :])
    return f"{count} bytes deleted at byte {at}"


@kind("bytes.truncate")
def truncate(rng: random.Random, m: Mutant) -> str:
    name = rng.choice(m.names())
    data = m.read(name)
    length = rng.choice([0, rng.randrange(9), rng.randrange(max(1, len(data))), max(0, len(data) - 1)])
    m.write(name, data[:length])
    return f"truncated to {length} of {len(data)} bytes"


@kind("bytes.append")
def append_junk(rng: random.Random, m: Mutant) -> str:
    name = rng.choice(m.names())
    data = m.read(name)
    extra = data if rng.random() < 0.1 else junk(rng, rng.randint(1, 4096))
    m.write(name, data + extra)
    return f"{len(extra)} bytes appended"


# the file system: raw only (a reseal cannot make a FIFO consistent)


@kind("fs.delete", families=(RAW,))
def delete_file(rng: random.Random, m: Mutant) -> str:
    m.path(rng.choice(m.names())).unlink()
    return "deleted"


@kind("fs.fifo", families=(RAW,))
def replace_by_fifo(rng: random.Random, m: Mutant) -> str:
    path = m.path(rng.choice(m.names()))
    path.unlink()
    os.mkfifo(path)
    return "replaced by a FIFO (no writer: an open() for reading blocks)"


@kind("fs.device_link", families=(RAW,))
def replace_by_device_link(rng: random.Random, m: Mutant) -> str:
    path, device = m.path(rng.choice(m.names())), rng.choice(["/dev/zero", "/dev/urandom", "/dev/null"])
    path.unlink()
    path.symlink_to(device)
    return f"replaced by a link to {device}"


@kind("fs.outside_link", families=(RAW,))
def replace_by_outside_link(rng: random.Random, m: Mutant) -> str:
    name = rng.choice(m.names())
    path = m.path(name)
    choice = rng.choice(["sibling", "junk", "copy"])
    if choice == "sibling" and (m.reference.sibling / name).exists():
        target, what = m.reference.sibling / name, f"the same file of {m.reference.sibling.name}"
    elif choice == "copy":  # the very same bytes, but outside: refusing it or loading it are both fine
        target, what = m.folder.parent / name, "an identical copy outside the folder"
        shutil.copyfile(path, target)
    else:
        target, what = m.outside_file, "a file of junk outside the folder"
    path.unlink()
    path.symlink_to(target)
    return f"replaced by a link to {what}"


@kind("fs.directory", families=(RAW,))
def replace_by_directory(rng: random.Random, m: Mutant) -> str:
    path = m.path(rng.choice(m.names()))
    data = path.read_bytes()
    path.unlink()
    path.mkdir()
    if rng.random() < 0.5:
        (path / path.name).write_bytes(data)
        return "replaced by a folder holding the file"
    return "replaced by an empty folder"


@kind("fs.sums", families=(RAW,))
def edit_sums(rng: random.Random, m: Mutant) -> str:
    path = m.path(SUMS)
    if not path.exists():  # a checkpoint of a version without SHA256SUMS: a bogus one appears
        lines = [f"{'0' * 64}  {name}\n" for name in sorted(CONTENT_FILES)]
        bogus = {"wrong": "".join(lines), "empty": "", "device": f"{'0' * 64}  /dev/zero\n"}
        what = rng.choice(sorted(bogus))
        path.write_text(bogus[what])
        return f"a SHA256SUMS added ({what})"
    lines = path.read_text().splitlines(keepends=True)
    edits = {
        "deleted": None,
        "emptied": [],
        "a hex digit changed": "digit",
        "a line dropped": "drop",
        "a line duplicated": "duplicate",
        "hashes swapped between two lines": "swap",
        "a line for a missing file added": [f"{'a' * 64}  extra.bin\n"],
        "a line naming ../state.json added": [f"{'b' * 64}  ../state.json\n"],
        "a line naming /dev/zero added": [f"{'c' * 64}  /dev/zero\n"],
        "uppercase hex": "upper",
        "binary-mode marker ' *'": "binary",
        "CRLF line ends": "crlf",
        "no final newline": "chop",
        "one space instead of two": "one_space",
    }
    what = rng.choice(sorted(edits))
    edit = edits[what]
    if edit is None:
        path.unlink()
        return "SHA256SUMS deleted"
    at = rng.randrange(len(lines)) if lines else 0
    if isinstance(edit, list):
        lines = lines + edit if edit else []
    elif edit == "digit":
        line = lines[at]
        position = rng.randrange(64)
        digit = rng.choice([c for c in "0123456789abcdef" if c != line[position]])
        lines[at] = line[:position] + digit + line[position + 1 :]
    elif edit == "drop":
        del lines[at]
    elif edit == "duplicate":
        lines.insert(at, lines[at])
    elif edit == "swap" and len(lines) >= 2:
        a, b = rng.sample(range(len(lines)), 2)
        lines[a], lines[b] = lines[b][:64] + lines[a][64:], lines[a][:64] + lines[b][64:]
    elif edit == "upper":
        lines = [line[:64].upper() + line[64:] for line in lines]
    elif edit == "binary":
        lines = [line.replace("  ", " *", 1) for line in lines]
    elif edit == "crlf":
        lines = [line.replace("\n", "\r\n") for line in lines]
    elif edit == "chop":
        lines[-1] = lines[-1].rstrip("\n")
    elif edit == "one_space":
        lines[at] = lines[at].replace("  ", " ", 1)
    path.write_text("".join(lines), newline="")
    return f"SHA256SUMS: {what}"


# safetensors headers: parsed, edited as JSON (or as bytes), written back around the same data


def header_mutation(rng: random.Random, m: Mutant) -> tuple[str, dict, bytes]:
    name = rng.choice(SAFETENSORS)
    header, body = split_safetensors(m.read(name))
    return name, header, body


@kind("header.dtype")
def change_dtype(rng: random.Random, m: Mutant) -> str:
    name, header, body = header_mutation(rng, m)
    tensor = rng.choice(tensor_names(header))
    new = rng.choice(["F64", "F16", "BF16", "I32", "I64", "U8", "I8", "U32", "BOOL", "f32", "F8_E4M3", "", 4, None])
    old, header[tensor]["dtype"] = header[tensor]["dtype"], new
    m.write(name, join_safetensors(header, body))
    return f"tensor {tensor!r}: dtype {old} -> {new!r}"


@kind("header.shape")
def change_shape(rng: random.Random, m: Mutant) -> str:
    name, header, body = header_mutation(rng, m)
    tensor = rng.choice(tensor_names(header))
    shape = list(header[tensor]["shape"])
    if shape and rng.random() < 0.6:
        dim = rng.randrange(len(shape))
        shape[dim] = rng.choice([0, -1, 2**31, 2**63, 2**64, 10**30, "16", 16.0, True, None, [16]])
        new = shape
    else:
        size = int(np.prod(shape)) if shape else 1
        new = rng.choice(
            [
                [1] * 1_000_000,  # a huge list: a million dimensions of 1
                [1] * 65,  # one more dimension than NumPy allows
                [],  # a scalar
                [*shape, 1],  # the same bytes, another shape
                shape[::-1],
                [size],
                [size // 2, 2] if size % 2 == 0 else [size, 1],
                [2**32, 2**32, 0],  # zero elements, but a product that overflows int64 on the way
                [2**62, 4],  # size overflows int64 to 0
                "16,16",
                None,
                2**64,
            ]
        )
    old, header[tensor]["shape"] = header[tensor]["shape"], new
    m.write(name, join_safetensors(header, body))
    shown = f"[1] * {len(new)}" if isinstance(new, list) and len(new) > 8 else repr(new)
    return f"tensor {tensor!r}: shape {old} -> {shown}"


@kind("header.offsets")
def change_offsets(rng: random.Random, m: Mutant) -> str:
    name, header, body = header_mutation(rng, m)
    tensors = tensor_names(header)
    tensor = rng.choice(tensors)
    begin, end = header[tensor]["data_offsets"]
    same_size = [
        t for t in tensors if t != tensor and header[t]["data_offsets"][1] - header[t]["data_offsets"][0] == end - begin
    ]
    choices = {
        "swapped": [end, begin],
        "overlapping the previous": [max(0, begin - 4), end - 4 if end >= 4 else end],
        "one element longer": [begin, end + 4],
        "past the end": [begin, len(body) + 8],
        "at 2**64": [2**64, 2**64 + (end - begin)],
        "at 2**63": [2**63, 2**63 + (end - begin)],
        "negative": [begin - len(body) - 8, end - len(body) - 8],
        "floats": [float(begin), float(end)],
        "strings": [str(begin), str(end)],
        "one number": [begin],
        "three numbers": [begin, end, end],
        "empty": [],
        "null": None,
    }
    what = rng.choice([*sorted(choices), "exchanged with another tensor of the same size"])
    if what.startswith("exchanged") and same_size:  # a consistent file whose tensors swapped places
        other = rng.choice(same_size)
        header[tensor]["data_offsets"], header[other]["data_offsets"] = (
            header[other]["data_offsets"],
            header[tensor]["data_offsets"],
        )
        what = f"exchanged with {other!r}"
    else:
        what = what if what in choices else "swapped"
        header[tensor]["data_offsets"] = choices[what]
    m.write(name, join_safetensors(header, body))
    return f"tensor {tensor!r}: data_offsets [{begin}, {end}] {what}"


@kind("header.entries")
def change_entries(rng: random.Random, m: Mutant) -> str:
    name, header, body = header_mutation(rng, m)
    tensor = rng.choice(tensor_names(header))
    entry = header[tensor]
    begin, end = entry["data_offsets"]
    what = rng.choice(["remove", "remove with data", "add empty", "add copy", "rename", "duplicate key", "not a dict"])
    if what == "remove":
        del header[tensor]
    elif what == "remove with data":  # a consistent file that lacks one tensor
        del header[tensor]
        body = body[:begin] + body[end:]
        for other in tensor_names(header):
            b, e = header[other]["data_offsets"]
            if b >= end:
                header[other]["data_offsets"] = [b - (end - begin), e - (end - begin)]
    elif what in ("add empty", "add copy"):
        new = rng.choice(["extra", "", "../evil", "carry.7", "optim.head.weight.exp_avg_sq2", f"{tensor}.", "carry.2"])
        if what == "add empty":
            header[new] = {"dtype": "F32", "shape": [0], "data_offsets": [len(body), len(body)]}
        else:
            header[new] = dict(entry, data_offsets=[len(body), len(body) + end - begin])
            body += body[begin:end]
        what = f"{what} {new!r}"
    elif what == "rename":
        header[rng.choice(["renamed", tensor.upper(), f"x{tensor}", tensor.replace(".", "_")])] = header.pop(tensor)
    elif what == "duplicate key":  # JSON keeps the last of two equal keys; the first is bogus
        text = json.dumps(header, separators=(",", ":"))
        bogus = json.dumps({tensor: {"dtype": "F64", "shape": [1], "data_offsets": [0, 8]}})[1:-1]
        m.write(name, join_safetensors(("{" + bogus + "," + text[1:]).encode(), body))
        return f"tensor {tensor!r}: a bogus entry with the same name before it"
    else:
        header[tensor] = rng.choice([[begin, end], "F32", None, 5, {}])
    m.write(name, join_safetensors(header, body))
    return f"tensor {tensor!r}: {what}"


@kind("header.metadata")
def change_metadata(rng: random.Random, m: Mutant) -> str:
    name, header, body = header_mutation(rng, m)
    choices = {
        "nested": {"a": {"b": "c"}},
        "a list": ["a"],
        "a number": 5,
        "a string": "x",
        "a number value": {"a": 1},
        "a null value": {"a": None},
        "100,000 entries": lambda: {f"k{i}": "v" for i in range(100_000)},
        "format pt (harmless)": {"format": "pt"},
        "inside a tensor entry": "entry",
    }
    what = rng.choice(sorted(choices))
    if choices[what] == "entry":  # an unknown key in a tensor's entry
        header[rng.choice(tensor_names(header))]["__metadata__"] = {"a": "b"}
    else:
        header["__metadata__"] = choices[what]() if callable(choices[what]) else choices[what]
    m.write(name, join_safetensors(header, body))
    return f"__metadata__: {what}"


@kind("header.length")
def change_header_length(rng: random.Random, m: Mutant) -> str:
    name = rng.choice(SAFETENSORS)
    data = m.read(name)
    n = int.from_bytes(data[:8], "little")
    new = rng.choice(
        [0, 1, 7, 8, n - 1, n + 1, n - 8, n + 8, len(data) - 8, len(data) - 7, 2**64 - 1, 2**63, 2**32, 100 * MiB + 1]
    )
    new = max(0, new)
    m.write(name, new.to_bytes(8, "little") + data[8:])
    return f"header length {n} -> {new}"


@kind("header.json")
def replace_header_json(rng: random.Random, m: Mutant) -> str:
    name, header, body = header_mutation(rng, m)
    text = json.dumps(header, separators=(",", ":")).encode()
    choices = {
        "a list": b"[]",
        "a number": b"5",
        "a string": b'"x"',
        "null": b"null",
        "an empty object": b"{}",
        "100,000 levels of lists": lambda: b"[" * 100_000 + b"]" * 100_000,
        "5,000 levels of objects": lambda: b'{"a":' * 5000 + b"1" + b"}" * 5000,
        "invalid UTF-8 in a key": lambda: text.replace(b'"', b'"\xff', 1),
        "a UTF-8 BOM first": lambda: b"\xef\xbb\xbf" + text,
        "NUL padding": lambda: text + b"\0" * (8 - len(text) % 8),
        "NaN offsets": lambda: text.replace(b'"data_offsets":[0,', b'"data_offsets":[NaN,', 1),
        "garbage after the object": lambda: text + b" x",
        "50 MB of space padding": lambda: text + b" " * (50 * MiB),
    }
    what = rng.choice(sorted(choices))
    new = choices[what]
    m.write(name, join_safetensors(new() if callable(new) else new, body, pad=what != "NUL padding"))
    return f"header replaced by {what}"


# state.json: parsed, one value changed, written back as the saver writes it


def load_state(m: Mutant) -> dict:
    return json.loads(m.read(STATE))


@kind("state.number")
def change_number(rng: random.Random, m: Mutant) -> str:
    state = load_state(m)
    numbers = [p for p, v in nodes(state) if p and is_number(v)]
    lr = ("optimizer", "hyperparameters", "lr")
    path = lr if rng.random() < 0.25 and lr in numbers else rng.choice(numbers)
    old = get_at(state, path)
    if path == lr:
        new = old + 8  # 0.002 -> 8.002: the learning rate a single digit away
    else:
        new = rng.choice([old + 8, old + 1, old - 1, -old, 2 * old, 0, old + 0.5, 1e308, -1e308, 5e-324, "NaN", "-0.0"])
        new = old + 1 if new == old else new  # a change, not 0 -> 0
    if isinstance(new, str):  # tokens Python's json reads but json.dumps would not write this way
        m.write(STATE, dump_with_raw(state, path, new.encode()))
    else:
        set_at(state, path, new)
        m.write(STATE, dump_state(state))
    return f"{path_text(path)}: {old!r} -> {new}"


@kind("state.key_removed")
def remove_key(rng: random.Random, m: Mutant) -> str:
    state = load_state(m)
    keys = [p for p, _ in nodes(state) if p and isinstance(get_at(state, p[:-1]), dict)]
    path = (rng.choice(sorted(state)),) if rng.random() < 0.4 else rng.choice(keys)
    del get_at(state, path[:-1])[path[-1]]
    m.write(STATE, dump_state(state))
    return f"{path_text(path)} removed"


@kind("state.key_injected")
def inject_key(rng: random.Random, m: Mutant) -> str:
    state = load_state(m)
    dicts = [p for p, v in nodes(state) if isinstance(v, dict)]
    where = rng.choice([(), ("trainer",), ("config",), ("optimizer",), ("optimizer", "hyperparameters")])
    where = where if where in dicts and rng.random() < 0.7 else rng.choice(dicts)
    key = rng.choice(
        ["injected", "__class__", "step", "task", "optimizer", "rng", "config", "params", "schedule", "run_dir"]
        + ["_interrupted", "blas_threads", "model", "__dict__", "train_step"]
    )
    value = rng.choice([1, "x", None, [], {}, 10**19, True, -1])
    get_at(state, where)[key] = value
    m.write(STATE, dump_state(state))
    return f"{path_text((*where, key))} = {value!r} injected"


@kind("state.null")
def replace_container(rng: random.Random, m: Mutant) -> str:
    state = load_state(m)
    containers = [p for p, v in nodes(state) if p and isinstance(v, (dict, list))]
    top = [(k,) for k, v in state.items() if isinstance(v, dict)]
    path = rng.choice(top if rng.random() < 0.5 and top else containers)
    new = rng.choice([None, None, [], {}, "", 0, True, "null"])
    set_at(state, path, new)
    m.write(STATE, dump_state(state))
    return f"{path_text(path)} -> {new!r}"


@kind("state.type_swap")
def swap_type(rng: random.Random, m: Mutant) -> str:
    state = load_state(m)
    path = rng.choice(leaves(state))
    old = get_at(state, path)
    if isinstance(old, bool):
        new = rng.choice([1, "true", 0, None])
    elif is_number(old):
        new = rng.choice([str(old), [old], {"value": old}, True, None, float(old) if isinstance(old, int) else old])
    elif isinstance(old, str):
        new = rng.choice([0, [old], None, {"value": old}, True])
    else:
        new = rng.choice([0, "", {}, "none"])
    set_at(state, path, new)
    m.write(STATE, dump_state(state))
    return f"{path_text(path)}: {old!r} -> {new!r}"


@kind("state.huge_int")
def huge_integer(rng: random.Random, m: Mutant) -> str:
    state = load_state(m)
    numbers = [p for p, v in nodes(state) if p and is_number(v)]
    path = rng.choice(numbers if rng.random() < 0.7 else leaves(state))
    raw = rng.choice([str(10**19), str(2**64), str(-(2**63) - 1), str(2**1000), "9" * 5000, "1" + "0" * 100_000])
    m.write(STATE, dump_with_raw(state, path, raw.encode()))
    return f"{path_text(path)} -> an integer of {len(raw)} digits ({raw[:24]}...)"


@kind("state.deep_nesting")
def deep_nesting(rng: random.Random, m: Mutant) -> str:
    state = load_state(m)
    depth = rng.choice([1001, 5000, 100_000, 1_000_000])
    raw = b"[" * depth + b"]" * depth if rng.random() < 0.5 else b'{"a":' * depth + b"0" + b"}" * depth
    path = () if rng.random() < 0.2 else rng.choice([p for p, _ in nodes(state) if p])
    m.write(STATE, dump_with_raw(state, path, raw))
    return f"{path_text(path)} -> {depth} levels of nesting"


@kind("state.big_string")
def big_string(rng: random.Random, m: Mutant) -> str:
    state = load_state(m)
    size = rng.choice([1 * MiB, 8 * MiB, 50 * MiB])
    unit = rng.choice([b"a", "\u00e9".encode(), "\u4e00".encode(), b"\\u00e9", b"\\\\"])
    raw = b'"' + unit * (size // len(unit)) + b'"'
    where = rng.choice(["leaf", "new key", "vocabulary"])
    vocab = ("config", "task", "vocab", "chars")
    if where == "vocabulary" and vocab in dict(nodes(state)):
        path = vocab
    elif where == "new key":
        path = (rng.choice(["injected", "trainer", "rnnlab_version"]),)
        if path[0] == "trainer":
            path = ("trainer", "injected")
    else:
        path = rng.choice(leaves(state))
    m.write(STATE, dump_with_raw(state, path, raw))
    return f"{path_text(path)} -> a string of {size // MiB} MB of {unit.decode(errors='replace')!r}"


@kind("state.non_utf8")
def non_utf8(rng: random.Random, m: Mutant) -> str:
    state = load_state(m)
    what = rng.choice(["invalid bytes in a string", "UTF-16", "Latin-1", "UTF-8 BOM", "a lone surrogate", "a NUL"])
    text = m.read(STATE)
    vocab = ("config", "task", "vocab", "chars")
    strings = [p for p, v in nodes(state) if isinstance(v, str)]
    if what == "invalid bytes in a string":
        bad = rng.choice([b"\xff", b"\xfe\xff", b"\xc3(", b"\xed\xa0\x80", b"\xc0\xaf", b"\x80"])
        path = rng.choice(strings)
        data = dump_with_raw(state, path, b'"' + get_at(state, path).encode("ascii", "replace") + bad + b'"')
        what = f"{bad!r} appended to {path_text(path)}"
    elif what == "UTF-16":
        data = text.decode().encode("utf-16")
    elif what == "Latin-1" and vocab in strings:
        set_at(state, vocab, get_at(state, vocab) + "\u00e9")
        data = json.dumps(state, indent=1, sort_keys=True, ensure_ascii=False).encode("latin-1")
        what = "Latin-1 with an \u00e9 added to the vocabulary"
    elif what == "a lone surrogate" and vocab in strings:
        data = dump_with_raw(state, vocab, json.dumps(get_at(state, vocab))[:-1].encode() + b'\\ud800"')
        what = "a lone surrogate \\ud800 added to the vocabulary"
    elif what == "a NUL":
        at = rng.randrange(len(text))
        data = text[:at] + b"\0" + text[at:]
        what = f"a NUL byte at {at}"
    else:
        data, what = b"\xef\xbb\xbf" + text, "UTF-8 BOM"
    m.write(STATE, data)
    return what


@kind("state.config_size")
def hostile_config(rng: random.Random, m: Mutant) -> str:
    """The sizes a model is built from: the sample path builds the model state.json describes
    before it reads a weight, so this is where a memory check must stand."""
    state = load_state(m)
    field_ = rng.choice(["hidden", "embedding", "layers", "vocab_size", "dtype", "model", "peephole", "dropout"])
    if field_ in ("hidden", "embedding", "layers", "vocab_size"):
        new = rng.choice([0, -1, 3000, 10**4, 10**6, 10**9, 2**31, 2**63, 10**19, 1.5, "16"])
    elif field_ == "dtype":
        new = rng.choice(["float64", "float16", "int8", "object", "complex64", "<U10", "V8"])
    elif field_ == "model":
        new = rng.choice(["gru", "rnn", "lstm", "transformer", ""])
    elif field_ == "peephole":
        new = rng.choice([True, 1, "yes"])
    else:
        new = rng.choice([0.5, 2.0, -1.0, 1.0])
    path = ("config", "task", "model", field_)
    if rng.random() < 0.2:
        path = ("config", "task", rng.choice(["batch", "seq_len"]))
    set_at(state, path, new)
    m.write(STATE, dump_state(state))
    return f"{path_text(path)} -> {new!r}"


# --- making a mutant, and resealing it ---------------------------------------------------------------


def sums_names(reference: Reference) -> list[str]:
    """The files the reference's SHA256SUMS lists ([] when it has none)."""
    sums = reference.folder / SUMS
    if not sums.is_file():
        return []
    return sorted(line.split("  ", 1)[1] for line in sums.read_text().splitlines() if "  " in line)


def reseal(m: Mutant) -> None:
    """Recompute the checksums after a content mutation, as a hostile writer would: the "sha256"
    strings in state.json (when it still parses as an object holding them), then SHA256SUMS (when
    the reference had one). Values that are not strings are left as the mutation made them."""
    state_path = m.folder / STATE
    try:
        text = state_path.read_bytes()
        state = json.loads(text)
    except (OSError, ValueError, RecursionError):
        state = None
    if isinstance(state, dict) and isinstance(state.get("sha256"), dict):
        for name, recorded in state["sha256"].items():
            path = m.folder / name
            if isinstance(recorded, str) and name in SAFETENSORS and path.is_file() and not path.is_symlink():
                actual = sha256_hex(path.read_bytes())
                if actual != recorded and json.dumps(recorded).encode() in text:
                    text = text.replace(json.dumps(recorded).encode(), json.dumps(actual).encode())
        state_path.write_bytes(text)
    names = sums_names(m.reference)
    if names:
        lines = [f"{sha256_hex((m.folder / name).read_bytes())}  {name}\n" for name in names]
        (m.folder / SUMS).write_text("".join(lines))


_ORIGINALS: dict[Path, dict[str, bytes]] = {}


def original_files(folder: Path) -> dict[str, bytes]:
    """The files of a reference checkpoint, read once per process (a mutant is written from them)."""
    if folder not in _ORIGINALS:
        _ORIGINALS[folder] = {p.name: p.read_bytes() for p in sorted(folder.iterdir())}
    return _ORIGINALS[folder]


def choose_reference(kind_id: str, seed: int, references: list[Reference]) -> tuple[random.Random, Reference]:
    """The mutant's random stream (from its kind and seed alone) and the reference it mutates."""
    rng = random.Random(f"{kind_id}:{seed}")
    return rng, references[rng.randrange(len(references))]


def make_mutant(kind_id: str, seed: int, references: list[Reference], parent: Path) -> tuple[Mutant, str]:
    """Copy the chosen reference into `parent`/<checkpoint name>/ and apply the mutation there;
    returns the mutant and what was done."""
    kind_ = KINDS[kind_id]
    rng, reference = choose_reference(kind_id, seed, references)
    shutil.rmtree(parent, ignore_errors=True)
    folder = parent / reference.folder.name
    folder.mkdir(parents=True)
    for name, data in original_files(reference.folder).items():
        (folder / name).write_bytes(data)
    outside = parent / "outside.bin"
    outside.write_bytes(b"not a checkpoint file\n" * 64)
    mutant = Mutant(folder, reference, kind_.family, outside)
    description = kind_.mutate(rng, mutant)
    if kind_.family == RESEALED:
        reseal(mutant)
    return mutant, description


# --- loading the way `rnnlab sample` and `rnnlab resume` do, and fingerprints ------------------------


def sample_load(folder: Path):
    """What `rnnlab sample` does with a checkpoint folder: (model, vocabulary)."""
    from rnnlab.runs.charlm import load_charlm

    return load_charlm(folder)


def resume_load(trainer, folder: Path) -> None:
    """What `rnnlab resume` does with a checkpoint folder, into a freshly built trainer."""
    from rnnlab.train.checkpoint import load_checkpoint

    trainer._restore(load_checkpoint(folder))


def canonical(value):
    """An exactly comparable form of `value`: integers in hex (Python 3.11 has no decimal form of
    integers over 4300 digits), floats by float.hex (NaN included), arrays by digest, objects by type."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return ("int", hex(value))
    if isinstance(value, float):
        return ("float", value.hex())
    if isinstance(value, np.ndarray):
        return (
            "array",
            value.dtype.str,
            value.shape,
            hashlib.sha256(np.ascontiguousarray(value).tobytes()).hexdigest(),
        )
    if isinstance(value, np.generic):
        return ("scalar", value.dtype.str, value.tobytes().hex())
    if isinstance(value, dict):
        return ("dict", tuple(sorted((repr(canonical(k)), canonical(v)) for k, v in value.items())))
    if isinstance(value, (list, tuple)):
        return (type(value).__name__, tuple(canonical(v) for v in value))
    return ("object", type(value).__qualname__)


def digest(value) -> str:
    return hashlib.sha256(repr(canonical(value)).encode("utf-8", "surrogatepass")).hexdigest()


def sample_fingerprint(loaded) -> dict[str, str]:
    model, vocab = loaded
    return {
        "model.weights": digest(model.state_dict()),
        "model.config": digest(asdict(model.config)),
        "model.training": digest(model.training),
        "vocab": digest((type(vocab).__name__, vocab.chars)),
    }


SIMPLE = (int, float, str, bool, type(None))


def resume_fingerprint(trainer) -> dict[str, str]:
    """Everything a bit-exact continuation depends on, and every attribute of the trainer (an
    attribute the load added or replaced shows as a change)."""
    from rnnlab.train.trainer import _module_rngs

    meta, tensors = trainer.optimizer.state_dict()
    parts = {
        "model.weights": digest(trainer.task.model.state_dict()),
        "rng": digest(trainer.rng.bit_generator.state),
        "module_rngs": digest({k: g.bit_generator.state for k, g in _module_rngs(trainer.task.model).items()}),
        "optimizer.meta": digest(meta),
        "optimizer.tensors": digest(tensors),
        "schedule": digest(trainer.schedule.state_dict() if trainer.schedule is not None else None),
        "carried_state": digest(trainer.task.carried_state()),
    }
    for name, value in vars(trainer).items():
        parts[f"trainer.{name}"] = digest(value if isinstance(value, SIMPLE) else ("object", type(value).__qualname__))
    return parts


def differences(reference: dict[str, str], loaded: dict[str, str]) -> list[str]:
    return sorted(k for k in reference.keys() | loaded.keys() if reference.get(k) != loaded.get(k))


# --- the worker process --------------------------------------------------------------------------


@dataclass(frozen=True)
class Job:
    """Loads a worker owes: mutant `index` (of `kind`, `seed`) loaded the `paths` ways. A load that
    timed out under tracemalloc, which makes allocation-heavy code several times slower (json.loads
    of a million-element list: 0.06 s plain, 0.5 s traced), is retried once untraced, so that a
    timeout always means a load that is slow by itself."""

    index: int
    kind: str
    seed: int
    paths: tuple[str, ...] = PATHS
    traced: bool = True


@dataclass
class WorkerSettings:
    references: list[Reference]
    scratch: Path
    memory_budget: int  # bytes of address space beyond what the worker holds after its imports
    sample_loader: Callable = sample_load  # (folder) -> (model, vocab); tests pass broken ones
    resume_loader: Callable = resume_load  # (trainer, folder) -> None


def vm_size() -> int:
    """This process's address space in bytes (VmSize), or 0 where /proc does not say."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


class LoadHarness:
    """The worker's side: references fingerprinted, address space capped, loads measured."""

    def __init__(self, settings: WorkerSettings):
        import resource
        import tracemalloc

        from rnnlab.runs.charlm import TrainSpec

        self.settings = settings
        self.specs = {}
        self.reference_prints = {}
        for reference in settings.references:
            spec = TrainSpec.from_file(reference.run_dir / "run.json")
            self.specs[reference.name] = (spec, spec.text())
            prints = [self.load(path, reference, reference.folder) for path in PATHS for _ in range(2)]
            # a fingerprint must not depend on anything but the folder, or every mutant would differ
            if prints[0] != prints[1] or prints[2] != prints[3]:
                raise RuntimeError(f"loading {reference.folder} twice gave different fingerprints")
            self.reference_prints[reference.name] = {SAMPLE: prints[0], RESUME: prints[2]}
        self.vm_size = vm_size()
        if self.vm_size:
            cap = self.vm_size + settings.memory_budget
            _, hard = resource.getrlimit(resource.RLIMIT_AS)
            resource.setrlimit(resource.RLIMIT_AS, (cap if hard == resource.RLIM_INFINITY else min(cap, hard), hard))
        # traced only during each load: tracing triples the cost of every allocation, and making a
        # mutant (a million-element list, a 50 MB string) is not what is measured
        self.tracemalloc = tracemalloc

    def prepare(self, path: str, reference: Reference):
        """What a load starts from: nothing for sample; for resume, the run built from run.json."""
        if path == SAMPLE:
            return None
        from rnnlab.runs.charlm import build_run

        spec, text = self.specs[reference.name]
        return build_run(spec, self.settings.scratch / "resumed-run", text=text).trainer

    def load(self, path: str, reference: Reference, folder: Path) -> dict[str, str]:
        """Load `folder` the `path` way and fingerprint what it gives (raises what the load raises)."""
        if path == SAMPLE:
            return sample_fingerprint(self.settings.sample_loader(folder))
        trainer = self.prepare(path, reference)
        self.settings.resume_loader(trainer, folder)
        return resume_fingerprint(trainer)

    def measure(self, path: str, reference: Reference, folder: Path, allowed: int, traced: bool = True) -> dict:
        """One load of a mutant: its outcome, message, seconds and peak bytes allocated (0 when
        not `traced`: then only the address-space cap watches memory)."""
        from rnnlab.train.safetensors import CheckpointError

        prepared = self.prepare(path, reference)
        if traced:
            self.tracemalloc.start()
        started = time.perf_counter()
        loaded, message = None, ""
        try:
            if path == SAMPLE:
                loaded = self.settings.sample_loader(folder)
            else:
                self.settings.resume_loader(prepared, folder)
                loaded = prepared
        except CheckpointError as err:
            outcome, message = "checkpoint_error", str(err)
        except MemoryError as err:
            outcome, message = "memory", f"MemoryError: {err}"
        except ValueError as err:
            outcome, message = "other_value_error", f"{type(err).__name__}: {err}"
        except Exception as err:
            outcome, message = f"exception:{type(err).__name__}", f"{type(err).__name__}: {err}"
        seconds = time.perf_counter() - started
        peak = self.tracemalloc.get_traced_memory()[1] if traced else 0
        self.tracemalloc.stop()
        if loaded is not None:
            try:
                fingerprint = sample_fingerprint(loaded) if path == SAMPLE else resume_fingerprint(loaded)
            except Exception as err:  # the load "succeeded" but left something unusable
                outcome = f"exception:{type(err).__name__}"
                message = f"the load succeeded, but what it gave is broken: {type(err).__name__}: {err}"
            else:
                changed = differences(self.reference_prints[reference.name][path], fingerprint)
                outcome = "changed" if changed else "identical"
                message = f"differs in {', '.join(changed)}" if changed else ""
        if peak > allowed and outcome != "memory":
            message = f"peak {peak / MiB:.1f} MB over the {allowed / MiB:.1f} MB allowed (the load gave {outcome})"
            outcome = "memory"
        del loaded, prepared
        return {"outcome": outcome, "message": message, "seconds": seconds, "peak": peak, "traced": traced}

    def run_job(self, job: Job) -> Iterator[tuple]:
        """Make the job's mutant, then load it the job's ways: the messages for the parent, in
        order ("making" starts the parent's clock for making it, "mutant" the clock for each load)."""
        yield ("making", job.index)
        parent = self.settings.scratch / "mutant"
        try:
            mutant, description = make_mutant(job.kind, job.seed, self.settings.references, parent)
        except Exception as err:
            failure = f"making the mutant failed: {type(err).__name__}: {err}"
            yield ("mutant", job.index, {"reference": "?", "file": "-", "mutation": failure, "allowed": 0})
            for path in job.paths:
                yield ("result", job.index, path, {"outcome": "fuzzer_error", "message": failure})
            return
        allowed = memory_allowed(mutant.folder)
        info = {"reference": mutant.reference.name, "file": mutant.file, "mutation": description, "allowed": allowed}
        yield ("mutant", job.index, info)
        for path in job.paths:
            result = self.measure(path, mutant.reference, mutant.folder, allowed, job.traced)
            result["one_line"] = "\n" not in result["message"]
            result["message"] = shorten(result["message"])
            yield ("result", job.index, path, result)
        shutil.rmtree(parent, ignore_errors=True)


def shorten(message: str, limit: int = 400) -> str:
    """A message short enough to print (a hostile file can make an error message megabytes long)."""
    return message if len(message) <= limit else f"{message[:limit]}... ({len(message):,} characters)"


def worker_main(conn, settings: WorkerSettings) -> None:
    """A worker process: set up, say ready, then load batches of mutants until told to stop."""
    try:
        harness = LoadHarness(settings)
    except BaseException:
        conn.send(("failed", traceback.format_exc()))
        return
    conn.send(("ready", {"vm_size": harness.vm_size}))
    while True:
        message = conn.recv()
        if message[0] == "stop":
            return
        for job in message[1]:
            for answer in harness.run_job(job):
                conn.send(answer)


# --- the parent: scheduling, timeouts, judging ---------------------------------------------------


@dataclass
class LoadResult:
    """One load of one mutant, judged."""

    index: int
    kind: str
    seed: int
    path: str
    reference: str = "?"
    file: str = "-"
    mutation: str = ""
    outcome: str = "not_run"
    message: str = ""
    seconds: float = 0.0
    peak: int = 0
    allowed: int = 0
    one_line: bool = True
    traced: bool = True
    violation: str | None = None

    @property
    def family(self) -> str:
        return KINDS[self.kind].family

    def reproduce(self) -> str:
        return f"python tests/checkpoint_fuzz.py --only {self.kind} --seed {self.seed}"

    def describe(self) -> str:
        verdict = f" [VIOLATION: {self.violation}]  reproduce: {self.reproduce()}" if self.violation else ""
        untraced = "" if self.traced else " (retried without tracemalloc: memory not measured)"
        return (
            f"{self.kind} seed={self.seed} ({self.reference}, {self.file}: {self.mutation}) {self.path}: "
            f"{self.outcome}{untraced}: {self.message or '-'}{verdict}"
        )


def judge(result: LoadResult) -> str | None:
    """Why a load breaks its family's rule (None when it keeps it)."""
    if result.outcome == "not_run":
        return None
    allowed = KINDS[result.kind].allowed()
    if result.outcome not in allowed:
        return f"{result.outcome} is not allowed for {result.family} mutants (only {', '.join(sorted(allowed))})"
    if result.outcome in ("checkpoint_error", "other_value_error") and not (result.one_line and result.message):
        return "the error message is not one line"
    return None


@dataclass
class FuzzSettings:
    mutants: int = 2000
    seed: int = 0
    only: str | None = None  # one kind id: its mutants with seeds seed, seed+1, ...
    workers: int = 2
    load_timeout: float = 5.0  # seconds one load may take
    make_timeout: float = 60.0  # seconds making one mutant may take (a slow machine, a 50 MB file)
    startup_timeout: float = 120.0  # seconds a worker may take to start
    deadline: float | None = None  # seconds the whole run may take; what is left then is not run
    memory_budget: int = 2 * 2**30
    batch: int = 16  # mutants per message to a worker
    max_timeouts_per_kind: int = 3
    sample_loader: Callable = sample_load
    resume_loader: Callable = resume_load


def plan(settings: FuzzSettings) -> list[Job]:
    """Every mutant: kinds in turn (or only one), seeds counting up from the run's seed."""
    if settings.only is not None and settings.only not in KINDS:
        raise ValueError(f"no kind {settings.only!r}; --list-kinds lists them")
    kinds = [settings.only] if settings.only else list(KINDS)
    return [Job(i, kinds[i % len(kinds)], settings.seed + i) for i in range(settings.mutants)]


class WorkerHandle:
    """A worker process as the parent sees it: its pipe, the loads it owes, and how long it may
    stay silent in what it is doing now (starting, making a mutant, or loading one)."""

    def __init__(self, context, settings: WorkerSettings, startup_timeout: float):
        self.conn, child = context.Pipe()
        self.process = context.Process(target=worker_main, args=(child, settings), daemon=True)
        self.process.start()
        child.close()
        self.scratch = settings.scratch
        self.ready = False
        self.owed: deque[tuple[Job, str]] = deque()  # (job, path) of each load not answered yet, in order
        self.doing, self.limit, self.since = "starting", startup_timeout, time.monotonic()

    def now_doing(self, what: str, limit: float) -> None:
        self.doing, self.limit, self.since = what, limit, time.monotonic()

    def overdue(self) -> bool:
        busy = self.owed or not self.ready
        return bool(busy) and time.monotonic() - self.since > self.limit

    def send_batch(self, batch: list[Job], make_timeout: float) -> None:
        self.conn.send(("run", batch))
        self.owed.extend((job, path) for job in batch for path in job.paths)
        self.now_doing("making", make_timeout)

    def exit_code(self) -> int | None:
        self.process.join(1)
        return self.process.exitcode

    def close(self) -> None:
        if self.process.is_alive() and not self.owed:
            try:
                self.conn.send(("stop",))
                self.process.join(2)
            except OSError:
                pass
        if self.process.is_alive():
            self.process.kill()
        self.process.join(5)
        self.conn.close()
        shutil.rmtree(self.scratch, ignore_errors=True)


@dataclass
class FuzzReport:
    settings: FuzzSettings
    references: list[Reference]
    results: list[LoadResult] = field(default_factory=list)
    seconds: float = 0.0

    def violations(self) -> list[LoadResult]:
        return [r for r in self.results if r.violation]

    def table(self, markdown: bool = False) -> str:
        """Per kind: counts of each outcome as sample/resume, loads that broke their rule, loads
        retried without tracemalloc after a timeout under it, the slowest load, the largest peak
        against what that mutant was allowed, and the types of ValueError and other exceptions."""
        header = [
            "kind",
            "mutants",
            *OUTCOMES,
            *FAILURES,
            "violations",
            "retried untraced",
            "slowest s",
            "peak/allowed MB",
            "value errors",
            "exceptions",
        ]
        rows = []
        for kind_id in KINDS:
            results = [r for r in self.results if r.kind == kind_id]
            if not results:
                continue
            sample, resume = (Counter(r.outcome.split(":")[0] for r in results if r.path == p) for p in PATHS)
            worst = max(results, key=lambda r: r.peak / r.allowed if r.allowed else 0)
            exceptions = Counter(r.outcome.split(":", 1)[1] for r in results if r.outcome.startswith("exception:"))
            value_errors = Counter(r.message.split(":", 1)[0] for r in results if r.outcome == "other_value_error")
            rows.append(
                [
                    kind_id,
                    str(len({r.index for r in results})),
                    *(f"{sample[o]}/{resume[o]}" if sample[o] or resume[o] else "." for o in (*OUTCOMES, *FAILURES)),
                    str(sum(1 for r in results if r.violation)),
                    str(sum(1 for r in results if not r.traced)),
                    f"{max(r.seconds for r in results):.3f}",
                    f"{worst.peak / MiB:.1f}/{worst.allowed / MiB:.0f}",
                    ", ".join(f"{name} x{n}" for name, n in value_errors.most_common()) or ".",
                    ", ".join(f"{name} x{n}" for name, n in exceptions.most_common()) or ".",
                ]
            )
        if markdown:
            lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
            lines += ["| " + " | ".join(row) + " |" for row in rows]
        else:
            widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
            lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in [header, *rows]]
        return "\n".join(lines)

    def summary(self) -> str:
        sizes = ", ".join(f"{r.name} {r.size() / 1024:.0f} KB" for r in self.references)
        mutants = len({r.index for r in self.results})
        return (
            f"{mutants} mutants, {len(self.results)} loads (cells: sample/resume) in {self.seconds:.1f} s; "
            f"reference checkpoints: {sizes}; a load may allocate 2x its folder + 100 MB; "
            f"{len(self.violations())} loads break their rule"
        )

    def examples(self, per_kind: int = 3) -> str:
        """Up to `per_kind` violations of each kind and outcome, with the command that reproduces each."""
        shown, lines = Counter(), []
        for result in self.violations():
            key = (result.kind, result.outcome)
            if shown[key] < per_kind:
                shown[key] += 1
                lines.append(result.describe())
        return "\n".join(lines)


def scratch_root(workdir: Path) -> Path:
    """Where workers make their mutants: in memory (/dev/shm) where there is one, since creating and
    deleting a few files per mutant on a disk costs more than loading them; else under `workdir`."""
    shm = Path("/dev/shm")
    base = shm if shm.is_dir() and os.access(shm, os.W_OK) else Path(workdir)
    base.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix="checkpoint-fuzz-", dir=base))


def run_fuzz(references: list[Reference], settings: FuzzSettings, workdir: Path) -> FuzzReport:
    """Load every planned mutant in worker processes and judge each load."""
    started = time.monotonic()
    deadline = started + settings.deadline if settings.deadline else float("inf")
    report = FuzzReport(settings, references)
    queue = deque(plan(settings))
    infos: dict[int, dict] = {}  # what the workers said about each mutant before loading it
    timeouts: Counter[str] = Counter()
    context = multiprocessing.get_context("spawn")
    scratch = scratch_root(workdir)
    generation = 0

    def record(job: Job, path: str, **outcome) -> None:
        result = LoadResult(job.index, job.kind, job.seed, path, **infos.get(job.index, {}), **outcome)
        result.violation = judge(result)
        report.results.append(result)

    def start() -> WorkerHandle:
        nonlocal generation
        generation += 1
        worker_settings = WorkerSettings(
            references,
            scratch / f"worker-{generation}",
            settings.memory_budget,
            settings.sample_loader,
            settings.resume_loader,
        )
        return WorkerHandle(context, worker_settings, settings.startup_timeout)

    def give_up_on(worker: WorkerHandle, outcome: str, message: str) -> None:
        """What the worker was doing ends as `outcome` (a load, or every load of a mutant it was
        making) and the worker is replaced; a traced load that timed out is retried untraced, the
        mutant's other loads go back to the queue, and so does the rest of the batch."""
        job, path = worker.owed[0]
        seconds = time.monotonic() - worker.since
        retry = outcome == "timeout" and job.traced
        if retry:
            rest = tuple(p for j, p in worker.owed if j == job and p != path)
            again = [Job(job.index, job.kind, job.seed, (path,), traced=False)]
            again += [Job(job.index, job.kind, job.seed, rest)] if rest else []
        else:
            for j, p in worker.owed:
                if j == job and (p == path or worker.doing == "making"):
                    record(j, p, outcome=outcome, message=message, seconds=seconds, traced=job.traced)
                elif j == job:
                    record(j, p, message=f"not run after the {outcome} of the {path} load")
            again = []
            timeouts[job.kind] += outcome == "timeout"
        for j, _ in worker.owed:
            if j != job and j not in again:
                again.append(j)
        queue.extendleft(reversed(again))
        worker.owed.clear()
        worker.close()
        workers[workers.index(worker)] = start()

    def dispatch(worker: WorkerHandle) -> None:
        batch = []
        while queue and len(batch) < settings.batch:
            job = queue.popleft()
            if timeouts[job.kind] >= settings.max_timeouts_per_kind:
                for p in job.paths:
                    record(job, p, message=f"not run: this kind already timed out {timeouts[job.kind]} times")
            else:
                batch.append(job)
        if batch:
            worker.send_batch(batch, settings.make_timeout)

    def receive(worker: WorkerHandle) -> None:
        while worker.conn.poll():
            message = worker.conn.recv()
            if message[0] == "ready":
                worker.ready = True
                worker.now_doing("waiting", float("inf"))
            elif message[0] == "failed":
                raise RuntimeError(f"a fuzz worker could not start:\n{message[1]}")
            elif message[0] == "making":
                worker.now_doing("making", settings.make_timeout)
            elif message[0] == "mutant":
                infos[message[1]] = message[2]
                worker.now_doing("loading", settings.load_timeout)
            elif message[0] == "result":
                job, path = worker.owed.popleft()
                assert (job.index, path) == (message[1], message[2]), "a worker answered out of order"
                record(job, path, **message[3])
                worker.now_doing("loading", settings.load_timeout)

    workers: list[WorkerHandle] = []
    try:
        workers += [start() for _ in range(max(1, min(settings.workers, 2, len(queue))))]
        while queue or any(w.owed for w in workers):
            if time.monotonic() > deadline:
                for job, path in [
                    *(owed for w in workers for owed in w.owed),
                    *((j, p) for j in queue for p in j.paths),
                ]:
                    record(job, path, message="not run: the run's deadline passed")
                for worker in workers:
                    worker.owed.clear()
                queue.clear()
                break
            for worker in workers:
                if worker.ready and not worker.owed:
                    dispatch(worker)
            multiprocessing.connection.wait([w.conn for w in workers], timeout=0.2)
            for worker in list(workers):
                try:
                    receive(worker)
                except (EOFError, OSError):
                    if not worker.ready:
                        raise RuntimeError("a fuzz worker died while starting") from None
                    give_up_on(worker, "crash", f"the worker process died (exit code {worker.exit_code()})")
                    continue
                if worker.overdue():
                    if not worker.ready:
                        raise RuntimeError(f"a fuzz worker did not start within {worker.limit:.0f} s")
                    if worker.doing == "making":
                        give_up_on(worker, "fuzzer_error", f"making the mutant took over {worker.limit:g} s")
                    else:
                        give_up_on(worker, "timeout", f"no answer within {worker.limit:g} s: worker killed")
    finally:
        for worker in workers:
            worker.close()
        shutil.rmtree(scratch, ignore_errors=True)
    report.results.sort(key=lambda r: (r.index, PATHS.index(r.path)))
    report.seconds = time.monotonic() - started
    return report


# --- the command line ---------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--mutants", type=int, help="how many mutants (default 2000; 1 with --only)")
    parser.add_argument("--seed", type=int, default=0, help="the first mutant's seed; mutant i has seed+i")
    parser.add_argument("--only", metavar="KIND", help="mutants of this kind only (e.g. raw/state.number)")
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    parser.add_argument("--workers", type=int, default=2, help="worker processes (at most 2)")
    parser.add_argument("--timeout", type=float, default=5.0, help="seconds one load may take")
    parser.add_argument("--deadline", type=float, help="seconds the whole run may take")
    parser.add_argument("--max-timeouts", type=int, default=3, help="timeouts after which a kind is not loaded again")
    parser.add_argument("--memory-budget", type=float, default=2.0, help="GiB of address space per worker")
    parser.add_argument("--examples", type=int, default=3, help="violations shown per kind and outcome")
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it (references, --only's mutants)")
    parser.add_argument("--list-kinds", action="store_true", help="list the mutation kinds and exit")
    args = parser.parse_args(argv)
    if args.list_kinds:
        print("\n".join(f"{k.id}  (must give: {', '.join(sorted(k.allowed()))})" for k in KINDS.values()))
        return 0
    settings = FuzzSettings(
        mutants=args.mutants if args.mutants is not None else (1 if args.only else 2000),
        seed=args.seed,
        only=args.only,
        workers=args.workers,
        load_timeout=args.timeout,
        deadline=args.deadline,
        max_timeouts_per_kind=args.max_timeouts,
        memory_budget=int(args.memory_budget * 2**30),
    )
    plan(settings)  # an unknown --only fails here, before anything is trained
    temporary = None if args.keep else tempfile.TemporaryDirectory(prefix="checkpoint-fuzz-")
    workdir = args.keep or Path(temporary.name)
    try:
        references = make_references(workdir / "references")
        report = run_fuzz(references, settings, workdir / "scratch")
        if args.only:
            for result in report.results:
                print(result.describe())
            if args.keep:  # the mutants themselves, to poke at
                for job in plan(settings):
                    make_mutant(
                        job.kind, job.seed, references, workdir / "mutants" / f"{job.kind.replace('/', '-')}-{job.seed}"
                    )
                print(f"mutants written to {workdir / 'mutants'}")
        print(report.table(markdown=args.markdown))
        print()
        print(report.summary())
        if report.violations() and not args.only:
            print(f"\nviolations (up to {args.examples} per kind and outcome):")
            print(report.examples(args.examples))
        return 1 if report.violations() else 0
    finally:
        if temporary is not None:
            temporary.cleanup()


if __name__ == "__main__":
    sys.exit(main())
