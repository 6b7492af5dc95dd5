"""The GRU's step as compiled kernels (numba), equations numbered as in gru.py.

A GRU step reads h_prev and writes h in the same store S; in one loop that stopped LLVM from
vectorising, so the new state gets a loop of its own.
"""

from __future__ import annotations

import numpy as np

from .gru import GRU_CELL, GRURun
from .jit import FusedStep, jit, sigmoid, tanh


@jit
def gru_after_forward(G, Zx, S, t, prev, cur, b_hn):
    """reset="after", (2)-(4); G[t] rows r, z, hn hold W_hh h_prev on entry; rows r, z, hn, n
    hold the gates, W_hn h_prev + b_hn and n on exit."""
    half = G.dtype.type(0.5)
    H = b_hn.shape[0]
    for j in range(H):
        gr, gz, ghn, gn = G[t, j], G[t, H + j], G[t, 2 * H + j], G[t, 3 * H + j]
        xr, xz, xn = Zx[j, t], Zx[H + j, t], Zx[2 * H + j, t]
        h_prev, h, bj = S[j, prev], S[j, cur], b_hn[j]
        for b in range(h.shape[0]):
            r = sigmoid(gr[b] + xr[b], half)  # (2)
            z = sigmoid(gz[b] + xz[b], half)  # (2)
            hn = ghn[b] + bj  # (3)
            gr[b], gz[b], ghn[b], gn[b] = r, z, hn, tanh(xn[b] + r * hn)  # (3)
        for b in range(h.shape[0]):
            h[b] = gn[b] + gz[b] * (h_prev[b] - gn[b])  # (4)


@jit
def gru_after_backward(G, S, prev, dh, dZ, dZN, direct, t):
    """dz of one step into dZ[:, t] (rows dr_pre, dz_pre, dhn), dn_pre into dZN[:, t] and the
    direct part dh * z of dh_prev into `direct`; the caller adds W_hh^T dz."""
    one = G.dtype.type(1)
    H = dh.shape[0]
    for j in range(H):
        gr, gz, ghn, gn = G[t, j], G[t, H + j], G[t, 2 * H + j], G[t, 3 * H + j]
        dr, dzz, dhn, dn = dZ[j, t], dZ[H + j, t], dZ[2 * H + j, t], dZN[j, t]
        h_prev, dhj, dd = S[j, prev], dh[j], direct[j]
        for b in range(dhj.shape[0]):
            r, z, hn, n, d = gr[b], gz[b], ghn[b], gn[b], dhj[b]
            dn_pre = d * (one - z) * (one - n * n)  # (4) (3)
            dr[b] = dn_pre * hn * r * (one - r)  # dr_pre (3) (2)
            dzz[b] = d * (h_prev[b] - n) * z * (one - z)  # dz_pre (4) (2)
            dhn[b] = dn_pre * r  # (3)
            dn[b] = dn_pre
            dd[b] = d * z  # (4)


@jit
def gru_before_gates(G, Zx, S, RH, t, prev):
    """reset="before", (2) and the r * h_prev of (3); G[t] rows r, z hold W_hr,hz h_prev."""
    half = G.dtype.type(0.5)
    H = RH.shape[0]
    for j in range(H):
        gr, gz, xr, xz = G[t, j], G[t, H + j], Zx[j, t], Zx[H + j, t]
        h_prev, rh = S[j, prev], RH[j, t]
        for b in range(rh.shape[0]):
            r = sigmoid(gr[b] + xr[b], half)  # (2)
            gr[b] = r
            gz[b] = sigmoid(gz[b] + xz[b], half)  # (2)
            rh[b] = r * h_prev[b]  # (3)


@jit
def gru_before_output(G, Zx, S, t, prev, cur):
    """reset="before", the rest of (3) and (4); G[t] rows n hold W_hn (r * h_prev)."""
    H = S.shape[0]
    for j in range(H):
        gz, gn, xn = G[t, H + j], G[t, 2 * H + j], Zx[2 * H + j, t]
        h_prev, h = S[j, prev], S[j, cur]
        for b in range(h.shape[0]):
            gn[b] = tanh(gn[b] + xn[b])  # (3)
        for b in range(h.shape[0]):
            h[b] = gn[b] + gz[b] * (h_prev[b] - gn[b])  # (4)


@jit
def gru_before_backward_n(G, S, prev, dh, dZ, t):
    """dz_pre and dn_pre of one step into dZ[:, t] (rows z and n)."""
    one = G.dtype.type(1)
    H = dh.shape[0]
    for j in range(H):
        gz, gn, dzz, dn = G[t, H + j], G[t, 2 * H + j], dZ[H + j, t], dZ[2 * H + j, t]
        h_prev, dhj = S[j, prev], dh[j]
        for b in range(dhj.shape[0]):
            z, n, d = gz[b], gn[b], dhj[b]
            dzz[b] = d * (h_prev[b] - n) * z * (one - z)  # (4) (2)
            dn[b] = d * (one - z) * (one - n * n)  # (4) (3)


