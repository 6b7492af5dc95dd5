"""A cell kind is one object: a kind written in this file alone (a minimal gated unit) works wherever
a cell does, with no other file edited: the layer (stacked, bidirectional, lengths, batch_first),
gradcheck, the stepper, step_jacobians, the analysis, a char-LM, and interop's clear refusals.
"""

import numpy as np
import pytest

from rnnlab.analysis import gate_statistics, gradient_flow, recurrent_eigenvalues, step_jacobians
from rnnlab.models.charlm import CharLM, CharLMConfig
from rnnlab.models.sampling import generate
from rnnlab.nn import Adam, RecurrentCell, RecurrentLayer, cells, cross_entropy, recurrent_layer, use_backend
from rnnlab.nn.cells import CellKind, register
from rnnlab.nn.cells import kind as registry
from rnnlab.nn.functional import sigmoid_, sigmoid_grad, tanh_grad
from rnnlab.nn.gradcheck import gradcheck
from rnnlab.nn.init import forget_gate_bias_, init_recurrent_
from rnnlab.nn.sequence import SequenceRun


class LeakyGateRun(SequenceRun):
    """A gated unit with a forget gate f and a candidate g, no reset gate and no cell state.

    Forward
        z = zx + W_hh @ h_prev                       (1)
        f = sigmoid(z_f),  g = tanh(z_g)             (2)
        h = g + f * (h_prev - g)                     (3)
    Backward, given dh
        dz_f = dh * (h_prev - g) * f * (1 - f)       (3) (2)
        dz_g = dh * (1 - f) * (1 - g**2)             (3) (2)
        dh_prev = dh * f + W_hh^T @ dz               (3) (1)
    """

    def allocate(self):
        H, T, B, dt = self.H, self.T, self.B, self.Zx.dtype
        self.w_hh = self.p["weight_hh"].data
        self.G = np.empty((T, 2 * H, B), dt)  # f and g of every step (step-major: sequence.py)
        self.tmp = np.empty((H, B), dt)

    def forward_step(self, t, prev, cur):
        H, z, h_prev = self.H, self.G[t], self.S[:, prev]
        np.matmul(self.w_hh, h_prev, out=z)  # (1)
        z += self.Zx[:, t]
        f, g = z[:H], z[H:]
        sigmoid_(f)  # (2)
        np.tanh(g, out=g)  # (2)
        np.multiply(f, np.subtract(h_prev, g, out=self.tmp), out=self.tmp)
        np.add(g, self.tmp, out=self.S[:, cur])  # (3)

    def backward_step(self, t, prev, cur):
        H, dz, dh = self.H, self.dZ[:, t], self.dstate[0]
        f, g, h_prev = self.G[t, :H], self.G[t, H:], self.S[:, prev]
        sigmoid_grad(f, out=dz[:H])
        dz[:H] *= (h_prev - g) * dh  # (3) (2)
        tanh_grad(g, out=dz[H:])
        dz[H:] *= (1 - f) * dh  # (3) (2)
        np.multiply(dh, f, out=self.tmp)
        np.matmul(self.w_hh.T, dz, out=dh)  # (1)
        dh += self.tmp  # (3)

    def gate_records(self):
        return {"f": self.G[:, : self.H], "g": self.G[:, self.H :]}


class LeakyGateKind(CellKind):
    name, title = "toy-leaky-gate", "leaky gated unit"
    blocks = ("f", "g")
    gates = ("f",)
    recorded = ("f", "g", "h")
    run = LeakyGateRun


@pytest.fixture(scope="module")
def toy():
    kind = register(LeakyGateKind())
    yield kind.name
    registry._KINDS.pop(kind.name)  # the rest of the suite sees the built-in kinds only


def test_the_toy_kind_is_registered_and_built_by_name(toy):
    assert toy in cells.names()
    layer = recurrent_layer(toy, 3, 4, 2)
    assert type(layer) is RecurrentLayer and layer.kind.name == toy
    assert [name for name, _ in layer.named_parameters()][:4] == [
        "weight_ih_l0",
        "weight_hh_l0",
        "bias_ih_l0",
        "bias_hh_l0",
    ]
    assert layer.cells[0][0]["weight_hh"].data.shape == (8, 4)
    assert "cell='toy-leaky-gate'" in repr(layer) and "runs numpy" in repr(layer)
    with pytest.raises(TypeError, match="takes no option peephole"):
        RecurrentLayer(3, 4, cell=toy, peephole=True)


@pytest.mark.parametrize("batch_first", [False, True])
def test_the_toy_layer_backward_matches_finite_differences_stacked_bidirectional_with_lengths(toy, batch_first):
    rng = np.random.default_rng(0)
    layer = RecurrentLayer(3, 4, 2, bidirectional=True, batch_first=batch_first, cell=toy, dtype=np.float64, rng=rng)
    T, B = 5, 3
    x = rng.standard_normal((B, T, 3) if batch_first else (T, B, 3))
    hx = rng.standard_normal((4, B, 4))
    errors = gradcheck(layer, x, hx, lengths=np.array([5, 2, 4]))
    assert max(errors.values()) < 1e-6, errors
    out, _ = layer.forward(x, hx, lengths=np.array([5, 2, 4]))
    padded = out[1, 2:] if batch_first else out[2:, 1]
    assert np.all(padded == 0)  # sequence 1 has 2 valid steps


