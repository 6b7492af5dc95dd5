"""Finite-difference checks of a hand-written backward (float64 modules).

The loss is a random weighted sum of every output (the sequence output and each final state), so
that every output element matters; its gradient is compared, element by element, with central
differences (L(p + eps) - L(p - eps)) / (2 eps) for the input, the initial state(s) and every
parameter.
"""

from __future__ import annotations

import numpy as np

from .core import Module


def _outputs(module: Module, result) -> list[np.ndarray]:
    """Flatten what forward returned into a list of arrays: out, h_n(, c_n) or h(, c)."""
    if isinstance(result, np.ndarray):
        return [result]
    flat = []
    for item in result:
        flat.extend([item] if isinstance(item, np.ndarray) else list(item))
    return flat


def _backward(module: Module, weights: list[np.ndarray], layer: bool):
    """Call the module's backward with the loss weights as output gradients."""
    if layer:
        out_w, state_w = weights[0], weights[1:]
        return module.backward(out_w, state_w[0] if len(state_w) == 1 else tuple(state_w))
    return module.backward(weights[0] if len(weights) == 1 else tuple(weights))


def gradcheck(module: Module, x: np.ndarray, hx=None, *, eps: float = 1e-6,
              rng: np.random.Generator | None = None, **forward_kwargs) -> dict[str, float]:
    """Relative error of `module.backward` against central differences, per checked array.

    Works for the recurrent layers (forward(x, hx, **kw) -> (out, h_n) or (out, (h_n, c_n))) and
    cells (forward(x, hx) -> h or (h, c)). Returns {"x": err, "hx[0]": err, ..., param name: err},
    where err = max |analytic - numeric| / max(max |numeric|, max |analytic|, 1e-12); float64
    values are ~1e-9 when the backward is right and O(1) when it is wrong. Put the module in eval
    mode if it has dropout: the loss must be a deterministic function of the inputs.
    """
    if module.dtype != np.float64:
        raise TypeError(f"gradcheck needs a float64 module (finite differences in float32 are noise), "
                        f"got {module.dtype}")
    rng = rng if rng is not None else np.random.default_rng(0)
    layer = hasattr(module, "num_layers")
    states = [] if hx is None else ([hx] if isinstance(hx, np.ndarray) else list(hx))

    def run(x_, states_):
        hx_ = None if not states_ else (states_[0] if isinstance(hx, np.ndarray) else tuple(states_))
        return _outputs(module, module.forward(x_, hx_, **forward_kwargs))

    weights = [rng.standard_normal(o.shape) for o in run(x, states)]

    def loss(x_, states_) -> float:
        return float(sum((w * o).sum() for w, o in zip(weights, run(x_, states_))))

    module.zero_grad()
    run(x, states)
    dx, dstate = _backward(module, weights, layer)
    analytic = {"x": dx}
    if states:
        dstates = [dstate] if isinstance(dstate, np.ndarray) else list(dstate)
        analytic |= {f"hx[{k}]": d for k, d in enumerate(dstates)}
    analytic |= {name: p.grad.copy() for name, p in module.named_parameters()}

    def numeric(array: np.ndarray, evaluate) -> np.ndarray:
        grad = np.zeros_like(array)
        flat, g = array.reshape(-1), grad.reshape(-1)
        for k in range(flat.size):
            keep = flat[k]
            flat[k] = keep + eps
            up = evaluate()
            flat[k] = keep - eps
            down = evaluate()
            flat[k] = keep
            g[k] = (up - down) / (2 * eps)
        return grad

    x = np.array(x, dtype=np.float64)
    states = [np.array(s, dtype=np.float64) for s in states]
    numerical = {"x": numeric(x, lambda: loss(x, states))}
    for k, s in enumerate(states):
        numerical[f"hx[{k}]"] = numeric(s, lambda: loss(x, states))
    for name, p in module.named_parameters():
        numerical[name] = numeric(p.data, lambda: loss(x, states))

    errors = {}
    for name, a in analytic.items():
        n = numerical[name]
        scale = max(np.abs(n).max(initial=0.0), np.abs(a).max(initial=0.0), 1e-12)
        errors[name] = float(np.abs(a - n).max(initial=0.0) / scale)
    return errors
