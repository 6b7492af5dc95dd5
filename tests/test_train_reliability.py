"""One test per defect of the reliability audit (issue 17): hostile checkpoints, crash consistency,
concurrency. Each failed before the fix it names. "Resealed" mutants have their checksums
recomputed, as a hostile editor would: they test the schema, not the checksums."""

import hashlib
import json
import multiprocessing
import os
import shutil
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import numpy as np
import pytest

from rnnlab.runs.charlm import TrainSpec, build_run, load_charlm
from rnnlab.train import safetensors as st
from rnnlab.train.checkpoint import (
    SUMS,
    Checkpoint,
    list_checkpoints,
    load_checkpoint,
    save_best,
    save_checkpoint,
)
from rnnlab.train.limits import ResourceError
from rnnlab.train.runlock import RunBusyError, hold_run
from rnnlab.train.safetensors import CheckpointError

pytestmark = pytest.mark.backend_free  # CI's second pass (RNNLAB_COMPILED=0) leaves these out
TEXT = "To be, or not to be, that is the question:\nWhether 'tis nobler in the mind to suffer\n" * 30


def make_run(folder: Path, steps: int = 4, **changes) -> TrainSpec:
    """A tiny char-LM run of `steps` steps with a checkpoint every 2 (run.json written as train does)."""
    text = folder.parent / "text.txt"
    text.write_text(TEXT)
    spec = TrainSpec(data=str(text), hidden=8, layers=2, embedding=4, seq_len=10, batch=2, steps=steps, eval_every=2)
    for key, value in changes.items():
        setattr(spec, key, value)
    folder.mkdir(parents=True, exist_ok=True)
    spec.save(folder / "run.json")
    build_run(spec, folder).trainer.run()
    return spec


@pytest.fixture(scope="module")
def original(tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("reliability") / "run"
    make_run(run)
    return run


@pytest.fixture
def run(original, tmp_path) -> Path:
    copy = tmp_path / "run"
    shutil.copytree(original, copy, symlinks=True)
    return copy


def reseal(folder: Path) -> None:
    """Recompute a checkpoint's checksums after an edit (what a hostile editor would do)."""
    state_file = folder / "state.json"
    try:
        state = json.loads(state_file.read_text())
        for name in ("model.safetensors", "train.safetensors"):
            state["sha256"][name] = hashlib.sha256((folder / name).read_bytes()).hexdigest()
        state_file.write_text(json.dumps(state))
    except (ValueError, KeyError, TypeError, RecursionError):
        pass  # state.json itself was made unparsable: leave it as it is
    lines = [f"{hashlib.sha256((folder / f).read_bytes()).hexdigest()}  {f}\n" for f in sorted(SIGNED)]
    (folder / SUMS).write_text("".join(lines))


SIGNED = ("model.safetensors", "state.json", "train.safetensors")


def edit_state(folder: Path, change) -> None:
    state = json.loads((folder / "state.json").read_text())
    change(state)
    (folder / "state.json").write_text(json.dumps(state))


def resume_load(run: Path, folder: Path) -> None:
    """Load `folder` the way `rnnlab resume` does."""
    trainer = build_run(TrainSpec.from_file(run / "run.json"), run.parent / "scratch").trainer
    trainer._restore(load_checkpoint(folder))


def last(run: Path) -> Path:
    return list_checkpoints(run)[-1]


# --- every byte covered -------------------------------------------------------------------------
def test_an_edited_state_json_is_refused_before_it_is_parsed(run):
    """Was: state.json had no checksum; "lr": 0.002 -> 8.002 resumed with exit 0."""
    folder = last(run)
    text = (folder / "state.json").read_text()
    assert '"lr": 0.002' in text
    (folder / "state.json").write_text(text.replace('"lr": 0.002', '"lr": 8.002'))
    with pytest.raises(CheckpointError, match=r"state\.json: does not match the checksum recorded in SHA256SUMS"):
        resume_load(run, folder)


def test_a_checkpoint_without_its_manifest_is_incomplete(run):
    folder = last(run)
    (folder / SUMS).unlink()
    assert folder not in list_checkpoints(run)  # resume continues the newest complete one
    with pytest.raises(CheckpointError, match="SHA256SUMS: is missing: the checkpoint is incomplete"):
        load_checkpoint(folder)


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda s: s["trainer"].__setitem__("optimizer", 1), r"trainer has unknown key\(s\) 'optimizer'"),
        (lambda s: s.__setitem__("run_dir", "/"), r"unknown key\(s\) 'run_dir'"),
        (lambda s: s.__setitem__("config", None), "config is null"),
        (lambda s: s.__setitem__("blas_threads", 10**19), "blas_threads = 10000000000000000000 is out of range"),
        (lambda s: s.__setitem__("blas_threads", 10**5), r"blas_threads = 100000 is outside \[1, 4096\]"),
        (lambda s: s["rng"]["state"].__setitem__("inc", -1), r"rng\.state\.inc must be an integer"),
        (lambda s: s["trainer"].__setitem__("skipped", True), "trainer.skipped = True is a bool"),
        (lambda s: s["trainer"].__setitem__("best_score", "1.5"), "trainer.best_score = '1.5' is a str"),
        (lambda s: s.__setitem__("step", 2**64), "step = 18446744073709551616 is out of range"),
    ],
)
def test_resealed_state_json_is_checked_against_its_schema(run, change, message):
    """Was: Trainer._restore did setattr for any key (30 injected keys accepted); AttributeError
    from config: null; ctypes.ArgumentError from blas_threads: 10**19."""
    folder = last(run)
    edit_state(folder, change)
    reseal(folder)
    with pytest.raises(CheckpointError, match=message):
        resume_load(run, folder)


