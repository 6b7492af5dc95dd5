"""More metrics (rnnlab.models.metrics): smoothed BLEU and chrF against sacrebleu, classification and
tagging scores and forecast errors against scikit-learn, edit distances and MASE against hand cases.

The reference tests skip without sacrebleu or scikit-learn, and fail instead when
RNNLAB_REQUIRE_SKLEARN=1 (CI), so CI cannot pass by skipping them.
"""

import math
from functools import cache

import numpy as np
import pytest
from conftest import require

from rnnlab.models.metrics import (
    character_error_rate,
    chrf,
    confusion_matrix,
    corpus_bleu,
    edit_distance,
    macro_f1,
    mae,
    mase,
    per_class_f1,
    rmse,
    tag_f1,
    word_error_rate,
)

TOL = 1e-9  # relative: the same sums in another order, float64


@pytest.fixture(scope="module")
def sacrebleu():
    try:
        import sacrebleu as module
    except ImportError:
        require("sacrebleu is not installed", "RNNLAB_REQUIRE_SKLEARN", "pip install sacrebleu")
    return module


@pytest.fixture(scope="module")
def skm():
    try:
        import sklearn.metrics as module
    except ImportError:
        require("scikit-learn is not installed", "RNNLAB_REQUIRE_SKLEARN", "pip install scikit-learn")
    return module


def _random_sentence(rng, vocab="abcde", longest=7):
    return [str(t) for t in rng.choice(list(vocab), size=rng.integers(0, longest + 1))]


def _reference_for(rng, hyp, vocab="abcde"):
    """Most often the hypothesis with a few tokens changed, dropped or added (so that high orders
    match too), otherwise an unrelated sentence."""
    if rng.random() < 0.3:
        return _random_sentence(rng, vocab, longest=10)
    ref = [t if rng.random() < 0.85 else str(rng.choice(list(vocab))) for t in hyp if rng.random() < 0.9]
    return ref + _random_sentence(rng, vocab, longest=2)


def _sacrebleu_bleu(sacrebleu, hyps, refs_per_hyp, max_n, smooth):
    """sacrebleu on space-joined tokens; refs_per_hyp[b] is a list of references (token lists),
    padded with None into sacrebleu's reference streams where a hypothesis has fewer."""
    from sacrebleu.metrics import BLEU

    streams = max(len(r) for r in refs_per_hyp)
    ref_streams = [[" ".join(r[s]) if s < len(r) else None for r in refs_per_hyp] for s in range(streams)]
    metric = BLEU(tokenize="none", smooth_method=smooth, max_ngram_order=max_n)
    return metric.corpus_score([" ".join(h) for h in hyps], ref_streams).score


# --------------------------------------------------------------------------------------- BLEU


@pytest.mark.parametrize("smooth", ["none", "exp"])
@pytest.mark.parametrize("max_n", [2, 4])
@pytest.mark.parametrize("seed", range(6))
def test_bleu_matches_sacrebleu_on_random_corpora(sacrebleu, seed, max_n, smooth):
    rng = np.random.default_rng(seed)
    hyps = [_random_sentence(rng, longest=10) for _ in range(int(rng.integers(1, 6)))]
    refs = [_reference_for(rng, h) for h in hyps]
    expected = _sacrebleu_bleu(sacrebleu, hyps, [[r] for r in refs], max_n, smooth)
    assert corpus_bleu(hyps, refs, max_n=max_n, smooth=smooth) == pytest.approx(expected, rel=TOL, abs=1e-12)


@pytest.mark.parametrize("smooth", ["none", "exp"])
@pytest.mark.parametrize("seed", range(6))
def test_bleu_with_several_references_matches_sacrebleu(sacrebleu, seed, smooth):
    rng = np.random.default_rng(100 + seed)
    hyps = [_random_sentence(rng, longest=9) for _ in range(5)]
    refs = [[_reference_for(rng, h) for _ in range(int(rng.integers(1, 4)))] for h in hyps]
    expected = _sacrebleu_bleu(sacrebleu, hyps, refs, 4, smooth)
    assert corpus_bleu(hyps, refs, smooth=smooth) == pytest.approx(expected, rel=TOL, abs=1e-12)


