"""Generation one step at a time: a frozen copy of a layer's (or cell's) weights, laid out so that a
step costs little more than reading the weights once.

Why. Writing text feeds each sample back in, so a model runs T = 1, B = 1 (or a beam's few rows)
thousands of times. `forward` then spends more time checking arguments, building its run objects
and recording its tape than computing: the two GEMVs of an LSTM step at H = 256 read 2 MB of
weights (~30 us here) and the rest of a `forward` call costs about as much again. A stepper does
only the step:

  LSTM, RNN:   z = [W_ih | W_hh | b] @ [x; h_prev; 1]     one GEMV over one (G*H, D+H+1) matrix (1)
  GRU:         ax = [W_ih | b] @ [x; 1],  a = W_hh @ h_prev    (the reset gate sits between them)
then the cell's gate arithmetic of kernels.py (with zx = 0 for LSTM and RNN, whose bias is in z).
Measured at H = 256, one thread: one fused GEMV 29.5 us against 42.5 us for the two separate ones.

Frozen means what it says: the stepper copies the weights when it is made, so it keeps computing
the model as it was (make a new one after the weights change). Without the compiled kernels it
steps a frozen copy of the module through `forward` (the reference path, slower, same numbers).
"""

from __future__ import annotations

import copy

import numpy as np

from . import kernels
from .core import as_float_array, check_shape