@jit
def gru_before_backward_r(G, S, prev, dh, drh, dZ, direct, t):
    """dr_pre into dZ[:, t] from drh = W_hn^T dn_pre, and the direct part dh * z + drh * r
    of dh_prev into `direct`; the caller adds W_hr,hz^T [dr_pre; dz_pre]."""
    one = G.dtype.type(1)
    H = dh.shape[0]
    for j in range(H):
        gr, gz, dr = G[t, j], G[t, H + j], dZ[j, t]
        h_prev, dhj, drj, dd = S[j, prev], dh[j], drh[j], direct[j]
        for b in range(dhj.shape[0]):
            r = gr[b]
            dr[b] = drj[b] * h_prev[b] * r * (one - r)  # (3) (2)
            dd[b] = dhj[b] * gz[b] + drj[b] * r  # (4) (3)


class CompiledGRURun(GRURun):
    def forward_step(self, t, prev, cur):
        H, g, h_prev = self.H, self.G[t], self.S[:, prev]
        if self.after:
            np.matmul(self.w_hh, h_prev, out=g[: 3 * H])  # (1)
            gru_after_forward(self.G, self.Zx, self.S, t, prev, cur, self.b_hn)  # (2)-(4)
        else:
            np.matmul(self.w_hrz, h_prev, out=g[: 2 * H])  # (1)
            gru_before_gates(self.G, self.Zx, self.S, self.RH, t, prev)  # (2) (3)
            np.matmul(self.w_hn, self.RH[:, t], out=g[2 * H :])  # (3)
            gru_before_output(self.G, self.Zx, self.S, t, prev, cur)  # (3) (4)

    def backward_step(self, t, prev, cur):
        H, dh, direct = self.H, self.dstate[0], self.tmp
        if self.after:
            gru_after_backward(self.G, self.S, prev, dh, self.dZ, self.dZN, direct, t)
            np.matmul(self.w_hh.T, self.dZ[:, t], out=dh)  # (1)
        else:
            gru_before_backward_n(self.G, self.S, prev, dh, self.dZ, t)
            drh = np.matmul(self.w_hn.T, self.dZ[2 * H :, t], out=self.tmp2)  # (3)
            gru_before_backward_r(self.G, self.S, prev, dh, drh, self.dZ, direct, t)
            np.matmul(self.w_hrz.T, self.dZ[: 2 * H, t], out=dh)  # (1)
        dh += direct  # (4) (1)


class FusedGRUStep(FusedStep):
    """ax = [W_ih | b_x] @ [x; 1] and a = [W_hh | b_h] @ [h_prev; 1], two GEMVs (the reset gate
    sits between the recurrent product and the input part of n), then (2)-(4)."""

    gate_rows, input_rows = 4, 3  # rows r, z, hn, n of G; r, z, n of Zx

    def fuse(self, params, options):
        H, dt = self.H, self.dtype
        w_ih, w_hh = params["weight_ih"].data, params["weight_hh"].data
        bias_x = GRU_CELL.input_bias(params, options)
        bias_x = np.zeros(3 * H, dt) if bias_x is None else bias_x
        bias_h = np.zeros(3 * H, dt)
        bias_h[2 * H :] = GRU_CELL.reset_bias(params, options, dt)  # after: b_hn joins the h GEMV (3)
        self.input = np.ascontiguousarray(np.concatenate([w_ih, bias_x[:, None]], axis=1))
        self.hidden = np.ascontiguousarray(np.concatenate([w_hh, bias_h[:, None]], axis=1))
        self.w_hn = np.ascontiguousarray(w_hh[2 * H :])
        self.after = options["reset"] == "after"

    def step(self, inp, prev):
        w, H, d = self.work(inp.shape[1]), self.H, inp.shape[0]
        G, Zx, S = w["G"], w["Zx"], w["S"]
        w["xone"][:d], w["hone"][:H] = inp, prev[0]
        w["h_prev"][...] = prev[0]
        np.matmul(self.input, w["xone"], out=w["zx"])  # ax
        if self.after:
            np.matmul(self.hidden, w["hone"], out=w["z"][: 3 * H])  # (1), b_hn included
            gru_after_forward(G, Zx, S, 0, 0, 1, w["no_bias"])  # (2)-(4)
        else:
            np.matmul(self.hidden[: 2 * H], w["hone"], out=w["z"][: 2 * H])  # (1)
            gru_before_gates(G, Zx, S, w["RH"], 0, 0)  # (2) (3)
            np.matmul(self.w_hn, w["rh"], out=w["z"][2 * H : 3 * H])  # (3)
            gru_before_output(G, Zx, S, 0, 0, 1)  # (3) (4)
        return (w["h_new"],)