def test_default_smoothing_is_none_so_existing_callers_do_not_change():
    hyp, ref = [["a", "b", "c", "d"]], [["a", "b", "c", "e"]]  # no 4-gram matches
    assert corpus_bleu(hyp, ref) == 0.0 == corpus_bleu(hyp, ref, smooth="none")
    assert corpus_bleu(hyp, ref, smooth="exp") > 0


SHORT_HYPS = [["the", "dog"], ["a"], ["on", "mat", "sat"]]  # outputs of 1-3 tokens
SHORT_REFS = [["the", "cat"], ["a", "dog"], ["on", "the", "mat"]]
LONGER_HYPS, LONGER_REFS = SHORT_HYPS + [["a", "b", "c", "x"]], SHORT_REFS + [["a", "b", "c", "d"]]
EMPTY_HYPS, EMPTY_REFS = [[], ["a", "b", "c", "d"]], [["x", "y"], ["a", "b", "c", "d"]]

# (hypotheses, references, max_n, smooth, BLEU worked out by hand)
BLEU_HAND_CASES = {
    # "a b x d" against "a b c d": matches 3, 1, 0, 0 of 4, 3, 2, 1 n-grams; c = r = 4;
    # the two orders without matches get p3 = 1 / (2^1 * 2), p4 = 1 / (2^2 * 1)          (4)
    "exp_halves_again": (
        [["a", "b", "x", "d"]],
        [["a", "b", "c", "d"]],
        4,
        "exp",
        100 * (3 / 4 * 1 / 3 * 1 / 4 * 1 / 4) ** 0.25,
    ),
    # short outputs, N = 2: p1 = 4/6, no bigram of 3 matches; c = 6, r = 2 + 2 + 3 = 7
    "short_unsmoothed": (SHORT_HYPS, SHORT_REFS, 2, "none", 0.0),
    "short_exp": (SHORT_HYPS, SHORT_REFS, 2, "exp", 100 * math.exp(1 - 7 / 6) * math.sqrt(4 / 6 * 1 / 6)),
    # N = 4: no output has 4 tokens (total_4 = 0): sacrebleu scores 0 even smoothed, as we do
    "short_exp_no_4grams": (SHORT_HYPS, SHORT_REFS, 4, "exp", 0.0),
    # one longer output whose 4-gram misses ("a b c x"): 0 unsmoothed; smoothed, p1 = 7/10,
    # p2 = 2/6, p3 = 1/3, p4 = 1/(2^1 * 1); c = 10, r = 11
    "longer_unsmoothed": (LONGER_HYPS, LONGER_REFS, 4, "none", 0.0),
    "longer_exp": (
        LONGER_HYPS,
        LONGER_REFS,
        4,
        "exp",
        100 * math.exp(1 - 11 / 10) * (7 / 10 * 2 / 6 * 1 / 3 * 1 / 2) ** 0.25,
    ),
    # an empty hypothesis adds its reference's length: p_n = 1, c = 4, r = 2 + 4: BP = exp(1 - 6/4)
    "empty_hypothesis": (EMPTY_HYPS, EMPTY_REFS, 4, "none", 100 * math.exp(-0.5)),
    "empty_hypothesis_exp": (EMPTY_HYPS, EMPTY_REFS, 4, "exp", 100 * math.exp(-0.5)),
    "all_empty_exp": ([[], []], [["a"], ["b"]], 4, "exp", 0.0),  # c = 0
}


@pytest.mark.parametrize("case", list(BLEU_HAND_CASES))
def test_bleu_hand_cases(case):
    hyps, refs, max_n, smooth, expected = BLEU_HAND_CASES[case]
    assert corpus_bleu(hyps, refs, max_n=max_n, smooth=smooth) == pytest.approx(expected, rel=1e-12, abs=0)


@pytest.mark.parametrize("case", list(BLEU_HAND_CASES))
def test_bleu_hand_cases_agree_with_sacrebleu(sacrebleu, case):
    hyps, refs, max_n, smooth, expected = BLEU_HAND_CASES[case]
    assert _sacrebleu_bleu(sacrebleu, hyps, [[r] for r in refs], max_n, smooth) == pytest.approx(
        expected, rel=1e-12, abs=0
    )


def test_unknown_smoothing_is_refused():
    with pytest.raises(ValueError, match="smooth"):
        corpus_bleu([["a"]], [["a"]], smooth="floor")


# --------------------------------------------------------------------------------------- chrF


