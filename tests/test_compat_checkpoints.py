"""Checkpoints written by an earlier version (tests/data/checkpoints-v0.1.0, see its README) still
load, compute what they computed then, and work through the commands that read them."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from rnnlab import cli
from rnnlab.models.charlm import CharLM, CharLMConfig
from rnnlab.train.checkpoint import load_checkpoint, load_weights_into

OLD = Path(__file__).parent / "data" / "checkpoints-v0.1.0"
IDS = np.array([[1, 2], [3, 4], [5, 6], [7, 8], [0, 9]])


@pytest.mark.parametrize(
    "folder",
    ["charlm-lstm/best", "charlm-lstm/checkpoint-00000004", "charlm-gru/best", "charlm-gru/checkpoint-00000004"],
)
def test_old_charlm_checkpoints_give_the_logits_they_gave(folder):
    ckpt = load_checkpoint(OLD / folder)
    model = CharLM(CharLMConfig(**ckpt.state["config"]["task"]["model"]))
    load_weights_into(model, ckpt)
    model.eval()
    logits, _ = model.forward(IDS)
    expected = np.load(OLD / "expected.npz")[folder]
    np.testing.assert_allclose(logits, expected, atol=1e-5, rtol=0)


def test_old_runs_sample_evaluate_and_resume(tmp_path, capsys):
    runs = tmp_path / "old"
    shutil.copytree(OLD, runs)
    for name in ("charlm-lstm", "charlm-gru"):
        run = runs / name
        spec = json.loads((run / "run.json").read_text())
        spec["data"], spec["steps"] = str(runs / "small.txt"), 6  # a longer budget: resume extends it
        (run / "run.json").write_text(json.dumps(spec))
        assert cli.main(["sample", str(run), "--prime", "All", "--length", "20"]) == 0
        assert capsys.readouterr().out.startswith("All")
        assert cli.main(["eval", str(run), "--data", str(runs / "small.txt")]) == 0
        assert "bits/char" in capsys.readouterr().out
        assert cli.main(["resume", str(run), "--no-progress"]) == 0
        assert "stopped after 6 steps" in capsys.readouterr().out


def test_old_seq2seq_model_translates_as_it_did(capsys):
    for beam in ([], ["--beam", "3"]):
        assert cli.main(["translate", str(OLD / "reverse-attention"), "abcdefg", "hgfab", *beam]) == 0
        assert capsys.readouterr().out.split() == ["gfedcba", "bafgh"]


def test_old_run_folders_work_with_predict_and_evaluate(tmp_path, capsys):
    """Folders written before `rnnlab predict/evaluate` existed: a char-LM run (no task in its
    run.json) continues lines and is scored; an experiment's seq2seq model answers per line."""
    run = tmp_path / "charlm-lstm"
    shutil.copytree(OLD / "charlm-lstm", run)
    lines = tmp_path / "lines.txt"
    lines.write_text("First\n")
    assert cli.main(["predict", str(run), str(lines), "--length", "7", "--format", "jsonl"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["input"] == "First" and len(record["continuation"]) == 7
    out = tmp_path / "metrics.json"
    assert cli.main(["evaluate", str(run), "--data", str(OLD / "small.txt"), "--out", str(out)]) == 0
    assert json.loads(out.read_text())["bits_per_char"] > 0
    words = tmp_path / "words.txt"
    words.write_text("abcdefg\nhgfab\n")
    capsys.readouterr()
    assert cli.main(["predict", str(OLD / "reverse-attention"), str(words)]) == 0
    assert capsys.readouterr().out.splitlines() == ["gfedcba", "bafgh"]
