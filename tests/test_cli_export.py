"""`rnnlab export RUN_DIR --onnx FILE --torch FILE` on a run trained for two steps."""

import json
import sys

import numpy as np
import pytest

from rnnlab import cli
from rnnlab.runs.charlm import load_charlm

TEXT = "To be, or not to be, that is the question:\nWhether 'tis nobler in the mind to suffer\n" * 30


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("export")
    data = folder / "text.txt"
    data.write_text(TEXT)
    run = folder / "run"
    argv = [
        "train",
        "--data",
        str(data),
        "--out",
        str(run),
        "--steps",
        "2",
        "--hidden",
        "8",
        "--layers",
        "2",
        "--embedding",
        "4",
        "--seq-len",
        "8",
        "--batch",
        "2",
        "--eval-every",
        "2",
        "--no-progress",
    ]
    assert cli.main(argv) == 0
    return run


def test_export_onnx_writes_a_checked_char_lm_step(onnx, run_dir, tmp_path, capsys):
    from rnnlab.interop.onnx import charlm_difference

    capsys.readouterr()
    path = tmp_path / "lm.onnx"
    assert cli.main(["export", str(run_dir), "--onnx", str(path)]) == 0
    out = capsys.readouterr().out
    assert f"wrote {path}: ids [T, B] int64, h0 [2, B, 8] float32, c0 [2, B, 8] float32" in out
    assert "checked with onnxruntime" in out
    model = onnx.load(path)
    meta = {p.key: p.value for p in model.metadata_props}
    model_cfg = json.loads(meta["config"])
    assert model_cfg["hidden"] == 8 and json.loads(meta["vocab"])["kind"] == "char"
    lm, vocab = load_charlm(run_dir)
    ids = np.random.default_rng(1).integers(0, vocab.size, (5, 3))
    assert charlm_difference(lm, path, ids) < 1e-5


def test_export_torch_files_load_into_torch_charlm(torch, run_dir, tmp_path, capsys):
    from safetensors.torch import load_file

    from rnnlab.interop.torch import TorchCharLM

    lm, vocab = load_charlm(run_dir)
    ids = np.random.default_rng(2).integers(0, vocab.size, (4, 2))
    expected = lm.forward(ids)[0]
    for name in ("lm.safetensors", "lm.pt"):
        path = tmp_path / name
        assert cli.main(["export", str(run_dir), "--torch", str(path)]) == 0
        assert "TorchCharLM(**{" in capsys.readouterr().out
        state = load_file(path) if name.endswith(".safetensors") else torch.load(path, weights_only=True)
        tlm = TorchCharLM(vocab.size, "lstm", hidden=8, layers=2, embedding=4)
        tlm.load_state_dict(state)
        with torch.no_grad():
            logits = tlm(torch.from_numpy(ids))[0].numpy()
        assert np.abs(logits - expected).max() < 1e-5, name


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("rnnlab: error:") and "Traceback" not in err, err
    return err


def test_export_explains_itself_and_fails_in_one_line(run_dir, tmp_path, capsys, monkeypatch):
    assert cli.main(["export", "--help"]) == 0
    assert "usage: rnnlab export" in capsys.readouterr().out
    assert cli.main(["export", str(run_dir)]) == 2
    assert "--onnx FILE and/or --torch FILE" in _one_line_error(capsys)
    assert cli.main(["export", str(tmp_path / "nope"), "--onnx", str(tmp_path / "x.onnx")]) == 2
    assert "nope does not exist" in _one_line_error(capsys)
    monkeypatch.setitem(sys.modules, "onnx", None)  # as if onnx were not installed
    assert cli.main(["export", str(run_dir), "--onnx", str(tmp_path / "y.onnx")]) == 2
    assert 'pip install -e ".[onnx]"' in _one_line_error(capsys)


def test_export_to_a_missing_folder_is_one_line(onnx, run_dir, tmp_path, capsys):
    assert cli.main(["export", str(run_dir), "--onnx", str(tmp_path / "no" / "such" / "x.onnx")]) == 2
    assert "x.onnx" in _one_line_error(capsys)


def test_export_onnx_of_a_fit_ocr_run_writes_the_crnn_with_its_alphabet(onnx, tmp_path, capsys):
    pytest.importorskip("matplotlib")  # rendered training lines
    run = tmp_path / "reader"
    tiny = ["--hidden", "8", "--layers", "1", "--height", "16", "--lines", "40", "--steps", "1"]
    assert cli.main(["fit", "ocr", "--out", str(run), *tiny, "--no-progress"]) == 0
    capsys.readouterr()
    path = tmp_path / "reader.onnx"
    assert cli.main(["export", str(run), "--onnx", str(path)]) == 0
    out = capsys.readouterr().out
    assert "images" in out and "widths" in out and "checked with onnxruntime" in out
    metadata = {p.key: p.value for p in onnx.load(path).metadata_props}
    assert metadata["alphabet"] == "abcdefghijklmnopqrstuvwxyz"
    assert cli.main(["export", str(run), "--torch", str(tmp_path / "reader.pt")]) == 2
    assert "to_torch" in _one_line_error(capsys)