class Stepper:
    """`step(x, state) -> (out, state)` for a unidirectional RecurrentLayer or a RecurrentCell.

    x is (B, input_size), or (input_size,) for one row; state and new state have the module's own
    conventions (a layer: (num_layers, B, H), a cell: (B, H); an LSTM's is the tuple (h, c);
    None means zeros). out is the last layer's new h, (B, H). New arrays every step: the state
    passed in is never modified (beam search may still hold it).
    """

    def __init__(self, module):
        if getattr(module, "bidirectional", False):
            raise ValueError(
                "a bidirectional layer reads the whole sequence at once; it cannot be stepped one token at a time"
            )
        self.module = copy.deepcopy(module).eval()  # frozen: later updates don't reach it
        self.is_cell = not hasattr(module, "num_layers")
        self.n_states = module.run_class.n_states
        self.H, self.D, self.dtype = module.hidden_size, module.input_size, module.dtype
        self.kind = module.run_class.__name__  # RNNRun, LSTMRun, GRURun
        self.options = dict(module.options)
        self.compiled = kernels.compiled_active()
        cells = [self.module.params] if self.is_cell else [c[0] for c in self.module.cells]
        self.layers = [self._fuse(p) for p in cells] if self.compiled else []
        self.buffers: dict[int, list] = {}  # per batch size B: each layer's work arrays
        self._last_state = self._last_arrays = self._last_rows = None  # skips re-checking it

    # --- weights --------------------------------------------------------------------------------
    def _fuse(self, p: dict) -> dict:
        """One layer's weights in the layout of (1)."""
        H, dt = self.H, self.dtype
        w_ih, w_hh = p["weight_ih"].data, p["weight_hh"].data
        b_ih = p["bias_ih"].data if "bias_ih" in p else np.zeros(w_ih.shape[0], dt)
        b_hh = p["bias_hh"].data if "bias_hh" in p else np.zeros(w_ih.shape[0], dt)
        if self.kind != "GRURun":
            fused = np.concatenate([w_ih, w_hh, (b_ih + b_hh)[:, None]], axis=1)
            peep = tuple(
                p[k].data.copy() if k in p else np.empty(0, dt) for k in ("weight_ci", "weight_cf", "weight_co")
            )
            return {"fused": np.ascontiguousarray(fused), "peep": peep}
        after = self.options["reset"] == "after"
        bias_x, bias_h = b_ih + b_hh, np.zeros(3 * H, dt)
        if after:  # b_hn stays inside r * (W_hn h + b_hn) (gru.py (3)): it joins the h GEMV
            bias_x[2 * H :], bias_h[2 * H :] = b_ih[2 * H :], b_hh[2 * H :]
        return {
            "input": np.ascontiguousarray(np.concatenate([w_ih, bias_x[:, None]], axis=1)),
            "hidden": np.ascontiguousarray(np.concatenate([w_hh, bias_h[:, None]], axis=1)),
            "w_hn": np.ascontiguousarray(w_hh[2 * H :]),
            "after": after,
        }

    def _work(self, B: int) -> list:
        """Work arrays for B rows, per layer, and (H, B) or (rows, B) views of them.

        The kernels index their stores as (units, slot, batch) and loop over units, then batch,
        and only the inner loop vectorises. For one row (B = 1) the stores are therefore laid
        out with a single "unit" and the H units as the batch axis, so the inner loop runs over
        H (3x faster per step here); the kernels compute the same, elementwise. Peephole weights
        differ per unit, so a peephole LSTM keeps the (units, batch) layout."""
        if B not in self.buffers:
            H, dt = self.H, self.dtype
            ng = 4 if self.kind in ("LSTMRun", "GRURun") else 1  # gate rows (a GRU also keeps n)
            nx = {"LSTMRun": 4, "GRURun": 3, "RNNRun": 1}[self.kind]  # rows of the input part
            flat = B == 1 and not self.options.get("peephole", False)
            work = []
            for layer in range(len(self.layers)):
                d_in = self.D if layer == 0 else H
                w = {
                    "stack": np.zeros((d_in + H + 1, B), dt),
                    "xone": np.zeros((d_in + 1, B), dt),
                    "hone": np.zeros((H + 1, B), dt),
                    "no_bias": np.zeros(1 if flat else H, dt),
                }
                for name in ("stack", "xone", "hone"):
                    w[name][-1] = 1  # the bias column's input
                if flat:
                    w |= {
                        "G": np.zeros((1, ng, H), dt),
                        "Zx": np.zeros((nx, 1, H), dt),
                        "S": np.zeros((1, 3, H), dt),
                        "C": np.zeros((3, 1, H), dt),
                        "TC": np.zeros((1, 1, H), dt),
                        "RH": np.zeros((1, 1, H), dt),
                    }
                    w |= {
                        "z": w["G"][0].reshape(-1, 1),
                        "zx": w["Zx"].reshape(-1, 1),
                        "h_prev": w["S"][0, 0].reshape(H, 1),
                        "h_new": w["S"][0, 1].reshape(H, 1),
                        "c_prev": w["C"][0, 0].reshape(H, 1),
                        "c_new": w["C"][1, 0].reshape(H, 1),
                        "rh": w["RH"].reshape(H, 1),
                    }
                else:
                    w |= {
                        "G": np.zeros((1, ng * H, B), dt),
                        "Zx": np.zeros((nx * H, 1, B), dt),
                        "S": np.zeros((H, 3, B), dt),
                        "C": np.zeros((3, H, B), dt),
                        "TC": np.zeros((1, H, B), dt),
                        "RH": np.zeros((H, 1, B), dt),
                    }
                    w |= {
                        "z": w["G"][0],
                        "zx": w["Zx"][:, 0],
                        "h_prev": w["S"][:, 0],
                        "h_new": w["S"][:, 1],
                        "c_prev": w["C"][0],
                        "c_new": w["C"][1],
                        "rh": w["RH"][:, 0],
                    }
                work.append(w)
            self.buffers[B] = work
        return self.buffers[B]

    # --- one step -------------------------------------------------------------------------------
    def _states_in(self, state, B: int, batched: bool) -> list[np.ndarray]:
        """The state as a list of (L, B, H) arrays (zeros for None), checked."""
        L = 1 if self.is_cell else self.module.num_layers
        names = ("h0", "c0") if self.n_states == 2 else ("hx",)  # as forward names them
        if state is None:
            return [np.zeros((L, B, self.H), self.dtype) for _ in names]
        parts = list(state) if self.n_states == 2 and isinstance(state, (tuple, list)) else [state]
        if len(parts) != self.n_states:
            raise TypeError(f"an LSTM's state is a tuple (h0, c0), got {type(state).__name__}")
        expected = (
            ((B, self.H) if batched else (self.H,)) if self.is_cell else ((L, B, self.H) if batched else (L, self.H))
        )
        out = []
        for name, s in zip(names, parts):
            s = as_float_array(name, s, self.dtype, (len(expected),))
            check_shape(name, s, expected)
            out.append(s.reshape(L, B, self.H))
        return out

    def step(self, x, state=None):
        x = np.asarray(x)
        if x.dtype != self.dtype or x.ndim not in (1, 2):
            as_float_array("x", x, self.dtype, (1, 2))  # raises, naming the problem
        # No scan for NaN here, unlike forward: this runs once per token, and a NaN in x only
        # reaches what this step returns (the stepper's weights never change).
        batched = x.ndim == 2
        x2 = x if batched else x[None]
        if x2.shape[1] != self.D:
            raise ValueError(f"x has shape {x.shape}, expected (B, input_size={self.D})")
        if not self.compiled:
            return self._step_reference(x2, state, batched)
        B = x2.shape[0]
        if state is not None and state is self._last_state and B == self._last_rows:
            states = self._last_arrays  # what the last step returned: already checked
        else:
            states = self._states_in(state, B, batched)
        new = [np.empty_like(s) for s in states]
        inp = x2.T
        for layer, (w, work) in enumerate(zip(self.layers, self._work(B))):
            for k, v in enumerate(self._layer_step(w, work, inp, [s[layer].T for s in states])):
                new[k][layer] = v.T
            inp = work["h_new"]
        out, state = self._states_out(new, batched)
        self._last_state, self._last_arrays, self._last_rows = state, new, B
        return out, state

    def _layer_step(self, w: dict, work: dict, inp: np.ndarray, prev: list[np.ndarray]):
        """One layer: inp (D, B) and the previous state(s) (H, B) -> the new state(s) (H, B)."""
        G, Zx, S, d_in, H = work["G"], work["Zx"], work["S"], inp.shape[0], self.H
        if self.kind == "GRURun":
            work["xone"][:d_in], work["hone"][:H] = inp, prev[0]
            work["h_prev"][...] = prev[0]
            np.matmul(w["input"], work["xone"], out=work["zx"])  # ax
            if w["after"]:
                np.matmul(w["hidden"], work["hone"], out=work["z"][: 3 * H])  # a, b_hn included
                kernels.gru_after_forward(G, Zx, S, 0, 0, 1, work["no_bias"])
            else:
                np.matmul(w["hidden"][: 2 * H], work["hone"], out=work["z"][: 2 * H])
                kernels.gru_before_gates(G, Zx, S, work["RH"], 0, 0)
                np.matmul(w["w_hn"], work["rh"], out=work["z"][2 * H : 3 * H])
                kernels.gru_before_output(G, Zx, S, 0, 0, 1)
            return (work["h_new"],)
        stack = work["stack"]
        stack[:d_in], stack[d_in:-1] = inp, prev[0]
        np.matmul(w["fused"], stack, out=work["z"])  # (1); Zx stays 0: the bias is in z
        if self.kind == "RNNRun":
            kernels.rnn_forward(G[0], Zx, S, 0, 1, self.options["nonlinearity"] == "relu")
            return (work["h_new"],)
        work["c_prev"][...] = prev[1]
        kernels.lstm_forward(G, Zx, work["C"], work["TC"], S, 0, 0, 1, *w["peep"], self.options["peephole"])
        return work["h_new"], work["c_new"]

    def _step_reference(self, x2: np.ndarray, state, batched: bool):
        """Without the compiled kernels: the frozen module's own forward for one step."""
        m = self.module
        if self.is_cell:
            new = m.forward(x2 if batched else x2[0], state)
            return (new[0] if self.n_states == 2 else new), new
        hx = state
        if state is not None and not batched:  # (L, H) -> (L, 1, H)
            hx = tuple(s[:, None] for s in state) if self.n_states == 2 else state[:, None]
        out, new = m.forward(x2[None], hx)
        if not batched:
            new = tuple(s[:, 0] for s in new) if self.n_states == 2 else new[:, 0]
        return (out[0] if batched else out[0, 0]), new

    def _states_out(self, new: list[np.ndarray], batched: bool):
        """Back to the module's conventions; out is the last layer's h."""
        if self.is_cell:
            new = [s[0] for s in new]
        if not batched:
            new = [s[..., 0, :] for s in new]
        out = new[0] if self.is_cell else new[0][-1]
        return out, (tuple(new) if self.n_states == 2 else new[0])
