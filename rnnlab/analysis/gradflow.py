"""Gradient flow through time: how much of a loss at the last step reaches each earlier state.

For a loss L_T that depends only on the top layer's output at the last step T - 1, backpropagation
through time gives, for every layer and direction and every step k,

    g_k = dL_T/dh_k = J_{k+1}^T g_{k+1} (+ the gradient from the layer above at step k),
    J_t = dh_t/dh_{t-1}    (for the Elman RNN J_t = diag(f'(z_t)) W_hh)

so ||g_k|| shrinks or grows roughly geometrically with the time lag T - 1 - k: vanishing and
exploding gradients. `gradient_flow` measures ||dL_T/dh_k|| (and ||dL_T/dc_k|| for an LSTM's cell
state) per sequence with the engine's own cell backward (unroll.py), and fits the per-step factor

    log10 ||g_k||  ~  a + s * (T - 1 - k),      factor = 10**s per step back in time

by least squares over the lags with a nonzero norm (mean of log10 over the batch): a factor
below 1 is a vanishing gradient, above 1 an exploding one. For a linear RNN with W_hh = W the
norms are exactly ||(W^T)^(T-1-k) v|| with v = dL_T/dh_{T-1}.

`charlm_gradient_flow` does the same for a character language model with the cross-entropy of
its prediction at the last step as L_T.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .unroll import backward, check_layer, unroll


@dataclass
class GradientFlow:
    """norms[name]: (T, B) ||dL_T/dh_k|| per step k and sequence, for each layer and direction
    ("l0", "l0_reverse", "l1", ...); cell_norms[name]: the same for dL_T/dc_k (LSTM; else empty)."""

    norms: dict[str, np.ndarray]
    cell_norms: dict[str, np.ndarray]

    @property
    def steps(self) -> int:
        return next(iter(self.norms.values())).shape[0]

    def lags(self) -> np.ndarray:
        """The time lag T - 1 - k of each step k."""
        return np.arange(self.steps)[::-1]

    def mean_log10(self, name: str, cell: bool = False) -> np.ndarray:
        """(T,) mean over the batch of log10 of the norm at each step; -inf where all are 0."""
        norms = (self.cell_norms if cell else self.norms)[name]
        with np.errstate(divide="ignore"):
            logs = np.log10(norms)
        finite = np.isfinite(logs)
        total = np.where(finite, logs, 0.0).sum(axis=1)
        count = finite.sum(axis=1)
        return np.where(count > 0, total / np.maximum(count, 1), -np.inf)

    def decay_factor(self, name: str, cell: bool = False) -> float:
        """The fitted per-step factor 10**s (see the module doc); nan with fewer than two usable lags."""
        return decay_factor(self.lags(), self.mean_log10(name, cell))

    def summary(self) -> dict[str, dict[str, float]]:
        """{name: {"factor": ..., "first": ||g|| at lag 0, "last": at the largest lag}} (batch means
        of log10, shown as norms), plus "cell_factor" for an LSTM."""
        result = {}
        for name in self.norms:
            logs = self.mean_log10(name)
            result[name] = {
                "factor": self.decay_factor(name),
                "lag0": float(10 ** logs[-1]),
                f"lag{self.steps - 1}": float(10 ** logs[0]),
            }
            if name in self.cell_norms:
                result[name]["cell_factor"] = self.decay_factor(name, cell=True)
        return result


def decay_factor(lags: np.ndarray, log10_norms: np.ndarray) -> float:
    """10**s for the least-squares line log10_norm = a + s * lag over the finite entries."""
    ok = np.isfinite(log10_norms)
    if ok.sum() < 2:
        return float("nan")
    slope = np.polyfit(np.asarray(lags, float)[ok], log10_norms[ok], 1)[0]
    return float(10**slope)


def gradient_flow(
    layer, x, dout_last=None, hx=None, *, rng: np.random.Generator | None = None, dtype=np.float64
) -> GradientFlow:
    """||dL_T/dh_k|| for every step k, layer and direction of a recurrent layer on the batch x.

    x: the layer's input (T, B, input_size) (or its batch_first layout); dout_last (B, D*H): the
    gradient of L_T with respect to the top output at the last step T - 1, or a function of that
    output returning it; by default a random unit vector per sequence (from `rng`), i.e. L_T a
    random projection of the last output.
    Computed in `dtype` (float64 by default) on a copy; the layer is left unchanged.
    """
    check_layer(layer)
    run = unroll(layer, x, hx, dtype)
    T, B, width = run.out.shape
    if dout_last is None:
        rng = rng if rng is not None else np.random.default_rng(0)
        dout_last = rng.standard_normal((B, width))
        dout_last /= np.linalg.norm(dout_last, axis=1, keepdims=True)
    if callable(dout_last):
        dout_last = dout_last(run.out[-1])
    dout_last = np.asarray(dout_last, dtype)
    if dout_last.shape != (B, width):
        raise ValueError(f"dout_last has shape {dout_last.shape}, expected (B, D*H) = {(B, width)}")
    dout = np.zeros_like(run.out)
    dout[-1] = dout_last  # a loss at the last step only
    backward(run, dout)
    norms = {name: np.linalg.norm(g["h"], axis=2) for name, g in run.grads.items()}
    cell_norms = {name: np.linalg.norm(g["c"], axis=2) for name, g in run.grads.items() if "c" in g}
    return GradientFlow(norms, cell_norms)


def charlm_gradient_flow(model, ids: np.ndarray, targets: np.ndarray | None = None) -> GradientFlow:
    """Gradient flow in a CharLM (embed -> rnn -> head) on ids (T, B): L_T is the mean over the
    batch of the cross-entropy of the prediction at the last step (of targets[-1] (B,), by default
    the model's own most likely next character), backpropagated through the head into the
    recurrent layers."""
    ids = np.asarray(ids)
    if ids.ndim != 2 or ids.dtype.kind not in "iu":
        raise ValueError(f"ids must be integer character ids of shape (T, B), got {ids.dtype} {ids.shape}")
    emb = model.embed.weight.data[ids].astype(np.float64)  # the embedding lookup, (T, B, E)
    w, b = model.head.weight.data.astype(np.float64), model.head.bias.data.astype(np.float64)

    def dloss(last_out: np.ndarray) -> np.ndarray:
        logits = last_out @ w.T + b  # (B, V)
        p = np.exp(logits - logits.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        target = np.argmax(p, axis=1) if targets is None else np.asarray(targets)[-1]
        p[np.arange(len(target)), target] -= 1  # d cross-entropy / d logits = p - onehot
        return (p / len(target)) @ w  # through the head: d L_T / d out_{T-1}

    return gradient_flow(model.rnn, emb, dloss)
