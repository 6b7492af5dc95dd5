"""The LSTM's step as compiled kernels (numba), equations numbered as in lstm.py."""

from __future__ import annotations

import numpy as np

from .jit import FusedStep, jit, sigmoid, tanh
from .lstm import LSTM_CELL, PEEPHOLES, LSTMRun


@jit
def lstm_forward(G, Zx, C, TC, S, t, prev, cur, w_ci, w_cf, w_co, peephole):
    """Equations (2)-(5) of one step; G[t] holds W_hh h_prev on entry and the gates on exit."""
    half, zero = G.dtype.type(0.5), G.dtype.type(0)
    H = C.shape[1]
    for j in range(H):
        gi, gf, gg, go = G[t, j], G[t, H + j], G[t, 2 * H + j], G[t, 3 * H + j]
        xi, xf, xg, xo = Zx[j, t], Zx[H + j, t], Zx[2 * H + j, t], Zx[3 * H + j, t]
        c_prev, c_new, tanh_c, h = C[prev, j], C[cur, j], TC[t, j], S[j, cur]
        pi, pf, po = (w_ci[j], w_cf[j], w_co[j]) if peephole else (zero, zero, zero)
        for b in range(h.shape[0]):
            i = sigmoid(gi[b] + xi[b] + pi * c_prev[b], half)  # (2)
            f = sigmoid(gf[b] + xf[b] + pf * c_prev[b], half)  # (2)
            g = tanh(gg[b] + xg[b])  # (2)
            c = f * c_prev[b] + i * g  # (3)
            o = sigmoid(go[b] + xo[b] + po * c, half)  # (4)
            tc = tanh(c)
            gi[b], gf[b], gg[b], go[b] = i, f, g, o
            c_new[b], tanh_c[b] = c, tc
            h[b] = o * tc  # (5)


@jit
def lstm_backward(G, C, TC, prev, dh, dc, dZ, t, w_ci, w_cf, w_co, peephole):
    """dz of one step into dZ[:, t] and dc <- dc_prev; dh_prev = W_hh^T dz is the caller's."""
    one, zero = G.dtype.type(1), G.dtype.type(0)
    H = dh.shape[0]
    for j in range(H):
        gi, gf, gg, go = G[t, j], G[t, H + j], G[t, 2 * H + j], G[t, 3 * H + j]
        di, df, dg, do = dZ[j, t], dZ[H + j, t], dZ[2 * H + j, t], dZ[3 * H + j, t]
        c_prev, tanh_c, dhj, dcj = C[prev, j], TC[t, j], dh[j], dc[j]
        pi, pf, po = (w_ci[j], w_cf[j], w_co[j]) if peephole else (zero, zero, zero)
        for b in range(dhj.shape[0]):
            i, f, g, o, tc, d = gi[b], gf[b], gg[b], go[b], tanh_c[b], dhj[b]
            dz_o = d * tc * o * (one - o)  # (5) (4)
            dcv = dcj[b] + d * o * (one - tc * tc) + po * dz_o  # (5) (4)
            dz_i = dcv * g * i * (one - i)  # (3) (2)
            dz_f = dcv * c_prev[b] * f * (one - f)  # (3) (2)
            di[b], df[b], dg[b], do[b] = dz_i, dz_f, dcv * i * (one - g * g), dz_o  # (3) (2)
            dcj[b] = dcv * f + pi * dz_i + pf * dz_f  # (3) (2)


def _peepholes(params: dict, options: dict, dtype) -> tuple[np.ndarray, ...]:
    """The kernels take the peephole vectors always (empty ones when there are none)."""
    return tuple(params[k].data if options["peephole"] else np.empty(0, dtype) for k in PEEPHOLES)


class CompiledLSTMRun(LSTMRun):
    def allocate(self) -> None:
        super().allocate()
        self.peep = _peepholes(self.p, self.options, self.Zx.dtype)

    def forward_step(self, t, prev, cur):
        np.matmul(self.w_hh, self.S[:, prev], out=self.G[t])  # (1)
        lstm_forward(self.G, self.Zx, self.C, self.TC, self.S, t, prev, cur, *self.peep, self.peephole)  # (1)-(5)

    def backward_step(self, t, prev, cur):
        dh, dc = self.dstate
        lstm_backward(self.G, self.C, self.TC, prev, dh, dc, self.dZ, t, *self.peep, self.peephole)
        np.matmul(self.w_hh.T, self.dZ[:, t], out=dh)  # (1)


class FusedLSTMStep(FusedStep):
    """z = [W_ih | W_hh | b] @ [x; h_prev; 1]: one GEMV over one matrix (1), then (2)-(5)."""

    gate_rows = input_rows = 4

    def fuse(self, params, options):
        w_ih, w_hh = params["weight_ih"].data, params["weight_hh"].data
        bias = LSTM_CELL.input_bias(params, options)
        bias = np.zeros(w_ih.shape[0], self.dtype) if bias is None else bias
        self.fused = np.ascontiguousarray(np.concatenate([w_ih, w_hh, bias[:, None]], axis=1))
        self.peephole = options["peephole"]
        self.peep = tuple(p.copy() for p in _peepholes(params, options, self.dtype))
        self.flat_for_one_row = not self.peephole  # peephole weights differ per unit

    def step(self, inp, prev):
        w = self.work(inp.shape[1])
        stack, d = w["stack"], inp.shape[0]
        stack[:d], stack[d:-1] = inp, prev[0]
        np.matmul(self.fused, stack, out=w["z"])  # (1); Zx stays 0: the bias is in z
        w["c_prev"][...] = prev[1]
        lstm_forward(w["G"], w["Zx"], w["C"], w["TC"], w["S"], 0, 0, 1, *self.peep, self.peephole)  # (2)-(5)
        return w["h_new"], w["c_new"]
