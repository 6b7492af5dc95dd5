"""Gradient flow through time (rnnlab.analysis.gradflow, unroll)."""

import numpy as np
import pytest

from rnnlab.analysis import charlm_gradient_flow, gradient_flow, unroll
from rnnlab.analysis.unroll import backward
from rnnlab.models.charlm import CharLM, CharLMConfig
from rnnlab.nn import GRU, LSTM, RNN


def linear_rnn(W: np.ndarray, input_size: int, rng) -> RNN:
    """A relu RNN kept in its linear regime: nonnegative weights, positive biases and inputs make
    every pre-activation positive, so h_t = W h_{t-1} + U x_t + b exactly."""
    H = W.shape[0]
    rnn = RNN(input_size, H, nonlinearity="relu", dtype=np.float64, rng=rng)
    rnn.load_state_dict(
        {
            "weight_ih_l0": rng.uniform(0, 1, (H, input_size)),
            "weight_hh_l0": W,
            "bias_ih_l0": np.full(H, 0.1),
            "bias_hh_l0": np.full(H, 0.1),
        }
    )
    return rnn


def test_linear_rnn_gradient_norms_are_powers_of_w_transpose():
    rng = np.random.default_rng(0)
    H, T, B = 5, 12, 3
    W = rng.uniform(0, 1, (H, H))
    W *= 0.9 / np.abs(np.linalg.eigvals(W)).max()
    rnn = linear_rnn(W, 2, rng)
    x = rng.uniform(0, 1, (T, B, 2))
    v = rng.standard_normal((B, H))
    flow = gradient_flow(rnn, x, v)
    for k in range(T):
        expected = np.linalg.norm(v @ np.linalg.matrix_power(W, T - 1 - k), axis=1)  # ||(W^T)^(T-1-k) v||
        np.testing.assert_allclose(flow.norms["l0"][k], expected, rtol=1e-12)


def test_decay_factor_of_a_scaled_permutation_is_its_scale():
    rng = np.random.default_rng(1)
    H, a = 4, 0.7
    W = a * np.eye(H)[[1, 2, 3, 0]]  # orthogonal and nonnegative: every ||(W^T)^k v|| = a^k ||v||
    flow = gradient_flow(linear_rnn(W, 1, rng), rng.uniform(0, 1, (20, 2, 1)), rng=rng)
    assert flow.decay_factor("l0") == pytest.approx(a, rel=1e-10)
    assert flow.summary()["l0"]["factor"] == pytest.approx(a, rel=1e-10)


@pytest.mark.parametrize(
    "make",
    [
        lambda rng: RNN(3, 4, 2, dtype=np.float64, rng=rng),
        lambda rng: LSTM(3, 4, 2, bidirectional=True, peephole=True, dtype=np.float64, rng=rng),
        lambda rng: GRU(3, 4, 1, bidirectional=True, reset="before", dtype=np.float64, rng=rng),
    ],
)
def test_unrolled_cells_match_the_layer_forward_and_backward(make):
    rng = np.random.default_rng(2)
    layer = make(rng)
    x = rng.standard_normal((6, 2, 3))
    out, _ = layer.forward(x)
    dout = rng.standard_normal(out.shape)
    layer.zero_grad()
    dx, _ = layer.backward(dout)
    run = unroll(layer, x)
    np.testing.assert_allclose(run.out, out, atol=1e-13)
    np.testing.assert_allclose(backward(run, dout), dx, atol=1e-12)
    # at the last step nothing comes from later steps: the recorded dL/dh is dout itself
    H = layer.hidden_size
    np.testing.assert_allclose(run.grads["l" + str(layer.num_layers - 1)]["h"][-1], dout[-1, :, :H])


def test_lstm_reports_cell_state_gradients_and_leaves_the_layer_alone():
    rng = np.random.default_rng(3)
    lstm = LSTM(2, 3, dtype=np.float32, rng=rng)
    before = lstm.state_dict()
    lstm.forward(rng.standard_normal((4, 1, 2)).astype(np.float32))
    tape = lstm.tape
    flow = gradient_flow(lstm, rng.standard_normal((7, 2, 2)).astype(np.float32))
    assert flow.norms["l0"].shape == flow.cell_norms["l0"].shape == (7, 2)
    assert flow.cell_norms["l0"][-1].max() == 0  # nothing reaches c_T directly from a loss on h_T's output...
    assert flow.cell_norms["l0"][:-1].min() > 0  # ...but every earlier c_k carries some of it
    assert lstm.tape is tape
    for name, value in lstm.state_dict().items():
        np.testing.assert_array_equal(value, before[name])


def test_forget_bias_one_carries_gradients_further_than_zero():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((40, 8, 2))
    factors = []
    for bias in (0.0, 1.0):
        from rnnlab.nn.init import forget_gate_bias_

        lstm = forget_gate_bias_(LSTM(2, 16, dtype=np.float64, rng=np.random.default_rng(5)), bias)
        factors.append(gradient_flow(lstm, x).decay_factor("l0"))
    assert factors[1] > factors[0]


def test_charlm_gradient_flow_runs_through_every_layer():
    model = CharLM(CharLMConfig(vocab_size=6, hidden=5, layers=2, embedding=3), np.random.default_rng(6))
    ids = np.random.default_rng(7).integers(0, 6, (9, 2))
    flow = charlm_gradient_flow(model, ids, ids)
    assert set(flow.norms) == {"l0", "l1"} and flow.norms["l0"].shape == (9, 2)
    assert np.isfinite(flow.decay_factor("l0")) and np.isfinite(flow.decay_factor("l1"))
    with pytest.raises(ValueError, match="ids"):
        charlm_gradient_flow(model, ids.astype(float))


def test_bad_loss_gradient_shape_is_named():
    rnn = RNN(2, 3, dtype=np.float64)
    with pytest.raises(ValueError, match="dout_last"):
        gradient_flow(rnn, np.zeros((4, 2, 2)), np.zeros((2, 4)))
