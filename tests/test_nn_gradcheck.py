"""Finite differences in float64 for every layer and cell x option, and the checker's own failure."""

import numpy as np
import pytest

from rnnlab.nn import GRU, LSTM, RNN, GRUCell, LSTMCell, RecurrentLayer, RNNCell
from rnnlab.nn.cells.rnn import RNNKind, RNNRun
from rnnlab.nn.gradcheck import gradcheck

TOL = 1e-6
T, B, D, H = 4, 3, 3, 3

LAYERS = {
    "rnn-tanh": lambda **kw: RNN(D, H, nonlinearity="tanh", **kw),
    "rnn-relu": lambda **kw: RNN(D, H, nonlinearity="relu", **kw),
    "lstm": lambda **kw: LSTM(D, H, **kw),
    "lstm-peephole": lambda **kw: LSTM(D, H, peephole=True, **kw),
    "gru-after": lambda **kw: GRU(D, H, reset="after", **kw),
    "gru-before": lambda **kw: GRU(D, H, reset="before", **kw),
}
CELLS = {
    "rnn-tanh": lambda: RNNCell(D, H, nonlinearity="tanh", dtype=np.float64, rng=np.random.default_rng(1)),
    "rnn-relu": lambda: RNNCell(D, H, nonlinearity="relu", dtype=np.float64, rng=np.random.default_rng(1)),
    "lstm": lambda: LSTMCell(D, H, dtype=np.float64, rng=np.random.default_rng(1)),
    "lstm-peephole": lambda: LSTMCell(D, H, peephole=True, dtype=np.float64, rng=np.random.default_rng(1)),
    "gru-after": lambda: GRUCell(D, H, reset="after", dtype=np.float64, rng=np.random.default_rng(1)),
    "gru-before": lambda: GRUCell(D, H, reset="before", dtype=np.float64, rng=np.random.default_rng(1)),
}
# (num_layers, bidirectional, lengths, initial state given, batch_first)
TOPOLOGIES = [
    (1, False, None, True, False),
    (1, True, [4, 1, 3], True, False),
    (2, True, None, False, True),
    (2, False, [2, 4, 1], False, False),
    (3, True, [3, 2, 4], True, True),
]


def _state(kind, shape, rng):
    if kind.startswith("lstm"):
        return (rng.standard_normal(shape), rng.standard_normal(shape))
    return rng.standard_normal(shape)


def _assert_small(errors):
    worst = max(errors, key=errors.get)
    assert errors[worst] < TOL, f"{worst}: relative error {errors[worst]:.2e} (all: {errors})"


@pytest.mark.parametrize(
    "topology",
    TOPOLOGIES,
    ids=lambda t: "L{}-{}-len{}-h0{}-bf{}".format(
        t[0], "bi" if t[1] else "uni", "var" if t[2] else "full", int(t[3]), int(t[4])
    ),
)
@pytest.mark.parametrize("kind", list(LAYERS))
def test_layer_backward_matches_finite_differences(kind, topology):
    layers, bidirectional, lengths, give_state, batch_first = topology
    rng = np.random.default_rng(0)
    m = LAYERS[kind](
        num_layers=layers,
        bidirectional=bidirectional,
        batch_first=batch_first,
        dtype=np.float64,
        rng=np.random.default_rng(2),
    )
    x = rng.standard_normal((B, T, D) if batch_first else (T, B, D))
    hx = _state(kind, (layers * (2 if bidirectional else 1), B, H), rng) if give_state else None
    _assert_small(gradcheck(m, x, hx, lengths=lengths))


@pytest.mark.parametrize("kind", ["lstm", "gru-before", "rnn-tanh"])
def test_unbatched_layer_backward_matches_finite_differences(kind):
    rng = np.random.default_rng(3)
    m = LAYERS[kind](num_layers=2, bidirectional=True, dtype=np.float64, rng=rng)
    _assert_small(gradcheck(m, rng.standard_normal((T, D)), _state(kind, (4, H), rng)))


@pytest.mark.parametrize("give_state", [True, False])
@pytest.mark.parametrize("kind", list(CELLS))
def test_cell_backward_matches_finite_differences(kind, give_state):
    rng = np.random.default_rng(4)
    hx = _state(kind, (B, H), rng) if give_state else None
    _assert_small(gradcheck(CELLS[kind](), rng.standard_normal((B, D)), hx))


def test_bias_free_layers_match_finite_differences():
    rng = np.random.default_rng(5)
    for make in LAYERS.values():
        m = make(num_layers=2, bias=False, dtype=np.float64, rng=rng)
        assert not any("bias" in name for name, _ in m.named_parameters())
        # eps=1e-5: without biases the peephole gradients of layer 2 are ~1e-4 of the loss, where
        # the rounding noise of eps=1e-6 differences (~1e-10) alone is ~1e-6 of them.
        _assert_small(gradcheck(m, rng.standard_normal((T, B, D)), lengths=[4, 2, 3], eps=1e-5))


class _SeededDropoutLSTM(LSTM):
    """Draws the same dropout masks on every forward, so the loss is a function of the inputs."""

    def forward(self, *args, **kwargs):
        self.rng = np.random.default_rng(11)
        return super().forward(*args, **kwargs)


def test_dropout_backward_matches_finite_differences():
    rng = np.random.default_rng(6)
    m = _SeededDropoutLSTM(D, H, num_layers=3, dropout=0.4, bidirectional=True, dtype=np.float64, rng=rng)
    _assert_small(gradcheck(m, rng.standard_normal((T, B, D))))


class _WrongRNNRun(RNNRun):
    """A deliberately wrong backward: forgets the tanh derivative (2)."""

    def backward_step(self, t, prev, cur):
        dz = self.dZ[:, t]
        dz[...] = self.dstate[0]
        np.matmul(self.w_hh.T, dz, out=self.dstate[0])


class _WrongRNNKind(RNNKind):
    run, compiled_run = _WrongRNNRun, None  # the wrong step on every backend


def test_checker_fails_on_a_wrong_backward():
    rng = np.random.default_rng(7)
    m = RecurrentLayer(D, H, cell=_WrongRNNKind(), dtype=np.float64, rng=rng)
    errors = gradcheck(m, rng.standard_normal((T, B, D)))
    assert max(errors.values()) > 1e-2, errors


def test_checker_refuses_float32():
    with pytest.raises(TypeError, match="float64"):
        gradcheck(RNN(D, H), np.zeros((T, B, D), np.float32))
    with pytest.raises(TypeError, match="float64"):
        gradcheck(RNN(D, H, dtype=np.float64), np.zeros((T, B, D), np.float32))