def test_the_toy_cell_backward_matches_finite_differences(toy):
    rng = np.random.default_rng(1)
    cell = RecurrentCell(3, 4, cell=toy, dtype=np.float64, rng=rng)
    errors = gradcheck(cell, rng.standard_normal((2, 3)), rng.standard_normal((2, 4)))
    assert max(errors.values()) < 1e-6, errors


def test_the_toy_kind_steps_as_it_runs_and_has_no_compiled_backend(toy):
    rng = np.random.default_rng(2)
    layer = RecurrentLayer(3, 4, 2, cell=toy, rng=rng)
    x = rng.standard_normal((6, 2, 3)).astype(np.float32)
    out, h_n = layer(x)
    with use_backend("compiled" if layer.running_backend == "compiled" else "numpy"):
        stepper = layer.stepper()  # no fused step: forward for one step at a time
    assert stepper.backend == "forward"
    state, outs = None, []
    for t in range(6):
        o, state = stepper.step(x[t], state)
        outs.append(o)
    np.testing.assert_allclose(np.stack(outs), out, atol=1e-6)
    np.testing.assert_allclose(state, h_n, atol=1e-6)
    with pytest.raises(ValueError, match="has no compiled kernels"):
        RecurrentLayer(3, 4, cell=toy, backend="numpy").backend = "compiled"


def test_the_toy_kinds_step_jacobians_match_finite_differences(toy):
    rng = np.random.default_rng(3)
    layer = RecurrentLayer(2, 3, 2, bidirectional=True, cell=toy, dtype=np.float64, rng=rng)
    x, hx = rng.standard_normal((4, 2, 2)), rng.standard_normal((4, 2, 3))
    layer.forward(x, hx, record=True)
    rec = layer.recorded
    cell = RecurrentCell(6, 3, cell=toy, dtype=np.float64)
    cell.load_state_dict(
        {
            k: v
            for k, v in zip(
                ("weight_ih", "weight_hh", "bias_ih", "bias_hh"), (p.data for p in layer.cells[1][1].values())
            )
        }
    )
    J = step_jacobians(layer, x, hx, layer_index=1, direction=1)  # the generic, exact J of cells/kind.py
    inputs = np.concatenate([rec["l0"]["h"], rec["l0_reverse"]["h"]], -1)
    eps = 1e-6
    for t in range(3):  # the reverse direction's previous state is h_{t+1}
        h_prev = rec["l1_reverse"]["h"][t + 1]
        numeric = np.empty((2, 3, 3))
        for j in range(3):
            plus, minus = h_prev.copy(), h_prev.copy()
            plus[:, j] += eps
            minus[:, j] -= eps
            numeric[:, :, j] = (cell(inputs[t], plus) - cell(inputs[t], minus)) / (2 * eps)
        np.testing.assert_allclose(J[t], numeric, atol=1e-8)
    with pytest.raises(ValueError, match="full=True"):
        step_jacobians(layer, x, full=True)


def test_the_toy_kind_goes_through_the_analysis_and_the_initialisers(toy):
    rng = np.random.default_rng(4)
    layer = RecurrentLayer(2, 5, cell=toy, dtype=np.float64, rng=rng)
    init_recurrent_(layer, rng, hidden_init="orthogonal")
    forget_gate_bias_(layer, 3.0)  # its gate "f" keeps the state: a forget gate
    x = rng.standard_normal((12, 4, 2)) * 0.1
    stats = gate_statistics(layer, x)
    assert set(stats["l0"]) == {"f"} and stats["l0"]["f"].mean.min() > 0.9
    assert set(recurrent_eigenvalues(layer)["l0"]) == {"f", "g"}
    flow = gradient_flow(layer, x, np.ones((4, 5)))
    assert flow.norms["l0"].shape == (12, 4) and np.all(np.isfinite(flow.norms["l0"]))


def test_a_char_lm_of_the_toy_kind_learns_and_writes(toy):
    text = np.array([0, 1, 2, 3, 1, 2] * 40)
    model = CharLM(CharLMConfig(vocab_size=4, model=toy, hidden=16, layers=2, embedding=4), np.random.default_rng(5))
    opt = Adam(model.named_parameters(), lr=2e-2)
    x, y = text[:160].reshape(20, 8).T, text[1:161].reshape(20, 8).T  # 20 windows of 8, time-major
    losses = []
    for _ in range(60):
        model.zero_grad()
        logits, _ = model(x)
        loss, dlogits = cross_entropy(logits, y)
        model.backward(dlogits)
        opt.step()
        losses.append(loss)
    assert losses[-1] < 0.5 * losses[0]
    written = list(generate(model, [0], 12, np.random.default_rng(0), greedy=True))
    assert len(written) == 12 and set(written) <= {0, 1, 2, 3}


def test_interop_refuses_the_toy_kind_saying_why(toy, torch, onnx):
    from rnnlab.interop.onnx import export
    from rnnlab.interop.torch import to_torch

    layer = RecurrentLayer(2, 3, cell=toy)
    with pytest.raises(ValueError, match="leaky gated unit has no PyTorch counterpart"):
        to_torch(layer)
    with pytest.raises(ValueError, match="leaky gated unit has no ONNX operator"):
        export(layer)