def test_json_nested_a_thousand_deep_is_refused_without_recursion(run):
    """Was: RecursionError."""
    folder = last(run)
    text = (folder / "state.json").read_text()
    (folder / "state.json").write_text(
        text.replace('"config": {', '"deep": ' + "[" * 1000 + "]" * 1000 + ', "config": {')
    )
    reseal(folder)
    with pytest.raises(CheckpointError, match="nests deeper than the 64 levels rnnlab reads"):
        load_checkpoint(folder)


@pytest.mark.parametrize(
    "shape, message",
    [
        ([2**64], "invalid shape"),
        ([2**32, 2**32, 0], "too large"),
        ([2**32, 2**32], "too large"),
        ([2**20, 3], "do not hold"),
        ([True], "shape"),
    ],
)
def test_safetensors_shapes_are_checked_in_python_integers(tmp_path, shape, message):
    """Was: OverflowError from [2**64]; a product of int64s that wrapped to 0 passed."""
    data = st.encode({"w": np.zeros(0, np.float32)})
    n = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + n])
    header["w"]["shape"] = shape
    raw = json.dumps(header).encode()
    (tmp_path / "w.safetensors").write_bytes(len(raw).to_bytes(8, "little") + raw)
    with pytest.raises(CheckpointError, match=message):
        st.load(tmp_path / "w.safetensors")


def test_nan_weights_with_consistent_checksums_are_refused(run):
    folder = last(run)
    weights, _ = st.load(folder / "model.safetensors")
    weights["head.weight"][0, 0] = np.nan
    (folder / "model.safetensors").write_bytes(st.encode(weights))
    reseal(folder)
    with pytest.raises(CheckpointError, match=r"model\.safetensors: tensor 'head\.weight' holds NaN"):
        load_charlm(folder)


def test_a_carried_state_of_the_wrong_shape_is_refused(run):
    folder = last(run)
    arrays, _ = st.load(folder / "train.safetensors")
    arrays["carry.0"] = arrays["carry.0"][:, :1]
    (folder / "train.safetensors").write_bytes(st.encode(arrays))
    reseal(folder)
    with pytest.raises(
        CheckpointError, match=r"carried state 0 is float32\[2, 1, 8\], expected finite float32\[2, 2, 8\]"
    ):
        resume_load(run, folder)


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(layers=10_000_000), r"config\.task\.model\.layers = 10000000 is outside \[1, 1024\]"),
        (dict(hidden=10_000_000), r"config\.task\.model\.hidden = 10000000 is outside"),
        (
            dict(hidden=3000),
            r"describes a lstm char-LM of 2x3000 .* of 108,165,115 weights; the checkpoint holds 1,323",
        ),
        (dict(extra=1), r"config\.task\.model has unknown key\(s\) 'extra'"),
    ],
)
def test_model_sizes_are_checked_before_anything_is_built(run, change, message):
    """Was: layers 10000000 built layers until killed; hidden 10000000 asked for 19 GiB. Now the
    model a config describes must hold as many weights as the checkpoint: nothing larger than the
    checkpoint is allocated."""
    folder = last(run)
    edit_state(folder, lambda s: s["config"]["task"]["model"].update(change))
    reseal(folder)
    with pytest.raises(ValueError, match=message):
        load_charlm(folder)


