"""rnnlab.interop.torch: modules to and from torch.nn, PyTorch checkpoints into rnnlab.

Everything that needs torch goes through the `torch` fixture (tests/conftest.py): skipped without
torch, failing under RNNLAB_REQUIRE_TORCH=1 (CI).
"""

import subprocess
import sys

import numpy as np
import pytest

from rnnlab.interop.torch import (
    from_torch,
    load_torch_checkpoint,
    read_torch_state_dict,
    save_torch_state_dict,
    to_torch,
)
from rnnlab.models.charlm import CharLM, CharLMConfig
from rnnlab.nn import GRU, LSTM, RNN, Dropout, Embedding, GRUCell, LastStep, Linear, LSTMCell, RNNCell
from rnnlab.train.safetensors import CheckpointError

T, B, D, H = 5, 3, 4, 6  # D != H so that a transposed weight cannot pass
TOL = {np.float64: 1e-12, np.float32: 1e-6}

LAYERS = [  # (class, options, num_layers, bidirectional, bias, batch_first)
    (RNN, {"nonlinearity": "tanh"}, 1, False, True, False),
    (RNN, {"nonlinearity": "relu"}, 2, True, False, True),
    (LSTM, {}, 1, False, True, False),
    (LSTM, {}, 2, True, True, True),
    (GRU, {}, 1, True, False, False),
    (GRU, {}, 2, False, True, False),
]


def _as_numpy(value):
    if isinstance(value, tuple):
        return tuple(_as_numpy(v) for v in value)
    return value.detach().numpy() if hasattr(value, "detach") else value


def assert_same(actual, expected, tol, what):
    actual, expected = _as_numpy(actual), _as_numpy(expected)
    if isinstance(expected, tuple):
        for k, (a, e) in enumerate(zip(actual, expected)):
            assert_same(a, e, tol, f"{what}[{k}]")
        return
    assert actual.shape == expected.shape, (what, actual.shape, expected.shape)
    assert actual.dtype == expected.dtype, (what, actual.dtype, expected.dtype)
    scale = max(1.0, float(np.abs(expected).max()))
    err = float(np.abs(actual.astype(np.float64) - expected).max())
    assert err <= tol * scale, f"{what}: max difference {err:.3e} > {tol:.0e}"


def _state(torch, cls, shape, rng, dtype):
    parts = [rng.standard_normal(shape).astype(dtype) for _ in range(2 if cls in (LSTM, LSTMCell) else 1)]
    return (
        tuple(parts) if len(parts) == 2 else parts[0],
        tuple(torch.from_numpy(p) for p in parts) if len(parts) == 2 else torch.from_numpy(parts[0]),
    )


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("cls, options, layers, bidirectional, bias, batch_first", LAYERS)
def test_to_torch_gives_the_same_outputs_and_from_torch_the_same_weights(
    torch, cls, options, layers, bidirectional, bias, batch_first, dtype
):
    rng = np.random.default_rng(layers * 10 + bidirectional)
    m = cls(
        D, H, layers, bias=bias, batch_first=batch_first, bidirectional=bidirectional, dtype=dtype, rng=rng, **options
    )
    m.eval()
    tm = to_torch(m)
    assert isinstance(tm, getattr(torch.nn, cls.__name__)) and not tm.training
    assert tm.batch_first == batch_first and tm.bidirectional == bidirectional and tm.bias == bias
    x = rng.standard_normal((B, T, D) if batch_first else (T, B, D)).astype(dtype)
    hx, thx = _state(torch, cls, (layers * (2 if bidirectional else 1), B, H), rng, dtype)
    out, state = m.forward(x, hx)
    with torch.no_grad():
        tout, tstate = tm(torch.from_numpy(x), thx)
    assert_same(out, tout, TOL[dtype], "out")
    assert_same(state, tstate, TOL[dtype], "state")

    back = from_torch(tm)
    assert type(back) is cls and back.options == m.options and back.dtype == m.dtype
    for name, array in m.state_dict().items():
        assert np.array_equal(back.state_dict()[name], array), name  # bit for bit
    out2, state2 = back.forward(x, hx)
    assert np.array_equal(out2, out)


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
def test_from_torch_reproduces_a_torch_layer_initialised_by_torch(torch, kind):
    torch.manual_seed(0)
    tm = getattr(torch.nn, kind)(D, H, num_layers=2, bidirectional=True, dtype=torch.float64).eval()
    m = from_torch(tm)
    x = np.random.default_rng(1).standard_normal((T, B, D))
    out, _ = m.forward(x)
    with torch.no_grad():
        assert_same(out, tm(torch.from_numpy(x))[0], 1e-12, "out")


