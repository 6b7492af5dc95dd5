"""Jacobians of one step, J_t = dh_t/dh_{t-1}, exactly, on a forward pass of a layer.

Backpropagation multiplies the gradient by J_t^T at every step back in time, so the singular
values of J_t and the norms of the products J_{T-1} ... J_{k+1} = dh_{T-1}/dh_k decide whether
gradients vanish or explode (numerator layout, J[i, j] = dh_t[i] / dh_{t-1}[j]; the input x_t
held fixed). Each cell kind writes its J out from its equations (`CellKind.step_jacobian`:
the formulas sit at the end of the docstrings of nn/cells/rnn.py, lstm.py and gru.py); a kind
without a formula gets the exact J from its own backward. The tests hold every formula against
finite differences and against that backward.

A reverse direction's "previous" state is h_{t+1} (the order it runs in).
"""

from __future__ import annotations

import numpy as np

from .unroll import check_layer, initial_states, layer_copy, time_major


def _record(layer, x, hx):
    """A float64 copy's forward with record=True: (recorded internals, initial states, copy)."""
    copy = layer_copy(layer, np.float64)
    x = time_major(layer, x, np.float64)
    states0 = initial_states(layer, hx, x.shape[1], np.float64)
    copy.forward(x, states0 if len(states0) > 1 else states0[0], record=True)
    return copy.recorded, states0, copy


def _previous(a: np.ndarray, first: np.ndarray, reverse: bool) -> np.ndarray:
    """(T, B, H) states each step started from: a shifted by one step, `first` at the start."""
    prev = np.empty_like(a)
    if reverse:
        prev[:-1], prev[-1] = a[1:], first
    else:
        prev[1:], prev[0] = a[:-1], first
    return prev


def step_jacobians(layer, x, hx=None, *, layer_index: int = 0, direction: int = 0, full: bool = False) -> np.ndarray:
    """J_t = dh_t/dh_{t-1} of one layer and direction at every step t on the batch x:
    (T, B, H, H); with full=True, for a kind whose state has more parts (the LSTM's (h, c)), the
    Jacobian of the whole state, (T, B, 2H, 2H) for an LSTM (rows and columns h first, then c).
    float64; the layer is left unchanged."""
    check_layer(layer)
    if not 0 <= layer_index < layer.num_layers or direction not in range(layer.num_directions):
        raise ValueError(
            f"layer_index must be in 0..{layer.num_layers - 1} and direction in "
            f"0..{layer.num_directions - 1}, got {layer_index} and {direction}"
        )
    kind = layer.kind
    if full and len(kind.states) == 1:
        raise ValueError(f"full=True is for a state of several parts (an LSTM's (h, c)); a {kind.title}'s state is h")
    recorded, states0, copy = _record(layer, x, hx)
    name = f"l{layer_index}" + ("_reverse" if direction else "")
    rec = recorded[name]
    k = layer_index * layer.num_directions + direction
    prev = tuple(_previous(rec[s], states0[j][k], direction == 1) for j, s in enumerate(kind.states))
    if layer_index == 0:
        inputs = time_major(layer, x, np.float64)
    else:
        below = f"l{layer_index - 1}"
        inputs = np.concatenate(
            [recorded[below]["h"]] + ([recorded[below + "_reverse"]["h"]] if layer.bidirectional else []), axis=-1
        )
    params = copy.cells[layer_index][direction]
    return kind.step_jacobian(params, copy.options, inputs, prev, rec, full)


def singular_values(jacobians: np.ndarray) -> np.ndarray:
    """(..., n, n) -> (..., n) singular values, largest first."""
    return np.linalg.svd(jacobians, compute_uv=False)


def product_norms(jacobians: np.ndarray, reverse: bool = False) -> np.ndarray:
    """(T, B) spectral norms ||dh_{T-1}/dh_k|| = ||J_{T-1} J_{T-2} ... J_{k+1}|| for each k (the
    identity, norm 1, at k = T - 1): how much a change of the state at step k can still move the
    state at the end, over a span of T - 1 - k steps. `reverse` for a reverse direction, whose
    end is step 0 and whose product runs the other way."""
    J = np.asarray(jacobians)
    if J.ndim != 4 or J.shape[-1] != J.shape[-2]:
        raise ValueError(f"jacobians must have shape (T, B, n, n), got {J.shape}")
    T, B, n, _ = J.shape
    order = range(T) if reverse else range(T - 1, -1, -1)
    M = np.broadcast_to(np.eye(n), (B, n, n)).copy()
    norms = np.empty((T, B))
    for k in order:
        norms[k] = np.linalg.norm(M, ord=2, axis=(1, 2))
        M = M @ J[k]  # extends the span by step k: dh_end/dh_{k-1} = (dh_end/dh_k) J_k
    return norms


def recurrent_eigenvalues(layer) -> dict[str, dict[str, np.ndarray]]:
    """Eigenvalues of each layer-direction's recurrent matrix, one per row block of W_hh named as
    the kind's blocks: {"l0": {"hh": ...}} for an Elman RNN, "i", "f", "g", "o" for an LSTM and
    "r", "z", "n" for a GRU. For a linear recurrence h_t = W h_{t-1} a spectral radius above 1
    grows, below 1 forgets."""
    check_layer(layer)
    blocks = layer.kind.blocks
    H = layer.hidden_size
    result = {}
    for name, p in layer.named_parameters():
        if name.startswith("weight_hh"):
            W = p.data.astype(np.float64)
            key = name[len("weight_hh_") :]
            result[key] = {b: np.linalg.eigvals(W[k * H : (k + 1) * H]) for k, b in enumerate(blocks)}
    return result


def spectral_radius(eigenvalues: np.ndarray) -> float:
    return float(np.abs(eigenvalues).max())
