"""Sequence metrics (rnnlab.models.metrics) against cases computed by hand."""

import math

import pytest

from rnnlab.models.metrics import bleu_statistics, corpus_bleu, exact_match, token_accuracy


def _split(*texts):
    return [t.split() for t in texts]


def test_identical_corpus_scores_100():
    refs = _split("the cat sat on the mat", "a dog barks at night")
    assert corpus_bleu(refs, refs) == pytest.approx(100.0)


def test_papineni_clipped_unigram_precision():
    # Papineni et al. 2002, section 2.1: "the" x7 against "the cat is on the mat": 2/7
    hyp, ref = _split("the the the the the the the"), _split("the cat is on the mat")
    stats = bleu_statistics(hyp, ref, max_n=1)
    assert stats["matches"] == [2] and stats["totals"] == [7]
    assert corpus_bleu(hyp, ref, max_n=1) == pytest.approx(100 * 2 / 7)  # c = 7 > r = 6: no penalty
    assert corpus_bleu(hyp, ref) == 0.0  # no bigram matches: 0 without smoothing


def test_brevity_penalty_of_a_short_exact_prefix():
    # every n-gram of "the cat sat on" is in the reference: p_n = 1; c = 4, r = 6: BP = exp(1 - 6/4)
    assert corpus_bleu(_split("the cat sat on"), _split("the cat sat on the mat")) == pytest.approx(
        100 * math.exp(-0.5)
    )


def test_counts_are_summed_over_the_corpus_before_dividing():
    hyps = _split("a b c d", "a b x d e")
    refs = _split("a b c d", "a b c d e")
    # p1 = (4+4)/(4+5), p2 = (3+2)/(3+4), p3 = (2+0)/(2+3), p4 = (1+0)/(1+2); c = r = 9
    expected = 100 * (8 / 9 * 5 / 7 * 2 / 5 * 1 / 3) ** 0.25
    assert corpus_bleu(hyps, refs) == pytest.approx(expected)
    assert corpus_bleu(hyps[1:], refs[1:]) == 0.0  # the second sentence alone has no 3-gram match


def test_closest_reference_length_and_max_count_over_references():
    hyp = _split("the cat the cat")
    refs = [_split("the cat", "the cat is here the cat")]  # lengths 2 and 6: |2-4| = |6-4|, the shorter wins
    stats = bleu_statistics(hyp, refs, max_n=2)
    assert stats["ref_len"] == 2
    assert stats["matches"] == [
        4,
        2,
    ]  # "the" x2 and "cat" x2 from the second ref; "the cat" x2 likewise; "cat the" none
    assert stats["totals"] == [4, 3]


def test_exact_match_and_token_accuracy():
    hyps = [[1, 2, 3], [1, 2], [4, 2, 3, 9]]
    refs = [[1, 2, 3], [1, 2, 3], [1, 2, 3]]
    assert exact_match(hyps, refs) == pytest.approx(1 / 3)
    assert token_accuracy(hyps, refs) == pytest.approx((3 + 2 + 2) / 9)


def test_errors():
    with pytest.raises(ValueError, match="2 hypotheses but 1 references"):
        corpus_bleu([[1], [2]], [[1]])
    with pytest.raises(ValueError, match="max_n"):
        corpus_bleu([[1]], [[1]], max_n=0)