@pytest.mark.parametrize("cls, options", [(RNNCell, {"nonlinearity": "relu"}), (LSTMCell, {}), (GRUCell, {})])
def test_cells_convert_both_ways(torch, cls, options):
    rng = np.random.default_rng(2)
    cell = cls(D, H, dtype=np.float64, rng=rng, **options)
    tcell = to_torch(cell)
    x = rng.standard_normal((B, D))
    hx, thx = _state(torch, cls, (B, H), rng, np.float64)
    with torch.no_grad():
        assert_same(cell.forward(x, hx), tcell(torch.from_numpy(x), thx), 1e-12, cls.__name__)
    back = from_torch(tcell)
    assert type(back) is cls and back.options == cell.options
    assert np.array_equal(back.forward(x, hx)[0], cell.forward(x, hx)[0])


def test_linear_embedding_dropout_convert_both_ways(torch):
    rng = np.random.default_rng(3)
    lin, emb = Linear(D, H, rng=rng), Embedding(9, D, padding_idx=2, rng=rng)
    tlin, temb, tdrop = to_torch(lin), to_torch(emb), to_torch(Dropout(0.25))
    x, ids = rng.standard_normal((B, D)).astype(np.float32), np.array([[1, 2, 8]])
    with torch.no_grad():
        assert_same(lin.forward(x), tlin(torch.from_numpy(x)), 1e-6, "Linear")
        assert_same(emb.forward(ids), temb(torch.from_numpy(ids)), 0, "Embedding")
    assert temb.padding_idx == 2 and tdrop.p == 0.25
    assert from_torch(temb).padding_idx == 2 and from_torch(tdrop).p == 0.25
    assert np.array_equal(from_torch(tlin).forward(x), lin.forward(x))
    no_bias = from_torch(torch.nn.Linear(3, 2, bias=False))
    assert no_bias.bias is None


@pytest.mark.parametrize("kind", ["lstm", "gru", "rnn"])
def test_charlm_round_trip_through_torch_charlm(torch, kind):
    from rnnlab.interop.torch import TorchCharLM

    cfg = CharLMConfig(vocab_size=11, model=kind, hidden=7, layers=2, embedding=5, dtype="float64")
    lm = CharLM(cfg, np.random.default_rng(4)).eval()
    tlm = to_torch(lm)
    assert isinstance(tlm, TorchCharLM)
    assert set(tlm.state_dict()) == set(lm.state_dict())  # the names of an rnnlab checkpoint
    ids = np.random.default_rng(5).integers(0, 11, (6, 2))
    logits, state = lm.forward(ids)
    with torch.no_grad():
        tlogits, tstate = tlm(torch.from_numpy(ids))
    assert_same(logits, tlogits, 1e-12, "logits")
    assert_same(state, tstate, 1e-12, "state")
    back = from_torch(tlm)
    assert isinstance(back, CharLM) and back.config == cfg
    assert np.array_equal(back.forward(ids)[0], logits)


def test_forms_torch_lacks_are_refused_with_the_reason(torch):
    with pytest.raises(ValueError, match="peephole.*ONNX"):
        to_torch(LSTM(D, H, peephole=True))
    with pytest.raises(ValueError, match="peephole"):
        to_torch(LSTMCell(D, H, peephole=True))
    with pytest.raises(ValueError, match="reset='before'.*ONNX"):
        to_torch(GRU(D, H, reset="before"))
    with pytest.raises(ValueError, match="peephole"):
        to_torch(CharLM(CharLMConfig(vocab_size=5, hidden=4, layers=1, embedding=3, peephole=True)))
    with pytest.raises(ValueError, match="proj_size"):
        from_torch(torch.nn.LSTM(D, H, proj_size=2))
    with pytest.raises(TypeError, match="LastStep"):
        to_torch(LastStep())
    with pytest.raises(TypeError, match="Conv1d"):
        from_torch(torch.nn.Conv1d(2, 2, 3))
    with pytest.raises(TypeError, match="float16.*float"):
        from_torch(torch.nn.Linear(2, 2).half())


