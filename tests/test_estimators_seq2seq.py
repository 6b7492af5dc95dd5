"""RNNSeq2Seq: learns number words -> digits on held-out numbers, chooses its unit, saves and loads
a run folder with identical predictions, clones, and reads source<TAB>target files."""

import json

import numpy as np
import pytest

from rnnlab.data.seq2seq import number_words
from rnnlab.data.text import DataError
from rnnlab.estimators.base import read_run_file
from rnnlab.estimators.seq2seq import RNNSeq2Seq, build_vocab, choose_unit, join_words, word_tokens

NUMBERS = np.random.default_rng(0).permutation(100)
TRAIN, HELD_OUT = NUMBERS[:80], NUMBERS[80:]


def _pairs(numbers):
    return [number_words(int(n)) for n in numbers], [str(int(n)) for n in numbers]


@pytest.fixture(scope="module")
def fitted():
    """A small model on 80 of the numbers 0..99 (a few seconds)."""
    X, y = _pairs(TRAIN)
    said = []
    est = RNNSeq2Seq(hidden=32, embedding=16, steps=150, batch_size=32, seed=0)
    est.fit(X, y, say=said.append)
    return est, said


def test_learns_number_words_to_digits_on_held_out_numbers(fitted):
    est, _ = fitted
    X, y = _pairs(HELD_OUT)
    # a guess among 100 numbers is right 1% of the time
    assert est.score(X, y) >= 0.6
    metrics = est.evaluate(X, y)
    assert set(metrics) >= {"pairs", "exact_match", "character_error_rate", "chrf", "bleu", "token_accuracy"}
    assert metrics["pairs"] == 20 and metrics["exact_match"] == est.score(X, y)
    assert metrics["chrf"] > 60 and metrics["character_error_rate"] < 0.3
    assert all(isinstance(o, str) for o in est.predict(X))
    assert est.evaluation_lines(metrics)[0].startswith("20 pairs: exact match")


def test_auto_unit_picks_characters_for_number_words_and_says_why(fitted):
    est, said = fitted
    assert est.unit == "auto" and est.unit_ == "char"
    assert any("unit: chars" in line and "short" in line for line in said)


def test_auto_unit_rule():
    assert choose_unit([str(n) for n in range(50)])[0] == "char"  # short targets
    common = ["the cat sees the dog .", "the dog sees the cat .", "a cat likes a dog ."] * 20
    assert choose_unit(common)[0] == "word"
    rare = [f"word{k} and more word{k + 1000} here" for k in range(60)]  # most words seen once
    unit, why = choose_unit(rare)
    assert unit == "char" and "seen fewer than 2 times" in why


def test_save_and_load_give_identical_predictions(fitted, tmp_path):
    est, _ = fitted
    folder = est.save(tmp_path / "run")
    record = read_run_file(folder)
    assert record["task"] == "seq2seq" and record["params"]["unit"] == "auto"
    assert record["preprocessing"]["unit"] == "char"
    assert "0" in record["preprocessing"]["tgt_vocab"] and "y" in record["preprocessing"]["src_vocab"]
    loaded = type(est)._from_record(record, folder)
    X = _pairs(NUMBERS)[0]
    assert loaded.predict(X) == est.predict(X)
    assert loaded.unit_ == "char" and loaded.tgt_vocab_.tokens == est.tgt_vocab_.tokens


def test_beam_search_predictions_and_records(fitted):
    est, _ = fitted
    X, y = _pairs(HELD_OUT[:5])
    beamed = est.set_params(beam=3).predict(X)
    est.set_params(beam=0)
    assert len(beamed) == 5 and all(isinstance(o, str) for o in beamed)
    records = est.predict_records(X[:2])
    assert [r["input"] for r in records] == X[:2] and est.record_text(records[0]) == records[0]["output"]
    assert est.inputs_from_lines(["one\t1\tattribution", "two"]) == ["one", "two"]


