"""The command line and its demo, called through cli.main(argv)."""

import re
from pathlib import Path

from rnnlab import cli
from rnnlab.demo import EchoConfig, train_echo


def test_demo_loss_falls_on_the_echo_task():
    losses = train_echo(EchoConfig(steps=120, seed=1))
    assert losses[0] > 0.8  # knowing nothing scores about 1.0
    assert sum(losses[-10:]) / 10 < 0.1


def test_main_runs_the_demo_and_reports_progress(capsys):
    assert cli.main(["--steps", "3", "--hidden", "4"]) == 0
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