def test_training_sizes_that_cannot_fit_are_refused_before_allocating(tmp_path):
    spec = TrainSpec(data=None, corpus="python-docs", hidden=2**19, layers=64, steps=1)
    with pytest.raises(ResourceError, match="needs about .* more than the .* available; lower --hidden"):
        build_run(spec, tmp_path / "run", text=(TEXT, "text"))
    assert not (tmp_path / "run").exists() or not any((tmp_path / "run").iterdir())


def _fifo_or_device(folder: Path, kind: str) -> None:
    target = folder / "model.safetensors"
    target.unlink()
    if kind == "fifo":
        os.mkfifo(target)
    elif kind == "zero":
        target.symlink_to("/dev/zero")
    elif kind == "outside":
        outside = folder.parent.parent / "elsewhere.safetensors"
        outside.write_bytes(b"x")
        target.symlink_to(outside)
    else:
        target.mkdir()


@pytest.mark.parametrize(
    "kind, message",
    [
        ("fifo", "is a FIFO"),
        ("zero", "outside"),
        ("outside", "outside"),
        ("folder", "is a folder"),
    ],
)
def test_only_regular_files_inside_the_folder_are_read(run, kind, message):
    """Was: a FIFO blocked forever, /dev/zero and /dev/urandom never ended."""
    folder = last(run)
    _fifo_or_device(folder, kind)
    result: list = []
    reader = threading.Thread(target=lambda: result.append(_error_of(load_checkpoint, folder)), daemon=True)
    reader.start()
    reader.join(10)
    assert not reader.is_alive(), "the load hangs"
    assert isinstance(result[0], CheckpointError) and message in str(result[0])


def _error_of(function, *args):
    try:
        function(*args)
    except Exception as err:  # noqa: BLE001 - the test inspects what was raised
        return err
    return None


# --- crash consistency ----------------------------------------------------------------------------
def test_a_pruned_checkpoint_is_renamed_before_its_files_go(run, monkeypatch):
    """Was: a kill while an old checkpoint was pruned left a folder without train.safetensors
    that still counted as complete. Now the rename comes first; a folder that lost a file counts
    only if its SHA256SUMS, written last, is there, and then fails loudly."""
    removed = []
    monkeypatch.setattr(shutil, "rmtree", lambda path, **kw: removed.append(Path(path).name))
    ckpt = load_checkpoint(last(run))
    save_checkpoint(run, Checkpoint(step=6, model=ckpt.model, train=ckpt.train, state=ckpt.state), keep=1)
    assert [name for name in removed if name.startswith(".removed-checkpoint-")]
    assert not [name for name in removed if name.startswith("checkpoint-")]
    assert [p.name for p in list_checkpoints(run)] == ["checkpoint-00000006"]


def test_best_is_swapped_atomically_under_a_reader(run):
    """Was: a reader caught best/ mid-replace ("does not match the checksum ... corrupted")."""
    ckpt = load_checkpoint(run / "best")
    stop, errors, loads = threading.Event(), [], [0]

    def read():
        while not stop.is_set():
            try:
                assert load_checkpoint(run / "best").step in (ckpt.step, ckpt.step + 1)
                loads[0] += 1
            except Exception as err:  # noqa: BLE001
                errors.append(err)

    reader = threading.Thread(target=read)
    reader.start()
    for k in range(60):
        save_best(run, Checkpoint(step=ckpt.step + k % 2, model=ckpt.model, train=ckpt.train, state=ckpt.state))
    stop.set()
    reader.join()
    assert not errors, errors[:3]
    assert loads[0] > 0
    assert (run / "best").is_symlink() and len(list(run.glob(".best-*"))) == 2  # the current and the previous