# --- checkpoints -----------------------------------------------------------------------------------
def test_torch_save_state_dict_loads_into_rnnlab(torch, tmp_path):
    torch.manual_seed(1)
    tm = torch.nn.GRU(D, H, num_layers=2)
    path = tmp_path / "gru.pt"
    torch.save(tm.state_dict(), path)
    m = load_torch_checkpoint(path, GRU(D, H, 2))
    x = np.random.default_rng(6).standard_normal((T, B, D)).astype(np.float32)
    with torch.no_grad():
        assert_same(m.forward(x)[0], tm(torch.from_numpy(x))[0], 1e-6, "out")


def test_safetensors_ddp_prefix_nested_dict_and_dtype_cast(torch, tmp_path):
    from safetensors.torch import save_file

    torch.manual_seed(2)
    tm = torch.nn.LSTM(D, H, dtype=torch.float64)
    save_file(tm.state_dict(), tmp_path / "lstm.safetensors")
    m = load_torch_checkpoint(tmp_path / "lstm.safetensors", LSTM(D, H, dtype=np.float64))
    assert np.array_equal(m.state_dict()["weight_hh_l0"], tm.weight_hh_l0.detach().numpy())

    ddp = {"module." + k: v for k, v in tm.state_dict().items()}  # DistributedDataParallel's names
    torch.save({"model": ddp, "step": torch.tensor(7)}, tmp_path / "train.pt")
    with pytest.raises(CheckpointError, match="key="):
        read_torch_state_dict(tmp_path / "train.pt")
    # float64 weights into a float32 LSTM are cast, as torch's load_state_dict casts
    m32 = load_torch_checkpoint(tmp_path / "train.pt", LSTM(D, H), key="model")
    assert m32.state_dict()["weight_ih_l0"].dtype == np.float32
    assert np.allclose(m32.state_dict()["weight_ih_l0"], tm.weight_ih_l0.detach().numpy(), atol=1e-7)


def test_bad_checkpoints_are_checkpoint_errors_naming_the_file(torch, tmp_path):
    whole = tmp_path / "whole_module.pt"
    torch.save(torch.nn.Linear(2, 2), whole)  # a pickled object: weights_only refuses it
    with pytest.raises(CheckpointError, match="whole_module.pt.*weights_only"):
        read_torch_state_dict(whole)
    ok = tmp_path / "linear.pt"
    torch.save(torch.nn.Linear(2, 3).state_dict(), ok)
    with pytest.raises(CheckpointError, match="linear.pt.*does not fit"):
        load_torch_checkpoint(ok, Linear(3, 2))
    with pytest.raises(CheckpointError, match="missing.pt"):
        read_torch_state_dict(tmp_path / "missing.pt")
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"\x05\x00\x00\x00\x00\x00\x00\x00{oops")
    with pytest.raises(CheckpointError, match="junk.safetensors"):
        read_torch_state_dict(junk)


def test_save_torch_state_dict_is_read_by_torch(torch, tmp_path):
    from safetensors.torch import load_file

    lm = CharLM(CharLMConfig(vocab_size=7, model="gru", hidden=4, layers=1, embedding=3), np.random.default_rng(7))
    tlm = to_torch(lm)
    for name in ("lm.safetensors", "lm.pt"):
        path = save_torch_state_dict(lm, tmp_path / name)
        state = load_file(path) if name.endswith(".safetensors") else torch.load(path, weights_only=True)
        fresh = type(tlm)(7, "gru", 4, 1, 3)
        fresh.load_state_dict(state)
        ids = torch.tensor([[1, 2, 3]])
        with torch.no_grad():
            assert torch.equal(fresh(ids)[0], tlm(ids)[0]), name


def test_torch_charlm_takes_a_checkpoints_saved_config(torch):
    from dataclasses import asdict

    from rnnlab.interop.torch import TorchCharLM

    cfg = CharLMConfig(vocab_size=6, model="gru", hidden=4, layers=1, embedding=3, dtype="float64")
    tlm = TorchCharLM(**asdict(cfg))
    assert tlm.head.weight.dtype == torch.float64 and isinstance(tlm.rnn, torch.nn.GRU)
    with pytest.raises(ValueError, match="peephole"):
        TorchCharLM(**asdict(CharLMConfig(vocab_size=6, hidden=4, layers=1, embedding=3, peephole=True)))


