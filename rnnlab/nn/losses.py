"""Loss functions: each returns (loss, grad), a Python float and d loss / d input (the input's
shape and dtype), ready to hand to the model's backward. Losses are in nats; `nats_to_bits`
converts (bits per character = cross-entropy / ln 2).

Every loss is a mean over the valid positions. A `mask` (bool, or 0/1 numbers) marks them; it has
the leading dims of the targets (each equal or 1) and broadcasts over the trailing dims it lacks:
mask (T, B) selects whole steps of targets (T, B) for cross_entropy or of targets (T, B, 88) for
bce_with_logits (then every one of the 88 keys of a valid step counts, N = 88 * mask.sum()).
Put finite values (e.g. 0) at masked positions: inputs must be finite everywhere.

Softmax cross-entropy over the last axis, z = logits[n] (C classes), y = targets[n]:
    m = max_c z_c,   lse = m + log sum_c exp(z_c - m)           (1)  (no overflow: exponents <= 0)
    loss_n = lse - z_y = -log softmax(z)_y                     (1)
    dz = (softmax(z) - onehot(y)) / N                          (1)  N = number of valid positions

Mean squared error, p = pred, y = target:
    loss = (1/N) sum (p - y)^2,      dp = 2 (p - y) / N        (2)

Binary cross-entropy on logits x with targets y in [0, 1] (multi-label):
    loss_n = -y log s(x) - (1 - y) log(1 - s(x)),  s = sigmoid
           = max(x, 0) - x y + log1p(exp(-|x|))                (3)  (exp never overflows)
    dx = (s(x) - y) / N,  s(x) = 1/(1+e) if x >= 0 else e/(1+e),  e = exp(-|x|)   (3)
"""

from __future__ import annotations

import math

import numpy as np

from .core import FLOAT_DTYPES, NonFiniteError, as_float_array


def nats_to_bits(x):
    """A loss in nats as bits: x / ln 2 (e.g. bits per character from a char-LM's cross-entropy)."""
    return x / math.log(2)


def _float_input(name: str, value, min_ndim: int) -> np.ndarray:
    a = np.asarray(value)
    if a.dtype not in FLOAT_DTYPES:
        raise TypeError(f"{name} must be a float32 or float64 array, got dtype {a.dtype}")
    if a.ndim < min_ndim:
        raise ValueError(f"{name} must have at least {min_ndim} dimension(s), got shape {a.shape}")
    return as_float_array(name, a, a.dtype, (a.ndim,))


