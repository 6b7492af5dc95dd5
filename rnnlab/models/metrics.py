"""How good are the outputs: sequence metrics (exact match, token accuracy, corpus BLEU and chrF,
character and word error rates), classification and tagging metrics (confusion matrix,
per-class and macro F1) and forecast errors per lead time (RMSE, MAE, MASE).

Pure Python and NumPy. sacrebleu and scikit-learn are the references the tests compare with
(tests/test_models_metrics*.py), never imports of this module.

Sequences
---------
Every sequence function takes one hypothesis per reference: token sequences (lists of ids or of
strings) for exact match, token accuracy, BLEU and WER; strings for chrF and CER.

exact match      = share of hypotheses equal to their reference, token for token
token accuracy   = sum_b #{i < len(ref_b): hyp_b[i] == ref_b[i]} / sum_b len(ref_b)   (position-wise;
                   a missing token counts wrong, surplus tokens are exact match's business)

Corpus BLEU (Papineni et al. 2002), as sacrebleu's corpus_bleu with tokenize="none", on tokens given:
    p_n = sum_b sum_{g in n-grams(hyp_b)} min(count_hyp_b(g), max_r count_ref_r(g))
          / sum_b #n-grams(hyp_b)                                         (1) clipped precision
    c = sum_b len(hyp_b),  r = sum_b len(the reference closest in length to hyp_b)
                           (a tie goes to the shorter)                    (2)
    BP = 1 if c > r else exp(1 - r / c)                                   (2) brevity penalty
    BLEU = 100 * BP * exp((1/N) sum_{n=1..N} log p_n),  N = 4             (3)
The counts are summed over the corpus before dividing: BLEU is not a mean of sentence scores.
smooth="none" (sacrebleu smooth_method="none"): any p_n = 0 makes BLEU 0, as in the paper.
smooth="exp" (sacrebleu's default smooth_method, NIST mteval-v13a, Chen & Cherry 2014 method 3):
the k-th order (in increasing n) whose matches are 0 gets, instead of p_n = 0,
    p_n = 1 / (2^k * total_n),  k = 1, 2, ...                             (4)
BLEU stays 0 under either when c = 0, when no n-gram of any order matches, or when some order has
total_n = 0 (no hypothesis has n tokens: sacrebleu stops at that order and the zero precisions
left floor the score to 0). sacrebleu's corpus BLEU does not use effective order; nor does this.

chrF (Popović 2015), as sacrebleu's corpus_chrf with its defaults (char_order 6, word_order 0,
beta 2, whitespace removed, no eps smoothing), on strings:
    per segment b and order n = 1..N, on the text with all whitespace removed,
        hyp_n = #character n-grams of hyp_b (counted 0 when the reference has none of order n)
        ref_n = #character n-grams of ref_b,  match_n = sum_g min(count_hyp_b(g), count_ref_b(g))  (5)
    summed over the corpus; with several references a segment keeps the statistics of the
    reference whose segment chrF (7) is highest (the first on ties);
    P = mean_{n in E} match_n / hyp_n,  R = mean_{n in E} match_n / ref_n,
        E = {n : hyp_n > 0 and ref_n > 0}  (the effective orders)                          (6)
    chrF = 100 * (1 + beta^2) P R / (beta^2 P + R),  0 when E is empty or P + R = 0          (7)
Precision and recall are averaged over the orders first, then one F is taken (sacrebleu >= 2.0),
not a mean of per-order F scores.

Edit distance (Levenshtein) between sequences a and b, the fewest insertions, deletions and
substitutions turning one into the other:
    D[i][0] = i,  D[0][j] = j,
    D[i][j] = min(D[i-1][j] + 1, D[i][j-1] + 1, D[i-1][j-1] + [a_i != b_j])                 (8)
    CER = sum_b D(hyp_b, ref_b) / sum_b len(ref_b)   over characters (spaces included)
    WER = the same over words (whitespace-split strings, or token sequences as given)     (9)
Both are corpus rates, 0 when perfect and above 1 when the hypotheses insert enough.

Classification and tagging
--------------------------
Labels are class ids 0..K-1 (K = n_classes); every class counts, present in the data or not.
    C[i, j] = #{k : true_k = i and predicted_k = j}   rows true, columns predicted (sklearn's) (10)
    tp_c = C[c, c],  predicted_c = sum_i C[i, c],  support_c = sum_j C[c, j]
    precision_c = tp_c / predicted_c,  recall_c = tp_c / support_c,
    F1_c = 2 tp_c / (predicted_c + support_c)   (= 2 P R / (P + R) whenever P + R > 0)     (11)
    each 0 where its denominator is 0 (sklearn's zero_division=0): a class never predicted has
    precision 0, a class never true has recall 0, and one that is neither has F1 0
    macro F1 = (1/K) sum_c F1_c, over all K classes (sklearn's labels=range(K))             (12)
Tagging (tag_f1) applies (10)-(12) to the tokens of all sentences flattened: token-level scores,
not the CoNLL span-level (entity) F1.

Forecasts
---------
forecast and truth are (n_origins, horizon): row o is the forecast made at origin o, column k
its lead time k + 1. Errors are per lead time, averaged over the origins:
    RMSE_k = sqrt(mean_o (f[o, k] - y[o, k])^2),   MAE_k = mean_o |f[o, k] - y[o, k]|      (13)
    MASE_k = MAE_k / s,  s = (1 / (T - m)) sum_{t=m}^{T-1} |x_t - x_{t-m}|                  (14)
with x the training series (length T) and m the season: s is the in-sample MAE of the seasonal
naive forecast x_t ~ x_{t-m} (Hyndman & Koehler 2006), so MASE < 1 beats it on average.
Overall MASE (per_lead=False) = mean over all (o, k) of |f - y| / s = mean_k MASE_k.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Hashable, Sequence

import numpy as np


def _check_pairs(hypotheses, references) -> None:
    if len(hypotheses) != len(references):
        raise ValueError(
            f"got {len(hypotheses)} hypotheses but {len(references)} references: "
            "give one reference (or a list of references) per hypothesis"
        )
    if not hypotheses:
        raise ValueError("no hypotheses: the corpus is empty")


def exact_match(hypotheses: Sequence[Sequence], references: Sequence[Sequence]) -> float:
    """Share of hypotheses equal to their reference (0..1)."""
    _check_pairs(hypotheses, references)
    return sum(list(h) == list(r) for h, r in zip(hypotheses, references)) / len(references)


def token_accuracy(hypotheses: Sequence[Sequence], references: Sequence[Sequence]) -> float:
    """Position-wise share of reference tokens the hypothesis has at the same position (0..1)."""
    _check_pairs(hypotheses, references)
    total = sum(len(r) for r in references)
    if total == 0:
        raise ValueError("every reference is empty: token accuracy is undefined")
    right = sum(sum(a == b for a, b in zip(h, r)) for h, r in zip(hypotheses, references))
    return right / total


# ---------------------------------------------------------------------------------------- BLEU


def _ngrams(tokens: Sequence, n: int) -> Counter:
    return Counter(tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))


def bleu_statistics(hypotheses, references, max_n: int = 4) -> dict:
    """The corpus counts behind BLEU: matches[n-1], totals[n-1] (1), hyp_len c and ref_len r (2).
    A reference is a token sequence, or a list of token sequences (several references)."""
    _check_pairs(hypotheses, references)
    matches, totals = [0] * max_n, [0] * max_n
    hyp_len = ref_len = 0
    for hyp, refs in zip(hypotheses, references):
        refs = [list(r) for r in refs] if refs and isinstance(refs[0], (list, tuple)) else [list(refs)]
        hyp = list(hyp)
        hyp_len += len(hyp)
        ref_len += min((abs(len(r) - len(hyp)), len(r)) for r in refs)[1]  # (2)
        for n in range(1, max_n + 1):
            counts = _ngrams(hyp, n)
            most = Counter()
            for r in refs:
                most |= _ngrams(r, n)  # max count of each n-gram over the references
            matches[n - 1] += sum(min(c, most[g]) for g, c in counts.items())  # (1)
            totals[n - 1] += max(len(hyp) - n + 1, 0)
    return {"matches": matches, "totals": totals, "hyp_len": hyp_len, "ref_len": ref_len}


BLEU_SMOOTHING = ("none", "exp")


def corpus_bleu(hypotheses, references, max_n: int = 4, smooth: str = "none") -> float:
    """Corpus BLEU (3) in 0..100 over n-grams up to max_n, with the brevity penalty (2).

    smooth="none" scores 0 as soon as one order has no match (the paper); smooth="exp" is
    sacrebleu's default, which replaces the k-th zero precision by 1 / (2^k * total_n) (4), so a
    corpus of short outputs with unigram matches but no 4-gram match still scores above 0.
    Either way c = 0, no match of any order, or an order with no n-gram at all gives 0.
    """
    if isinstance(max_n, bool) or not isinstance(max_n, int) or max_n < 1:
        raise ValueError(f"max_n must be a positive integer, got {max_n!r}")
    if smooth not in BLEU_SMOOTHING:
        raise ValueError(f"smooth must be one of {BLEU_SMOOTHING}, got {smooth!r}")
    s = bleu_statistics(hypotheses, references, max_n)
    matches, totals = s["matches"], s["totals"]
    if s["hyp_len"] == 0 or sum(matches) == 0 or min(totals) == 0:
        return 0.0
    precisions, zero_orders = [], 0
    for matched, total in zip(matches, totals):
        if matched > 0:
            precisions.append(matched / total)  # (1)
        elif smooth == "exp":
            zero_orders += 1
            precisions.append(1.0 / (2**zero_orders * total))  # (4)
        else:
            return 0.0
    log_precision = sum(math.log(p) for p in precisions) / max_n  # (3)
    c, r = s["hyp_len"], s["ref_len"]
    brevity = 1.0 if c > r else math.exp(1 - r / c)  # (2)
    return 100.0 * brevity * math.exp(log_precision)  # (3)


# ---------------------------------------------------------------------------------------- chrF


def _char_ngram_counts(text: str, max_n: int) -> list[Counter]:
    text = "".join(text.split())  # whitespace removed, as sacrebleu's default
    return [Counter(text[i : i + n] for i in range(len(text) - n + 1)) for n in range(1, max_n + 1)]


def _chrf_statistics(hyp_counts: list[Counter], ref_counts: list[Counter]) -> list[tuple[int, int, int]]:
    """(hyp_n, ref_n, match_n) for each order n (5)."""
    stats = []
    for hyp, ref in zip(hyp_counts, ref_counts):
        matched = sum(min(count, ref[g]) for g, count in hyp.items())
        stats.append((sum(hyp.values()) if ref else 0, sum(ref.values()), matched))
    return stats


def _chrf_score(stats: list[tuple[int, int, int]], beta: float) -> float:
    effective = [(matched / hyp, matched / ref) for hyp, ref, matched in stats if hyp > 0 and ref > 0]  # (6)
    if not effective:
        return 0.0
    precision = sum(p for p, _ in effective) / len(effective)  # (6)
    recall = sum(r for _, r in effective) / len(effective)  # (6)
    if precision + recall == 0:
        return 0.0
    factor = beta**2
    return 100.0 * (1 + factor) * precision * recall / (factor * precision + recall)  # (7)


def chrf(
    hypotheses: Sequence[str],
    references: Sequence[str | Sequence[str]],
    char_order: int = 6,
    beta: float = 2,
) -> float:
    """Corpus chrF (5)-(7) in 0..100 on strings, as sacrebleu's corpus_chrf with its defaults.

    A reference is a string, or a list of strings (several references: each segment keeps the
    one with the best segment chrF). Whitespace is removed before the character n-grams are cut.
    """
    _check_pairs(hypotheses, references)
    if isinstance(char_order, bool) or not isinstance(char_order, int) or char_order < 1:
        raise ValueError(f"char_order must be a positive integer, got {char_order!r}")
    if not beta >= 0:
        raise ValueError(f"beta must be a number >= 0, got {beta!r}")
    corpus = [[0, 0, 0] for _ in range(char_order)]
    for hyp, refs in zip(hypotheses, references):
        refs = [refs] if isinstance(refs, str) else list(refs)
        if not refs:
            raise ValueError("a hypothesis has an empty list of references")
        hyp_counts = _char_ngram_counts(hyp, char_order)
        best, best_score = None, -1.0
        for ref in refs:
            stats = _chrf_statistics(hyp_counts, _char_ngram_counts(ref, char_order))  # (5)
            score = _chrf_score(stats, beta)
            if score > best_score:
                best, best_score = stats, score
        for total, segment in zip(corpus, best):
            for i in range(3):
                total[i] += segment[i]
    return _chrf_score([tuple(t) for t in corpus], beta)


# ---------------------------------------------------------------------------- edit distances


def edit_distance(a: Sequence, b: Sequence) -> int:
    """Levenshtein distance (8) between two sequences (strings, token lists): the fewest
    insertions, deletions and substitutions (each costing 1) turning a into b.

    O(len(a) * len(b)) time, one row of the table at a time.
    """
    a, b = list(a), list(b)
    if len(a) < len(b):
        a, b = b, a  # the distance is symmetric: keep the row the shorter one
    previous = list(range(len(b) + 1))  # D[0][j] = j
    for i, x in enumerate(a, 1):
        current = [i]  # D[i][0] = i
        for j, y in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (x != y)))  # (8)
        previous = current
    return previous[-1]


def _error_rate(hypotheses, references, what: str) -> float:
    _check_pairs(hypotheses, references)
    length = sum(len(r) for r in references)
    if length == 0:
        raise ValueError(f"every reference is empty: the {what} error rate is undefined")
    return sum(edit_distance(h, r) for h, r in zip(hypotheses, references)) / length  # (9)


def character_error_rate(hypotheses: Sequence[str], references: Sequence[str]) -> float:
    """Corpus CER (9): total character edit distance over total reference characters (0..inf).
    Every character counts, spaces included."""
    return _error_rate(hypotheses, references, "character")


def word_error_rate(hypotheses: Sequence[str | Sequence], references: Sequence[str | Sequence]) -> float:
    """Corpus WER (9): total word edit distance over total reference words (0..inf). A string is
    split on whitespace; a token sequence is taken as it is."""

    def words(item):
        return item.split() if isinstance(item, str) else list(item)

    return _error_rate([words(h) for h in hypotheses], [words(r) for r in references], "word")


# ---------------------------------------------------------------------------- classification


def _class_ids(values, n_classes: int, what: str) -> np.ndarray:
    ids = np.asarray(values)
    if ids.ndim != 1:
        raise ValueError(f"{what} must be one-dimensional (one class id per item), got shape {ids.shape}")
    if ids.size == 0:
        raise ValueError(f"{what} is empty: nothing to score")
    if not np.issubdtype(ids.dtype, np.integer):
        raise ValueError(f"{what} must hold integer class ids, got dtype {ids.dtype}")
    if ids.min() < 0 or ids.max() >= n_classes:
        raise ValueError(
            f"{what} holds class ids from {ids.min()} to {ids.max()}, "
            f"outside 0..{n_classes - 1} (n_classes={n_classes})"
        )
    return ids


def confusion_matrix(
    true: Sequence[int] | np.ndarray, predicted: Sequence[int] | np.ndarray, n_classes: int
) -> np.ndarray:
    """(n_classes, n_classes) int64 counts (10): C[i, j] = items of true class i predicted as j
    (rows true, columns predicted, as sklearn.metrics.confusion_matrix)."""
    if isinstance(n_classes, bool) or not isinstance(n_classes, (int, np.integer)) or n_classes < 1:
        raise ValueError(f"n_classes must be a positive integer, got {n_classes!r}")
    true_ids = _class_ids(true, n_classes, "true")
    predicted_ids = _class_ids(predicted, n_classes, "predicted")
    if len(true_ids) != len(predicted_ids):
        raise ValueError(f"got {len(true_ids)} true labels but {len(predicted_ids)} predictions")
    counts = np.bincount(true_ids * n_classes + predicted_ids, minlength=n_classes * n_classes)  # (10)
    return counts.reshape(n_classes, n_classes).astype(np.int64)


def _divide_or_zero(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    out = np.zeros(numerator.shape, dtype=np.float64)
    return np.divide(numerator, denominator, out=out, where=denominator > 0)


def _scores_from_confusion(counts: np.ndarray) -> dict[str, np.ndarray]:
    tp = np.diag(counts)
    predicted, support = counts.sum(axis=0), counts.sum(axis=1)
    return {
        "precision": _divide_or_zero(tp, predicted),  # (11)
        "recall": _divide_or_zero(tp, support),  # (11)
        "f1": _divide_or_zero(2 * tp, predicted + support),  # (11)
        "support": support.astype(np.int64),
    }


def per_class_f1(
    true: Sequence[int] | np.ndarray, predicted: Sequence[int] | np.ndarray, n_classes: int
) -> dict[str, np.ndarray]:
    """Per-class scores (11) as arrays of length n_classes: "precision", "recall", "f1" (float64)
    and "support" (int64, items of that true class). A score whose denominator is 0 is 0, as
    sklearn's precision_recall_fscore_support(labels=range(n_classes), zero_division=0)."""
    return _scores_from_confusion(confusion_matrix(true, predicted, n_classes))