def _random_text(rng, alphabet="abc d", longest=14):
    return "".join(rng.choice(list(alphabet), size=rng.integers(0, longest + 1)))


@pytest.mark.parametrize("seed", range(8))
def test_chrf_matches_sacrebleu_on_random_corpora(sacrebleu, seed):
    rng = np.random.default_rng(200 + seed)
    hyps = [_random_text(rng) for _ in range(int(rng.integers(1, 6)))]
    refs = [_random_text(rng) for _ in hyps]
    expected = sacrebleu.corpus_chrf(hyps, [refs]).score
    assert chrf(hyps, refs) == pytest.approx(expected, rel=TOL, abs=1e-12)


@pytest.mark.parametrize(("char_order", "beta"), [(6, 2), (3, 1), (4, 3)])
@pytest.mark.parametrize("seed", range(4))
def test_chrf_with_several_references_and_options_matches_sacrebleu(sacrebleu, seed, char_order, beta):
    from sacrebleu.metrics import CHRF

    rng = np.random.default_rng(300 + seed)
    hyps = [_random_text(rng, "abcd e") for _ in range(5)]
    refs = [[_random_text(rng, "abcd e") for _ in range(int(rng.integers(1, 4)))] for _ in hyps]
    streams = [[r[s] if s < len(r) else None for r in refs] for s in range(3)]
    expected = CHRF(char_order=char_order, beta=beta).corpus_score(hyps, streams).score
    assert chrf(hyps, refs, char_order=char_order, beta=beta) == pytest.approx(expected, rel=TOL, abs=1e-12)


# (hypotheses, references, chrF worked out by hand)
CHRF_HAND_CASES = {
    "identical": (["the cat sat"], ["the cat sat"], 100.0),
    "whitespace_removed": (["thecatsat"], ["the cat sat"], 100.0),
    "empty_hypothesis": ([""], ["the cat"], 0.0),
    # "ab" against "abc": only orders 1 and 2 are effective (6): P = (2/2 + 1/1)/2 = 1,
    # R = (2/3 + 1/2)/2 = 7/12; chrF = 100 * 5 P R / (4 P + R)                             (7)
    "effective_orders": (["ab"], ["abc"], 100 * 5 * (7 / 12) / (4 + 7 / 12)),
    # the second reference scores better and is the one kept
    "best_reference": (["ab"], [["xyz", "abc"]], 100 * 5 * (7 / 12) / (4 + 7 / 12)),
}


@pytest.mark.parametrize("case", list(CHRF_HAND_CASES))
def test_chrf_hand_cases(case):
    hyps, refs, expected = CHRF_HAND_CASES[case]
    assert chrf(hyps, refs) == pytest.approx(expected, rel=1e-12, abs=0)


@pytest.mark.parametrize("case", list(CHRF_HAND_CASES))
def test_chrf_hand_cases_agree_with_sacrebleu(sacrebleu, case):
    hyps, refs, expected = CHRF_HAND_CASES[case]
    streams = [[r] if isinstance(r, str) else r for r in refs]
    streams = [[r[s] for r in streams] for s in range(len(streams[0]))]
    assert sacrebleu.corpus_chrf(hyps, streams).score == pytest.approx(expected, rel=1e-12, abs=0)


# --------------------------------------------------------------------------- edit distances


@cache
def _levenshtein_by_recursion(a: str, b: str) -> int:
    """An independent reference: the recursion itself, memoised."""
    if not a or not b:
        return len(a) + len(b)
    return min(
        _levenshtein_by_recursion(a[1:], b) + 1,
        _levenshtein_by_recursion(a, b[1:]) + 1,
        _levenshtein_by_recursion(a[1:], b[1:]) + (a[0] != b[0]),
    )


def test_edit_distance_hand_cases():
    assert edit_distance("kitten", "sitting") == 3
    assert edit_distance("flaw", "lawn") == 2
    assert edit_distance("", "abc") == edit_distance("abc", "") == 3
    assert edit_distance("same", "same") == 0
    assert edit_distance(["the", "cat", "sat"], ["the", "sat"]) == 1
    assert edit_distance([1, 2, 3], (3, 2, 1)) == 2


def test_edit_distance_matches_the_recursion_on_random_strings():
    rng = np.random.default_rng(0)
    for _ in range(200):
        a, b = _random_text(rng, "abc", 8), _random_text(rng, "abc", 8)
        assert edit_distance(a, b) == _levenshtein_by_recursion(a, b) == edit_distance(b, a), (a, b)


