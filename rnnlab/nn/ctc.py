"""Connectionist temporal classification (Graves et al. 2006): the loss with its gradient, and the
greedy (best path) and prefix beam search decoders.

Notation. log_probs y (T, N, C) are per-step log-probabilities (a log_softmax output); for one
sample with target l of length S, the extended target l' = (b, l_1, b, l_2, ..., b, l_S, b) puts
a blank b between labels and at both ends, |l'| = 2S + 1 (0-based s below, as in the code). All
quantities are in log space; lse is a stable log-sum-exp (max subtracted; an all -inf lse is -inf).
A path may skip the blank at s - 1 only between different labels:
    skip(s) = (s >= 2 and l'_s != l'_{s-2})               (l'_s blank: l'_{s-2} is blank too)

Forward variables (Graves 2006, the start above eq. 6, eq. 6-7), t = 0 .. T_n - 1 (T_n = input length):
    alpha_0(0) = y_0(b),  alpha_0(1) = y_0(l_1),  alpha_0(s >= 2) = -inf                  (1)
    alpha_t(s) = lse(alpha_{t-1}(s), alpha_{t-1}(s-1), [skip(s)] alpha_{t-1}(s-2))
                 + y_t(l'_s)                                                             (2)
Loss (eq. 8), the negative log-likelihood of l:
    nll = -lse(alpha_{T_n-1}(2S), alpha_{T_n-1}(2S-1))   (S = 0: -alpha_{T_n-1}(0))         (3)
    T_n = 0: nll = 0 if S = 0 else inf                                                    (3)
Backward variables (eq. 10-11), both alpha and beta include y_t(l'_s):
    beta_{T_n-1}(2S) = y_{T_n-1}(b),  beta_{T_n-1}(2S-1) = y_{T_n-1}(l_S),  else -inf      (4)
    beta_t(s) = lse(beta_{t+1}(s), beta_{t+1}(s+1), [skip(s+2)] beta_{t+1}(s+2))
                + y_t(l'_s)                                                              (5)
Gradient (eq. 14-16) with respect to the log-probabilities y_t(c) themselves, t < T_n:
    gamma_t(s) = exp(alpha_t(s) + beta_t(s) - y_t(l'_s) + nll)   (occupancy, sums to 1 over s)  (6)
    dnll / dy_t(c) = exp(y_t(c)) - sum_{s: l'_s = c} gamma_t(s)                           (7)
    dnll / dy_t(c) = 0 for t >= T_n                                                       (7)
(7) is what torch.nn.functional.ctc_loss returns (aten/src/ATen/native/LossCTC.cpp,
ctc_loss_backward_cpu_template: `(exp(lp) - exp(lcab + nll - lp)) * grad_out`): the exp(y) term
is the softmax part, i.e. it assumes y came from log_softmax, and is not the derivative of nll
alone with respect to a free y (that would be -sum gamma). Matched exactly here, with torch's edge
cases: an impossible alignment (nll = inf) has a NaN gradient at t < T_n, unless zero_infinity,
which sets its loss and whole gradient to 0; so has an entry y_t(c) = -inf (probability 0).

Reductions (per-sample nll_n, target lengths S_n, batch N), and the weight w_n of (7):
    "none": nll_n (N,),  w_n = 1 (the gradient of sum_n nll_n)                            (8)
    "sum":  sum_n nll_n,  w_n = 1                                                         (8)
    "mean": (1/N) sum_n nll_n / max(S_n, 1),  w_n = 1 / (N max(S_n, 1))                   (8)
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from .core import FLOAT_DTYPES

_REDUCTIONS = ("none", "sum", "mean")


def _lse3(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """log(exp(a) + exp(b) + exp(c)) elementwise, stable; -inf where all three are -inf."""
    m = np.maximum(np.maximum(a, b), c)
    m[m == -np.inf] = 0.0  # cannot do -inf - -inf
    with np.errstate(divide="ignore"):  # log(0) = -inf: no path
        return np.log(np.exp(a - m) + np.exp(b - m) + np.exp(c - m)) + m


def _log_probs(log_probs) -> tuple[np.ndarray, bool]:
    """log_probs as a (T, N, C) float array and whether it came batched ((T, C) gets N = 1)."""
    lp = np.asarray(log_probs)
    if lp.dtype not in FLOAT_DTYPES:
        raise TypeError(f"log_probs must be a float32 or float64 array, got dtype {lp.dtype}")
    if lp.ndim not in (2, 3):
        raise ValueError(f"log_probs must be 3-D (T, N, C) or 2-D (T, C), got shape {lp.shape}")
    if np.isnan(lp).any():
        raise ValueError("log_probs contains NaN")
    return (lp, True) if lp.ndim == 3 else (lp[:, None, :], False)


def _blank(blank: int, C: int) -> int:
    if not 0 <= blank < C:
        raise ValueError(f"blank must lie in [0, {C}) (C = log_probs.shape[-1]), got {blank}")
    return int(blank)


def _lengths(name: str, value, N: int, upper: int, upper_name: str) -> np.ndarray:
    a = np.asarray(value)
    if a.dtype.kind not in "iu":
        raise TypeError(f"{name} must be integers, got dtype {a.dtype}")
    a = a.reshape(-1).astype(np.int64)
    if a.shape != (N,):
        raise ValueError(f"{name} must hold N = {N} lengths (one per sample), got {a.size}")
    if N and (a.min() < 0 or a.max() > upper):
        bad = a.min() if a.min() < 0 else a.max()
        raise ValueError(f"{name} must lie in [0, {upper}] ({upper_name}), got {bad}")
    return a


def _padded_targets(targets, target_lengths, N: int, C: int, blank: int) -> tuple[np.ndarray, np.ndarray]:
    """Targets as (N, S) int64 with entries past each length set to `blank`, and the lengths (N,)."""
    tg = np.asarray(targets)
    if tg.dtype.kind not in "iu":
        raise TypeError(f"targets must be integer class indices, got dtype {tg.dtype}")
    if tg.ndim == 2:
        if tg.shape[0] != N:
            raise ValueError(f"targets has shape {tg.shape}, expected (N, S) with N = {N}")
        tl = _lengths("target_lengths", target_lengths, N, tg.shape[1], "S = targets.shape[1]")
        padded = tg.astype(np.int64)
    elif tg.ndim == 1:
        tl = _lengths("target_lengths", target_lengths, N, tg.size, "the length of the concatenated targets")
        if int(tl.sum()) != tg.size:
            raise ValueError(f"concatenated targets has {tg.size} labels, expected sum(target_lengths) = {tl.sum()}")
        S = int(tl.max()) if N else 0
        padded = np.full((N, S), blank, np.int64)
        padded[np.arange(S)[None, :] < tl[:, None]] = tg  # row-major fill, sample by sample
    else:
        raise ValueError(f"targets must be 2-D (N, S) padded or 1-D concatenated, got shape {tg.shape}")
    valid = np.arange(padded.shape[1])[None, :] < tl[:, None]
    labels = padded[valid]
    if labels.size and (labels.min() < 0 or labels.max() >= C):
        bad = labels.min() if labels.min() < 0 else labels.max()
        raise ValueError(f"targets must lie in [0, {C}) (C = log_probs.shape[-1]), got {bad}")
    if (labels == blank).any():
        raise ValueError(f"targets must not contain the blank label {blank}")
    return np.where(valid, padded, blank), tl


def ctc_loss(
    log_probs,
    targets,
    input_lengths: Sequence[int] | np.ndarray | int,
    target_lengths: Sequence[int] | np.ndarray | int,
    blank: int = 0,
    reduction: str = "mean",
    zero_infinity: bool = False,
) -> tuple[float | np.ndarray, np.ndarray]:
    """CTC loss (3) reduced by (8), and its gradient (7) with respect to log_probs.

    log_probs (T, N, C) (log_softmax outputs; or (T, C) for one unbatched sequence), float32 or
    float64; targets padded (N, S) (entries past a sample's length are ignored) or concatenated
    1-D of length sum(target_lengths); input_lengths, target_lengths: N integers each. Returns
    (loss, dlog_probs): loss a float for "sum"/"mean", per-sample losses (N,) of log_probs' dtype
    for "none" (dlog_probs is then the gradient of their sum); dlog_probs has log_probs' shape and
    dtype, zero past each input length. Matches torch.nn.functional.ctc_loss and its autograd
    gradient with log_probs as a leaf, including reduction "mean" (each loss over its clamped
    target length, then the batch mean), zero_infinity and NaN gradients of infinite losses.
    """
    lp, batched = _log_probs(log_probs)
    T, N, C = lp.shape
    blank = _blank(blank, C)
    if reduction not in _REDUCTIONS:
        raise ValueError(f"reduction must be one of {_REDUCTIONS}, got {reduction!r}")
    if not batched:
        targets = np.asarray(targets).reshape(1, -1)
    il = _lengths("input_lengths", input_lengths, N, T, "T = log_probs.shape[0]")
    labels, tl = _padded_targets(targets, target_lengths, N, C, blank)

    L = 2 * labels.shape[1] + 1
    ext = np.full((N, L), blank, np.int64)  # l' (blanks interleaved; padding past 2 S_n is blank)
    ext[:, 1::2] = labels
    skip = np.zeros((N, L), bool)
    skip[:, 2:] = (ext[:, 2:] != ext[:, :-2]) & (np.arange(2, L)[None, :] <= 2 * tl[:, None])
    y = lp.astype(np.float64)
    y_ext = y[:, np.arange(N)[:, None], ext]  # y_t(l'_s), (T, N, L)
    neg = np.full((N, 2), -np.inf)

    alpha = np.full((T, N, L), -np.inf)
    if T:
        alpha[0, :, 0] = y_ext[0, :, 0]  # (1)
        if L > 1:
            alpha[0, :, 1] = np.where(tl > 0, y_ext[0, :, 1], -np.inf)  # (1)
    for t in range(1, T):
        a = alpha[t - 1]
        a1 = np.concatenate([neg, a], axis=1)[:, 1 : L + 1]  # alpha_{t-1}(s-1)
        a2 = np.where(skip, np.concatenate([neg, a], axis=1)[:, :L], -np.inf)  # alpha_{t-1}(s-2)
        alpha[t] = _lse3(a, a1, a2) + y_ext[t]  # (2)

    rows = np.arange(N)
    last = np.maximum(il - 1, 0)
    end_blank = alpha[last, rows, 2 * tl] if T else np.full(N, -np.inf)
    end_label = alpha[last, rows, np.maximum(2 * tl - 1, 0)] if T else np.full(N, -np.inf)
    end_label = np.where(tl > 0, end_label, -np.inf)
    nll = -_lse3(end_blank, end_label, np.full(N, -np.inf))  # (3)
    nll = np.where(il == 0, np.where(tl == 0, 0.0, np.inf), nll)  # (3)
    finite = np.isfinite(nll)

    w = np.ones(N) if reduction != "mean" else 1.0 / (N * np.maximum(tl, 1))  # (8)
    occupancy = np.zeros((T, N, L))
    beta = np.full((N, L), -np.inf)
    beta_init = np.full((N, L), -np.inf)  # (4)
    beta_init[rows, 2 * tl] = y_ext[last, rows, 2 * tl] if T else -np.inf
    has_label = tl > 0
    beta_init[rows[has_label], 2 * tl[has_label] - 1] = y_ext[last[has_label], rows[has_label], 2 * tl[has_label] - 1]
    skip_next = np.concatenate([skip, np.zeros((N, 2), bool)], axis=1)[:, 2:]  # skip(s+2)
    nll_safe = np.where(finite, nll, 0.0)[:, None]
    for t in range(T - 1, -1, -1):
        b1 = np.concatenate([beta, neg], axis=1)[:, 1 : L + 1]  # beta_{t+1}(s+1)
        b2 = np.where(skip_next, np.concatenate([beta, neg], axis=1)[:, 2:], -np.inf)  # beta_{t+1}(s+2)
        beta = _lse3(beta, b1, b2) + y_ext[t]  # (5)
        beta = np.where((t == il - 1)[:, None], beta_init, beta)  # (4) starts each sample at T_n - 1
        with np.errstate(invalid="ignore"):  # -inf - -inf where y_t(l'_s) = -inf: no path, 0
            occupancy[t] = np.nan_to_num(np.exp(alpha[t] + beta - y_ext[t] + nll_safe), nan=0.0)  # (6)

    # sum over the s with l'_s = c: one batched GEMM with the one-hot of l' (padding rows zero)
    onehot = np.zeros((N, L, C))
    onehot[rows[:, None], np.arange(L)[None, :], ext] = np.arange(L)[None, :] <= 2 * tl[:, None]
    collected = np.matmul(occupancy.transpose(1, 0, 2), onehot).transpose(1, 0, 2)  # (T, N, C)
    grad = (np.exp(y) - collected) * w[None, :, None]  # (7)
    grad[:, ~finite, :] = np.nan  # torch: exp(-inf + inf) at an impossible alignment
    grad[y == -np.inf] = np.nan  # torch: exp(lcab + nll - lp) with lp = -inf (a probability of 0)
    grad[np.arange(T)[:, None] >= il[None, :]] = 0.0  # (7) no gradient past T_n
    if zero_infinity:
        nll = np.where(finite, nll, 0.0)
        grad[:, ~finite, :] = 0.0

    grad = grad.astype(lp.dtype)
    if not batched:
        grad = grad[:, 0, :]
    if reduction == "none":
        return (nll if batched else nll[0]).astype(lp.dtype), grad
    if reduction == "sum":
        return float(nll.sum()), grad
    return float(np.mean(nll / np.maximum(tl, 1))), grad


def _decode_inputs(log_probs, input_lengths, blank: int) -> tuple[np.ndarray, np.ndarray, int]:
    lp, _ = _log_probs(log_probs)
    T, N, C = lp.shape
    blank = _blank(blank, C)
    if input_lengths is None:
        return lp, np.full(N, T, np.int64), blank
    return lp, _lengths("input_lengths", input_lengths, N, T, "T = log_probs.shape[0]"), blank


def ctc_greedy_decode(
    log_probs, input_lengths: Sequence[int] | np.ndarray | None = None, blank: int = 0
) -> list[list[int]]:
    """Best path decoding: the most probable label per step over each sample's first input
    length steps (all T if None), repeats collapsed, then blanks removed. log_probs (T, N, C), or
    (T, C) for one sequence; returns one label list per sample."""
    lp, il, blank = _decode_inputs(log_probs, input_lengths, blank)
    best = lp.argmax(axis=2)  # (T, N)
    out = []
    for n in range(lp.shape[1]):
        path = best[: il[n], n]
        keep = np.ones(path.size, bool)
        keep[1:] = path[1:] != path[:-1]  # collapse repeats
        out.append([int(c) for c in path[keep] if c != blank])  # then drop blanks
    return out


def _logaddexp(a: float, b: float) -> float:
    if a == -math.inf:
        return b
    if b == -math.inf:
        return a
    m = max(a, b)
    return m + math.log1p(math.exp(-abs(a - b)))


def ctc_beam_decode(
    log_probs,
    beam_width: int = 8,
    input_lengths: Sequence[int] | np.ndarray | None = None,
    blank: int = 0,
    *,
    return_scores: bool = False,
) -> list[list[int]] | tuple[list[list[int]], list[float]]:
    """CTC prefix beam search (Graves 2012; Hannun et al. 2014), in log space.

    Each prefix keeps two log-probabilities over the steps so far: p_b (its paths end in a blank)
    and p_nb (they end in its last label). One step with y_t, for each kept prefix and label c:
        c = blank:           p_b(prefix)        += (p_b + p_nb)(prefix) y_t(b)
        c = last(prefix):    p_nb(prefix)       += p_nb(prefix) y_t(c)   (repeat, collapsed)
                             p_nb(prefix + c)   += p_b(prefix) y_t(c)    (needs a blank between)
        otherwise:           p_nb(prefix + c)   += (p_b + p_nb)(prefix) y_t(c)
    (+= and products in log space: logaddexp and sums), then the beam_width most probable
    prefixes, p_b + p_nb, are kept. With a beam wide enough to keep every prefix the result is
    the exact most probable labelling. Returns one label list per sample, and with
    return_scores also the log-probability p_b + p_nb of each (exact if nothing was pruned).
    """
    if isinstance(beam_width, bool) or not isinstance(beam_width, (int, np.integer)) or beam_width < 1:
        raise ValueError(f"beam_width must be a positive integer, got {beam_width!r}")
    lp, il, blank = _decode_inputs(log_probs, input_lengths, blank)
    y = lp.astype(np.float64)
    C = y.shape[2]
    labels, scores = [], []
    for n in range(y.shape[1]):
        beam: dict[tuple[int, ...], tuple[float, float]] = {(): (0.0, -math.inf)}  # prefix: (p_b, p_nb)
        for t in range(il[n]):
            yt = y[t, n]
            new: dict[tuple[int, ...], list[float]] = {}

            def add(prefix, which, value, new=new):
                entry = new.setdefault(prefix, [-math.inf, -math.inf])
                entry[which] = _logaddexp(entry[which], value)

            for prefix, (p_b, p_nb) in beam.items():
                total = _logaddexp(p_b, p_nb)
                add(prefix, 0, total + yt[blank])
                for c in range(C):
                    if c == blank:
                        continue
                    if prefix and prefix[-1] == c:
                        add(prefix, 1, p_nb + yt[c])  # repeat collapsed into the same label
                        add(prefix + (c,), 1, p_b + yt[c])  # a new c after a blank
                    else:
                        add(prefix + (c,), 1, total + yt[c])
            ranked = sorted(new.items(), key=lambda kv: _logaddexp(*kv[1]), reverse=True)
            beam = {prefix: (p[0], p[1]) for prefix, p in ranked[:beam_width]}
        best, (p_b, p_nb) = max(beam.items(), key=lambda kv: _logaddexp(*kv[1]))
        labels.append(list(best))
        scores.append(_logaddexp(p_b, p_nb))
    return (labels, scores) if return_scores else labels
