"""Gradient clipping, in place, with torch.nn.utils' names and semantics.

clip_grad_norm_: one global norm over every gradient, as if all were a single vector,
    N = (Σ_i |g_i|^p)^(1/p),  N = max_i |g_i| for p = inf                     (1)
    c = max_norm / (N + 1e-6), clamped to at most 1                          (2)
    g ← c · g for every gradient                                             (3)
The direction of the whole gradient is kept; only its length shrinks. As in torch a NaN norm
gives c = NaN and an infinite one c = 0 (NaN where a gradient is infinite), so a non-finite
gradient never passes silently as a finite one; `error_if_nonfinite=True` raises instead.

clip_grad_value_: every element clamped to [−clip_value, clip_value] (char-rnn's clipping);
the direction changes, NaN stays NaN.

`params`: a Param, or an iterable of Param or of (name, Param) pairs (`model.named_parameters()`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

from .core import Param
from .optim import check_number, named_params


def _grads(params, who: str) -> list[np.ndarray]:
    if isinstance(params, Param):
        params = [params]
    elif isinstance(params, Iterable):
        params = list(params)
        if not params:
            return []
    return [p.grad for p in named_params(params, who).values()]


def _norm_of(g: np.ndarray, norm_type: float) -> float:
    """Σ|g|^p for finite p (Σg² by one dot product for p = 2), max|g| for p = inf."""
    if g.size == 0:
        return 0.0
    if norm_type == math.inf:
        return float(np.maximum(g.max(), -g.min()))  # np.maximum keeps a NaN
    # A sum too large for the gradients' dtype is inf, as in torch: the caller's non-finite case
    # (error_if_nonfinite, or the Trainer's skipped step), not a RuntimeWarning in the user's log.
    with np.errstate(over="ignore"):
        if norm_type == 2.0:
            flat = g.reshape(-1)
            return float(np.dot(flat, flat))
        if norm_type == 1.0:
            return float(np.abs(g).sum())
        return float((np.abs(g) ** norm_type).sum())


def clip_grad_norm_(params, max_norm: float, norm_type: float = 2.0, error_if_nonfinite: bool = False) -> float:
    """Scale all gradients in place so that their global `norm_type`-norm is at most `max_norm`
    (equations (1)-(3) above); returns the global norm N before clipping.

    max_norm = inf only measures (the gradients stay as they are unless N is not finite).
    With error_if_nonfinite=True a NaN or infinite N raises FloatingPointError and no gradient
    is touched."""
    max_norm = check_number("max_norm", max_norm, allow_inf=True)
    norm_type = check_number("norm_type", norm_type, low_open=True, allow_inf=True)
    grads = _grads(params, "clip_grad_norm_")
    if not grads:
        return 0.0
    parts = np.array([_norm_of(g, norm_type) for g in grads])
    if norm_type == math.inf:
        total = float(parts.max())  # (1)
    else:
        total = float(parts.sum() ** (1.0 / norm_type))  # (1)
    if error_if_nonfinite and not math.isfinite(total):
        raise FloatingPointError(
            f"the total {norm_type:g}-norm of the gradients is {total}, so they cannot be clipped; "
            f"no gradient was changed (pass error_if_nonfinite=False to scale them by it anyway)"
        )
    coef = max_norm / (total + 1e-6)  # NaN when both are infinite, as in torch          (2)
    if not coef >= 1.0:  # also when coef is NaN, as torch.clamp(NaN, max=1) is NaN
        with np.errstate(invalid="ignore"):  # 0 · inf
            for g in grads:
                g *= coef  # (3)
    return total


def clip_grad_value_(params, clip_value: float) -> None:
    """Clamp every gradient element to [−clip_value, clip_value], in place."""
    clip_value = check_number("clip_value", clip_value, allow_inf=True)
    for g in _grads(params, "clip_grad_value_"):
        np.clip(g, -clip_value, clip_value, out=g)
