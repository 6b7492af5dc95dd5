"""Checkpoint folders: round trip, atomicity, keep-K, and every way a file can be wrong."""

import numpy as np
import pytest

from rnnlab.nn import GRU, LSTM
from rnnlab.train.checkpoint import Checkpoint, list_checkpoints, load_checkpoint, load_weights_into, save_checkpoint
from rnnlab.train.safetensors import CheckpointError


def make_ckpt(step=5, seed=0):
    m = LSTM(3, 4, num_layers=2, rng=np.random.default_rng(seed))
    rng = np.random.default_rng(seed + 1)
    train = {
        "optim.weight_ih_l0.exp_avg": rng.standard_normal((16, 3)).astype(np.float32),
        "carry.0": rng.standard_normal((2, 2, 4)).astype(np.float32),
    }
    state = {
        "config": {"task": {"hidden": 4, "data_position": 1234}},
        "rng": np.random.default_rng(3).bit_generator.state,
    }
    return m, Checkpoint(step=step, model=m.state_dict(), train=train, state=state)


def test_round_trip_restores_weights_arrays_and_state(tmp_path):
    m, ckpt = make_ckpt()
    folder = save_checkpoint(tmp_path, ckpt)
    assert folder.name == "checkpoint-00000005"
    back = load_checkpoint(tmp_path)  # a run folder means its newest checkpoint
    assert back.step == 5 and back.state["config"]["task"]["data_position"] == 1234
    assert back.state["rng"] == ckpt.state["rng"]  # a Generator's state survives JSON exactly
    for group in ("model", "train"):
        for name, a in getattr(ckpt, group).items():
            np.testing.assert_array_equal(getattr(back, group)[name], a, err_msg=name)
    fresh = LSTM(3, 4, num_layers=2, rng=np.random.default_rng(9))
    load_weights_into(fresh, back)
    for (n, p), (_, q) in zip(fresh.named_parameters(), m.named_parameters()):
        np.testing.assert_array_equal(p.data, q.data, err_msg=n)


def test_keeps_the_newest_k_and_ignores_unfinished_folders(tmp_path):
    for step in (1, 2, 3, 4):
        save_checkpoint(tmp_path, make_ckpt(step)[1], keep=2)
    (tmp_path / ".checkpoint-00000009.tmp").mkdir()  # a save killed half-way
    (tmp_path / "checkpoint-00000010").mkdir()  # no state.json: never completed
    assert [p.name for p in list_checkpoints(tmp_path)] == ["checkpoint-00000003", "checkpoint-00000004"]
    assert load_checkpoint(tmp_path).step == 4


def test_a_nan_never_reaches_a_checkpoint(tmp_path):
    _, ckpt = make_ckpt()
    ckpt.model["weight_hh_l1"][0, 0] = np.nan
    with pytest.raises(ValueError, match="weight_hh_l1"):
        save_checkpoint(tmp_path, ckpt)
    assert list_checkpoints(tmp_path) == []


def test_flipped_truncated_or_edited_files_are_checkpoint_errors(tmp_path):
    folder = save_checkpoint(tmp_path, make_ckpt()[1])
    model = folder / "model.safetensors"
    good = model.read_bytes()
    model.write_bytes(good[:-1] + bytes([good[-1] ^ 1]))  # one bit in the last weight
    with pytest.raises(CheckpointError, match="model.safetensors.*checksum"):
        load_checkpoint(folder)
    model.write_bytes(good[: len(good) // 2])
    with pytest.raises(CheckpointError, match="model.safetensors"):
        load_checkpoint(folder)
    model.write_bytes(good)
    state = (folder / "state.json").read_text()
    (folder / "state.json").write_text(state.replace('"step": 5', '"step": 6'))  # state.json is signed too
    with pytest.raises(CheckpointError, match="state.json.*checksum recorded in SHA256SUMS"):
        load_checkpoint(folder)
    (folder / "state.json").write_text(state)
    (folder / "train.safetensors").unlink()
    with pytest.raises(CheckpointError, match="train.safetensors: does not exist"):
        load_checkpoint(folder)
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "nowhere")
    (tmp_path / "empty_run").mkdir()
    with pytest.raises(CheckpointError, match="no checkpoint"):
        load_checkpoint(tmp_path / "empty_run")


def test_weights_of_another_shape_or_dtype_or_model_are_refused_by_name(tmp_path):
    save_checkpoint(tmp_path, make_ckpt()[1])
    ckpt = load_checkpoint(tmp_path)
    with pytest.raises(CheckpointError, match=r"model.safetensors.*weight_ih_l0.*\(16, 3\).*\(16, 5\)"):
        load_weights_into(LSTM(5, 4, num_layers=2), ckpt)
    with pytest.raises(CheckpointError, match="float32.*float64"):
        load_weights_into(LSTM(3, 4, num_layers=2, dtype=np.float64), ckpt)
    with pytest.raises(CheckpointError, match=r"weight_ih_l0.*expected \(12, 3\)"):
        load_weights_into(GRU(3, 4, num_layers=2), ckpt)  # same names, GRU's 3 gates
    with pytest.raises(CheckpointError, match=r"missing \['bias_hh_l2'"):
        load_weights_into(LSTM(3, 4, num_layers=3), ckpt)


def test_weights_load_into_torch_by_name(tmp_path, torch):
    safetensors_torch = pytest.importorskip("safetensors.torch")
    m, ckpt = make_ckpt()
    folder = save_checkpoint(tmp_path, ckpt)
    tm = torch.nn.LSTM(3, 4, num_layers=2)
    tm.load_state_dict(safetensors_torch.load_file(str(folder / "model.safetensors")))
    x = np.random.default_rng(0).standard_normal((5, 2, 3)).astype(np.float32)
    ours, _ = m.forward(x)
    theirs, _ = tm(torch.from_numpy(x))
    np.testing.assert_allclose(ours, theirs.detach().numpy(), rtol=1e-5, atol=1e-6)
