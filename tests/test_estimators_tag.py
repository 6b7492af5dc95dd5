"""RNNTagger (rnnlab.estimators.tag): one tag per token, learnt from context; the parameter
protocol, input errors, the run folder round trip and the command line's hooks.

The toy problem: "run", "book", "watch" and "play" are VERB when the next word is "the" or "a",
else NOUN; every other word has one tag. Reading each word alone (the per-word majority tag)
gets the ambiguous words right about 60% of the time; a bidirectional tagger reads the next word.
"""

import json

import numpy as np
import pytest
from conftest import require

from rnnlab.estimators.base import NotFittedError, read_run_file
from rnnlab.estimators.tag import RNNTagger

AMBIGUOUS = ["run", "book", "watch", "play"]
FIXED = {"the": "DET", "a": "DET", "dog": "NOUN", "red": "ADJ", "is": "AUX"}
QUICK = {"hidden": 16, "embedding": 8, "steps": 100, "lr": 1e-2, "batch_size": 16, "seed": 0}


def toy(n: int, seed: int) -> tuple[list[list[str]], list[list[str]]]:
    """n sentences of 3 to 8 words and their tags (see the module's docstring)."""
    rng = np.random.default_rng(seed)
    sentences, tags = [], []
    for _ in range(n):
        words = []
        for _ in range(int(rng.integers(3, 9))):
            r = rng.random()
            pool = AMBIGUOUS if r < 0.5 else ["the", "a"] if r < 0.85 else ["dog", "red", "is"]
            words.append(str(rng.choice(pool)))
        nxt = words[1:] + [None]
        tags.append([FIXED.get(w) or ("VERB" if after in ("the", "a") else "NOUN") for w, after in zip(words, nxt)])
        sentences.append(words)
    return sentences, tags


def word_majority_accuracy(train_x, train_y, test_x, test_y) -> float:
    """Token accuracy of tagging each word with its commonest training tag, computed here."""
    counts: dict[str, dict[str, int]] = {}
    for words, tags in zip(train_x, train_y):
        for w, t in zip(words, tags):
            counts.setdefault(w, {}).setdefault(t, 0)
            counts[w][t] += 1
    best = {w: max(c, key=c.get) for w, c in counts.items()}
    right = [best[w] == t for words, tags in zip(test_x, test_y) for w, t in zip(words, tags)]
    return sum(right) / len(right)


@pytest.fixture(scope="module")
def data():
    return toy(300, 0), toy(200, 1)


@pytest.fixture(scope="module")
def fitted(data):
    (X, y), _ = data
    return RNNTagger(**QUICK).fit(X, y)


def test_tagger_reads_context_and_beats_the_per_word_majority(data, fitted):
    (X, y), (Xt, yt) = data
    baseline = word_majority_accuracy(X, y, Xt, yt)
    accuracy = fitted.score(Xt, yt)
    assert baseline < 0.9  # the toy problem needs context
    assert accuracy >= 0.97
    assert accuracy >= baseline + 0.1
    metrics = fitted.evaluate(Xt, yt)
    assert metrics["token_accuracy"] == pytest.approx(accuracy)
    assert metrics["word_majority_accuracy"] == pytest.approx(baseline)


def test_predict_gives_one_tag_per_token(fitted):
    X = [["run", "the", "dog"], ["book"], [], ["never", "seen", "words", "run", "a"]]
    predicted = fitted.predict(X)
    assert [len(t) for t in predicted] == [len(s) for s in X]
    assert all(t in fitted.tags_ for tags in predicted for t in tags)
    assert [p.shape for p in fitted.predict_proba(X)] == [(len(s), len(fitted.tags_)) for s in X]
    assert np.allclose([p.sum(axis=-1) for p in fitted.predict_proba(X[:1])], 1.0)
    assert fitted.predict([]) == []
    assert fitted.predict([("run", "a", "dog")]) == fitted.predict([["run", "a", "dog"]])  # any token sequence


