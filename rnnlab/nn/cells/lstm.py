"""LSTM cell, one time step (gate order i, f, g, o, as in PyTorch), optionally with peepholes.

Layout (H, B): a state is a column per sequence; z holds the four gate blocks as row blocks.
zx = W_ih x + b_ih + b_hh comes precomputed for all steps (sequence.py). Peephole weights
w_ci, w_cf, w_co are diagonal (vectors of H), as in Gers & Schmidhuber and the lectures: the
input and forget gates look at c_prev, the output gate at the new c. Without peepholes they are 0.

Forward
    z = zx + W_hh @ h_prev                                        (1)
    i = sigmoid(z_i + w_ci * c_prev)                              (2)
    f = sigmoid(z_f + w_cf * c_prev)                              (2)
    g = tanh(z_g)                                                 (2)
    c = f * c_prev + i * g                                        (3)
    o = sigmoid(z_o + w_co * c)                                   (4)
    h = o * tanh(c)                                               (5)

Backward, given dh (from the output and step t + 1) and dc (from step t + 1)
    dz_o = dh * tanh(c) * o * (1 - o)                             (5) (4)
    dc  += dh * o * (1 - tanh(c)**2) + dz_o * w_co                (5) (4)
    dz_i = dc * g * i * (1 - i)                                   (3) (2)
    dz_f = dc * c_prev * f * (1 - f)                              (3) (2)
    dz_g = dc * i * (1 - g**2)                                    (3) (2)
    dc_prev = dc * f + dz_i * w_ci + dz_f * w_cf                  (3) (2)
    dh_prev = W_hh^T @ dz                                         (1)
    dw_ci += dz_i * c_prev, dw_cf += dz_f * c_prev, dw_co += dz_o * c   (summed over steps, batch)

Step Jacobian of the state (h, c), numerator layout; A' is a gate's derivative (s(1-s), 1-g^2)
    dA/dh_prev = diag(A') W_A for A in i, f, g, o (W_A the gate's block of W_hh)   (J1)
    di/dc_prev = diag(i' w_ci),  df/dc_prev = diag(f' w_cf)  (0 without peepholes)
    dc = diag(c_prev) df + diag(g) di + diag(i) dg  (+ diag(f) for d/dc_prev)      (J2)
    do = diag(o') (W_o [for h_prev] + diag(w_co) dc)                                (J3)
    dh = diag(tanh c) do + diag(o (1 - tanh^2 c)) dc                               (J4)
"""

from __future__ import annotations

import numpy as np

from ..functional import sigmoid_, sigmoid_grad, tanh_grad
from ..sequence import SequenceRun
from .kind import CellKind, OnnxOperator, TorchCounterpart, diagonal_matrices, register

PEEPHOLES = ("weight_ci", "weight_cf", "weight_co")


class LSTMRun(SequenceRun):
    def allocate(self) -> None:
        T, B, H, dt = self.T, self.B, self.H, self.Zx.dtype
        self.w_hh = self.p["weight_hh"].data
        self.peephole = self.options["peephole"]
        if self.peephole:
            self.w_ci, self.w_cf, self.w_co = (self.p[k].data[:, None] for k in PEEPHOLES)
        self.C = self.cell_states[0]  # cell states, (T + 2, H, B), the slots of S
        self.G = np.empty((T, 4 * H, B), dt)  # gates i, f, g, o of every step
        self.TC = np.empty((T, H, B), dt)  # tanh(c) of every step
        self.tmp = np.empty((H, B), dt)
        self.deriv = np.empty((4 * H, B), dt)  # backward: the gates' derivatives

    def forward_step(self, t, prev, cur):
        H, z, tmp = self.H, self.G[t], self.tmp
        c_prev, c, tanh_c = self.C[prev], self.C[cur], self.TC[t]
        np.matmul(self.w_hh, self.S[:, prev], out=z)  # (1)
        z += self.Zx[:, t]  # (1)
        i, f, g, o = z[:H], z[H : 2 * H], z[2 * H : 3 * H], z[3 * H :]
        if self.peephole:
            i += np.multiply(self.w_ci, c_prev, out=tmp)  # (2)
            f += np.multiply(self.w_cf, c_prev, out=tmp)  # (2)
            sigmoid_(z[: 2 * H])  # (2)
            np.tanh(g, out=g)  # (2)
        else:  # sigmoid(x) = (1 + tanh(x / 2)) / 2: one tanh call covers all four gates (2) (4)
            z[: 2 * H] *= 0.5
            o *= 0.5
            np.tanh(z, out=z)
            for s in (z[: 2 * H], o):
                s *= 0.5
                s += 0.5
        np.multiply(f, c_prev, out=c)  # (3)
        c += np.multiply(i, g, out=tmp)  # (3)
        if self.peephole:
            o += np.multiply(self.w_co, c, out=tmp)  # (4)
            sigmoid_(o)  # (4)
        np.tanh(c, out=tanh_c)  # (5)
        np.multiply(o, tanh_c, out=self.S[:, cur])  # (5)

    def backward_step(self, t, prev, cur):
        H, gates, tmp, deriv = self.H, self.G[t], self.tmp, self.deriv
        i, f, g, o = gates[:H], gates[H : 2 * H], gates[2 * H : 3 * H], gates[3 * H :]
        c_prev, tanh_c = self.C[prev], self.TC[t]
        dh, dc = self.dstate
        dz = self.dZ[:, t]  # this step's gradients w.r.t. the gate pre-activations
        sigmoid_grad(gates, out=deriv)  # s * (1 - s) for every block ...
        tanh_grad(g, out=deriv[2 * H : 3 * H])  # ... but 1 - g**2 for g                  (2)
        np.multiply(deriv[3 * H :], np.multiply(dh, tanh_c, out=tmp), out=dz[3 * H :])  # dz_o (5) (4)
        tanh_grad(tanh_c, out=tmp)
        tmp *= o
        tmp *= dh
        dc += tmp  # (5)
        if self.peephole:
            dc += np.multiply(self.w_co, dz[3 * H :], out=tmp)  # (4)
        deriv[: 3 * H].reshape(3, H, -1).__imul__(dc)  # dc times the derivatives of i, f, g
        np.multiply(deriv[:H], g, out=dz[:H])  # dz_i                                    (3) (2)
        np.multiply(deriv[H : 2 * H], c_prev, out=dz[H : 2 * H])  # dz_f                     (3) (2)
        np.multiply(deriv[2 * H : 3 * H], i, out=dz[2 * H : 3 * H])  # dz_g                  (3) (2)
        dc *= f  # (3)
        if self.peephole:
            dc += np.multiply(self.w_ci, dz[:H], out=tmp)  # (2)
            dc += np.multiply(self.w_cf, dz[H : 2 * H], out=tmp)  # (2)
        np.matmul(self.w_hh.T, dz, out=dh)  # (1)

    def extra_grads(self) -> None:
        if not self.peephole:
            return
        H, T = self.H, self.T
        c_prev, c = self.previous_cells(self.C), self.C[1 : T + 1]
        for name, rows, cells in (
            ("weight_ci", slice(0, H), c_prev),
            ("weight_cf", slice(H, 2 * H), c_prev),
            ("weight_co", slice(3 * H, 4 * H), c),
        ):
            self.p[name].grad += np.einsum("htb,thb->h", self.dZ[rows], cells)

    def gate_records(self):
        H = self.H
        return {name: self.G[:, k * H : (k + 1) * H] for k, name in enumerate(("i", "f", "g", "o"))}


