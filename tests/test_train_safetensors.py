"""The safetensors reader and writer: round trips, compatibility, and every kind of bad file."""

import json
import os
import pickle

import numpy as np
import pytest

from rnnlab.train import safetensors as st
from rnnlab.train.safetensors import CheckpointError


def sample():
    rng = np.random.default_rng(0)
    return {
        "weight_ih_l0": rng.standard_normal((8, 3)).astype(np.float32),
        "bias": rng.standard_normal(5),
        "step": np.array(7, np.int64),
        "mask": np.array([True, False, True]),
        "empty": np.zeros((0, 4), np.float32),
        "ids": np.arange(6, dtype=np.int32).reshape(2, 3),
    }


def test_round_trip_keeps_names_shapes_dtypes_values_and_metadata(tmp_path):
    path = tmp_path / "w.safetensors"
    st.save(path, sample(), {"format": "np", "version": "0.1.0"})
    tensors, meta = st.load(path)
    assert meta == {"format": "np", "version": "0.1.0"}
    for name, a in sample().items():
        assert tensors[name].dtype == a.dtype and tensors[name].shape == a.shape, name
        np.testing.assert_array_equal(tensors[name], a)
    assert tensors["bias"].flags.writeable
    assert not [p for p in os.listdir(tmp_path) if p != "w.safetensors"]  # no temporary left


def test_files_are_interchangeable_with_the_safetensors_package(tmp_path):
    ref = pytest.importorskip("safetensors.numpy")
    ours = tmp_path / "ours.safetensors"
    st.save(ours, sample())
    theirs_read = ref.load_file(str(ours))
    theirs = tmp_path / "theirs.safetensors"
    ref.save_file(sample(), str(theirs), metadata={"k": "v"})
    ours_read, meta = st.load(theirs)
    assert meta == {"k": "v"}
    for name, a in sample().items():
        np.testing.assert_array_equal(theirs_read[name], a)
        np.testing.assert_array_equal(ours_read[name], a)


def corrupt_variants(data: bytes):
    n = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + n])
    yield "empty file", b""
    yield "truncated header", data[: 8 + n // 2]
    yield "truncated data", data[:-3]
    yield "huge header length", (10**12).to_bytes(8, "little") + data[8:]
    # (a flip inside a tensor name is still a valid file: the checkpoint's name check catches it)
    yield "bit flip in the header", data[:8] + bytes([data[8] ^ 0x40]) + data[9:]
    yield "extra bytes", data + b"\0\0\0\0"

    def with_header(h):
        raw = json.dumps(h).encode()
        raw += b" " * (-len(raw) % 8)
        return len(raw).to_bytes(8, "little") + raw + data[8 + n :]

    bad_shape = json.loads(json.dumps(header))
    bad_shape["weight_ih_l0"]["shape"] = [9, 3]
    yield "wrong shape", with_header(bad_shape)
    bad_dtype = json.loads(json.dumps(header))
    bad_dtype["weight_ih_l0"]["dtype"] = "F128"
    yield "unknown dtype", with_header(bad_dtype)
    overlap = json.loads(json.dumps(header))
    overlap["bias"]["data_offsets"] = overlap["weight_ih_l0"]["data_offsets"][:]
    overlap["bias"]["shape"] = [overlap["weight_ih_l0"]["data_offsets"][1] - overlap["weight_ih_l0"]["data_offsets"][0]]
    overlap["bias"]["dtype"] = "U8"
    yield "overlapping tensors", with_header(overlap)
    yield "header is a list", with_header([1, 2])


def test_every_corruption_is_a_checkpoint_error_naming_the_file(tmp_path):
    good = st.encode(sample())
    for what, data in corrupt_variants(good):
        path = tmp_path / f"{what.replace(' ', '_')}.safetensors"
        path.write_bytes(data)
        with pytest.raises(CheckpointError) as info:
            st.load(path)
        assert str(path) in str(info.value), what
    with pytest.raises(CheckpointError, match="does not exist"):
        st.load(tmp_path / "missing.safetensors")


class _Exploit:
    """Unpickling this would create a file: a pickle-carrying checkpoint must never run it."""

    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return (open, (self.target, "w"))


def test_a_pickle_is_rejected_without_running_it(tmp_path):
    target = tmp_path / "pwned"
    path = tmp_path / "model.safetensors"
    path.write_bytes(pickle.dumps({"weight": _Exploit(str(target))}))
    with pytest.raises(CheckpointError):
        st.load(path)
    assert not target.exists()


def test_a_failed_write_keeps_the_old_file(tmp_path):
    path = tmp_path / "w.safetensors"
    st.save(path, {"a": np.ones(3, np.float32)})
    with pytest.raises(TypeError, match="cannot hold"):
        st.save(path, {"a": np.ones(3, np.complex64)})
    np.testing.assert_array_equal(st.load(path)[0]["a"], np.ones(3, np.float32))