def _targets_like(name: str, value, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """Real-valued targets (bool, integer or float) of `shape`, as `dtype`, finite."""
    a = np.asarray(value)
    if a.dtype.kind not in "biuf":
        raise TypeError(f"{name} must be a numeric array, got dtype {a.dtype}")
    if a.shape != shape:
        raise ValueError(f"{name} has shape {a.shape}, expected {shape} (the shape of the input)")
    a = a.astype(dtype, copy=False)
    if not np.isfinite(a).all():
        raise NonFiniteError(f"{name} contains NaN or infinity")
    return a


def _mask(mask, shape: tuple[int, ...]) -> np.ndarray | None:
    """`mask` (k leading dims of `shape`, each equal or 1) as bool, with len(shape) - k trailing
    dims of size 1 appended so that it broadcasts against an array of `shape`."""
    if mask is None:
        return None
    m = np.asarray(mask)
    if m.ndim > len(shape) or any(a not in (1, b) for a, b in zip(m.shape, shape)):
        raise ValueError(
            f"mask has shape {m.shape}, expected the leading dims of {shape} (each "
            f"equal or 1; it broadcasts over the trailing dims it lacks)"
        )
    if m.dtype != np.bool_:
        if m.dtype.kind not in "iuf":
            raise TypeError(f"mask must be bool or 0/1 numbers, got dtype {m.dtype}")
        if not ((m == 0) | (m == 1)).all():
            raise ValueError("mask must hold only 0/1 (or False/True) values")
        m = m != 0
    return m.reshape(m.shape + (1,) * (len(shape) - m.ndim))


def _count(m: np.ndarray | None, shape: tuple[int, ...]) -> int:
    """The number of valid elements of an array of `shape` under the expanded mask `m`."""
    if m is None:
        return math.prod(shape)
    return int(m.sum()) * (math.prod(shape) // m.size) if m.size else 0


def cross_entropy(logits, targets, *, mask=None, ignore_index: int | None = None) -> tuple[float, np.ndarray]:
    """Mean softmax cross-entropy (1) over the valid positions, in nats, and d loss / d logits.

    logits (..., C), e.g. (T, B, V) for a sequence; targets: integer class indices of shape
    logits.shape[:-1]. A position is valid where mask (the leading dims of targets; see the
    module doc) is True and targets != ignore_index; only valid targets must lie in [0, C).
    Matches torch.nn.functional.cross_entropy(reduction="mean") on the flattened positions.
    """
    logits = _float_input("logits", logits, 1)
    C = logits.shape[-1]
    targets = np.asarray(targets)
    if targets.dtype.kind not in "iu":
        raise TypeError(f"targets must be integer class indices, got dtype {targets.dtype}")
    if targets.shape != logits.shape[:-1]:
        raise ValueError(
            f"targets has shape {targets.shape}, expected {logits.shape[:-1]} "
            f"(logits.shape[:-1]; logits has shape {logits.shape})"
        )
    m = _mask(mask, targets.shape)
    valid = None if m is None else np.broadcast_to(m, targets.shape).reshape(-1)
    t = targets.reshape(-1)
    if ignore_index is not None:
        not_ignored = t != ignore_index
        valid = not_ignored if valid is None else valid & not_ignored
    rows = np.arange(t.size) if valid is None else np.flatnonzero(valid)
    if rows.size == 0:
        raise ValueError("cross_entropy has no valid position (every one is masked or ignore_index)")
    ty = t[rows]
    if ty.min() < 0 or ty.max() >= C:
        bad = ty.min() if ty.min() < 0 else ty.max()
        raise ValueError(f"targets must lie in [0, {C}) (C = logits.shape[-1]) at valid positions, got {bad}")
    n = rows.size

    Z = logits.reshape(-1, C)
    grad = Z - Z.max(axis=1, keepdims=True)  # z - m                   (1)
    picked = grad[rows, ty]  # z_y - m
    np.exp(grad, out=grad)
    s = grad.sum(axis=1, keepdims=True)  # sum_c exp(z_c - m)
    loss = float(np.sum(np.log(s[rows, 0]) - picked, dtype=np.float64)) / n  # lse - z_y  (1)
    grad /= s  # softmax(z)
    grad[rows, ty] -= 1  # - onehot(y)             (1)
    if valid is not None:
        grad *= valid[:, None]  # no gradient at invalid positions
    grad *= grad.dtype.type(1.0 / n)
    return loss, grad.reshape(logits.shape)


def mse(pred, target, *, mask=None) -> tuple[float, np.ndarray]:
    """Mean squared error (2) over the valid elements, and d loss / d pred.

    pred: float array of any shape; target: numbers of the same shape; mask: the leading dims of
    pred (see the module doc). Matches torch.nn.functional.mse_loss(reduction="mean") unmasked.
    """
    pred = _float_input("pred", pred, 0)
    target = _targets_like("target", target, pred.shape, pred.dtype)
    m = _mask(mask, pred.shape)
    n = _count(m, pred.shape)
    if n == 0:
        raise ValueError("mse has no valid element (the mask is all False)")
    diff = pred - target  # p - y                   (2)
    if m is not None:
        diff *= m
    loss = float(np.sum(np.square(diff), dtype=np.float64)) / n
    diff *= pred.dtype.type(2.0 / n)  # 2 (p - y) / N           (2)
    return loss, np.asarray(diff, pred.dtype)


def bce_with_logits(logits, targets, *, mask=None) -> tuple[float, np.ndarray]:
    """Mean binary cross-entropy on logits (3) over the valid elements, and d loss / d logits.

    logits: float array of any shape, e.g. (T, B, 88) piano keys per step; targets in [0, 1]
    (bool, 0/1 or soft labels) of the same shape; mask: the leading dims, e.g. (T, B) (see the
    module doc). Matches torch.nn.functional.binary_cross_entropy_with_logits(reduction="mean").
    """
    x = _float_input("logits", logits, 0)
    y = _targets_like("targets", targets, x.shape, x.dtype)
    m = _mask(mask, x.shape)
    n = _count(m, x.shape)
    if n == 0:
        raise ValueError("bce_with_logits has no valid element (the mask is all False)")
    y_valid = y if m is None else y[np.broadcast_to(m, y.shape)]
    if y_valid.size and (y_valid.min() < 0 or y_valid.max() > 1):
        bad = y_valid.min() if y_valid.min() < 0 else y_valid.max()
        raise ValueError(f"targets must lie in [0, 1] (probabilities) at valid elements, got {bad}")
    e = np.exp(-np.abs(x))  # e = exp(-|x|) <= 1
    terms = np.maximum(x, 0) - x * y + np.log1p(e)  # (3)
    grad = np.where(x >= 0, 1, e) / (1 + e)  # sigmoid(x), stable both ways (3)
    grad -= y  # s(x) - y                (3)
    if m is not None:
        terms *= m
        grad *= m
    loss = float(np.sum(terms, dtype=np.float64)) / n
    grad *= x.dtype.type(1.0 / n)
    return loss, np.asarray(grad, x.dtype)
