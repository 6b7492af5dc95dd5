"""rnnlab.interop.onnx: every exported graph is checked with onnx.checker, run on onnxruntime and
compared with rnnlab's forward pass (float32, 1e-5).

Tests needing onnx and onnxruntime go through the `onnx` fixture (tests/conftest.py): skipped
without them, failing under RNNLAB_REQUIRE_ONNX=1 (CI).
"""

import sys

import numpy as np
import pytest

from rnnlab.interop.onnx import export, run_onnxruntime, signature
from rnnlab.models.charlm import CharLM, CharLMConfig
from rnnlab.nn import GRU, LSTM, RNN, Dropout, Embedding, LastStep, Linear, LSTMCell, MeanPool, Sequential

T, B, D, H = 6, 4, 3, 5
LENGTHS = np.array([6, 2, 1, 4])  # unsorted, the shortest possible and the full length
TOL = 1e-5


def assert_close(actual, expected, what):
    assert actual.shape == expected.shape, (what, actual.shape, expected.shape)
    err = float(np.abs(actual - expected).max())
    assert err <= TOL * max(1.0, float(np.abs(expected).max())), f"{what}: max difference {err:.2e}"


def _nonzero_peepholes(m, rng):
    """Peephole weights start at zero in some conventions; random ones make the test bite."""
    for name, p in m.named_parameters():
        if name.startswith("weight_c"):
            p.data[...] = rng.uniform(-1, 1, p.data.shape)


CASES = [  # (class, options, num_layers, bidirectional)
    (RNN, {"nonlinearity": "tanh"}, 1, False),
    (RNN, {"nonlinearity": "relu"}, 2, True),
    (LSTM, {}, 2, True),
    (LSTM, {"peephole": True}, 1, False),
    (LSTM, {"peephole": True}, 2, True),
    (GRU, {"reset": "after"}, 2, True),
    (GRU, {"reset": "before"}, 1, False),
    (GRU, {"reset": "before"}, 2, True),
]


@pytest.mark.parametrize("with_lengths", [False, True])
@pytest.mark.parametrize("cls, options, layers, bidirectional", CASES)
def test_recurrent_layer_on_onnxruntime_matches_rnnlab(onnx, cls, options, layers, bidirectional, with_lengths):
    rng = np.random.default_rng(layers + 2 * bidirectional)
    m = cls(D, H, layers, bidirectional=bidirectional, rng=rng, **options)
    _nonzero_peepholes(m, rng)
    n_states = layers * (2 if bidirectional else 1)
    x = rng.standard_normal((T, B, D)).astype(np.float32)
    states = [rng.standard_normal((n_states, B, H)).astype(np.float32) for _ in range(2 if cls is LSTM else 1)]
    lengths = LENGTHS if with_lengths else None
    out, final = m.forward(x, tuple(states) if cls is LSTM else states[0], lengths=lengths)
    final = final if cls is LSTM else (final,)

    model = export(m, lengths=with_lengths)
    onnx.checker.check_model(model, full_check=True)
    feeds = {"x": x, "h0": states[0]} | ({"c0": states[1]} if cls is LSTM else {})
    if with_lengths:
        feeds["lengths"] = LENGTHS
    got = run_onnxruntime(model, feeds)
    assert_close(got["out"], out, "out")
    for name, expected in zip(("h_n", "c_n"), final):
        assert_close(got[name], expected, name)
    if with_lengths:  # rnnlab's padding: zero outputs past each sequence's length
        assert not got["out"][LENGTHS[1] :, 1].any() and not got["out"][1:, 2].any()
    assert np.abs(out).max() > 0.1  # the comparison is not between two near-zero arrays


def test_operators_carry_the_forms_onnx_defines(onnx):
    """Peepholes go in the LSTM operator's P input; the GRU's reset form is linear_before_reset."""
    lstm = export(LSTM(D, H, peephole=True))
    (node,) = [n for n in lstm.graph.node if n.op_type == "LSTM"]
    assert len(node.input) == 8 and node.input[7]  # X W R B seq_lens h0 c0 P
    for reset, flag in (("after", 1), ("before", 0)):
        (node,) = [n for n in export(GRU(D, H, reset=reset)).graph.node if n.op_type == "GRU"]
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        assert attrs["linear_before_reset"] == flag
    ops = [n.op_type for n in export(LSTM(D, H, num_layers=3)).graph.node]
    assert ops.count("LSTM") == 3  # one operator per stacked layer
    assert set(ops) <= {"LSTM", "Slice", "Transpose", "Reshape", "Concat", "Identity"}


