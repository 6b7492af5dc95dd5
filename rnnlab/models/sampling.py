"""Generation from any autoregressive model: one-token sampling, the streaming generation loop
and beam search, written against a small protocol (`TokenModel`: start, feed a token, get the
next token's logits) rather than a model class. Not to be confused with `rnnlab.nn.stepper.Stepper`,
the frozen one-step copy of a recurrent layer that a TokenModel such as CharLM steps through.

One token from logits z (V,), temperature tau > 0:
    p = softmax(z / tau) = exp((z - max z) / tau) / sum exp((z - max z) / tau)   (1)
        (shifted before dividing: every exponent is <= 0, so nothing overflows for any tau)
    top_k: keep the k largest p (ties broken towards the lower id), renormalise  (2)
    top_p: sort p descending, keep p_(1..m) for the smallest m with
           p_(1) + ... + p_(m) >= top_p (always m >= 1), renormalise            (3)
    draw one id from the kept, renormalised p with the caller's rng              (4)
Greedy is argmax z (the first id among ties). tau = 0 means greedy; as tau -> 0, (1) puts all
mass on argmax z, so tiny temperatures agree with greedy numerically too (for a unique maximum;
with tied maxima the limit of (1) is uniform over the tie, where greedy takes the first).
(2) runs before (3), and (3) sees (2)'s renormalised probabilities, as in Hugging Face.

Generation (the lectures' loop): feed the prime one token at a time, then repeatedly draw the
next token from the last logits and feed it back in.

Beam search over exactly L further tokens, width W, log p from log_softmax of each step's logits:
    score(y_1..y_t) = sum_{s<=t} log p(y_s | prime, y_<s)                        (5)
    from each kept prefix extend by every token, keep the W highest scores       (6)
Width 1 is greedy decoding. Beam search is exact once W >= V**(L-1) (nothing is ever dropped);
below that it may miss the best sequence (a prefix that scores low early is dropped even if its
continuations would have won). Every candidate has length L (there is no end token), so length normalisation
(score / L) cannot change the ranking: `length_norm=True` only reports the mean log-probability
per token instead of the sum.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

from ..nn.core import positive_int


@runtime_checkable
class TokenModel(Protocol):
    """An autoregressive model over token ids, seen one token at a time: what generation and beam
    search need from a model. It advances W independent rows (beams, or one row for sampling) by
    one token each and scores every possible next token. Any object with these three methods is
    one (a structural protocol: no base class to inherit); `CharLM` is the package's.

    initial(batch) -> state
        the state before any token, for `batch` rows (may be None, e.g. "zeros on first use").
    step(state, ids) -> (logits, new_state)
        ids (W,) integers, one token per row; logits (W, V) unnormalised scores for the next
        token of each row (log-probabilities are fine too: log_softmax leaves them unchanged).
        Must not modify `state` in place: beam search may still hold it.
    select(state, rows) -> state
        the state of rows `rows` (an integer array, entries may repeat), in that order: the rows
        of beam search's survivors, a parent duplicated once per surviving child.
    """

    def initial(self, batch: int) -> Any: ...

    def step(self, state: Any, ids: np.ndarray) -> tuple[np.ndarray, Any]: ...

    def select(self, state: Any, rows: np.ndarray) -> Any: ...


# --- argument checks ------------------------------------------------------------------------
def _check_sampling(temperature, top_k, top_p) -> tuple[float, int | None, float | None]:
    """The sampling options checked, or a ValueError naming the argument."""
    if (
        isinstance(temperature, bool)
        or not isinstance(temperature, (int, float, np.integer, np.floating))
        or not np.isfinite(temperature)
        or temperature < 0
    ):
        raise ValueError(f"temperature must be a finite number >= 0 (0 means greedy), got {temperature!r}")
    if top_k is not None:
        top_k = positive_int("top_k", top_k)
    if top_p is not None:
        if (
            isinstance(top_p, bool)
            or not isinstance(top_p, (int, float, np.integer, np.floating))
            or not 0 < top_p <= 1
        ):
            raise ValueError(f"top_p must be a number in (0, 1], got {top_p!r}")
        top_p = float(top_p)
    return float(temperature), top_k, top_p


def _check_logits(name: str, logits, ndim: int) -> np.ndarray:
    """`logits` as float64 with `ndim` dims, no NaN or +inf, at least one finite entry per row
    (-inf is allowed: it marks a token that can never be chosen)."""
    z = np.asarray(logits)
    if z.dtype.kind not in "fiu" or z.ndim != ndim or z.shape[-1] == 0:
        shape = "(V,)" if ndim == 1 else "(W, V)"
        raise ValueError(
            f"{name} must be a real array of shape {shape} with V >= 1, got dtype {z.dtype} and shape {z.shape}"
        )
    z = z.astype(np.float64, copy=False)
    if np.isnan(z).any() or np.isposinf(z).any():
        raise ValueError(f"{name} contains NaN or +inf")
    if not np.isfinite(z.max(axis=-1)).all():
        raise ValueError(f"{name} has a row where every entry is -inf (no token can be chosen)")
    return z


def _check_ids(name: str, ids, allow_empty: bool = False) -> np.ndarray:
    """Token ids as a 1-D intp array of non-negative integers."""
    a = np.asarray(ids)
    if a.size == 0 and a.dtype.kind == "f":  # np.asarray([]) is float64; an empty list is fine
        a = a.astype(np.intp)
    if a.dtype.kind not in "iu" or a.ndim != 1 or (a.size == 0 and not allow_empty):
        need = "a 1-D sequence of integer token ids" + ("" if allow_empty else " with at least one id")
        raise ValueError(f"{name} must be {need}, got dtype {a.dtype} and shape {a.shape}")
    if a.size and a.min() < 0:
        raise ValueError(f"{name} must hold non-negative token ids, got {int(a.min())}")
    return a.astype(np.intp, copy=False)


def _check_rng(rng) -> None:
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator (np.random.default_rng(seed)), got {type(rng).__name__}")


def _check_length(length) -> int:
    if isinstance(length, bool) or not isinstance(length, (int, np.integer)) or length < 0:
        raise ValueError(f"length must be an integer >= 0 (tokens to produce), got {length!r}")
    return int(length)


def _step(model: TokenModel, state, ids: np.ndarray) -> tuple[np.ndarray, Any]:
    """model.step with its logits checked to be (W, V) and every fed id to be below V."""
    logits, state = model.step(state, ids)
    z = _check_logits("the model's logits", logits, 2)
    if z.shape[0] != ids.shape[0]:
        raise ValueError(
            f"the model returned logits of shape {z.shape} for {ids.shape[0]} row(s); expected ({ids.shape[0]}, V)"
        )
    if ids.max() >= z.shape[1]:
        raise ValueError(
            f"token id {int(ids.max())} is out of range for a vocabulary of "
            f"{z.shape[1]} (the model's logits have V={z.shape[1]})"
        )
    return z, state


# --- one token ------------------------------------------------------------------------------
def log_softmax(logits: np.ndarray) -> np.ndarray:
    """log softmax over the last axis: z - m - log sum exp(z - m), m = max z (never overflows)."""
    z = np.asarray(logits, dtype=np.float64)
    shifted = z - z.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def token_probs(
    logits, *, temperature: float = 1.0, top_k: int | None = None, top_p: float | None = None
) -> np.ndarray:
    """The distribution (V,) that `next_token` draws from: (1), then (2) and/or (3), renormalised.

    temperature 0 gives the one-hot of argmax (greedy)."""
    temperature, top_k, top_p = _check_sampling(temperature, top_k, top_p)
    z = _check_logits("logits", logits, 1)
    V = z.shape[0]
    if temperature == 0:
        p = np.zeros(V)
        p[int(np.argmax(z))] = 1.0
        return p
    with np.errstate(over="ignore", under="ignore"):  # (z - max) / tiny -> -inf, exp -> 0: wanted
        p = np.exp((z - z.max()) / temperature)  # (1)
    p /= p.sum()
    if top_k is not None and top_k < V:  # (2)
        drop = np.argsort(-p, kind="stable")[top_k:]
        p[drop] = 0.0
        p /= p.sum()
    if top_p is not None and top_p < 1:  # (3)
        order = np.argsort(-p, kind="stable")
        before = np.cumsum(p[order]) - p[order]  # mass of the more likely tokens
        p[order[before >= top_p]] = 0.0  # the first token has before == 0 < top_p: kept
        p /= p.sum()
    return p


def next_token(
    logits,
    rng: np.random.Generator,
    *,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    greedy: bool = False,
) -> int:
    """One token id drawn from logits (V,): argmax if `greedy` or temperature == 0, otherwise
    one draw by `rng` from softmax(logits / temperature) restricted by top_k and/or top_p (4).

    top_k larger than V keeps every token. Options are checked even when greedy."""
    _check_rng(rng)
    temperature, top_k, top_p = _check_sampling(temperature, top_k, top_p)
    if greedy or temperature == 0:
        return int(np.argmax(_check_logits("logits", logits, 1)))
    p = token_probs(logits, temperature=temperature, top_k=top_k, top_p=top_p)
    kept = np.flatnonzero(p)
    return int(kept[rng.choice(kept.size, p=p[kept])])  # (4)


# --- sequences ------------------------------------------------------------------------------
def generate(
    model: TokenModel,
    prime_ids: Sequence[int] | np.ndarray,
    length: int,
    rng: np.random.Generator,
    *,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    greedy: bool = False,
) -> Iterator[int]:
    """Feed `prime_ids` (at least one) to `model` one at a time, then yield `length` sampled
    ids, each fed back in before the next is drawn (the last one is not fed: nothing needs it).

    Arguments are checked here, before the first token is asked for; the model runs lazily, one
    step per yielded id, so a caller can print as it goes. Sampling options are `next_token`'s.
    """
    prime = _check_ids("prime_ids", prime_ids)
    length = _check_length(length)
    temperature, top_k, top_p = _check_sampling(temperature, top_k, top_p)
    _check_rng(rng)
    options = dict(temperature=temperature, top_k=top_k, top_p=top_p, greedy=greedy)

    def tokens() -> Iterator[int]:
        state = model.initial(1)
        for i in prime:
            logits, state = _step(model, state, np.array([i], np.intp))
        for n in range(length):
            token = next_token(logits[0], rng, **options)
            yield token
            if n + 1 < length:
                logits, state = _step(model, state, np.array([token], np.intp))

    return tokens()


def beam_search(
    model: TokenModel, prime_ids: Sequence[int] | np.ndarray, length: int, width: int, *, length_norm: bool = False
) -> tuple[list[int], float]:
    """The highest-scoring continuation of `prime_ids` by exactly `length` tokens that beam search
    of `width` finds, and its score: the total log-probability (5), or with `length_norm` the mean
    per token (same ranking, see the module doc). Deterministic; ties go to the lower parent row,
    then the lower token id. length 0 returns ([], 0.0)."""
    prime = _check_ids("prime_ids", prime_ids)
    length = _check_length(length)
    width = positive_int("width", width)
    if length == 0:
        return [], 0.0
    state = model.initial(1)
    for i in prime:
        logits, state = _step(model, state, np.array([i], np.intp))
    scores = np.zeros(1)  # (5) of each kept prefix
    seqs = np.zeros((1, 0), np.intp)  # the kept prefixes, one row each
    for t in range(length):
        cand = (scores[:, None] + log_softmax(logits)).ravel()  # (6) every extension
        V = logits.shape[1]
        best = np.argsort(-cand, kind="stable")[:width]  # (6) keep the top W
        rows, toks = best // V, best % V
        scores = cand[best]
        seqs = np.concatenate([seqs[rows], toks[:, None]], axis=1)
        if t + 1 < length:
            state = model.select(state, rows)
            logits, state = _step(model, state, toks)
    score = float(scores[0]) / length if length_norm else float(scores[0])
    return seqs[0].tolist(), score