def test_evaluate_reports_per_tag_scores(data, fitted):
    _, (Xt, yt) = data
    metrics = fitted.evaluate(Xt, yt)
    assert metrics["sentences"] == len(Xt)
    assert metrics["tokens"] == sum(map(len, yt))
    assert sorted(metrics["per_tag"]) == ["ADJ", "AUX", "DET", "NOUN", "VERB"]
    for scores in metrics["per_tag"].values():
        assert set(scores) == {"precision", "recall", "f1", "support"}
    assert sum(s["support"] for s in metrics["per_tag"].values()) == metrics["tokens"]
    assert metrics["macro_f1"] == pytest.approx(np.mean([s["f1"] for s in metrics["per_tag"].values()]))
    json.dumps(metrics)  # JSON-able as it is
    lines = fitted.evaluation_lines(metrics)
    assert "token accuracy" in lines[0]
    assert sum(line.strip().startswith(("ADJ", "AUX", "DET", "NOUN", "VERB")) for line in lines) == 5


def test_a_tag_unseen_in_training_counts_as_wrong(fitted):
    X, y = [["the", "dog"]], [["DET", "NEW"]]
    assert fitted.score(X, y) == 0.5
    assert fitted.evaluate(X, y)["per_tag"]["NEW"]["recall"] == 0.0


def test_loss_counts_only_real_tokens(fitted):
    X, y = [["run", "the", "dog", "is", "red"], ["dog"]], [["VERB", "DET", "NOUN", "AUX", "ADJ"], ["NOUN"]]
    draw, loss, rows = fitted._training(X, y)
    x, lengths, target = draw(0, np.random.default_rng(0))
    assert rows == 2 and x.shape[0] == 5
    padded = np.arange(5)[:, None] >= lengths[None, :]
    assert padded.any() and (target[padded] == -1).all() and (target[~padded] >= 0).all()
    scores = np.random.default_rng(1).normal(size=(*target.shape, len(fitted.tags_))).astype(np.float32)
    value, dscores = loss(scores, target)
    assert (dscores[padded] == 0).all()
    scores[padded] = 1e3  # what a padded step scores changes nothing
    assert loss(scores, target)[0] == pytest.approx(value)


