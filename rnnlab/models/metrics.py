"""How good are the output sequences: exact match, per-token accuracy and corpus BLEU.

Every function takes token sequences (lists of ids or of strings), one hypothesis per reference.

exact match      = share of hypotheses equal to their reference, token for token
token accuracy   = sum_b #{i < len(ref_b): hyp_b[i] == ref_b[i]} / sum_b len(ref_b)   (position-wise;
                   a missing token counts wrong, surplus tokens are exact match's business)

Corpus BLEU (Papineni et al. 2002), as sacrebleu's corpus_bleu without smoothing, on tokens given:
    p_n = sum_b sum_{g in n-grams(hyp_b)} min(count_hyp_b(g), max_r count_ref_r(g))
          / sum_b #n-grams(hyp_b)                                         (1) clipped precision
    c = sum_b len(hyp_b),  r = sum_b len(the reference closest in length to hyp_b)
                           (a tie goes to the shorter)                    (2)
    BP = 1 if c > r else exp(1 - r / c)                                   (2) brevity penalty
    BLEU = 100 * BP * exp((1/N) sum_{n=1..N} log p_n),  N = 4             (3)
The counts are summed over the corpus before dividing: BLEU is not a mean of sentence scores.
Any p_n = 0 makes BLEU 0 (no smoothing), as in the paper.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence


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


def corpus_bleu(hypotheses, references, max_n: int = 4) -> float:
    """Corpus BLEU (3) in 0..100 over n-grams up to max_n, with the brevity penalty (2)."""
    if isinstance(max_n, bool) or not isinstance(max_n, int) or max_n < 1:
        raise ValueError(f"max_n must be a positive integer, got {max_n!r}")
    s = bleu_statistics(hypotheses, references, max_n)
    if s["hyp_len"] == 0 or min(s["matches"]) == 0:
        return 0.0
    log_precision = sum(math.log(m / t) for m, t in zip(s["matches"], s["totals"])) / max_n  # (1), (3)
    c, r = s["hyp_len"], s["ref_len"]
    brevity = 1.0 if c > r else math.exp(1 - r / c)  # (2)
    return 100.0 * brevity * math.exp(log_precision)  # (3)