def test_clone_copies_parameters_not_fitted_state(fitted):
    from sklearn.base import clone

    est, _ = fitted
    twin = clone(est)
    assert twin.get_params() == est.get_params() and not twin.is_fitted
    assert RNNSeq2Seq(attention=None, unit="word").get_params()["attention"] is None


def test_word_unit_learns_a_tiny_dictionary_and_writes_text_back():
    en = "i you see like cat dog bread red".split()
    fr = "je tu vois aime chat chien pain rouge".split()
    rng = np.random.default_rng(0)
    X, y = [], []
    for _ in range(200):
        idx = rng.integers(len(en), size=rng.integers(1, 4))
        X.append(" ".join(en[i] for i in idx).capitalize() + ".")
        y.append(" ".join(fr[i] for i in idx).capitalize() + ".")
    est = RNNSeq2Seq(unit="word", hidden=32, embedding=16, steps=150, batch_size=32, lr=1e-2, validation_fraction=0)
    est.fit(X, y)
    assert est.unit_ == "word" and "##." in est.tgt_vocab_.tokens  # the full stop is glued to its word
    assert est.score(X, y) > 0.5
    assert all(o.endswith(".") and " ." not in o for o in est.predict(X[:5]))


def test_word_tokens_join_back_into_the_text():
    for text in ("Hello, world!", "J'ai froid !", "x ## y", "It costs 3.50 (tax incl.)"):
        assert join_words(word_tokens(text)) == text
    assert word_tokens("J'ai froid !") == ["J", "##'", "##ai", "froid", "!"]


def test_min_count_never_empties_a_vocabulary_silently():
    vocab, used, note = build_vocab([["a", "b"], ["c", "d"]], min_count=2)
    assert used == 1 and vocab.size == 8 and "keeping every token" in note
    vocab, used, note = build_vocab([["a", "a"], ["a", "b"]], min_count=2)
    assert used == 2 and note is None and vocab.to_json() == ["a"]


def test_read_file_reads_pairs_and_names_the_bad_line(tmp_path):
    good = tmp_path / "pairs.tsv"
    good.write_text("one\t1\tCC-BY 2.0 (France) Attribution: tatoeba.org\n\ntwo\t2\n", encoding="utf-8")
    sources, targets, source = RNNSeq2Seq.read_file(good)
    assert (sources, targets, source) == (["one", "two"], ["1", "2"], {"path": str(good)})
    bad = tmp_path / "bad.tsv"
    bad.write_text("one\t1\n\nthree 3\n", encoding="utf-8")
    with pytest.raises(DataError, match="line 3: expected source<TAB>target"):
        RNNSeq2Seq.read_file(bad)
    with pytest.raises(DataError, match="no such file"):
        RNNSeq2Seq.read_file(tmp_path / "missing.tsv")


def test_bad_parameters_and_data_are_clear_errors():
    X, y = ["one", "two"], ["1", "2"]
    with pytest.raises(ValueError, match="unit must be one of auto, char, word"):
        RNNSeq2Seq(unit="chars").fit(X, y)
    with pytest.raises(ValueError, match="attention must be"):
        RNNSeq2Seq(attention="luong").fit(X, y)
    with pytest.raises(ValueError, match="2 sources but 1 targets"):
        RNNSeq2Seq().fit(X, ["1"])
    with pytest.raises(ValueError, match="target 1 is a int"):
        RNNSeq2Seq().fit(X, ["1", 2])


def test_run_dir_holds_the_unit_and_both_vocabularies(tmp_path):
    X, y = _pairs(range(20))
    RNNSeq2Seq(hidden=8, embedding=4, steps=2, attention="dot", run_dir=tmp_path / "run").fit(X, y)
    record = json.loads((tmp_path / "run" / "run.json").read_text())
    assert record["params"]["attention"] == "dot" and record["fitted"]["steps"] == 2
    assert {"unit", "src_vocab", "tgt_vocab"} <= set(record["preprocessing"])
