"""GRU cell, one time step (gate order r, z, n, as in PyTorch), in both of its published forms.

Layout (H, B): a state is a column per sequence. ax = W_ih x + b_ih (+ the part of b_hh that is
outside the reset gate) comes precomputed for all steps (sequence.py); z is the update gate.

reset="after" (PyTorch, cuDNN; Cho et al.'s gate applied after the recurrent matmul)
    a = W_hh @ h_prev                          (rows a_r, a_z, a_n)             (1)
    r = sigmoid(ax_r + a_r),  z = sigmoid(ax_z + a_z)                           (2)
    hn = a_n + b_hn                                                             (3)
    n = tanh(ax_n + r * hn)                                                     (3)
    h = (1 - z) * n + z * h_prev  =  n + z * (h_prev - n)                       (4)

reset="before" (Cho et al. 2014 as the lectures write it; Keras reset_after=False)
    a = W_hr,hz @ h_prev                       (rows a_r, a_z)                  (1)
    r = sigmoid(ax_r + a_r),  z = sigmoid(ax_z + a_z)                           (2)
    n = tanh(ax_n + W_hn @ (r * h_prev))       (b_hn folded into ax_n)          (3)
    h = n + z * (h_prev - n)                                                    (4)

Backward, given dh (from the output and from step t + 1)
    dz_pre = dh * (h_prev - n) * z * (1 - z)                                    (4) (2)
    dn_pre = dh * (1 - z) * (1 - n**2)          (the gradient w.r.t. ax_n)      (4) (3)
  after:
    dhn = dn_pre * r,   dr_pre = dn_pre * hn * r * (1 - r)                      (3) (2)
    dh_prev = dh * z + W_hh^T @ [dr_pre; dz_pre; dhn]                           (4) (1)
    dW_hh += [dr_pre; dz_pre; dhn] h_prev^T;  dW_ih += [dr_pre; dz_pre; dn_pre] x^T
  before:
    drh = W_hn^T @ dn_pre,   dr_pre = drh * h_prev * r * (1 - r)                (3) (2)
    dh_prev = dh * z + drh * r + W_hr,hz^T @ [dr_pre; dz_pre]                   (4) (3) (1)
    dW_hr,hz += [dr_pre; dz_pre] h_prev^T;  dW_hn += dn_pre (r * h_prev)^T

Step Jacobian (numerator layout)
    dz = diag(z (1 - z)) W_z,  dr = diag(r (1 - r)) W_r                         (J1)
    after:  dn = diag(1 - n^2) (diag(W_n h_prev + b_hn) dr + diag(r) W_n)       (J2)
    before: dn = diag(1 - n^2) W_n (diag(h_prev) dr + diag(r))                  (J2')
    J = diag(1 - z) dn + diag(z) + diag(h_prev - n) dz                          (J3)
"""

from __future__ import annotations

import numpy as np

from ..functional import sigmoid_, sigmoid_grad, tanh_grad
from ..sequence import SequenceRun
from .kind import CellKind, OnnxOperator, TorchCounterpart, diagonal_matrices, register

RESETS = ("after", "before")


class GRURun(SequenceRun):
    def allocate(self) -> None:
        T, B, H, dt = self.T, self.B, self.H, self.Zx.dtype
        self.after = self.options["reset"] == "after"
        w_hh = self.p["weight_hh"].data
        self.w_hh, self.w_hrz, self.w_hn = w_hh, w_hh[: 2 * H], w_hh[2 * H :]
        self.b_hn = self.kind.reset_bias(self.p, self.options, dt)  # (H,): inside r * (...) after
        # the same as a column for the NumPy step, None where it is zero (no per-step add then)
        self.b_hn_column = self.b_hn[:, None] if self.after and "bias_hh" in self.p else None
        # after: rows r, z, hn, n;  before: rows r, z, n, and r * h_prev of every step in RH
        self.G = np.empty((T, 4 * H if self.after else 3 * H, B), dt)
        self.RH = None if self.after else np.empty((H, T, B), dt)
        self.tmp = np.empty((H, B), dt)
        self.tmp2 = np.empty((H, B), dt)
        self.dz = np.empty((3 * H, B), dt)  # backward: one step's gradients
        self.dZN = np.empty((H, T, B), dt) if self.after else None  # backward: dn_pre of every step

    def _gates(self, t):
        H, g = self.H, self.G[t]
        if self.after:
            return g[:H], g[H : 2 * H], g[3 * H :], g[2 * H : 3 * H]  # r, z, n, hn
        return g[:H], g[H : 2 * H], g[2 * H :], None

    def forward_step(self, t, prev, cur):
        H, g, ax, h_prev = self.H, self.G[t], self.Zx[:, t], self.S[:, prev]
        r, z, n, hn = self._gates(t)
        if self.after:
            np.matmul(self.w_hh, h_prev, out=g[: 3 * H])  # (1)
            if self.b_hn_column is not None:
                hn += self.b_hn_column  # (3)
        else:
            np.matmul(self.w_hrz, h_prev, out=g[: 2 * H])  # (1)
        g[: 2 * H] += ax[: 2 * H]
        sigmoid_(g[: 2 * H])  # (2)
        if self.after:
            np.multiply(r, hn, out=n)  # (3)
        else:
            rh = np.multiply(r, h_prev, out=self.RH[:, t])  # (3)
            np.matmul(self.w_hn, rh, out=n)  # (3)
        n += ax[2 * H :]
        np.tanh(n, out=n)  # (3)
        tmp = np.subtract(h_prev, n, out=self.tmp)
        tmp *= z
        np.add(n, tmp, out=self.S[:, cur])  # (4)

    def backward_step(self, t, prev, cur):
        H, dz, tmp, tmp2 = self.H, self.dz, self.tmp, self.tmp2
        r, z, n, hn = self._gates(t)
        h_prev, dh = self.S[:, prev], self.dstate[0]
        dn_pre = self.dZN[:, t] if self.after else dz[2 * H :]
        sigmoid_grad(self.G[t, : 2 * H], out=dz[: 2 * H])  # (2)
        dz[H : 2 * H] *= np.subtract(h_prev, n, out=tmp)
        dz[H : 2 * H] *= dh  # dz_pre                                                   (4) (2)
        tanh_grad(n, out=tmp2)
        tmp2 *= np.subtract(1, z, out=tmp)
        tmp2 *= dh  # dn_pre                                                          (4) (3)
        dn_pre[...] = tmp2
        if self.after:
            dz[:H] *= hn
            dz[:H] *= tmp2  # dr_pre                                                   (3) (2)
            np.multiply(tmp2, r, out=dz[2 * H :])  # dhn                                (3)
            np.multiply(dh, z, out=tmp)
            w_rec, dz_rec = self.w_hh, dz
        else:
            drh = np.matmul(self.w_hn.T, dn_pre, out=tmp2)  # (3)
            dz[:H] *= drh
            dz[:H] *= h_prev  # dr_pre                                                 (3) (2)
            np.multiply(dh, z, out=tmp)
            drh *= r
            tmp += drh  # (4) (3)
            w_rec, dz_rec = self.w_hrz, dz[: 2 * H]
        self.dZ[:, t] = dz
        np.matmul(w_rec.T, dz_rec, out=dh)
        dh += tmp  # (4) (1)

    def input_grad_blocks(self):
        if self.after:
            yield slice(0, 2 * self.H), self.dZ[: 2 * self.H]
            yield slice(2 * self.H, 3 * self.H), self.dZN
        else:
            yield slice(None), self.dZ

    def hidden_grad_blocks(self):
        if self.after:
            yield slice(None), self.dZ, self.previous_states()
        else:
            H = self.H
            yield slice(0, 2 * H), self.dZ[: 2 * H], self.previous_states()
            yield slice(2 * H, 3 * H), self.dZ[2 * H :], self.RH.reshape(H, -1)

    def gate_records(self):
        H = self.H
        n_first = 3 * H if self.after else 2 * H
        return {"r": self.G[:, :H], "z": self.G[:, H : 2 * H], "n": self.G[:, n_first : n_first + H]}


