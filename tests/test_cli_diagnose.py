"""rnnlab diagnose and rnnlab study, through cli.main(argv)."""

import importlib.util
import json

import numpy as np
import pytest

from rnnlab import cli

SMALL = "First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n" * 40
HAS_MATPLOTLIB = importlib.util.find_spec("matplotlib") is not None


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Two tiny trained runs (an LSTM and a tanh RNN, 2 layers each) and their text, made once."""
    folder = tmp_path_factory.mktemp("runs")
    data = folder / "small.txt"
    data.write_text(SMALL)
    return {model: tiny_run(folder, data, model) for model in ("lstm", "rnn")}, data


def tiny_run(folder, data, model):
    run = folder / f"run-{model}"
    assert (
        cli.main(
            [
                "train",
                "--data",
                str(data),
                "--out",
                str(run),
                "--model",
                model,
                "--hidden",
                "8",
                "--layers",
                "2",
                "--embedding",
                "4",
                "--seq-len",
                "10",
                "--batch",
                "2",
                "--steps",
                "3",
                "--eval-every",
                "3",
                "--no-progress",
            ]
        )
        == 0
    )
    return run


@pytest.mark.parametrize("model", ["lstm", "rnn"])
def test_diagnose_prints_a_summary_and_writes_pictures(runs, tmp_path, capsys, model):
    run = runs[0][model]
    capsys.readouterr()
    out = tmp_path / "diag"
    pictures = model == "lstm"  # drawing takes seconds: once is enough
    assert (
        cli.main(
            ["diagnose", str(run), "--out", str(out), "--steps", "12", "--batch", "3"]
            + ([] if pictures else ["--no-pictures"])
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert "layer 0: gradient x" in printed and "layer 1: gradient x" in printed
    assert "spectral radius of W_hh" in printed and "memory:" in printed
    assert ("gates: i mean" in printed) == (model == "lstm")
    summary = json.loads((out / "summary.json").read_text())
    assert summary["steps"] == 12 and summary["sequences"] == 3 and set(summary["layers"]) == {"l0", "l1"}
    if not pictures:
        assert not (out / "gradflow.png").exists()
    elif HAS_MATPLOTLIB:
        for name in ("gradflow.png", "jacobian.png", "eigenvalues.png", "memory.png"):
            assert (out / name).read_bytes()[:4] == b"\x89PNG"
    else:
        assert 'pip install -e ".[plot]"' in printed


def test_diagnose_errors_are_one_line(runs, tmp_path, capsys):
    run, data = runs[0]["lstm"], runs[1]
    capsys.readouterr()
    assert cli.main(["diagnose", str(run), "--steps", "100000"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--steps" in err
    assert cli.main(["diagnose", str(run / "best"), "--steps", "5"]) == 2  # a checkpoint has no run.json
    assert "--data" in capsys.readouterr().err
    assert (
        cli.main(
            [
                "diagnose",
                str(run / "best"),
                "--data",
                str(data),
                "--steps",
                "5",
                "--batch",
                "1",
                "--out",
                str(tmp_path / "d2"),
                "--no-pictures",
            ]
        )
        == 0
    )


def test_study_circuits_and_recursions(tmp_path, capsys):
    assert cli.main(["study", "circuits", "--out", str(tmp_path / "c")]) == 0
    printed = capsys.readouterr().out
    assert "serial adder" in printed and "WRONG" not in printed and printed.count("right") >= 9
    assert cli.main(["study", "recursions", "--out", str(tmp_path / "r")]) == 0
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert summary["tanh fixed points, w = 2"][1] == 0.0
    if HAS_MATPLOTLIB:
        assert (tmp_path / "r" / "vector.png").exists() and (tmp_path / "r" / "bibo.png").exists()


def test_study_gradflow_tiny(tmp_path, capsys):
    out = tmp_path / "g"
    assert (
        cli.main(
            [
                "study",
                "gradflow",
                "--models",
                "tanh,lstm_f1",
                "--seq-len",
                "8",
                "--hidden",
                "4",
                "--train-steps",
                "3",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert "tanh RNN" in printed and "LSTM, forget bias 1" in printed and "per step back" in printed
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary) >= {"tanh", "lstm_f1"} and "grad_factor_trained" in summary["tanh"]
    if HAS_MATPLOTLIB:
        for name in ("gradflow", "jacobian_products", "eigenvalues", "gates", "memory", "training"):
            assert (out / f"{name}.png").read_bytes()[:4] == b"\x89PNG"
    assert cli.main(["study", "gradflow", "--models", "lstm,gru", "--out", str(out)]) == 2
    assert "--models" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["diagnose", "study"])
def test_new_commands_explain_themselves(command, capsys):
    assert cli.main([command, "--help"]) == 0
    assert "usage: rnnlab " + command in capsys.readouterr().out


def test_study_mlp_gradients_shows_sigmoid_vanishing_fastest(tmp_path, capsys):
    """The CMU deck's figure on a small MLP and made-up digits: the gradient per neuron shrinks
    toward the input for every activation, by far the most with sigmoid (sigma' <= 1/4)."""
    from rnnlab.data.mnist import write_idx

    rng = np.random.default_rng(0)
    write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", rng.integers(0, 256, size=(40, 28, 28)).astype(np.uint8))
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", rng.integers(0, 10, size=40).astype(np.uint8))
    args = ["study", "mlp-gradients", "--data", str(tmp_path), "--depth", "8", "--width", "64", "--batch", "16"]
    assert cli.main([*args, "--out", str(tmp_path / "m")]) == 0
    assert "sigmoid  batch   first hidden layer" in capsys.readouterr().out
    layers = json.loads((tmp_path / "m" / "summary.json").read_text())["layers"]
    drop = {a: r["batch"]["median"][-1] - r["batch"]["median"][0] for a, r in layers.items()}
    assert all(d > 0 for d in drop.values()), drop
    assert drop["sigmoid"] > 2 * max(drop["tanh"], drop["elu"]), drop  # about 0.6 orders a layer, against 0.1-0.2
    assert 0 < max(layers["relu"]["batch"]["zero"]) < 1 and max(layers["tanh"]["batch"]["zero"]) == 0
    if HAS_MATPLOTLIB:
        assert (tmp_path / "m" / "mlp_gradients.png").exists()
    assert cli.main([*args, "--batch", "41", "--out", str(tmp_path / "n")]) == 2
    assert "--batch 41: the MNIST test set has 40 images" in capsys.readouterr().err
