"""Finite-difference checks of a hand-written backward (float64 modules).

The loss is a random weighted sum of every output (the sequence output and each final state), so
that every output element matters; its gradient is compared, element by element, with central
differences (L(p + eps) - L(p - eps)) / (2 eps) for the input, the initial state(s) and every
parameter.
"""

from __future__ import annotations

import numpy as np

from .core import Module
from .recurrent import RecurrentCell, RecurrentLayer


def numeric_gradient(f, array: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Central differences of the scalar f() with respect to every element of `array`, which is
    perturbed in place and restored."""
    grad = np.zeros_like(array)
    flat, g = array.reshape(-1), grad.reshape(-1)
    for k in range(flat.size):
        keep = flat[k]
        flat[k] = keep + eps
        up = f()
        flat[k] = keep - eps
        down = f()
        flat[k] = keep
        g[k] = (up - down) / (2 * eps)
    return grad


def _outputs(module: Module, result) -> list[np.ndarray]:
    """Flatten what forward returned into a list of arrays: out, h_n(, c_n) or h(, c)."""
    if isinstance(result, np.ndarray):
        return [result]
    flat = []
    for item in result:
        flat.extend([item] if isinstance(item, np.ndarray) else list(item))
    return flat


def _backward(module: Module, weights: list[np.ndarray], layer: bool, recurrent: bool):
    """Call the module's backward with the loss weights as output gradients."""
    if not recurrent:
        dx = module.backward(weights[0])
        return (dx[0] if isinstance(dx, tuple) else dx), None
    if layer:
        out_w, state_w = weights[0], weights[1:]
        return module.backward(out_w, state_w[0] if len(state_w) == 1 else tuple(state_w))
    return module.backward(weights[0] if len(weights) == 1 else tuple(weights))


def gradcheck(
    module: Module,
    x: np.ndarray,
    hx=None,
    *,
    eps: float = 1e-6,
    rng: np.random.Generator | None = None,
    **forward_kwargs,
) -> dict[str, float]:
    """Relative error of `module.backward` against central differences, per checked array.

    Works for the recurrent layers (forward(x, hx, **kw) -> (out, h_n) or (out, (h_n, c_n))),
    cells (forward(x, hx) -> h or (h, c)) and any other module whose forward(x, **kw) returns one
    array and whose backward(dout) returns dx (or a tuple starting with dx; integer x, such as
    token ids, is not differentiated). Returns {"x": err, "hx[0]": err, ..., param name: err},
    where err = max |analytic - numeric| / max(max |numeric|, max |analytic|, 1e-12); float64
    values are ~1e-9 when the backward is right and O(1) when it is wrong. Put the module in eval
    mode if it has dropout: the loss must be a deterministic function of the inputs.
    """
    x = np.asarray(x)
    index_input = x.dtype.kind in "iu"  # e.g. token ids into an Embedding: no gradient w.r.t. x
    dtypes = {p.data.dtype for p in module.parameters()} | (set() if index_input else {x.dtype})
    if dtypes != {np.dtype(np.float64)}:
        raise TypeError(
            f"gradcheck needs a float64 module and input (finite differences in "
            f"float32 are noise), got {sorted(str(d) for d in dtypes)}"
        )
    rng = rng if rng is not None else np.random.default_rng(0)
    recurrent = isinstance(module, (RecurrentLayer, RecurrentCell))
    layer = isinstance(module, RecurrentLayer)
    states = [] if hx is None else ([hx] if isinstance(hx, np.ndarray) else list(hx))

    def run(x_, states_):
        if not recurrent:
            return [module.forward(x_, **forward_kwargs)]
        hx_ = None if not states_ else (states_[0] if isinstance(hx, np.ndarray) else tuple(states_))
        return _outputs(module, module.forward(x_, hx_, **forward_kwargs))

    weights = [rng.standard_normal(o.shape) for o in run(x, states)]

    def loss(x_, states_) -> float:
        return float(sum((w * o).sum() for w, o in zip(weights, run(x_, states_))))

    module.zero_grad()
    run(x, states)
    dx, dstate = _backward(module, weights, layer, recurrent)
    analytic = {} if index_input else {"x": dx}
    if states:
        dstates = [dstate] if isinstance(dstate, np.ndarray) else list(dstate)
        analytic |= {f"hx[{k}]": d for k, d in enumerate(dstates)}
    analytic |= {name: p.grad.copy() for name, p in module.named_parameters()}

    def numeric(array, evaluate):
        return numeric_gradient(evaluate, array, eps)

    x = x.copy()
    states = [np.array(s, dtype=np.float64) for s in states]
    numerical = {} if index_input else {"x": numeric(x, lambda: loss(x, states))}
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
