"""The Elman RNN's step as compiled kernels (numba), equations numbered as in rnn.py."""

from __future__ import annotations

import numpy as np

from .jit import FusedStep, jit, tanh
from .rnn import RNN_CELL, RNNRun


@jit
def rnn_forward(z, Zx, S, t, cur, relu):
    """h = f(z + zx_t), z = W_hh h_prev already in z (1) (2)."""
    zero = z.dtype.type(0)
    for j in range(z.shape[0]):
        a, ax, h = z[j], Zx[j, t], S[j, cur]
        for b in range(a.shape[0]):
            v = a[b] + ax[b]
            h[b] = (v if v > zero else zero * v) if relu else tanh(v)


@jit
def rnn_backward(S, cur, dh, dZ, t, relu):
    """dz = dh * f'(z), from the output h (2)."""
    one, zero = S.dtype.type(1), S.dtype.type(0)
    for j in range(dh.shape[0]):
        h, d, dz = S[j, cur], dh[j], dZ[j, t]
        for b in range(h.shape[0]):
            dz[b] = (d[b] if h[b] > zero else zero * d[b]) if relu else d[b] * (one - h[b] * h[b])


class CompiledRNNRun(RNNRun):
    def forward_step(self, t, prev, cur):
        np.matmul(self.w_hh, self.S[:, prev], out=self.z)  # (1)
        rnn_forward(self.z, self.Zx, self.S, t, cur, self.relu)  # (1) (2)

    def backward_step(self, t, prev, cur):
        dh = self.dstate[0]
        rnn_backward(self.S, cur, dh, self.dZ, t, self.relu)  # (2)
        np.matmul(self.w_hh.T, self.dZ[:, t], out=dh)  # (1)


class FusedRNNStep(FusedStep):
    """z = [W_ih | W_hh | b] @ [x; h_prev; 1]: one GEMV over one matrix (1), then (2)."""

    def fuse(self, params, options):
        w_ih, w_hh = params["weight_ih"].data, params["weight_hh"].data
        bias = RNN_CELL.input_bias(params, options)
        bias = np.zeros(w_ih.shape[0], self.dtype) if bias is None else bias
        self.fused = np.ascontiguousarray(np.concatenate([w_ih, w_hh, bias[:, None]], axis=1))
        self.relu = options["nonlinearity"] == "relu"

    def step(self, inp, prev):
        w = self.work(inp.shape[1])
        stack, d = w["stack"], inp.shape[0]
        stack[:d], stack[d:-1] = inp, prev[0]
        np.matmul(self.fused, stack, out=w["z"])  # (1); Zx stays 0: the bias is in z
        rnn_forward(w["G"][0], w["Zx"], w["S"], 0, 1, self.relu)  # (2)
        return (w["h_new"],)
