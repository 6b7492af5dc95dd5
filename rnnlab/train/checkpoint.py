"""Checkpoints: a folder per saved step, written atomically, verified on load, no pickle.

    RUN_DIR/checkpoint-00001200/
        model.safetensors   the weights under PyTorch's names (torch users load them directly)
        train.safetensors   the other arrays a resume needs: optimiser moments ("optim.<param>.<state>")
                            and the hidden state carried between windows ("carry.<k>")
        state.json          everything else as JSON: step, config, optimiser metadata, schedule,
                            RNG state, data position, library version, and the SHA-256 of both
                            .safetensors files (the format has no checksum of its own, so a flipped
                            bit in the data would otherwise load silently)

A checkpoint is written into `.checkpoint-XXXXXXXX.tmp/`, every file fsynced, then the folder is
renamed into place; a run killed at any moment leaves its previous checkpoints intact and at
worst a temporary folder that is ignored and cleaned up. Non-finite arrays are refused, so a NaN
never reaches a checkpoint. Every problem on load is a `CheckpointError` naming the file.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import __version__
from . import safetensors as st
from .safetensors import CheckpointError

PATTERN = re.compile(r"checkpoint-(\d{8})")
FILES = ("model.safetensors", "train.safetensors")


@dataclass
class Checkpoint:
    step: int
    model: dict[str, np.ndarray]  # PyTorch parameter names
    train: dict[str, np.ndarray] = field(default_factory=dict)  # optimiser moments, carried state
    state: dict = field(default_factory=dict)  # JSON: config, optimiser meta, schedule, rng, data
    path: Path | None = None


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _refuse_non_finite(group: str, tensors: dict[str, np.ndarray]) -> None:
    for name, a in tensors.items():
        if a.dtype.kind == "f" and not np.isfinite(a).all():
            raise ValueError(f"refusing to checkpoint {group} tensor {name!r}: it holds NaN or infinity")


def _write(path: Path, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def save_checkpoint(run_dir, ckpt: Checkpoint, keep: int = 3) -> Path:
    """Write `ckpt` as RUN_DIR/checkpoint-<step>/ atomically; keep the newest `keep` checkpoints."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    _refuse_non_finite("model", ckpt.model)
    _refuse_non_finite("training", ckpt.train)
    name = f"checkpoint-{ckpt.step:08d}"
    final, tmp = run_dir / name, run_dir / f".{name}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    blobs = {"model.safetensors": st.encode(ckpt.model), "train.safetensors": st.encode(ckpt.train)}
    state = dict(
        ckpt.state, step=ckpt.step, rnnlab_version=__version__, sha256={f: _sha256(b) for f, b in blobs.items()}
    )
    blobs["state.json"] = json.dumps(state, indent=1, sort_keys=True).encode()
    for fname, data in blobs.items():
        _write(tmp / fname, data)
    st.fsync_dir(tmp)
    if final.exists():  # the same step saved again (e.g. on interrupt right after a save)
        shutil.rmtree(final)
    os.replace(tmp, final)
    st.fsync_dir(run_dir)
    for old in list_checkpoints(run_dir)[:-keep] if keep > 0 else []:
        shutil.rmtree(old, ignore_errors=True)
    for stale in run_dir.glob(".checkpoint-*.tmp"):  # left by a run killed mid-save
        shutil.rmtree(stale, ignore_errors=True)
    return final


def list_checkpoints(run_dir) -> list[Path]:
    """Complete checkpoint folders of a run, oldest first."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        return []
    found = [p for p in run_dir.iterdir() if PATTERN.fullmatch(p.name) and (p / "state.json").is_file()]
    return sorted(found, key=lambda p: int(PATTERN.fullmatch(p.name).group(1)))


def checkpoint_step(folder: Path) -> int:
    """The step a checkpoint folder's name holds (checkpoint-00001200 -> 1200)."""
    match = PATTERN.fullmatch(Path(folder).name)
    if match is None:
        raise CheckpointError(folder, "is not named checkpoint-XXXXXXXX")
    return int(match.group(1))


def latest_checkpoint(run_dir) -> Path:
    found = list_checkpoints(run_dir)
    if not found:
        raise CheckpointError(run_dir, "holds no checkpoint (checkpoint-XXXXXXXX/ with state.json)")
    return found[-1]


def load_checkpoint(path) -> Checkpoint:
    """Read and verify a checkpoint folder (or a run folder: its newest checkpoint)."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(path, "does not exist")
    if not (path / "state.json").is_file() and not PATTERN.fullmatch(path.name):
        path = latest_checkpoint(path)  # a run folder: its newest checkpoint
    state_file = path / "state.json"
    try:
        state = json.loads(state_file.read_text())
    except OSError as err:
        raise CheckpointError(state_file, f"cannot be read ({err.strerror or err})") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise CheckpointError(state_file, f"is not valid JSON ({err})") from None
    if (
        not isinstance(state, dict)
        or not isinstance(state.get("step"), int)
        or not isinstance(state.get("sha256"), dict)
    ):
        raise CheckpointError(state_file, "lacks the step number or the files' checksums")
    arrays = {}
    for fname in FILES:
        file = path / fname
        try:
            data = file.read_bytes()
        except OSError as err:
            raise CheckpointError(file, f"cannot be read ({err.strerror or err})") from None
        if _sha256(data) != state["sha256"].get(fname):
            raise CheckpointError(
                file,
                "does not match the checksum recorded in state.json "
                "(the file was changed or corrupted after it was saved)",
            )
        arrays[fname] = st.decode(data, file)[0]
    return Checkpoint(
        step=state["step"], model=arrays["model.safetensors"], train=arrays["train.safetensors"], state=state, path=path
    )


def load_weights_into(module, ckpt: Checkpoint) -> None:
    """Load a checkpoint's weights into `module`, checking every name, shape and dtype first;
    any mismatch is a CheckpointError naming the file and the tensor."""
    file = (ckpt.path / "model.safetensors") if ckpt.path else Path("model.safetensors")
    try:
        module.load_state_dict(ckpt.model)
    except (KeyError, ValueError, TypeError) as err:
        raise CheckpointError(file, f"does not fit the model: {err.args[0]}") from None
