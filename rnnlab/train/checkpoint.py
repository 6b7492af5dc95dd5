"""Checkpoints: a folder per saved step, written atomically, verified byte for byte on load, no pickle.

    RUN_DIR/checkpoint-00001200/
        model.safetensors   the weights under PyTorch's names (torch users load them directly)
        train.safetensors   the other arrays a resume needs: optimiser moments ("optim.<param>.<state>")
                            and the hidden state carried between windows ("carry.<k>")
        state.json          everything else as JSON: step, config, optimiser metadata, schedule,
                            RNG state, data position, library version, and the SHA-256 of both
                            .safetensors files
        SHA256SUMS          the SHA-256 of the three files above, in `sha256sum`'s format (so
                            `sha256sum -c SHA256SUMS` checks a checkpoint by hand); written last,
                            it is the mark of a complete checkpoint
    RUN_DIR/best -> .best-00001000-<token>/   the best checkpoint, a link swapped atomically

Writing: into `.checkpoint-XXXXXXXX.tmp-<pid>-<token>/`, every file fsynced, SHA256SUMS last,
then the folder renamed into place; old checkpoints are renamed away before they are deleted.
A run killed at any moment leaves its previous checkpoints intact and at worst hidden folders that
are ignored and cleaned up later. Non-finite arrays are refused, so a NaN never reaches a
checkpoint. `best` is a symbolic link to a hidden checkpoint folder, replaced by renaming a new
link over it: a reader sees the old best or the new one, never half of either.

Reading trusts nothing (rnnlab.train.files): only regular files inside the folder, sizes bounded,
SHA256SUMS checked before anything is parsed, JSON with depth limits, state.json's sections
checked against their schema, the safetensors offsets and shapes checked against the file size,
non-finite weights refused. Every problem is a `CheckpointError` naming the file. Checkpoints of
rnnlab 0.1.0 have no SHA256SUMS: they load with everything checked but state.json's bytes.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import __version__
from . import safetensors as st
from .files import inside, parse_json, read_bytes
from .limits import gib, require_memory
from .safetensors import CheckpointError
from .schema import check_keys, check_value

PATTERN = re.compile(r"checkpoint-(\d{8})")
FILES = ("model.safetensors", "train.safetensors")
STATE, SUMS = "state.json", "SHA256SUMS"
SIGNED = (*FILES, STATE)  # what SHA256SUMS covers
UNSIGNED_VERSIONS = ("0.1.0",)  # rnnlab versions that wrote checkpoints without SHA256SUMS
MAX_STATE = 4 * 2**20  # bytes of a state.json (a character vocabulary, its largest part, stays under 1 MB)
MAX_WEIGHTS = 2**40  # bytes of a .safetensors file we would try at all (memory is checked too)
_SUMS_LINE = re.compile(r"([0-9a-f]{64})  ([A-Za-z0-9_.-]+)")


@dataclass
class Checkpoint:
    step: int
    model: dict[str, np.ndarray]  # PyTorch parameter names
    train: dict[str, np.ndarray] = field(default_factory=dict)  # optimiser moments, carried state
    state: dict = field(default_factory=dict)  # JSON: config, optimiser meta, schedule, rng, data
    path: Path | None = None


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _token() -> str:
    """A suffix that makes a temporary name unique to this process and call."""
    return f"{os.getpid()}-{secrets.token_hex(4)}"


def _refuse_non_finite(group: str, tensors: dict[str, np.ndarray]) -> None:
    for name, a in tensors.items():
        if a.dtype.kind == "f" and not np.isfinite(a).all():
            raise ValueError(f"refusing to checkpoint {group} tensor {name!r}: it holds NaN or infinity")


def _write(path: Path, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def _write_folder(folder: Path, ckpt: Checkpoint) -> None:
    """The checkpoint's files in `folder` (which must not exist), SHA256SUMS last, all fsynced."""
    _refuse_non_finite("model", ckpt.model)
    _refuse_non_finite("training", ckpt.train)
    folder.mkdir()
    blobs = {"model.safetensors": st.encode(ckpt.model), "train.safetensors": st.encode(ckpt.train)}
    state = dict(
        ckpt.state, step=ckpt.step, rnnlab_version=__version__, sha256={f: _sha256(b) for f, b in blobs.items()}
    )
    blobs[STATE] = json.dumps(state, indent=1, sort_keys=True).encode()
    for fname, data in blobs.items():
        _write(folder / fname, data)
    _write(folder / SUMS, "".join(f"{_sha256(blobs[f])}  {f}\n" for f in sorted(SIGNED)).encode())
    st.fsync_dir(folder)