def test_long_sentences_train_in_pieces_of_max_length():
    X, y = toy(40, 2)
    est = RNNTagger(**{**QUICK, "steps": 2}, max_length=3)
    est._learn(X, y, lambda line: None)
    _, _, rows = est._training(X, y)
    assert rows == sum(-(-len(s) // 3) for s in X)


def test_save_and_load_give_the_same_predictions(data, fitted, tmp_path):
    _, (Xt, _) = data
    folder = fitted.save(tmp_path / "run")
    record = read_run_file(folder)
    assert record["task"] == "tag" and record["estimator"] == "RNNTagger"
    assert record["preprocessing"]["tags"] == ["ADJ", "AUX", "DET", "NOUN", "VERB"]
    loaded = RNNTagger._from_record(record, folder)
    assert loaded.predict(Xt) == fitted.predict(Xt)
    assert loaded.get_params() | {"run_dir": None} == fitted.get_params()
    assert np.array_equal(loaded.baseline_, fitted.baseline_)


def test_warm_start_continues_with_the_same_preprocessing_and_model():
    X, y = toy(40, 4)
    est = RNNTagger(**{**QUICK, "steps": 3}, warm_start=True).fit(X, y)
    vocab, model = est.vocab_, est.model_
    est.fit(X + [["zebra", "the"]], y + [["NOUN", "DET"]])
    assert est.vocab_ is vocab and est.model_ is model and "zebra" not in vocab.index


def test_lowercase_is_kept_from_fit_and_applied_to_prediction(tmp_path):
    X, y = toy(60, 3)
    est = RNNTagger(**{**QUICK, "steps": 5}, lowercase=True, validation_fraction=0).fit(
        [[w.upper() for w in s] for s in X], y
    )
    assert "RUN" not in est.vocab_.index and "run" in est.vocab_.index
    est.set_params(lowercase=False)  # a parameter changed after fit does not change what was learnt
    assert est.predict([["Run", "THE", "dog"]]) == est.predict([["run", "the", "dog"]])
    loaded = RNNTagger._from_record(read_run_file(est.save(tmp_path / "r")), tmp_path / "r")
    assert loaded.predict([["RUN", "a"]]) == est.predict([["run", "a"]])


def test_constructor_stores_parameters_and_clone_copies_them():
    try:
        from sklearn.base import clone
    except ImportError:
        require("scikit-learn is not installed", "RNNLAB_REQUIRE_SKLEARN", "pip install scikit-learn")
    est = RNNTagger(hidden=8, bidirectional=False, min_count=2, lowercase=True, max_length=50, run_dir=None)
    assert est.get_params()["hidden"] == 8 and est.get_params()["lowercase"] is True
    copy = clone(est)
    assert copy is not est and copy.get_params() == est.get_params()
    with pytest.raises(TypeError):
        RNNTagger(8)  # keyword only
    with pytest.raises(ValueError, match="no parameter"):
        est.set_params(unit="char")


@pytest.mark.parametrize(
    ("X", "y", "message"),
    [
        ([["a", "b"], ["c"]], [["D", "N"], ["N", "D"]], "sentence 1 has 1 tokens but 2 tags"),
        ([["a", "b"]], [["D", "N"], ["N"]], "1 sentences but 2 tag lists"),
        ([], [], "no sentences"),
        ([["a"], []], [["D"], []], "sentence 1 is empty"),
        (["a b"], [["D", "N"]], "sentence 0 is a string"),
        ([["a", 3]], [["D", "N"]], "token 3 is not a string"),
        ([["a", "b"]], None, "needs tags"),
        ([["a"]], ["D"], "the tags of sentence 0 are one string"),
        ([["a", "b"]], [["D", "D"]], "two or more tags"),
    ],
)
def test_bad_input_is_a_value_error_that_says_what(X, y, message):
    with pytest.raises(ValueError, match=message):
        RNNTagger(**QUICK).fit(X, y)


def test_unknown_cell_and_unfitted_use_are_errors():
    with pytest.raises(ValueError, match="model must be one of"):
        RNNTagger(model="transformer").fit([["a", "b"]], [["D", "N"]])
    with pytest.raises(NotFittedError):
        RNNTagger().predict([["a"]])


def test_read_file_reads_a_conll_file(tmp_path):
    path = tmp_path / "train.conll"
    path.write_text("-DOCSTART- -X- O O\n\nEU NNP B-ORG\nrejects VBZ O\n\nPeter NNP B-PER\n", encoding="utf-8")
    X, y, source = RNNTagger.read_file(path)
    assert X == [["EU", "rejects"], ["Peter"]]
    assert y == [["B-ORG", "O"], ["B-PER"]]
    assert source == {"path": str(path), "tag_column": None}
    X, y, source = RNNTagger.read_file(path, tag_column="1", text_column="ignored")
    assert y == [["NNP", "VBZ"], ["NNP"]] and source["tag_column"] == 1


def test_command_line_hooks_make_records_and_text(fitted):
    X = fitted.inputs_from_lines(["run the dog", "  book  a red dog "])
    assert X == [["run", "the", "dog"], ["book", "a", "red", "dog"]]
    records = fitted.predict_records(X)
    assert [r["tokens"] for r in records] == X
    assert [len(r["tags"]) for r in records] == [3, 4]
    json.dumps(records)
    text = fitted.record_text({"tokens": ["run", "the"], "tags": ["VERB", "DET"]})
    assert text == "run/VERB the/DET"


def test_evaluation_plot_draws_per_tag_f1(data, fitted, tmp_path):
    pytest.importorskip("matplotlib")
    _, (Xt, yt) = data
    path = fitted.evaluation_plot(fitted.evaluate(Xt[:20], yt[:20]), Xt[:20], yt[:20], tmp_path / "tags.png")
    assert path.is_file() and path.stat().st_size > 0
