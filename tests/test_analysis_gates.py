"""Gate statistics (rnnlab.analysis.gates)."""

import numpy as np
import pytest

from rnnlab.analysis import gate_statistics, gate_stats
from rnnlab.nn import GRU, LSTM, RNN
from rnnlab.nn.init import forget_gate_bias_


def test_saturated_fractions_count_values_per_unit():
    values = np.array([[[0.05, 0.5]], [[0.95, 0.5]], [[0.5, 0.99]], [[0.02, 0.5]]])  # (T=4, B=1, H=2)
    s = gate_stats(values)
    np.testing.assert_allclose(s.low, [0.5, 0.0])
    np.testing.assert_allclose(s.high, [0.25, 0.25])
    np.testing.assert_allclose(s.saturated, [0.75, 0.25])
    np.testing.assert_allclose(s.mean, values[:, 0].mean(axis=0))
    assert s.summary()["saturated"] == pytest.approx(0.5)


def test_a_large_forget_bias_saturates_the_forget_gate_open():
    rng = np.random.default_rng(0)
    lstm = forget_gate_bias_(LSTM(2, 4, dtype=np.float64, rng=rng), 6.0)
    stats = gate_statistics(lstm, rng.standard_normal((10, 3, 2)) * 0.1)
    assert set(stats["l0"]) == {"i", "f", "o"}
    assert stats["l0"]["f"].high.min() == 1.0 and stats["l0"]["f"].low.max() == 0.0
    assert stats["l0"]["i"].saturated.max() < 1.0


def test_gru_gates_match_the_recorded_values():
    rng = np.random.default_rng(1)
    gru = GRU(2, 3, bidirectional=True, dtype=np.float64, rng=rng)
    x = rng.standard_normal((5, 2, 2))
    gru.forward(x, record=True)
    stats = gate_statistics(gru, x)
    assert set(stats) == {"l0", "l0_reverse"} and set(stats["l0"]) == {"r", "z"}
    np.testing.assert_allclose(stats["l0_reverse"]["z"].mean, gru.recorded["l0_reverse"]["z"].mean(axis=(0, 1)))


def test_an_elman_rnn_has_no_gates():
    with pytest.raises(TypeError, match="no gates"):
        gate_statistics(RNN(2, 3), np.zeros((2, 1, 2), np.float32))
    with pytest.raises(ValueError, match="low"):
        gate_stats(np.zeros((1, 1, 1)), low=0.9, high=0.1)