def test_batch_first_no_bias_and_float64_export(onnx):
    rng = np.random.default_rng(1)
    m = GRU(D, H, 2, bias=False, batch_first=True, bidirectional=True, dtype=np.float64, rng=rng)
    x = rng.standard_normal((B, T, D))
    out, h_n = m.forward(x, lengths=LENGTHS)
    model = export(m, lengths=True)
    assert "x [B, T, 3] float32" in signature(model)  # onnxruntime's recurrent kernels are float32
    got = run_onnxruntime(model, {"x": x.astype(np.float32), "h0": np.zeros((4, B, H), np.float32), "lengths": LENGTHS})
    assert_close(got["out"], out, "out")
    assert_close(got["h_n"], h_n, "h_n")


@pytest.mark.parametrize("kind, peephole", [("lstm", False), ("lstm", True), ("gru", False), ("rnn", False)])
def test_charlm_step_graph_generates_as_rnnlab_does(onnx, kind, peephole, tmp_path):
    rng = np.random.default_rng(2)
    cfg = CharLMConfig(vocab_size=9, model=kind, hidden=H, layers=2, embedding=4, peephole=peephole)
    lm = CharLM(cfg, rng).eval()
    _nonzero_peepholes(lm.rnn, rng)
    path = tmp_path / "step.onnx"
    export(lm, path, metadata={"vocab": "abcdefghi"})
    model = onnx.load(path)
    onnx.checker.check_model(model, full_check=True)
    assert {p.key: p.value for p in model.metadata_props}["vocab"] == "abcdefghi"

    names = ["h_n", "c_n"] if kind == "lstm" else ["h_n"]
    feeds = {"h0": np.zeros((2, B, H), np.float32)} | (
        {"c0": np.zeros((2, B, H), np.float32)} if kind == "lstm" else {}
    )
    state = None
    for step in range(3):  # one character per row per step, the state fed back each time
        ids = rng.integers(0, 9, (1, B))
        logits, state = lm.forward(ids, state)
        got = run_onnxruntime(path, {"ids": ids} | feeds)
        assert_close(got["logits"], logits, f"logits at step {step}")
        feeds = {"h0" if n == "h_n" else "c0": got[n] for n in names}
    # the same graph takes a whole sequence at once (T is free)
    ids = rng.integers(0, 9, (T, B))
    got = run_onnxruntime(path, {"ids": ids} | {k: np.zeros_like(v) for k, v in feeds.items()})
    assert_close(got["logits"], lm.forward(ids)[0], "logits of a sequence")


@pytest.mark.parametrize("pool", [LastStep, MeanPool])
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("with_lengths", [False, True])
def test_classifier_sequential_matches_rnnlab(onnx, pool, batch_first, with_lengths):
    rng = np.random.default_rng(3)
    clf = Sequential(
        Embedding(12, D, rng=rng),
        LSTM(D, H, bidirectional=True, batch_first=batch_first, rng=rng),
        Dropout(0.5, rng=rng),
        pool(batch_first=batch_first),
        Linear(2 * H, 3, rng=rng),
    ).eval()
    ids = rng.integers(0, 12, (B, T) if batch_first else (T, B))
    lengths = LENGTHS if with_lengths else None
    y = clf.forward(ids, lengths=lengths)
    model = export(clf, lengths=with_lengths)
    onnx.checker.check_model(model, full_check=True)
    got = run_onnxruntime(model, {"x": ids} | ({"lengths": LENGTHS} if with_lengths else {}))
    assert_close(got["y"], y, "y")


def test_sequential_on_float_features_and_a_lone_linear(onnx):
    rng = np.random.default_rng(4)
    reg = Sequential(GRU(D, H, rng=rng), MeanPool(), Linear(H, 1, rng=rng))
    x = rng.standard_normal((T, B, D)).astype(np.float32)
    assert_close(
        run_onnxruntime(export(reg, lengths=True), {"x": x, "lengths": LENGTHS})["y"],
        reg.forward(x, lengths=LENGTHS),
        "y",
    )
    lin = Linear(D, 2, rng=rng)
    assert_close(run_onnxruntime(export(lin), {"x": x})["y"], lin.forward(x), "Linear")


def test_what_cannot_be_exported_is_refused_clearly(onnx):
    with pytest.raises(TypeError, match="LSTMCell"):
        export(LSTMCell(D, H))
    with pytest.raises(ValueError, match="no module in this Sequential takes lengths"):
        export(Sequential(Linear(D, H)), lengths=True)
    with pytest.raises(ValueError, match="lengths"):
        export(CharLM(CharLMConfig(vocab_size=5, hidden=4, layers=1, embedding=3)), lengths=True)
    with pytest.raises(TypeError, match="Embedding can only come first"):
        export(Sequential(Linear(D, H), Embedding(4, H)))


def test_missing_onnx_is_an_import_error_naming_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)
    with pytest.raises(ImportError, match=r'pip install -e "\.\[onnx\]"'):
        export(Linear(2, 2))