def macro_f1(true: Sequence[int] | np.ndarray, predicted: Sequence[int] | np.ndarray, n_classes: int) -> float:
    """Unweighted mean of the per-class F1 (12) over all n_classes classes, absent ones counting 0
    (sklearn's f1_score(average="macro", labels=range(n_classes), zero_division=0))."""
    return float(per_class_f1(true, predicted, n_classes)["f1"].mean())


def _sorted_tags(tags: set) -> list:
    try:
        return sorted(tags)
    except TypeError:  # tags of mixed types: a stable order all the same
        return sorted(tags, key=repr)


def tag_f1(true_tag_seqs: Sequence[Sequence[Hashable]], pred_tag_seqs: Sequence[Sequence[Hashable]]) -> dict:
    """Token-level tagging scores: every token of every sentence is one item of (10)-(12).

    This is not the CoNLL span-level (entity) F1: a B-/I- tag is scored as a tag of its own, one
    token at a time. Sentences are paired one to one and must have equal lengths.

    Returns a dict: "tags" (sorted list of every tag seen, true or predicted), "precision",
    "recall", "f1" (float64 arrays, one entry per tag, 0 where undefined, as per_class_f1),
    "support" (int64 array), "accuracy" (share of tokens tagged right) and "macro_f1" (12).
    """
    _check_pairs(pred_tag_seqs, true_tag_seqs)
    flat_true, flat_pred = [], []
    for index, (true, pred) in enumerate(zip(true_tag_seqs, pred_tag_seqs)):
        if len(true) != len(pred):
            raise ValueError(f"sentence {index} has {len(true)} true tags but {len(pred)} predicted tags")
        flat_true.extend(true)
        flat_pred.extend(pred)
    if not flat_true:
        raise ValueError("every sentence is empty: there are no tokens to score")
    tags = _sorted_tags(set(flat_true) | set(flat_pred))
    index_of = {tag: i for i, tag in enumerate(tags)}
    counts = confusion_matrix(
        np.array([index_of[t] for t in flat_true]), np.array([index_of[t] for t in flat_pred]), len(tags)
    )
    scores = _scores_from_confusion(counts)
    return {
        "tags": tags,
        **scores,
        "accuracy": float(np.trace(counts) / len(flat_true)),
        "macro_f1": float(scores["f1"].mean()),
    }


