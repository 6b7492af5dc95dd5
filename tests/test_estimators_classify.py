"""RNNClassifier: learning, the scikit-learn protocol, saving and loading, and its errors."""

import json

import numpy as np
import pytest
from conftest import require

from rnnlab.estimators import RNNClassifier, load
from rnnlab.estimators.base import NotFittedError

GOOD, BAD = ["good", "great", "fine", "lovely"], ["bad", "awful", "poor", "dull"]
FILLER = ["the", "film", "was", "really", "quite", "story", "acting"]


def negation_data(n: int, seed: int) -> tuple[list[str], list[str]]:
    """Sentences whose label is set by a polar word, flipped by a "not" just before it: a bag of
    words cannot read which word the "not" belongs to when both kinds occur."""
    rng = np.random.default_rng(seed)
    texts, labels = [], []
    for _ in range(n):
        words = list(rng.choice(FILLER, size=rng.integers(2, 5)))
        positive = rng.random() < 0.5
        negate = rng.random() < 0.5
        word = rng.choice(GOOD if positive != negate else BAD)
        words.insert(rng.integers(0, len(words) + 1), ("not " if negate else "") + word)
        texts.append(" ".join(words))
        labels.append("positive" if positive else "negative")
    return texts, labels


@pytest.fixture(scope="module")
def fitted():
    texts, labels = negation_data(400, seed=0)
    est = RNNClassifier(hidden=24, embedding=16, steps=250, lr=5e-3, min_count=1, seed=0)
    return est.fit(texts, labels)


def test_a_fitted_classifier_reads_word_order_and_beats_its_bag_of_words_baseline(fitted):
    texts, labels = negation_data(300, seed=1)
    metrics = fitted.evaluate(texts, labels)
    assert metrics["accuracy"] >= 0.9, metrics
    assert metrics["accuracy"] >= metrics["bag_of_words_accuracy"] + 0.1, metrics
    assert fitted.classes_ == ["negative", "positive"]
    assert metrics["confusion_matrix"][0][0] + metrics["confusion_matrix"][1][1] == round(300 * metrics["accuracy"])


def test_predict_proba_rows_are_distributions_in_the_order_of_classes(fitted):
    p = fitted.predict_proba(["the film was not good", "really lovely"])
    assert p.shape == (2, 2) and np.allclose(p.sum(axis=1), 1)
    assert list(fitted.predict(["the film was not good", "really lovely"])) == [fitted.classes_[k] for k in p.argmax(1)]


def test_save_and_load_give_the_same_predictions_and_the_run_json_holds_the_preprocessing(fitted, tmp_path):
    fitted.save(tmp_path / "run")
    record = json.loads((tmp_path / "run" / "run.json").read_text())
    assert record["task"] == "classify" and record["preprocessing"]["classes"] == ["negative", "positive"]
    assert "not" in record["preprocessing"]["vocab"]
    again = load(tmp_path / "run")
    texts, _ = negation_data(50, seed=2)
    assert np.array_equal(again.predict_proba(texts), fitted.predict_proba(texts))


def test_numeric_sequences_are_classified_by_their_shape():
    rng = np.random.default_rng(0)
    t = np.linspace(0, 1, 30)
    series = [np.sin(2 * np.pi * (2 if k % 2 else 5) * t + rng.uniform(0, 6)) * 3 + 10 for k in range(200)]
    labels = ["slow" if k % 2 else "fast" for k in range(200)]
    est = RNNClassifier(hidden=16, steps=150, lr=1e-2, test_fraction=0.2).fit(series, labels)
    assert est.test_metrics_["accuracy"] >= 0.9
    assert abs(est.mean_[0] - 10) < 0.5  # standardised with the training rows' own mean


def test_a_min_count_that_would_silence_a_class_falls_back_to_every_word():
    texts = ["spam offer"] * 3 + ["meeting noon", "lunch one", "call two"] + ["spam deal"] * 3
    labels = ["junk"] * 3 + ["ham a", "ham b", "ham c"] + ["junk"] * 3
    lines = []
    est = RNNClassifier(steps=2, min_count=2, validation_fraction=0).fit(texts, labels, say=lines.append)
    assert est.min_count_ == 1 and any("without a known word" in line for line in lines)


def test_bad_input_is_a_clear_error():
    with pytest.raises(ValueError, match="two or more classes"):
        RNNClassifier(steps=1).fit(["a", "b"], ["x", "x"])
    with pytest.raises(ValueError, match="3 examples but 2 labels"):
        RNNClassifier(steps=1).fit(["a", "b", "c"], ["x", "y"])
    with pytest.raises(ValueError, match="model must be one of"):
        RNNClassifier(model="transformer", steps=1).fit(["a", "b"], ["x", "y"])
    with pytest.raises(NotFittedError):
        RNNClassifier().predict(["a"])


def test_an_unknown_label_in_evaluation_names_the_training_labels(fitted):
    with pytest.raises(ValueError, match="'neutral' was not among the training labels"):
        fitted.score(["good"], ["neutral"])


# --- scikit-learn -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def sklearn():
    try:
        import sklearn as module
    except ImportError:
        require("scikit-learn is not installed", "RNNLAB_REQUIRE_SKLEARN", "pip install scikit-learn")
    return module


def test_clone_get_params_and_set_params_follow_scikit_learn(sklearn):
    from sklearn.base import clone, is_classifier

    est = RNNClassifier(hidden=7, unit="char")
    copy = clone(est)
    assert copy is not est and copy.get_params() == est.get_params()
    assert is_classifier(est)
    assert est.set_params(hidden=9).hidden == 9
    with pytest.raises(ValueError, match="no parameter 'hiddden'"):
        est.set_params(hiddden=3)


def test_grid_search_over_hidden_picks_a_size_and_refits(sklearn):
    from sklearn.model_selection import GridSearchCV

    texts, labels = negation_data(120, seed=3)
    search = GridSearchCV(RNNClassifier(steps=40, lr=1e-2, min_count=1), {"hidden": [4, 16]}, cv=2)
    search.fit(texts, labels)
    assert search.best_params_["hidden"] in (4, 16)
    assert len(search.cv_results_["mean_test_score"]) == 2
    assert search.best_estimator_.hidden == search.best_params_["hidden"]
    assert 0 <= search.score(texts, labels) <= 1


def test_cross_val_score_runs_each_fold_on_a_fresh_clone(sklearn):
    from sklearn.model_selection import cross_val_score

    texts, labels = negation_data(90, seed=4)
    est = RNNClassifier(steps=20, lr=1e-2, min_count=1)
    scores = cross_val_score(est, texts, labels, cv=3)
    assert scores.shape == (3,) and all(0 <= s <= 1 for s in scores)
    assert not est.is_fitted  # scikit-learn fitted clones, not the estimator it was given