def remove_folder(folder: Path) -> None:
    """Delete a checkpoint folder so that no kill leaves half of it under its name: renamed to a
    hidden name first (one atomic step), then deleted."""
    if not folder.exists():
        return
    doomed = folder.with_name(f".removed-{folder.name}-{_token()}")
    os.replace(folder, doomed)
    shutil.rmtree(doomed, ignore_errors=True)


def save_checkpoint(run_dir, ckpt: Checkpoint, keep: int = 3) -> Path:
    """Write `ckpt` as RUN_DIR/checkpoint-<step>/ atomically; keep the newest `keep` checkpoints."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    name = f"checkpoint-{ckpt.step:08d}"
    final, tmp = run_dir / name, run_dir / f".{name}.tmp-{_token()}"
    try:
        _write_folder(tmp, ckpt)
        remove_folder(final)  # the same step saved again (e.g. on interrupt right after a save)
        os.replace(tmp, final)
    finally:
        if tmp.exists():  # a failed write
            shutil.rmtree(tmp, ignore_errors=True)
    st.fsync_dir(run_dir)
    for old in list_checkpoints(run_dir)[:-keep] if keep > 0 else []:
        remove_folder(old)
    return final


def save_best(run_dir, ckpt: Checkpoint) -> Path:
    """Make `ckpt` the run's best/: written as a hidden checkpoint folder, then the link `best`
    replaced by one pointing to it (os.replace of a link is atomic). The folder best/ pointed to
    before stays until the next swap, so a reader that resolved the old link can finish."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    target = run_dir / f".best-{ckpt.step:08d}-{_token()}"
    try:
        _write_folder(target, ckpt)
    except BaseException:
        shutil.rmtree(target, ignore_errors=True)
        raise
    best, link = run_dir / "best", run_dir / f".best-link-{_token()}"
    previous = os.readlink(best) if best.is_symlink() else None
    try:
        os.symlink(target.name, link)
    except OSError:  # no symbolic links here (some Windows set-ups): a plain folder, renamed in
        remove_folder(best)
        os.replace(target, best)
        return best
    if best.is_dir() and not best.is_symlink():  # a best/ folder of an older rnnlab: moved aside once
        os.replace(best, run_dir / f".removed-best-{_token()}")
    os.replace(link, best)
    st.fsync_dir(run_dir)
    keep = {target.name, previous}
    for old in run_dir.glob(".best-*"):
        if old.name not in keep and not old.name.startswith(".best-link-"):
            shutil.rmtree(old, ignore_errors=True)
    return best


def clean_up(run_dir) -> None:
    """Remove what killed writers left behind: temporary and half-removed folders, stray links.
    Call it only while holding the run's lock (rnnlab.train.runlock), when no one else writes."""
    run_dir = Path(run_dir)
    best = os.readlink(run_dir / "best") if (run_dir / "best").is_symlink() else None
    for stale in run_dir.glob(".*"):
        name = stale.name
        if name.startswith((".checkpoint-", ".removed-")) or name == ".best-staging":
            shutil.rmtree(stale, ignore_errors=True)
        elif name.startswith(".best-link-"):
            stale.unlink(missing_ok=True)
        elif name.startswith(".best-") and name != best:  # no longer (or never) what best/ points to
            shutil.rmtree(stale, ignore_errors=True)


def _complete(folder: Path) -> bool:
    """A checkpoint counts once SHA256SUMS is written (last); one of rnnlab 0.1.0, which wrote
    none, once its three files are there."""
    if (folder / SUMS).is_file():
        return True
    if not all((folder / f).is_file() for f in SIGNED):
        return False
    try:
        state = read_bytes(folder / STATE, MAX_STATE, folder)
    except CheckpointError:
        return False
    return any(f'"rnnlab_version": "{version}"'.encode() in state for version in UNSIGNED_VERSIONS)