# ---------------------------------------------------------------------------------- forecasts


def _forecast_pair(forecast, truth) -> tuple[np.ndarray, np.ndarray]:
    forecast, truth = np.asarray(forecast, dtype=np.float64), np.asarray(truth, dtype=np.float64)
    if forecast.shape != truth.shape:
        raise ValueError(f"forecast has shape {forecast.shape} but truth has shape {truth.shape}")
    if forecast.ndim != 2 or forecast.shape[0] == 0:
        raise ValueError(
            f"forecast and truth must be (n_origins, horizon) with n_origins >= 1, got shape {forecast.shape}"
        )
    return forecast, truth


def rmse(forecast: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Root mean squared error per lead time (13): (n_origins, horizon) -> (horizon,) float64."""
    forecast, truth = _forecast_pair(forecast, truth)
    return np.sqrt(np.mean((forecast - truth) ** 2, axis=0))  # (13)


def mae(forecast: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Mean absolute error per lead time (13): (n_origins, horizon) -> (horizon,) float64."""
    forecast, truth = _forecast_pair(forecast, truth)
    return np.mean(np.abs(forecast - truth), axis=0)  # (13)


def mase(
    forecast: np.ndarray, truth: np.ndarray, training_values: np.ndarray, season: int = 1, per_lead: bool = True
) -> np.ndarray | float:
    """Mean absolute scaled error (14): MAE scaled by the in-sample MAE of the seasonal naive
    forecast on the training series (Hyndman & Koehler 2006).

    forecast, truth: (n_origins, horizon); training_values: the 1-D training series, one scale
    for every origin; season: the lag m of the naive forecast (1: the previous value).
    per_lead=True returns the (horizon,) array MASE_k; per_lead=False the float over all
    origins and lead times (the mean of the per-lead values).
    """
    forecast, truth = _forecast_pair(forecast, truth)
    series = np.asarray(training_values, dtype=np.float64)
    if isinstance(season, bool) or not isinstance(season, (int, np.integer)) or season < 1:
        raise ValueError(f"season must be a positive integer, got {season!r}")
    if series.ndim != 1 or len(series) <= season:
        raise ValueError(f"training_values must be a 1-D series longer than season={season}, got shape {series.shape}")
    scale = float(np.mean(np.abs(series[season:] - series[:-season])))  # (14)
    if not scale > 0:
        raise ValueError(
            f"the seasonal naive forecast's in-sample MAE at lag {season} is {scale}: MASE needs it positive "
            "(a training series that repeats itself exactly at that lag has none)"
        )
    per_lead_mase = np.mean(np.abs(forecast - truth), axis=0) / scale  # (13), (14)
    return per_lead_mase if per_lead else float(per_lead_mase.mean())
