"""The command line and its demo, called through cli.main(argv)."""

import json
import re
from pathlib import Path

import pytest

from rnnlab import cli
from rnnlab.demo import EchoConfig, train_echo


def test_demo_loss_falls_on_the_echo_task():
    losses = train_echo(EchoConfig(steps=120, seed=1))
    assert losses[0] > 0.8  # knowing nothing scores about 1.0
    assert sum(losses[-10:]) / 10 < 0.1


def test_main_runs_the_demo_and_reports_progress(capsys):
    assert cli.main(["demo", "--steps", "3", "--hidden", "4"]) == 0
    out = capsys.readouterr().out
    assert "step     3/3" in out and "loss fell from" in out


def test_bad_option_is_one_line_on_stderr_with_exit_code_2(capsys):
    assert cli.main(["demo", "--delay", "0"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--delay" in err and "Traceback" not in err


def test_ci_runs_the_readme_test_command():
    root = Path(__file__).resolve().parents[1]
    readme = (root / "README.md").read_text()
    commands = re.findall(r"^(python3 -m venv .*)$", readme, flags=re.M)
    assert len(commands) == 2, commands  # the quickstart: run, then test
    ci = (root / ".ci" / "run").read_text()
    assert commands[1] in ci and "RNNLAB_REQUIRE_TORCH=1" in ci


SMALL = "First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n" * 40


def train_args(data, out, *extra):
    return [
        "train",
        "--data",
        str(data),
        "--out",
        str(out),
        "--hidden",
        "16",
        "--layers",
        "1",
        "--embedding",
        "8",
        "--seq-len",
        "10",
        "--batch",
        "4",
        "--eval-every",
        "5",
        "--no-progress",
        *extra,
    ]


def test_train_sample_resume_eval_end_to_end(tmp_path, capsys):
    data = tmp_path / "small.txt"
    data.write_text(SMALL)
    run = tmp_path / "run"
    assert cli.main(train_args(data, run, "--steps", "12", "--schedule", "cosine")) == 0
    out = capsys.readouterr().out
    assert "train" in out and "validation" in out and "nats/char" in out and "bits" in out
    assert (run / "run.json").exists() and (run / "metrics.jsonl").exists() and (run / "best").is_dir()
    if "loss curve:" in out:  # with matplotlib (the plot extra, installed in CI)
        assert (run / "loss.png").read_bytes()[:4] == b"\x89PNG"
    else:
        assert 'pip install -e ".[plot]"' in out

    assert cli.main(["sample", str(run), "--prime", "All", "--length", "30", "--seed", "1"]) == 0
    first = capsys.readouterr().out
    assert first.startswith("All") and len(first.rstrip("\n")) >= 33
    assert cli.main(["sample", str(run), "--prime", "All", "--length", "30", "--seed", "1"]) == 0
    assert capsys.readouterr().out == first  # a fixed seed reproduces
    assert cli.main(["sample", str(run), "--length", "10", "--beam", "3"]) == 0
    assert cli.main(["sample", str(run), "--length", "10", "--temperature", "0"]) == 0
    capsys.readouterr()

    spec = json.loads((run / "run.json").read_text())
    spec["steps"] = 20  # extend the budget: resume continues from the last checkpoint (step 12)
    (run / "run.json").write_text(json.dumps(spec))
    assert cli.main(["resume", str(run), "--no-progress"]) == 0
    assert "stopped after 20 steps" in capsys.readouterr().out

    other = tmp_path / "other.txt"
    other.write_text("Speak, citizen. \u00e9\u00e9 speak.")  # two characters the model never saw
    assert cli.main(["eval", str(run), "--data", str(other)]) == 0
    report = capsys.readouterr().out
    assert "2 outside the vocabulary" in report and "bits/char" in report


@pytest.mark.parametrize("command", ["train", "sample", "resume", "eval", "info", "demo"])
def test_every_command_explains_itself(command, capsys):
    assert cli.main([command, "--help"]) == 0
    assert "usage: rnnlab " + command in capsys.readouterr().out


def test_bad_inputs_are_one_line_errors_with_exit_code_2(tmp_path, capsys):
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    latin = tmp_path / "latin.txt"
    latin.write_bytes("caf\u00e9 au lait".encode("latin-1"))
    not_charlm = tmp_path / "ckpt"
    from rnnlab.nn import GRU
    from rnnlab.train.checkpoint import Checkpoint, save_checkpoint

    save_checkpoint(not_charlm, Checkpoint(step=1, model=GRU(2, 3).state_dict(), state={"config": {"task": {}}}))
    cases = {
        "missing file": train_args(tmp_path / "nope.txt", tmp_path / "r1"),
        "empty file": train_args(empty, tmp_path / "r2"),
        "invalid UTF-8": train_args(latin, tmp_path / "r3"),
        "unknown corpus": ["train", "--corpus", "klingon", "--out", str(tmp_path / "r4")],
        "zero size": train_args(empty, tmp_path / "r5", "--hidden", "0"),
        "negative size": train_args(empty, tmp_path / "r6", "--batch", "-3"),
        "another kind of checkpoint": ["sample", str(not_charlm)],
        "missing run folder": ["resume", str(tmp_path / "no-such-run")],
        "missing run to sample": ["sample", str(tmp_path / "no-such-run")],
        "cosine without steps": train_args(empty, tmp_path / "r8", "--schedule", "cosine", "--minutes", "1"),
    }
    for what, argv in cases.items():
        assert cli.main(argv) == 2, what
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "error" in err and "Traceback" not in err, (what, err)
    assert (
        cli.main(
            train_args(
                latin,
                tmp_path / "r7",
                "--encoding",
                "latin-1",
                "--steps",
                "1",
                "--val-fraction",
                "0.4",
                "--seq-len",
                "2",
                "--batch",
                "1",
            )
        )
        == 0
    )