def test_weights_torch_cannot_hold_are_not_written(tmp_path):
    lm = CharLM(CharLMConfig(vocab_size=5, hidden=4, layers=1, embedding=3, peephole=True))
    with pytest.raises(ValueError, match="peephole"):
        save_torch_state_dict(lm, tmp_path / "lm.safetensors")
    assert not (tmp_path / "lm.safetensors").exists()


# --- without torch ---------------------------------------------------------------------------------
def test_importing_interop_does_not_import_torch_or_onnx():
    code = "import sys, rnnlab.interop; print(sorted({'torch', 'onnx', 'onnxruntime'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_missing_torch_is_an_import_error_naming_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # makes `import torch` raise ImportError
    with pytest.raises(ImportError, match=r'pip install -e "\.\[torch\]"'):
        to_torch(Linear(2, 2))


# --- image layers and the OCR model (issue 18) -------------------------------------------------------
def test_image_layers_convert_both_ways(torch):
    from rnnlab.nn import Conv2d, Flatten, MaxPool2d

    rng = np.random.default_rng(8)
    x = rng.standard_normal((2, 2, 7, 6))
    for layer in (
        Conv2d(2, 3, (3, 2), stride=(2, 1), padding=(1, 0), dtype=np.float64, rng=rng),
        Conv2d(2, 4, 3, bias=False, dtype=np.float64, rng=rng),
        MaxPool2d(3, stride=2, padding=1),
        Flatten(1, 2),
    ):
        t = to_torch(layer)
        assert type(t).__name__ == type(layer).__name__
        with torch.no_grad():
            assert_same(layer.forward(x), t(torch.from_numpy(x)), 1e-12, repr(layer))
        back = from_torch(t)
        assert repr(back) == repr(layer)
        assert all(np.array_equal(back.state_dict()[k], v) for k, v in layer.state_dict().items())


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_crnn_round_trip_through_torch_crnn(torch, dtype):
    from rnnlab.interop.torch import TorchCRNN
    from rnnlab.models.ocr import CRNN, CRNNConfig

    cfg = CRNNConfig(alphabet="abcde", height=12, channels=(3, 5), features=7, hidden=6, layers=2, dtype=dtype)
    crnn = CRNN(cfg, np.random.default_rng(9)).eval()
    tcrnn = to_torch(crnn)
    assert isinstance(tcrnn, TorchCRNN) and not tcrnn.training
    assert list(tcrnn.state_dict()) == list(crnn.state_dict())  # rnnlab's names, in rnnlab's order
    rng = np.random.default_rng(10)
    for W in (24, 37):
        images = rng.random((3, 1, 12, W)).astype(dtype)
        for widths in (None, np.array([W, 4, 17])):
            log_probs, lengths = crnn.forward(images, widths)
            with torch.no_grad():
                tlog_probs, tlengths = tcrnn(torch.from_numpy(images), widths)
            assert_same(log_probs, tlog_probs, TOL[np.dtype(dtype).type], f"log_probs, W={W}, widths={widths}")
            assert np.array_equal(tlengths.numpy(), lengths)
    back = from_torch(tcrnn)
    assert isinstance(back, CRNN) and back.config == cfg
    assert np.array_equal(back.forward(images)[0], crnn.forward(images)[0])


def test_torch_crnn_takes_a_saved_config_and_starts_as_rnnlab(torch):
    from dataclasses import asdict

    from rnnlab.interop.torch import TorchCRNN
    from rnnlab.models.ocr import CRNNConfig

    cfg = CRNNConfig(alphabet="xyz", height=8, channels=(2, 3), features=4, hidden=5, layers=1, forget_bias=2.0)
    t = TorchCRNN(**asdict(cfg))
    assert t.head.out_features == 4 and t.proj.in_features == 3 * 2
    assert torch.all(t.rnn.bias_ih_l0_reverse[5:10] == 2.0) and torch.all(t.rnn.bias_hh_l0[5:10] == 0)
    with pytest.raises(ValueError, match="height"):
        TorchCRNN("ab", height=10)


def test_image_layer_forms_rnnlab_lacks_are_refused(torch):
    with pytest.raises(ValueError, match="dilation"):
        from_torch(torch.nn.Conv2d(2, 2, 3, dilation=2))
    with pytest.raises(ValueError, match="padding='same'"):
        from_torch(torch.nn.Conv2d(2, 2, 3, padding="same"))
    with pytest.raises(ValueError, match="ceil_mode=True"):
        from_torch(torch.nn.MaxPool2d(2, ceil_mode=True))
