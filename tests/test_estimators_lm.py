"""RNNLanguageModel: `rnnlab train` from Python, in the same run folder the CLI reads."""

import math

import pytest

from rnnlab.cli import main
from rnnlab.estimators import RNNLanguageModel, load

TEXT = "the cat sat on the mat. " * 200


@pytest.fixture(scope="module")
def lm():
    return RNNLanguageModel(hidden=32, layers=1, embedding=8, steps=80, eval_every=40, seq_len=24, batch_size=8).fit(
        TEXT
    )


def test_a_fitted_model_beats_the_uniform_guess_and_continues_a_prime(lm):
    assert lm.score(TEXT[:2000]) > -0.7 * math.log(lm.vocab_.size)
    (continuation,) = lm.predict(["the cat "], length=12, temperature=0.5)
    assert len(continuation) == 12 and set(continuation) <= set(TEXT)


def test_a_saved_model_loads_back_and_the_cli_samples_from_it(lm, tmp_path, capsys):
    lm.save(tmp_path / "lm")
    again = load(tmp_path / "lm")
    assert again.score(TEXT[:500]) == pytest.approx(lm.score(TEXT[:500]), abs=1e-9)
    assert main(["sample", str(tmp_path / "lm"), "--prime", "the", "--length", "10"]) == 0
    assert capsys.readouterr().out.startswith("the")
    assert main(["resume", str(tmp_path / "lm"), "--steps", "5"]) == 2  # its text lives in Python only
    assert "fitted from a Python string" in capsys.readouterr().err


def test_a_prime_outside_the_vocabulary_names_the_characters(lm):
    with pytest.raises(ValueError, match="Z"):
        lm.predict(["Zebra"])