def list_checkpoints(run_dir) -> list[Path]:
    """Complete checkpoint folders of a run, oldest first."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        return []
    found = [p for p in run_dir.iterdir() if PATTERN.fullmatch(p.name) and _complete(p)]
    return sorted(found, key=lambda p: int(PATTERN.fullmatch(p.name).group(1)))


def checkpoints_held(run_dir) -> list[str]:
    """What a run folder holds of a run's checkpoints ("best/", "checkpoint-00000100/", ...): a
    fresh run must not train over them (pruning would delete them, best/ would be replaced)."""
    run_dir = Path(run_dir)
    best = ["best/"] if os.path.lexists(run_dir / "best") else []
    return best + [f"{p.name}/" for p in list_checkpoints(run_dir)]


def checkpoint_step(folder: Path) -> int:
    """The step a checkpoint folder's name holds (checkpoint-00001200 -> 1200)."""
    match = PATTERN.fullmatch(Path(folder).name)
    if match is None:
        raise CheckpointError(folder, "is not named checkpoint-XXXXXXXX")
    return int(match.group(1))


def latest_checkpoint(run_dir) -> Path:
    found = list_checkpoints(run_dir)
    if not found:
        raise CheckpointError(run_dir, "holds no checkpoint (checkpoint-XXXXXXXX/ with SHA256SUMS)")
    return found[-1]


def _read_sums(folder: Path) -> dict[str, str] | None:
    """SHA256SUMS as {file: hex digest}, None for a checkpoint of a version that wrote none."""
    file = folder / SUMS
    if not os.path.lexists(file):
        return None
    text = read_bytes(file, 4096, folder).decode("ascii", errors="replace")
    sums = {}
    for number, line in enumerate(text.split("\n")[:-1], 1):
        match = _SUMS_LINE.fullmatch(line)
        if match is None:
            raise CheckpointError(file, f"line {number} is not '<sha256>  <file>'")
        sums[match.group(2)] = match.group(1)
    if not text.endswith("\n") or sorted(sums) != sorted(SIGNED):
        raise CheckpointError(file, f"must list exactly {', '.join(SIGNED)}, one per line")
    return sums


def _verified(folder: Path, name: str, expected: str | None, limit: int) -> bytes:
    file = folder / name
    data = read_bytes(file, limit, folder)
    if _sha256(data) != expected:
        raise CheckpointError(
            file,
            f"does not match the checksum recorded in {SUMS if name == STATE else STATE} "
            "(the file was changed or corrupted after it was saved)",
        )
    return data


def load_checkpoint(path) -> Checkpoint:
    """Read and verify a checkpoint folder (or a run folder: its newest checkpoint). A link such as
    best/ is resolved once, so the files read all belong to one checkpoint even while the link is
    being swapped; a swap that removed the folder mid-read is retried."""
    path = Path(path)
    if not os.path.lexists(path):
        raise CheckpointError(path, "does not exist")
    if not path.is_dir():
        raise CheckpointError(path, "is not a folder")
    if not (path / STATE).exists() and not PATTERN.fullmatch(path.name):
        path = latest_checkpoint(path)  # a run folder: its newest checkpoint
    for attempt in range(3):
        # best/ is a link that must stay inside its run folder; a path the user names is theirs
        folder = Path(os.path.realpath(path)) if path.is_symlink() else path
        if path.name == "best" and path.is_symlink():
            inside(path, path.parent)
        try:
            ckpt = _load_folder(folder)
        except CheckpointError as err:
            if attempt < 2 and path.is_symlink() and not folder.exists():  # best/ swapped under us
                continue
            if err.path.parent == folder and folder != path:  # name the path the user gave
                raise CheckpointError(path / err.path.name, err.problem) from None
            raise
        ckpt.path = path
        return ckpt
    raise AssertionError("unreachable")


def _load_folder(folder: Path) -> Checkpoint:
    sums = _read_sums(folder)
    state_file = folder / STATE
    if sums is not None:
        raw = _verified(folder, STATE, sums[STATE], MAX_STATE)
    else:
        raw = read_bytes(state_file, MAX_STATE, folder)
    state = check_state(parse_json(raw, state_file), state_file)
    if sums is None and state["rnnlab_version"] not in UNSIGNED_VERSIONS:
        raise CheckpointError(folder / SUMS, "is missing: the checkpoint is incomplete (it is written last)")
    if sums is not None and any(state["sha256"][f] != sums[f] for f in FILES):
        raise CheckpointError(state_file, f"records checksums that disagree with {SUMS}")
    sizes = [os.stat(folder / f).st_size if (folder / f).is_file() else 0 for f in FILES]
    require_memory(2 * sum(sizes), f"loading {folder} ({gib(sum(sizes))} of arrays)")
    arrays = {}
    for fname in FILES:
        data = _verified(folder, fname, state["sha256"][fname], MAX_WEIGHTS)
        arrays[fname] = st.decode(data, folder / fname)[0]
        del data
        for name, a in arrays[fname].items():
            if a.dtype.kind == "f" and not np.isfinite(a).all():
                raise CheckpointError(folder / fname, f"tensor {name!r} holds NaN or infinity")
    return Checkpoint(
        step=state["step"], model=arrays["model.safetensors"], train=arrays["train.safetensors"], state=state
    )


