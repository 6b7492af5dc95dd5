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
"""

from __future__ import annotations

import numpy as np

from .. import kernels
from ..functional import sigmoid_, sigmoid_grad, tanh_grad
from ..sequence import SequenceRun

RESETS = ("after", "before")


class GRURun(SequenceRun):
    n_gates = 3

    @staticmethod
    def check_options(options):
        if options["reset"] not in RESETS:
            raise ValueError(f"reset must be 'after' (PyTorch) or 'before' (Cho et al. 2014), got {options['reset']!r}")
        return options

    def allocate(self) -> None:
        T, B, H, dt = self.T, self.B, self.H, self.Zx.dtype
        self.after = self.options["reset"] == "after"
        w_hh = self.p["weight_hh"].data
        b_hh = self.p.get("bias_hh")
        self.w_hh, self.w_hrz, self.w_hn = w_hh, w_hh[: 2 * H], w_hh[2 * H :]
        self.b_hn = None if b_hh is None else b_hh.data[2 * H :, None]
        self.b_hn_vector = np.zeros(H, dt) if b_hh is None else b_hh.data[2 * H :]  # for the kernel
        # after: rows r, z, hn, n;  before: rows r, z, n and r * h_prev of every step in RH
        self.G = np.empty((T, 4 * H if self.after else 3 * H, B), dt)
        if not self.after:
            self.RH = np.empty((H, T, B), dt)
        self.tmp = np.empty((H, B), dt)
        self.tmp2 = np.empty((H, B), dt)

    def input_bias(self):
        b_ih, b_hh = self.p.get("bias_ih"), self.p.get("bias_hh")
        if b_ih is None:
            return None
        bias = b_ih.data + b_hh.data
        if self.options["reset"] == "after":  # b_hn sits inside r * (W_hn h + b_hn)
            bias[2 * self.H :] = b_ih.data[2 * self.H :]
        return bias

    def state_views(self, slot):
        return (self.S[:, slot],)

    def _gates(self, t):
        H, g = self.H, self.G[t]
        if self.after:
            return g[:H], g[H : 2 * H], g[3 * H :], g[2 * H : 3 * H]  # r, z, n, hn
        return g[:H], g[H : 2 * H], g[2 * H :], None

    def forward_step(self, t, prev, cur):
        if self.fast:
            return self._forward_step_compiled(t, prev, cur)
        H, g, ax, h_prev = self.H, self.G[t], self.Zx[:, t], self.S[:, prev]
        r, z, n, hn = self._gates(t)
        if self.after:
            np.matmul(self.w_hh, h_prev, out=g[: 3 * H])  # (1)
            if self.b_hn is not None:
                hn += self.b_hn  # (3)
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

    def _forward_step_compiled(self, t, prev, cur):
        H, g, h_prev = self.H, self.G[t], self.S[:, prev]
        if self.after:
            np.matmul(self.w_hh, h_prev, out=g[: 3 * H])  # (1)
            kernels.gru_after_forward(self.G, self.Zx, self.S, t, prev, cur, self.b_hn_vector)  # (2)-(4)
        else:
            np.matmul(self.w_hrz, h_prev, out=g[: 2 * H])  # (1)
            kernels.gru_before_gates(self.G, self.Zx, self.S, self.RH, t, prev)  # (2) (3)
            np.matmul(self.w_hn, self.RH[:, t], out=g[2 * H :])  # (3)
            kernels.gru_before_output(self.G, self.Zx, self.S, t, prev, cur)  # (3) (4)

    def _backward_step_compiled(self, t, prev, cur):
        H, dh, direct = self.H, self.dstate[0], self.tmp
        if self.after:
            kernels.gru_after_backward(self.G, self.S, prev, dh, self.dZ, self.dZN, direct, t)
            np.matmul(self.w_hh.T, self.dZ[:, t], out=dh)  # (1)
        else:
            kernels.gru_before_backward_n(self.G, self.S, prev, dh, self.dZ, t)
            drh = np.matmul(self.w_hn.T, self.dZ[2 * H :, t], out=self.tmp2)  # (3)
            kernels.gru_before_backward_r(self.G, self.S, prev, dh, drh, self.dZ, direct, t)
            np.matmul(self.w_hrz.T, self.dZ[: 2 * H, t], out=dh)  # (1)
        dh += direct  # (4) (1)

    def backward_step(self, t, prev, cur):
        if self.fast:
            return self._backward_step_compiled(t, prev, cur)
        H, dz, tmp, tmp2 = self.H, self.dz, self.tmp, self.tmp2
        r, z, n, hn = self._gates(t)
        h_prev, dh = self.S[:, prev], self.dstate[0]
        dn_pre = self.dZN[:, t] if self.after else dz[2 * H :]
        sigmoid_grad(self.G[t][: 2 * H], out=dz[: 2 * H])  # (2)
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

    def backward(self, dY, dstate):
        self.dz = np.empty((3 * self.H, self.B), self.S.dtype)  # one step's gradients
        if self.after:
            self.dZN = np.empty((self.H, self.T, self.B), self.S.dtype)  # dn_pre of every step
        return super().backward(dY, dstate)

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

    def recorded(self):
        H = self.H
        n_first = 3 * H if self.after else 2 * H
        rec = {"r": self.G[:, :H], "z": self.G[:, H : 2 * H], "n": self.G[:, n_first : n_first + H]}
        return rec | super().recorded()
