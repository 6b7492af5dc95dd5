"""`rnnlab export-states RUN --text FILE --out DIR`: the files LSTMVis reads, read back with h5py
equal to the states the model's own forward pass records."""

import sys

import numpy as np
import pytest
from conftest import require

from rnnlab import cli
from rnnlab.analysis.states import export_lstmvis, record_states, token_name
from rnnlab.data.text import Vocab
from rnnlab.models.charlm import CharLM, CharLMConfig
from rnnlab.runs.charlm import load_charlm

TEXT = "To be, or not to be, that is the question:\nWhether 'tis nobler in the mind to suffer\n" * 30


@pytest.fixture(scope="module")
def h5py():
    try:
        import h5py as module
    except ImportError:  # CI installs the test extra, which brings h5py: there this fails
        require("h5py is not installed", "RNNLAB_REQUIRE_SKLEARN", 'pip install -e ".[states]"')
    return module


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("states")
    data = folder / "text.txt"
    data.write_text(TEXT)
    run = folder / "run"
    argv = ["train", "--data", str(data), "--out", str(run), "--steps", "2", "--hidden", "8", "--layers", "2"]
    argv += ["--embedding", "4", "--seq-len", "8", "--batch", "2", "--eval-every", "2", "--no-progress"]
    assert cli.main(argv) == 0
    return run


def test_export_round_trips_the_recorded_states_ids_dictionary_and_yml(h5py, run_dir, tmp_path, capsys):
    text = tmp_path / "in.txt"
    text.write_text("Whether 'tis nobler?\n\tto be" * 40)  # "?" and the tab are not in the vocabulary
    out = tmp_path / "lstmvis"
    capsys.readouterr()
    assert cli.main(["export-states", str(run_dir), "--text", str(text), "--out", str(out)]) == 0
    said = capsys.readouterr().out
    model, vocab = load_charlm(run_dir)
    ids, known = vocab.encode(text.read_text())
    ids = ids[known]
    assert f"{len(ids):,} characters, {int((~known).sum()):,} outside the vocabulary left out" in said
    expected = record_states(model, ids)
    # the model's own forward pass over the whole text at once, recording every step
    model.rnn.forward(model.embed.forward(ids[:, None]), record=True)
    with h5py.File(out / "states.hdf5", "r") as f:
        assert sorted(f) == ["c1", "c2", "h1", "h2"]
        for name in ("h", "c"):
            for layer in (1, 2):
                got = f[f"{name}{layer}"][()]
                assert got.dtype == np.float32 and got.shape == (len(ids), 8)
                np.testing.assert_array_equal(got, expected[f"{name}{layer}"])
                whole = model.rnn.recorded[f"l{layer - 1}"][name][:, 0, :]
                np.testing.assert_allclose(got, whole, rtol=1e-5, atol=1e-6)
    with h5py.File(out / "train.hdf5", "r") as f:
        np.testing.assert_array_equal(f["word_ids"][()], ids + 1)
    lines = (out / "train.dict").read_text(encoding="utf-8").splitlines()
    assert len(lines) == vocab.size and all(len(line.split()) == 2 for line in lines)
    words = {int(i): w for w, i in (line.split() for line in lines)}
    assert words[vocab.chars.index(" ") + 1] == "<space>" and words[vocab.chars.index("\n") + 1] == "<nl>"
    assert words[vocab.chars.index("W") + 1] == "W"
    yml = (out / "lstm.yml").read_text()
    assert "word_sequence:\n  file: train\n  path: word_ids\n  dict_file: words\n" in yml
    assert "  states: states.hdf5\n  train: train.hdf5\n  words: train.dict\n" in yml
    for layer in (1, 2):
        assert f"{{type: state, layer: {layer}, path: c{layer}}}" in yml
        assert f"{{type: output, layer: {layer}, path: h{layer}}}" in yml


def test_a_cell_whose_state_is_h_alone_exports_h_as_the_state(h5py, tmp_path):
    vocab = Vocab.from_text("abc d\n")
    model = CharLM(CharLMConfig(vocab_size=vocab.size, model="gru", hidden=5, layers=1, embedding=3))
    done = export_lstmvis(model.eval(), vocab, "abc dab\ncd" * 5, tmp_path, window=7)
    assert done.datasets == {"h1": ("state", 1)} and done.tokens == 50 and done.unknown == 0
    with h5py.File(tmp_path / "states.hdf5", "r") as f:
        recorded = record_states(model, vocab.encode("abc dab\ncd" * 5)[0], window=7)
        np.testing.assert_array_equal(f["h1"][()], recorded["h1"])


def test_windows_carry_the_state_between_them():
    vocab = Vocab.from_text("abcdef")
    model = CharLM(CharLMConfig(vocab_size=vocab.size, hidden=6, layers=2, embedding=3), np.random.default_rng(1))
    ids = np.random.default_rng(0).integers(0, vocab.size, 40).astype(np.int32)
    one, many = record_states(model, ids, window=1000), record_states(model, ids, window=3)
    for name in one:
        np.testing.assert_allclose(many[name], one[name], rtol=1e-5, atol=1e-6)
    _, (h, c) = model(ids[:, None])
    np.testing.assert_allclose(one["h2"][-1], h[1, 0], rtol=1e-6)
    np.testing.assert_allclose(one["c1"][-1], c[0, 0], rtol=1e-6)


def test_dictionary_names_whitespace_and_control_characters():
    assert [token_name(c) for c in " \n\t\r\x0b\x00é("] == [
        "<space>",
        "<nl>",
        "<tab>",
        "<cr>",
        "<U+000B>",
        "<U+0000>",
        "é",
        "(",
    ]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--text", "{tmp}/none.txt", "--out", "{tmp}/o"], "none.txt"),
        (["--text", "{tmp}/alien.txt", "--out", "{tmp}/o"], "none of the text's characters is in the model's"),
        (["--text", "{tmp}/alien.txt", "--out", "{tmp}/alien.txt"], "is a file, not a folder"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(h5py, run_dir, tmp_path, capsys, argv, message):
    (tmp_path / "alien.txt").write_text("ßßß")
    capsys.readouterr()
    assert cli.main(["export-states", str(run_dir), *(a.format(tmp=tmp_path) for a in argv)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err, err


def test_a_run_that_is_no_char_lm_and_a_missing_h5py_are_one_line(run_dir, tmp_path, monkeypatch, capsys):
    (tmp_path / "t.txt").write_text("to be")
    assert cli.main(["export-states", str(tmp_path), "--text", str(tmp_path / "t.txt"), "--out", str(tmp_path)]) == 2
    assert "holds no checkpoint" in capsys.readouterr().err
    monkeypatch.setitem(sys.modules, "h5py", None)  # import h5py raises ImportError
    out = tmp_path / "o"
    assert cli.main(["export-states", str(run_dir), "--text", str(tmp_path / "t.txt"), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and 'pip install -e ".[states]"' in err


def test_states_that_would_not_fit_in_memory_are_refused_before_recording(run_dir, tmp_path, monkeypatch, capsys):
    (tmp_path / "t.txt").write_text(TEXT * 4)  # states of 2 x (h, c) x 8 units: 1.3 MB
    monkeypatch.setattr("rnnlab.train.limits.available_memory", lambda: 400_000)  # the model fits
    out = tmp_path / "o"
    assert cli.main(["export-states", str(run_dir), "--text", str(tmp_path / "t.txt"), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "lower --max-chars" in err and not out.exists()
