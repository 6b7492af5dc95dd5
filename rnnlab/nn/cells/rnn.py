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

Step Jacobian (numerator layout, J[i, j] = dh[i] / dh_prev[j])
    J = diag(f'(z)) W_hh,   f' = 1 - h**2 (tanh) or [h > 0] (relu)                      (J)
"""

from __future__ import annotations

import numpy as np

from ..functional import tanh_grad
from ..sequence import SequenceRun
from .kind import CellKind, OnnxOperator, TorchCounterpart, register

NONLINEARITIES = ("tanh", "relu")


class RNNRun(SequenceRun):
    def allocate(self) -> None:
        self.w_hh = self.p["weight_hh"].data
        self.relu = self.options["nonlinearity"] == "relu"
        self.z = np.empty((self.H, self.B), self.Zx.dtype)  # scratch for one step

    def forward_step(self, t, prev, cur):
        z, h = self.z, self.S[:, cur]
        np.matmul(self.w_hh, self.S[:, prev], out=z)  # (1)
        z += self.Zx[:, t]  # (1)
        if self.relu:
            np.maximum(z, 0, out=h)  # (2)
        else:
            np.tanh(z, out=h)  # (2)

    def backward_step(self, t, prev, cur):
        h, dh, dz = self.S[:, cur], self.dstate[0], self.dZ[:, t]
        if self.relu:
            np.multiply(dh, h > 0, out=dz)  # (2)
        else:
            np.multiply(dh, tanh_grad(h, out=self.z), out=dz)  # (2)
        np.matmul(self.w_hh.T, dz, out=dh)  # (1)


class RNNKind(CellKind):
    name, title = "rnn", "Elman RNN"
    blocks = ("hh",)  # W_hh is one block: the Elman RNN has no gates
    options = {"nonlinearity": "tanh"}
    run = RNNRun
    compiled_run = "rnnlab.nn.cells.rnn_compiled:CompiledRNNRun"
    compiled_step = "rnnlab.nn.cells.rnn_compiled:FusedRNNStep"

    def validate_options(self, options):
        if options["nonlinearity"] not in NONLINEARITIES:
            raise ValueError(f"nonlinearity must be 'tanh' or 'relu', got {options['nonlinearity']!r}")

    def step_jacobian(self, params, options, x, prev, rec, full):
        h = rec["h"]  # the state is h alone: `full` changes nothing
        fprime = (h > 0).astype(float) if options["nonlinearity"] == "relu" else 1 - h * h
        return fprime[..., :, None] * params["weight_hh"].data  # (J)

    def torch_counterpart(self, options):
        return TorchCounterpart("RNN", "RNNCell", {"nonlinearity": options["nonlinearity"]})

    def options_from_torch(self, torch_module):
        return {"nonlinearity": torch_module.nonlinearity}

    def onnx_operator(self, options, num_directions):
        activation = options["nonlinearity"].capitalize()  # ONNX's names: "Tanh", "Relu"
        return OnnxOperator("RNN", (0,), {"activations": [activation] * num_directions})


RNN_CELL = register(RNNKind())