def test_a_run_killed_before_its_first_checkpoint_logs_each_step_once(tmp_path):
    """Was: resumed, it wrote steps 1-5 twice into metrics.jsonl."""
    run = tmp_path / "run"
    make_run(run, steps=4)
    for old in list_checkpoints(run):
        shutil.rmtree(old)
    with open(run / "metrics.jsonl", "a") as f:
        f.write('{"step": 5, "lo')  # half a line: killed mid-write
    spec = TrainSpec.from_file(run / "run.json")
    build_run(spec, run).trainer.run(resume=True)
    steps = [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    train_steps = [s for s, line in zip(steps, (run / "metrics.jsonl").read_text().splitlines()) if '"loss"' in line]
    assert train_steps == [1, 2, 3, 4]


def test_a_fresh_run_refuses_a_folder_holding_another_runs_checkpoints(run):
    """Was: exit 0, its own checkpoints pruned and the other's best/ replaced."""
    (run / "run.json").unlink()
    before = sorted(p.name for p in run.iterdir())
    spec = TrainSpec(hidden=4, layers=1, embedding=4, steps=2, batch=2, seq_len=10)
    with pytest.raises(ValueError, match="already holds checkpoints of a run: resume it"):
        build_run(spec, run, text=(TEXT, "text")).trainer.run()
    assert sorted(p.name for p in run.iterdir()) == before


def _hold(run: str, ready, release) -> None:
    with hold_run(run):
        ready.set()
        release.wait(30)


def test_a_second_trainer_on_one_run_is_refused_naming_the_holder(run):
    """Was: two `resume` on one run: one died, metrics.jsonl got 121-122 lines for 120 steps."""
    context = multiprocessing.get_context("spawn")
    ready, release = context.Event(), context.Event()
    holder = context.Process(target=_hold, args=(str(run), ready, release))
    holder.start()
    try:
        assert ready.wait(60)
        spec = TrainSpec.from_file(run / "run.json")
        spec.steps = 6
        with pytest.raises(RunBusyError, match=rf"is in use by process {holder.pid} "):
            build_run(spec, run).trainer.run(resume=True)
    finally:
        release.set()
        holder.join(30)
    build_run(spec, run).trainer.run(resume=True)  # the holder has gone: the lock with it
    assert list_checkpoints(run)[-1].name == "checkpoint-00000006"


# --- kill -9 at write, rename and prune points ------------------------------------------------
KILLER = textwrap.dedent(
    """
    import os, shutil, signal, sys
    from rnnlab.runs.charlm import TrainSpec, build_run
    import rnnlab.train.checkpoint as checkpoint

    point, when = sys.argv[2], int(sys.argv[3])
    calls = [0]

    def deadly(real):
        def call(*args, **kwargs):
            calls[0] += 1
            if calls[0] == when:
                os.kill(os.getpid(), signal.SIGKILL)
            return real(*args, **kwargs)
        return call

    if point == "write":
        checkpoint._write = deadly(checkpoint._write)
    elif point == "rename":
        checkpoint.os.replace = deadly(os.replace)
    elif point == "prune":
        checkpoint.shutil.rmtree = deadly(shutil.rmtree)
    spec = TrainSpec.from_file(sys.argv[1] + "/run.json")
    build_run(spec, sys.argv[1]).trainer.run(resume=True)
    """
)


@pytest.mark.parametrize("point, when", [("write", 3), ("write", 10), ("rename", 2), ("rename", 5), ("prune", 2)])
def test_a_kill_at_a_write_rename_or_prune_point_resumes_to_the_same_weights(tmp_path, point, when):
    reference = tmp_path / "reference"
    make_run(reference, steps=8)
    run = tmp_path / "killed"
    run.mkdir()
    shutil.copy(reference / "run.json", run / "run.json")
    killed = subprocess.run([sys.executable, "-c", KILLER, str(run), point, str(when)], capture_output=True)
    assert killed.returncode == -9, killed.stderr.decode()[-2000:]
    build_run(TrainSpec.from_file(run / "run.json"), run).trainer.run(resume=True)
    ours, theirs = load_checkpoint(run), load_checkpoint(reference)
    assert ours.step == theirs.step == 8
    for name, weights in theirs.model.items():
        np.testing.assert_array_equal(ours.model[name], weights, err_msg=name)
    lines = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in lines if "loss" in r and "event" not in r] == list(range(1, 9))
    assert load_charlm(run)[0] is not None  # best/ is whole
