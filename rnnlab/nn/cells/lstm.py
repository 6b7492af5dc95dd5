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
"""

from __future__ import annotations

import numpy as np

from .. import kernels
from ..functional import sigmoid_, sigmoid_grad, tanh_grad
from ..sequence import SequenceRun

PEEPHOLES = ("weight_ci", "weight_cf", "weight_co")


class LSTMRun(SequenceRun):
    n_gates = 4
    n_states = 2

    @staticmethod
    def check_options(options):
        return {"peephole": bool(options["peephole"])}

    def allocate(self) -> None:
        T, B, H, dt = self.T, self.B, self.H, self.Zx.dtype
        self.w_hh = self.p["weight_hh"].data
        self.peephole = self.options["peephole"]
        if self.peephole:
            self.w_ci, self.w_cf, self.w_co = (self.p[k].data[:, None] for k in PEEPHOLES)
        # the compiled kernels take the peephole vectors always (empty ones when there are none)
        self.peep = tuple(self.p[k].data if self.peephole else np.empty(0, dt) for k in PEEPHOLES)
        self.G = np.empty((T, 4 * H, B), dt)  # gates i, f, g, o of every step
        self.C = np.empty((T + 2, H, B), dt)  # cell states, slots as the hidden store
        self.TC = np.empty((T, H, B), dt)  # tanh(c) of every step
        self.tmp = np.empty((H, B), dt)

    def state_views(self, slot):
        return (self.S[:, slot], self.C[slot])

    def forward_step(self, t, prev, cur):
        if self.fast:
            np.matmul(self.w_hh, self.S[:, prev], out=self.G[t])  # (1)
            kernels.lstm_forward(
                self.G, self.Zx, self.C, self.TC, self.S, t, prev, cur, *self.peep, self.peephole
            )  # (1)-(5)
            return
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
        if self.fast:
            dh, dc = self.dstate
            kernels.lstm_backward(self.G, self.C, self.TC, prev, dh, dc, self.dZ, t, *self.peep, self.peephole)
            np.matmul(self.w_hh.T, self.dZ[:, t], out=dh)  # (1)
            return
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

    def backward(self, dY, dstate):
        self.deriv = np.empty((4 * self.H, self.B), self.S.dtype)  # activation derivatives
        return super().backward(dY, dstate)

    def extra_grads(self) -> None:
        if not self.peephole:
            return
        H, T = self.H, self.T
        first = 2 if self.reverse else 0
        c_prev, c = self.C[first : first + T], self.C[1 : T + 1]
        for k, rows, cells in ((0, slice(0, H), c_prev), (1, slice(H, 2 * H), c_prev), (2, slice(3 * H, 4 * H), c)):
            self.p[PEEPHOLES[k]].grad += np.einsum("htb,thb->h", self.dZ[rows], cells)

    def recorded(self):
        H, T = self.H, self.T
        names = ("i", "f", "g", "o")
        rec = {name: self.G[:, k * H : (k + 1) * H] for k, name in enumerate(names)}
        rec["c"] = self.C[1 : T + 1]
        return rec | super().recorded()