def test_character_error_rate_is_a_corpus_rate():
    # (3 + 1) edits over (7 + 3) reference characters
    assert character_error_rate(["kitten", "abc"], ["sitting", "abd"]) == pytest.approx(0.4)
    assert character_error_rate(["a b"], ["ab"]) == pytest.approx(0.5)  # the space is a character
    assert character_error_rate(["aaaa"], ["a"]) == pytest.approx(3.0)  # insertions push it above 1
    assert character_error_rate(["", "xy"], ["ab", "xy"]) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="empty"):
        character_error_rate(["a"], [""])


def test_word_error_rate_on_strings_and_tokens():
    assert word_error_rate(["the cat sat"], ["the cat sat down"]) == pytest.approx(0.25)
    assert word_error_rate([["the", "dog"]], [["the", "cat"]]) == pytest.approx(0.5)


# --------------------------------------------------------------------------- classification


def _random_labels(seed, n_classes=5, size=40):
    rng = np.random.default_rng(seed)
    true = rng.integers(0, n_classes - 1, size=size)  # the last class never true
    predicted = np.where(rng.random(size) < 0.6, true, rng.integers(0, n_classes, size=size))
    predicted[predicted == 1] = 2  # class 1 never predicted
    return true, predicted


@pytest.mark.parametrize("seed", range(5))
def test_classification_scores_match_sklearn(skm, seed):
    n = 5
    true, predicted = _random_labels(seed, n)
    labels = list(range(n))
    np.testing.assert_array_equal(
        confusion_matrix(true, predicted, n), skm.confusion_matrix(true, predicted, labels=labels)
    )
    scores = per_class_f1(true, predicted, n)
    precision, recall, f1, support = skm.precision_recall_fscore_support(
        true, predicted, labels=labels, average=None, zero_division=0
    )
    np.testing.assert_allclose(scores["precision"], precision, rtol=1e-12, atol=0)
    np.testing.assert_allclose(scores["recall"], recall, rtol=1e-12, atol=0)
    np.testing.assert_allclose(scores["f1"], f1, rtol=1e-12, atol=0)
    np.testing.assert_array_equal(scores["support"], support)
    np.testing.assert_allclose(
        scores["f1"], skm.f1_score(true, predicted, labels=labels, average=None, zero_division=0)
    )
    assert macro_f1(true, predicted, n) == pytest.approx(
        skm.f1_score(true, predicted, labels=labels, average="macro", zero_division=0), rel=1e-12
    )


def test_classes_without_predictions_or_support_score_zero():
    true, predicted = [0, 0, 1], [0, 2, 2]  # class 1 never predicted, class 2 never true, class 3 neither
    counts = confusion_matrix(true, predicted, 4)
    np.testing.assert_array_equal(counts, [[1, 0, 1, 0], [0, 0, 1, 0], [0, 0, 0, 0], [0, 0, 0, 0]])
    scores = per_class_f1(true, predicted, 4)
    np.testing.assert_allclose(scores["precision"], [1, 0, 0, 0])
    np.testing.assert_allclose(scores["recall"], [0.5, 0, 0, 0])
    np.testing.assert_allclose(scores["f1"], [2 / 3, 0, 0, 0])
    np.testing.assert_array_equal(scores["support"], [2, 1, 0, 0])
    assert macro_f1(true, predicted, 4) == pytest.approx(2 / 3 / 4)  # absent classes count in the mean


def test_bad_labels_are_refused():
    with pytest.raises(ValueError, match="outside"):
        confusion_matrix([0, 3], [0, 1], 3)
    with pytest.raises(ValueError, match="2 true labels but 1"):
        confusion_matrix([0, 1], [0], 3)
    with pytest.raises(ValueError, match="integer"):
        per_class_f1([0.0, 1.0], [0, 1], 2)


# ---------------------------------------------------------------------------------- tagging


