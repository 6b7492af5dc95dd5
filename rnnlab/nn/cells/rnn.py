"""Elman RNN cell, one time step (the lectures' h_t = f(W_hh h_{t-1} + W_ih x_t + b)).

Layout (H, B): a state is a column per sequence. zx = W_ih x + b_ih + b_hh comes precomputed
for all steps (sequence.py).

Forward
    z = zx + W_hh @ h_prev                                  (1)
    h = tanh(z)   or   h = relu(z) = max(z, 0)             (2)

Backward, given dh (from the output and from step t + 1)
    dz = dh * (1 - h**2)   or   dz = dh * [h > 0]          (2)  (derivatives from the output h)
    dh_prev = W_hh^T @ dz                                   (1)
    dW_hh += dz h_prev^T, dW_ih += dz x^T, db += dz        (1)  (summed over steps, sequence.py)
"""

from __future__ import annotations

import numpy as np

from .. import kernels
from ..functional import tanh_grad
from ..sequence import SequenceRun


class RNNRun(SequenceRun):
    n_gates = 1

    @staticmethod
    def check_options(options):
        if options["nonlinearity"] not in ("tanh", "relu"):
            raise ValueError(f"nonlinearity must be 'tanh' or 'relu', got {options['nonlinearity']!r}")
        return options

    def allocate(self) -> None:
        self.w_hh = self.p["weight_hh"].data
        self.relu = self.options["nonlinearity"] == "relu"
        self.z = np.empty((self.H, self.B), self.Zx.dtype)  # scratch for one step

    def state_views(self, slot):
        return (self.S[:, slot],)

    def forward_step(self, t, prev, cur):
        z, h = self.z, self.S[:, cur]
        np.matmul(self.w_hh, self.S[:, prev], out=z)  # (1)
        if self.fast:
            kernels.rnn_forward(z, self.Zx, self.S, t, cur, self.relu)  # (1) (2)
            return
        z += self.Zx[:, t]  # (1)
        if self.relu:
            np.maximum(z, 0, out=h)  # (2)
        else:
            np.tanh(z, out=h)  # (2)

    def backward_step(self, t, prev, cur):
        h, dh, dz = self.S[:, cur], self.dstate[0], self.dZ[:, t]
        if self.fast:
            kernels.rnn_backward(self.S, cur, dh, self.dZ, t, self.relu)  # (2)
        elif self.relu:
            np.multiply(dh, h > 0, out=dz)  # (2)
        else:
            np.multiply(dh, tanh_grad(h, out=self.z), out=dz)  # (2)
        np.matmul(self.w_hh.T, dz, out=dh)  # (1)