# --- state.json's schema ---------------------------------------------------------------------------
STATE_KEYS = {
    "step": "int",
    "rnnlab_version": "str",
    "sha256": "dict",
    "trainer": "dict",  # the Trainer's counters (TRAINER_KEYS)
    "optimizer": "dict",  # checked by the optimiser's load_state_dict
    "schedule": "dict | None",  # checked by the schedule's load_state_dict
    "rng": "dict",  # a NumPy bit generator's state (check_rng)
    "module_rngs": "dict",  # module path -> such a state
    "blas_threads": "int | None",
    "config": "dict",  # {"train": ..., "task": ...}: what the run was made from
}
TRAINER_KEYS = {"skipped": "int", "skipped_in_a_row": "int", "best_score": "float | None", "evals_since_best": "int"}


def check_state(state, file) -> dict:
    """state.json's sections checked for type and range; unknown keys refused. The sections a
    Trainer writes are checked in full here; the optimiser's and schedule's by their loaders."""
    check_keys(state, file, "", STATE_KEYS, required=("step", "rnnlab_version", "sha256"))
    for key, annotation in STATE_KEYS.items():
        if key in state:
            check_value(state[key], annotation, file, key)
    check_value(state["step"], "int", file, "step", low=0, high=10**12)
    check_keys(state["sha256"], file, "sha256", FILES, required=FILES)
    for name in FILES:
        check_value(state["sha256"][name], "str", file, f"sha256.{name}")
    if "trainer" in state:
        check_keys(state["trainer"], file, "trainer", TRAINER_KEYS, required=TRAINER_KEYS)
        for key, annotation in TRAINER_KEYS.items():
            low = None if key == "best_score" else 0
            check_value(state["trainer"][key], annotation, file, f"trainer.{key}", low=low)
    if "rng" in state:
        check_rng(state["rng"], file, "rng")
    for module, rng in state.get("module_rngs", {}).items():
        check_rng(rng, file, f"module_rngs.{module}")
    if state.get("blas_threads") is not None:
        check_value(state["blas_threads"], "int", file, "blas_threads", low=1, high=4096)
    if "config" in state:
        check_keys(state["config"], file, "config", ("train", "task"))
        for part in state["config"].values():
            check_value(part, "dict", file, "config")
    return state


def check_rng(state, file, key: str) -> None:
    """A PCG64 state as NumPy's Generator.bit_generator.state gives it."""
    check_keys(
        state,
        file,
        key,
        ("bit_generator", "state", "has_uint32", "uinteger"),
        required=("bit_generator", "state", "has_uint32", "uinteger"),
    )
    check_value(state["bit_generator"], "str", file, f"{key}.bit_generator", choices=("PCG64",))
    check_keys(state["state"], file, f"{key}.state", ("state", "inc"), required=("state", "inc"))
    for part in ("state", "inc"):
        value = state["state"][part]
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**128:
            raise CheckpointError(file, f"{key}.state.{part} must be an integer in [0, 2**128)")
    check_value(state["has_uint32"], "int", file, f"{key}.has_uint32", low=0, high=1)
    check_value(state["uinteger"], "int", file, f"{key}.uinteger", low=0, high=2**32 - 1)


def load_weights_into(module, ckpt: Checkpoint) -> None:
    """Load a checkpoint's weights into `module`, checking every name, shape and dtype first;
    any mismatch is a CheckpointError naming the file and the tensor."""
    file = (ckpt.path / "model.safetensors") if ckpt.path else Path("model.safetensors")
    try:
        module.load_state_dict(ckpt.model)
    except (KeyError, ValueError, TypeError) as err:
        raise CheckpointError(file, f"does not fit the model: {err.args[0]}") from None