@pytest.mark.parametrize("seed", range(4))
def test_tag_scores_match_sklearn_on_flattened_tokens(skm, seed):
    rng = np.random.default_rng(400 + seed)
    tagset = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
    true = [list(rng.choice(tagset, size=rng.integers(1, 8))) for _ in range(6)]
    pred = [[t if rng.random() < 0.7 else str(rng.choice(tagset[:4])) for t in sentence] for sentence in true]
    scores = tag_f1(true, pred)
    flat_true, flat_pred = sum(true, []), sum(pred, [])
    assert scores["tags"] == sorted(set(flat_true) | set(flat_pred))
    precision, recall, f1, support = skm.precision_recall_fscore_support(
        flat_true, flat_pred, labels=scores["tags"], average=None, zero_division=0
    )
    np.testing.assert_allclose(scores["precision"], precision, rtol=1e-12, atol=0)
    np.testing.assert_allclose(scores["recall"], recall, rtol=1e-12, atol=0)
    np.testing.assert_allclose(scores["f1"], f1, rtol=1e-12, atol=0)
    np.testing.assert_array_equal(scores["support"], support)
    assert scores["accuracy"] == pytest.approx(skm.accuracy_score(flat_true, flat_pred), rel=1e-12)
    assert scores["macro_f1"] == pytest.approx(
        skm.f1_score(flat_true, flat_pred, labels=scores["tags"], average="macro", zero_division=0), rel=1e-12
    )


def test_tag_scores_are_token_level_not_span_level():
    # the PER span is cut short: span-level F1 would give PER 0; per token B-PER is right
    scores = tag_f1([["B-PER", "I-PER", "O"]], [["B-PER", "O", "O"]])
    by_tag = dict(zip(scores["tags"], scores["f1"]))
    assert scores["tags"] == ["B-PER", "I-PER", "O"]
    assert by_tag == pytest.approx({"B-PER": 1.0, "I-PER": 0.0, "O": 2 / 3})
    assert scores["accuracy"] == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="sentence 0 has 2 true tags but 1"):
        tag_f1([["O", "O"]], [["O"]])


# -------------------------------------------------------------------------------- forecasts


def test_rmse_and_mae_per_lead_time_match_sklearn(skm):
    rng = np.random.default_rng(7)
    truth = rng.normal(size=(20, 3))
    forecast = truth + rng.normal(scale=[0.1, 0.5, 1.0], size=(20, 3))
    np.testing.assert_allclose(
        rmse(forecast, truth), skm.root_mean_squared_error(truth, forecast, multioutput="raw_values"), rtol=1e-12
    )
    np.testing.assert_allclose(
        mae(forecast, truth), skm.mean_absolute_error(truth, forecast, multioutput="raw_values"), rtol=1e-12
    )
    assert rmse(forecast, truth).shape == mae(forecast, truth).shape == (3,)


def test_mase_hand_case_with_a_season():
    training = np.array([1.0, 3.0, 2.0, 4.0, 3.0, 5.0])
    # lag 2: |2-1|, |4-3|, |3-2|, |5-4| -> s = 1; lag 1: 2, 1, 2, 1, 2 -> s = 8/5          (14)
    truth = np.array([[0.0, 0.0], [0.0, 0.0]])
    forecast = np.array([[1.0, -2.0], [3.0, 0.0]])  # MAE per lead: [2, 1]
    np.testing.assert_allclose(mase(forecast, truth, training, season=2), [2.0, 1.0])
    np.testing.assert_allclose(mase(forecast, truth, training, season=1), [2 / 1.6, 1 / 1.6])
    assert mase(forecast, truth, training, season=2, per_lead=False) == pytest.approx(1.5)
    assert mase(forecast, truth, training, per_lead=False) == pytest.approx(1.5 / 1.6)


def test_seasonal_naive_forecast_of_the_training_series_scores_one():
    rng = np.random.default_rng(3)
    series, season = rng.normal(size=30), 4
    naive, truth = series[:-season].reshape(-1, 1), series[season:].reshape(-1, 1)
    assert mase(naive, truth, series, season=season, per_lead=False) == pytest.approx(1.0)


def test_mase_refuses_what_it_cannot_scale():
    with pytest.raises(ValueError, match="positive"):
        mase(np.ones((2, 1)), np.zeros((2, 1)), np.array([1.0, 2.0, 1.0, 2.0]), season=2)
    with pytest.raises(ValueError, match="longer than season"):
        mase(np.ones((2, 1)), np.zeros((2, 1)), np.array([1.0, 2.0]), season=2)
    with pytest.raises(ValueError, match="n_origins, horizon"):
        mae(np.ones(3), np.zeros(3))