class GRUKind(CellKind):
    name, title = "gru", "GRU"
    blocks = ("r", "z", "n")
    gates = ("r", "z")
    recorded = ("r", "z", "n", "h")
    options = {"reset": "after"}
    run = GRURun
    compiled_run = "rnnlab.nn.cells.gru_compiled:CompiledGRURun"
    compiled_step = "rnnlab.nn.cells.gru_compiled:FusedGRUStep"

    def validate_options(self, options):
        if options["reset"] not in RESETS:
            raise ValueError(f"reset must be 'after' (PyTorch) or 'before' (Cho et al. 2014), got {options['reset']!r}")

    def input_bias(self, params, options):
        bias = super().input_bias(params, options)
        if bias is not None and options["reset"] == "after":  # b_hn sits inside r * (W_hn h + b_hn) (3)
            H = bias.shape[0] // 3
            bias[2 * H :] = params["bias_ih"].data[2 * H :]
        return bias

    def reset_bias(self, params, options, dtype) -> np.ndarray:
        """b_hn, the bias that stays inside r * (W_hn h_prev + b_hn) (after), else zeros."""
        H = params["weight_hh"].data.shape[1]
        if "bias_hh" not in params or options["reset"] != "after":
            return np.zeros(H, dtype)
        return params["bias_hh"].data[2 * H :]

    def step_jacobian(self, params, options, x, prev, rec, full):
        r, z, n = rec["r"], rec["z"], rec["n"]
        h_prev, H = prev[0], r.shape[-1]
        W = params["weight_hh"].data
        Wr, Wz, Wn = W[:H], W[H : 2 * H], W[2 * H :]
        dz = (z * (1 - z))[..., None] * Wz  # (J1)
        dr = (r * (1 - r))[..., None] * Wr  # (J1)
        if options["reset"] == "after":
            hn = h_prev @ Wn.T + self.reset_bias(params, options, W.dtype)
            dn = (1 - n * n)[..., None] * (hn[..., None] * dr + r[..., None] * Wn)  # (J2)
        else:
            inner = h_prev[..., None] * dr + diagonal_matrices(r)  # d(r * h_prev)/dh_prev
            dn = (1 - n * n)[..., None] * np.einsum("ij,...jk->...ik", Wn, inner)  # (J2')
        return (1 - z)[..., None] * dn + diagonal_matrices(z) + (h_prev - n)[..., None] * dz  # (J3)

    def torch_counterpart(self, options):
        if options["reset"] != "after":
            raise ValueError(
                "GRU(reset='before') has no PyTorch equivalent: torch.nn.GRU applies the reset gate "
                "after the recurrent product (reset='after'); export it to ONNX instead "
                "(rnnlab.interop.onnx.export, linear_before_reset=0)"
            )
        return TorchCounterpart("GRU", "GRUCell", {})

    def onnx_operator(self, options, num_directions):
        # ONNX orders the gates z, r, h. linear_before_reset=1 is reset="after":
        # h~ = tanh(W_h x + Wb_h + r * (R_h h + Rb_h)); 0 is reset="before", both biases outside r.
        return OnnxOperator("GRU", (1, 0, 2), {"linear_before_reset": int(options["reset"] == "after")})


GRU_CELL = register(GRUKind())