class LSTMKind(CellKind):
    name, title = "lstm", "LSTM"
    blocks = ("i", "f", "g", "o")
    gates = ("i", "f", "o")
    states = ("h", "c")
    recorded = ("i", "f", "g", "o", "c", "h")
    options = {"peephole": False}
    run = LSTMRun
    compiled_run = "rnnlab.nn.cells.lstm_compiled:CompiledLSTMRun"
    compiled_step = "rnnlab.nn.cells.lstm_compiled:FusedLSTMStep"

    def validate_options(self, options):
        options["peephole"] = bool(options["peephole"])

    def parameter_shapes(self, input_size, hidden_size, bias, options):
        shapes = super().parameter_shapes(input_size, hidden_size, bias, options)
        if options["peephole"]:
            shapes |= {name: (hidden_size,) for name in PEEPHOLES}
        return shapes

    def step_jacobian(self, params, options, x, prev, rec, full):
        i, f, g, o, c = rec["i"], rec["f"], rec["g"], rec["o"], rec["c"]
        c_prev, H = prev[1], c.shape[-1]
        W = params["weight_hh"].data
        Wi, Wf, Wg, Wo = W[:H], W[H : 2 * H], W[2 * H : 3 * H], W[3 * H :]
        di_, df_, dg_, do_ = i * (1 - i), f * (1 - f), 1 - g * g, o * (1 - o)
        peep = options["peephole"]
        w_ci, w_cf, w_co = (params[k].data if peep else 0 for k in PEEPHOLES)
        di_h, df_h, dg_h = di_[..., None] * Wi, df_[..., None] * Wf, dg_[..., None] * Wg  # (J1)
        dc_h = c_prev[..., None] * df_h + g[..., None] * di_h + i[..., None] * dg_h  # (J2)
        do_h = do_[..., None] * (Wo + (w_co[:, None] * dc_h if peep else 0))  # (J3)
        tc = np.tanh(c)
        a = o * (1 - tc * tc)
        dh_h = tc[..., None] * do_h + a[..., None] * dc_h  # (J4)
        if not full:
            return dh_h
        # the same through c_prev: only the peepholes and the carousel f * c_prev see it
        dc_c = diagonal_matrices(f + c_prev * df_ * w_cf + g * di_ * w_ci)  # (J2)
        do_c = do_[..., None] * w_co[:, None] * dc_c if peep else 0  # (J3)
        dh_c = tc[..., None] * do_c + a[..., None] * dc_c  # (J4)
        return np.concatenate([np.concatenate([dh_h, dh_c], axis=-1), np.concatenate([dc_h, dc_c], axis=-1)], axis=-2)

    def torch_counterpart(self, options):
        if options["peephole"]:
            raise ValueError(
                "LSTM(peephole=True) has no PyTorch equivalent: torch.nn.LSTM has no peephole "
                "weights (weight_ci, weight_cf, weight_co); export it to ONNX instead "
                "(rnnlab.interop.onnx.export, or rnnlab export RUN_DIR --onnx FILE), whose LSTM "
                "operator has them"
            )
        return TorchCounterpart("LSTM", "LSTMCell", {})

    def options_from_torch(self, torch_module):
        if getattr(torch_module, "proj_size", 0):
            raise ValueError(
                f"torch.nn.LSTM with proj_size={torch_module.proj_size} has no rnnlab equivalent "
                "(rnnlab's LSTM has no projection of the hidden state)"
            )
        return {}

    def onnx_operator(self, options, num_directions):
        # ONNX orders the gates i, o, f, c and its peephole input P as [P_i, P_o, P_f]; its
        # equations are these (i and f see c_prev, o sees the new c).
        peepholes = ("weight_ci", "weight_co", "weight_cf") if options["peephole"] else ()
        return OnnxOperator("LSTM", (0, 3, 1, 2), {}, peepholes)


LSTM_CELL = register(LSTMKind())
