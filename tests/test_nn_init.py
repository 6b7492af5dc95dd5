"""Initialisers: the properties each one promises, in place, reproducible from an rng."""

import numpy as np
import pytest

from rnnlab.nn import GRU, LSTM, RNN, GRUCell, LSTMCell
from rnnlab.nn.init import forget_gate_bias_, identity_, init_recurrent_, orthogonal_, xavier_uniform_


def test_xavier_uniform_bound_and_variance_per_gate_block():
    a = np.empty((4 * 200, 300), np.float32)
    xavier_uniform_(a, np.random.default_rng(0), blocks=4)
    bound = np.sqrt(6 / (300 + 200))  # each (200, 300) block is its own matrix
    assert np.abs(a).max() <= bound and np.abs(a).max() > 0.99 * bound
    np.testing.assert_allclose(a.var(), bound**2 / 3, rtol=0.02)  # variance of U(-b, b)


@pytest.mark.parametrize("shape", [(48, 12), (12, 48), (16, 16)])
def test_orthogonal_blocks_have_unit_singular_values(shape):
    a = np.empty((4 * shape[0], shape[1]))
    orthogonal_(a, np.random.default_rng(1), gain=1.5, blocks=4)
    for k in range(4):
        s = np.linalg.svd(a[k * shape[0] : (k + 1) * shape[0]], compute_uv=False)
        np.testing.assert_allclose(s, 1.5, rtol=1e-12)
    assert not np.allclose(a[: shape[0]], a[shape[0] : 2 * shape[0]])  # blocks differ


def test_identity_is_scale_times_eye_per_block():
    a = np.ones((3 * 5, 5))
    identity_(a, 0.5, blocks=3)
    for k in range(3):
        np.testing.assert_array_equal(a[5 * k : 5 * (k + 1)], 0.5 * np.eye(5))
    with pytest.raises(ValueError, match="gate blocks"):
        identity_(np.ones((7, 5)), blocks=3)


def test_irnn_with_identity_weights_carries_its_state_unchanged():
    """Le et al. 2015: ReLU + identity W_hh + zero biases and input: h_t = h_0 for a positive h_0."""
    m = RNN(3, 6, nonlinearity="relu", dtype=np.float64)
    init_recurrent_(m, np.random.default_rng(2), hidden_init="identity", bias=0.0)
    h0 = np.abs(np.random.default_rng(3).standard_normal((1, 2, 6)))
    out, hn = m.forward(np.zeros((50, 2, 3)), h0)
    np.testing.assert_allclose(hn, h0, rtol=1e-14)
    np.testing.assert_allclose(out[-1], h0[0], rtol=1e-14)


def test_init_recurrent_writes_in_place_and_is_reproducible():
    a = GRU(4, 8, num_layers=2, bidirectional=True, rng=np.random.default_rng(0))
    b = GRU(4, 8, num_layers=2, bidirectional=True, rng=np.random.default_rng(1))
    views = {n: p.data for n, p in a.named_parameters()}
    init_recurrent_(a, np.random.default_rng(5))
    init_recurrent_(b, np.random.default_rng(5))
    for (n, p), (_, q) in zip(a.named_parameters(), b.named_parameters()):
        assert p.data is views[n] and p.data.dtype == np.float32
        np.testing.assert_array_equal(p.data, q.data, err_msg=n)
    w = a.state_dict()["weight_hh_l1_reverse"].astype(np.float64)
    np.testing.assert_allclose(np.linalg.svd(w[:8], compute_uv=False), 1.0, rtol=1e-6)
    assert not a.state_dict()["bias_ih_l0"].any()
    with pytest.raises(ValueError, match="hidden_init"):
        init_recurrent_(a, np.random.default_rng(0), hidden_init="zeros")


def test_forget_gate_bias_sets_what_the_gate_sees_and_opens_it():
    x = np.random.default_rng(4).standard_normal((20, 3, 4)).astype(np.float32)
    m = LSTM(4, 8, num_layers=2, rng=np.random.default_rng(0))
    init_recurrent_(m, np.random.default_rng(1), bias=0.0)
    m.forward(x, record=True)
    f_before = m.recorded["l1"]["f"].mean()
    forget_gate_bias_(m, 1.0)
    for layer in (0, 1):
        sd = m.state_dict()
        total = sd[f"bias_ih_l{layer}"] + sd[f"bias_hh_l{layer}"]
        np.testing.assert_array_equal(total[8:16], 1.0)
        assert not total[:8].any() and not total[16:].any()
    m.forward(x, record=True)
    assert m.recorded["l1"]["f"].mean() > f_before + 0.1  # sigmoid(1) = 0.73 against about 0.5
    forget_gate_bias_(LSTMCell(4, 8), 2.0)
    with pytest.raises(TypeError, match="LSTM"):
        forget_gate_bias_(GRUCell(4, 8))
    with pytest.raises(ValueError, match="bias=False"):
        forget_gate_bias_(LSTM(4, 8, bias=False))
