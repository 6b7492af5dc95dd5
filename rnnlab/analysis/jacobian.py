"""Jacobians of one step, J_t = dh_t/dh_{t-1}, exactly, from the recorded gates of a forward pass.

Backpropagation multiplies the gradient by J_t^T at every step back in time, so the singular
values of J_t and the norms of the products J_{T-1} ... J_{k+1} = dh_{T-1}/dh_k decide whether
gradients vanish or explode. J is written out from each cell's equations (numerator layout,
J[i, j] = dh_t[i] / dh_{t-1}[j]; the input x_t held fixed; σ' = s(1-s), tanh' = 1 - y²):

Elman RNN, h = f(z), z = W_ih x + W_hh h_prev + b
    J = diag(f'(z)) W_hh         (f' = 1 - h² for tanh, [h > 0] for relu)       (R)

LSTM, state (h, c); gates i, f, o (sigmoid), g (tanh) with pre-activations from W_hh h_prev
(and, with peepholes, w_ci * c_prev, w_cf * c_prev, w_co * c)
    dA/dh_prev = diag(A') W_A for A in i, f, g, o (the gate's block of W_hh)   (L1)
    di/dc_prev = diag(i' w_ci),  df/dc_prev = diag(f' w_cf)  (0 without peepholes)
    dc = diag(c_prev) df + diag(g) di + diag(i) dg  (+ diag(f) for d/dc_prev)  (L2)
    do = diag(o') (W_o [for h_prev] + diag(w_co) dc)                            (L3)
    dh = diag(tanh c) do + diag(o (1 - tanh² c)) dc                            (L4)
    J = [[dh/dh_prev, dh/dc_prev], [dc/dh_prev, dc/dc_prev]]  (2H x 2H), whose h->h block
    dh/dh_prev is what `step_jacobians(..., full=False)` returns.

GRU, h = (1 - z) n + z h_prev, gates r, z (sigmoid), n (tanh)
    dz = diag(z') W_z,  dr = diag(r') W_r                                       (G1)
    after:  n = tanh(ax_n + r * (W_n h_prev + b_hn))
            dn = diag(1 - n²) (diag(W_n h_prev + b_hn) dr + diag(r) W_n)        (G2)
    before: n = tanh(ax_n + W_n (r * h_prev))
            dn = diag(1 - n²) W_n (diag(h_prev) dr + diag(r))                   (G2')
    J = diag(1 - z) dn + diag(z) + diag(h_prev - n) dz                          (G3)

A reverse direction's "previous" state is h_{t+1} (the order it runs in). tests check every
case against finite differences through the engine's cells.
"""

from __future__ import annotations

import numpy as np

from .unroll import check_layer, initial_states, layer_copy, time_major