# --- image layers and the OCR model (issue 18) -------------------------------------------------------
def _crnn(dtype="float32"):
    from rnnlab.models.ocr import CRNN, CRNNConfig

    config = CRNNConfig(alphabet="abcde", height=12, channels=(3, 5), features=7, hidden=6, layers=2, dtype=dtype)
    return CRNN(config, np.random.default_rng(5)).eval()


@pytest.mark.parametrize("widths", [True, False])
def test_crnn_graph_on_onnxruntime_matches_rnnlab_at_two_widths(onnx, widths, tmp_path):
    from rnnlab.interop.onnx import crnn_difference, export_crnn

    crnn = _crnn()
    path = tmp_path / "crnn.onnx"
    model = export_crnn(crnn, path, widths=widths, metadata={"run": "demo"})
    onnx.checker.check_model(onnx.load(path), full_check=True)
    meta = {p.key: p.value for p in model.metadata_props}
    assert meta["alphabet"] == "abcde" and meta["run"] == "demo"
    expected = "images [N, 1, 12, W] float32" + (", widths [N] int64" if widths else "")
    expected += " -> log_probs [T, N, 6] float32" + (", lengths [N] int64" if widths else "")
    assert signature(model) == expected
    rng = np.random.default_rng(6)
    for W in (24, 37):  # N and W are free; 37 is not a multiple of 4 (the pools floor)
        images = rng.random((3, 1, 12, W)).astype(np.float32)
        w = np.array([W, 4, 17]) if widths else None  # the full width, the least, an odd one
        log_probs, lengths = crnn.forward(images, w)
        got = run_onnxruntime(path, {"images": images} | ({"widths": w} if widths else {}))
        assert_close(got["log_probs"], log_probs, f"log_probs, W={W}")
        if widths:
            assert np.array_equal(got["lengths"], lengths)
            # what lies right of a width does not matter, as in rnnlab
            noisy = images.copy()
            noisy[1, :, :, 4:] = rng.random(noisy[1, :, :, 4:].shape)
            again = run_onnxruntime(path, {"images": noisy, "widths": w})["log_probs"]
            assert_close(again, log_probs, f"log_probs with noise right of the widths, W={W}")
        assert crnn_difference(crnn, path, images, w) <= TOL
    assert np.abs(log_probs - log_probs.mean(axis=2, keepdims=True)).max() > 0.01  # not flat scores


def test_export_of_a_crnn_through_export_and_from_float64(onnx):
    crnn = _crnn("float64")
    images = np.random.default_rng(7).random((2, 1, 12, 16))
    assert [i.name for i in export(crnn).graph.input] == ["images"]
    model = export(crnn, lengths=True)  # lengths=True is the widths input
    log_probs, _ = crnn.forward(images, np.array([16, 9]))
    got = run_onnxruntime(model, {"images": images.astype(np.float32), "widths": np.array([16, 9])})
    assert_close(got["log_probs"], log_probs, "log_probs")


def test_image_sequential_and_lone_image_layers_match_rnnlab(onnx):
    from rnnlab.nn import Conv2d, Flatten, MaxPool2d

    rng = np.random.default_rng(8)
    net = Sequential(
        Conv2d(2, 3, 3, stride=(1, 2), padding=(1, 0), rng=rng),
        MaxPool2d(3, stride=2, padding=1),
        Conv2d(3, 4, (2, 3), bias=False, rng=rng),
        Flatten(),
        Linear(16, 5, rng=rng),
    )
    x = rng.standard_normal((2, 2, 9, 13)).astype(np.float32)
    model = export(net)
    onnx.checker.check_model(model, full_check=True)
    assert signature(model) == "x [N, 2, H, W] float32 -> y [N, 5] float32"
    assert {"Conv", "MaxPool", "Reshape"} <= {n.op_type for n in model.graph.node}
    assert_close(run_onnxruntime(model, {"x": x})["y"], net.forward(x), "y")
    for lone in (Conv2d(2, 3, 2, stride=2, rng=rng), MaxPool2d((2, 3), stride=1, padding=(1, 1))):
        assert_close(run_onnxruntime(export(lone), {"x": x})["y"], lone.forward(x), type(lone).__name__)
    middle = Sequential(MaxPool2d(2), Flatten(1, 2))  # (N, C, H, W) -> (N, C H/2, W/2)
    assert_close(run_onnxruntime(export(middle), {"x": x})["y"], middle.forward(x), "Flatten(1, 2)")


def test_image_layers_that_cannot_be_exported_are_refused_clearly(onnx):
    from rnnlab.nn import Conv2d, Flatten

    with pytest.raises(TypeError, match="Conv2d or a MaxPool2d"):
        export(Sequential(Flatten(), Linear(4, 2)))
    with pytest.raises(TypeError, match=r"needs images \(N, C, H, W\)"):
        export(Sequential(Linear(D, H), Conv2d(1, 1, 1)))
    with pytest.raises(ValueError, match="cannot flatten"):
        export(Sequential(Conv2d(1, 1, 1), Flatten(2, 7)))