def _record(layer, x, hx):
    """A float64 copy's forward with record=True: (recorded internals, initial states, copy)."""
    copy = layer_copy(layer, np.float64)
    x = time_major(layer, x, np.float64)
    states0 = initial_states(layer, hx, x.shape[1], np.float64)
    copy.forward(x, states0 if len(states0) == 2 else states0[0], record=True)
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
    (T, B, H, H); for an LSTM with full=True the Jacobian of the state (h, c), (T, B, 2H, 2H)
    (rows and columns h first, then c). float64; the layer is left unchanged."""
    check_layer(layer)
    if not 0 <= layer_index < layer.num_layers or direction not in range(layer.num_directions):
        raise ValueError(
            f"layer_index must be in 0..{layer.num_layers - 1} and direction in "
            f"0..{layer.num_directions - 1}, got {layer_index} and {direction}"
        )
    kind = layer.run_class.__name__
    if full and kind != "LSTMRun":
        raise ValueError("full=True is for an LSTM, whose state is (h, c); other cells' state is h")
    recorded, states0, copy = _record(layer, x, hx)
    suffix = f"_l{layer_index}" + ("_reverse" if direction else "")
    rec = recorded[suffix[1:]]
    params = {name[: -len(suffix)]: p.data for name, p in copy.named_parameters() if name.endswith(suffix)}
    k = layer_index * layer.num_directions + direction
    h_prev = _previous(rec["h"], states0[0][k], direction == 1)
    H, W = layer.hidden_size, params["weight_hh"]
    if kind == "RNNRun":
        h = rec["h"]
        fprime = (h > 0).astype(float) if layer.options["nonlinearity"] == "relu" else 1 - h * h
        return fprime[..., :, None] * W  # (R)
    if kind == "LSTMRun":
        return _lstm(rec, params, h_prev, _previous(rec["c"], states0[1][k], direction == 1), H, full)
    return _gru(rec, params, h_prev, H, layer.options["reset"] == "after")


def _diag(v: np.ndarray) -> np.ndarray:
    """(..., H) -> (..., H, H) diagonal matrices."""
    out = np.zeros(v.shape + v.shape[-1:])
    idx = np.arange(v.shape[-1])
    out[..., idx, idx] = v
    return out


def _lstm(rec, params, h_prev, c_prev, H, full):
    i, f, g, o, c = rec["i"], rec["f"], rec["g"], rec["o"], rec["c"]
    W = params["weight_hh"]
    Wi, Wf, Wg, Wo = W[:H], W[H : 2 * H], W[2 * H : 3 * H], W[3 * H :]
    di_, df_, dg_, do_ = i * (1 - i), f * (1 - f), 1 - g * g, o * (1 - o)
    peep = "weight_ci" in params
    # (L1): derivatives of the gates with respect to h_prev
    di_h, df_h, dg_h = di_[..., None] * Wi, df_[..., None] * Wf, dg_[..., None] * Wg
    dc_h = c_prev[..., None] * df_h + g[..., None] * di_h + i[..., None] * dg_h  # (L2)
    do_h = do_[..., None] * (Wo + (params["weight_co"][:, None] * dc_h if peep else 0))  # (L3)
    tc = np.tanh(c)
    a = o * (1 - tc * tc)
    dh_h = tc[..., None] * do_h + a[..., None] * dc_h  # (L4)
    if not full:
        return dh_h
    # the same through c_prev: only the peepholes and the carousel f * c_prev see it
    dc_c = _diag(f + (c_prev * df_ * params["weight_cf"] + g * di_ * params["weight_ci"] if peep else 0))  # (L2)
    do_c = do_[..., None] * params["weight_co"][:, None] * dc_c if peep else 0  # (L3)
    dh_c = tc[..., None] * do_c + a[..., None] * dc_c  # (L4)
    top = np.concatenate([dh_h, dh_c], axis=-1)
    bottom = np.concatenate([dc_h, dc_c], axis=-1)
    return np.concatenate([top, bottom], axis=-2)


def _gru(rec, params, h_prev, H, after):
    r, z, n = rec["r"], rec["z"], rec["n"]
    W = params["weight_hh"]
    Wr, Wz, Wn = W[:H], W[H : 2 * H], W[2 * H :]
    dz = (z * (1 - z))[..., None] * Wz  # (G1)
    dr = (r * (1 - r))[..., None] * Wr  # (G1)
    if after:
        hn = h_prev @ Wn.T + (params["bias_hh"][2 * H :] if "bias_hh" in params else 0)
        dn = (1 - n * n)[..., None] * (hn[..., None] * dr + r[..., None] * Wn)  # (G2)
    else:
        inner = h_prev[..., None] * dr + _diag(r)  # d(r * h_prev)/dh_prev
        dn = (1 - n * n)[..., None] * np.einsum("ij,...jk->...ik", Wn, inner)  # (G2')
    return (1 - z)[..., None] * dn + _diag(z) + (h_prev - n)[..., None] * dz  # (G3)


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
    """Eigenvalues of each layer-direction's recurrent matrix: {"l0": {"hh": ...}} for an Elman
    RNN, one per gate block for an LSTM ("i", "f", "g", "o") and a GRU ("r", "z", "n"). For a
    linear recurrence h_t = W h_{t-1} a spectral radius above 1 grows, below 1 forgets."""
    check_layer(layer)
    blocks = {"RNNRun": ("hh",), "LSTMRun": ("i", "f", "g", "o"), "GRURun": ("r", "z", "n")}[layer.run_class.__name__]
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
