"""Shapes, behaviour and bad input of the recurrent layers and cells."""

import numpy as np
import pytest

from rnnlab.nn import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNCell

T, B, D, H = 5, 3, 4, 6

KINDS = {
    "rnn-tanh": (RNN, RNNCell, {"nonlinearity": "tanh"}),
    "rnn-relu": (RNN, RNNCell, {"nonlinearity": "relu"}),
    "lstm": (LSTM, LSTMCell, {}),
    "lstm-peephole": (LSTM, LSTMCell, {"peephole": True}),
    "gru-after": (GRU, GRUCell, {"reset": "after"}),
    "gru-before": (GRU, GRUCell, {"reset": "before"}),
}


def make(kind, *, cell=False, seed=0, **kw):
    layer_cls, cell_cls, options = KINDS[kind]
    return (cell_cls if cell else layer_cls)(D, H, rng=np.random.default_rng(seed), **options, **kw)


def is_lstm(kind):
    return kind.startswith("lstm")


def state_like(kind, shape, rng, dtype=np.float64):
    make_one = lambda: rng.standard_normal(shape).astype(dtype)  # noqa: E731
    return (make_one(), make_one()) if is_lstm(kind) else make_one()


def states(kind, result):
    """forward's second return value as a tuple of arrays."""
    return result if is_lstm(kind) else (result,)


# --- 1. shapes and dtypes ----------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("kind", list(KINDS))
def test_shapes_and_dtypes_follow_torch_conventions(kind, batch_first, dtype):
    m = make(kind, num_layers=2, bidirectional=True, batch_first=batch_first, dtype=dtype)
    x = np.ones((B, T, D) if batch_first else (T, B, D), dtype)
    out, hn = m.forward(x)
    assert out.shape == ((B, T, 2 * H) if batch_first else (T, B, 2 * H)) and out.dtype == dtype
    for s in states(kind, hn):
        assert s.shape == (4, B, H) and s.dtype == dtype
    dx, dh0 = m.backward(np.ones_like(out))
    assert dx.shape == x.shape and dx.dtype == dtype
    for s in states(kind, dh0):
        assert s.shape == (4, B, H) and s.dtype == dtype
    for name, p in m.named_parameters():
        assert p.data.dtype == dtype and p.grad.shape == p.data.shape, name


@pytest.mark.parametrize("kind", list(KINDS))
def test_unbatched_input_equals_a_batch_of_one(kind):
    m = make(kind, num_layers=2, bidirectional=True, dtype=np.float64)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((T, D))
    out1, hn1 = m.forward(x)
    out3, hn3 = m.forward(x[:, None, :])
    assert out1.shape == (T, 2 * H)
    np.testing.assert_allclose(out1, out3[:, 0], rtol=1e-12)
    for a, b in zip(states(kind, hn1), states(kind, hn3)):
        assert a.shape == (4, H)
        np.testing.assert_allclose(a, b[:, 0], rtol=1e-12)


def test_parameter_names_and_shapes_are_pytorchs():
    m = LSTM(D, H, num_layers=2, bidirectional=True)
    shapes = {name: p.data.shape for name, p in m.named_parameters()}
    assert list(shapes)[:8] == [
        "weight_ih_l0",
        "weight_hh_l0",
        "bias_ih_l0",
        "bias_hh_l0",
        "weight_ih_l0_reverse",
        "weight_hh_l0_reverse",
        "bias_ih_l0_reverse",
        "bias_hh_l0_reverse",
    ]
    assert shapes["weight_ih_l1"] == (4 * H, 2 * H) and shapes["weight_hh_l1_reverse"] == (4 * H, H)
    peep = LSTM(D, H, peephole=True)
    assert {"weight_ci_l0", "weight_cf_l0", "weight_co_l0"} <= set(dict(peep.named_parameters()))
    cell = GRUCell(D, H)
    assert [n for n, _ in cell.named_parameters()] == ["weight_ih", "weight_hh", "bias_ih", "bias_hh"]


def test_default_initialisation_is_uniform_within_one_over_sqrt_h():
    hidden = 64
    m = GRU(8, hidden, rng=np.random.default_rng(0))
    bound = 1 / np.sqrt(hidden)
    values = np.concatenate([p.data.ravel() for p in m.parameters()])
    assert np.abs(values).max() <= bound
    assert np.abs(values).max() > 0.95 * bound
    assert abs(values.mean()) < 0.05 * bound  # centred
    same = GRU(8, hidden, rng=np.random.default_rng(0))  # the same rng gives the same weights
    for (n, a), (_, b) in zip(m.named_parameters(), same.named_parameters()):
        np.testing.assert_array_equal(a.data, b.data, err_msg=n)


# --- 4. behaviour ------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", list(KINDS))
def test_cell_stepped_by_hand_equals_the_layer(kind):
    rng = np.random.default_rng(2)
    layer = make(kind, dtype=np.float64)
    cell = make(kind, cell=True, dtype=np.float64, seed=9)
    cell.load_state_dict({name.removesuffix("_l0"): a for name, a in layer.state_dict().items()})
    x = rng.standard_normal((T, B, D))
    h0 = state_like(kind, (1, B, H), rng)
    out, hn = layer.forward(x, h0)
    dout = rng.standard_normal(out.shape)
    dn = state_like(kind, (1, B, H), rng)
    layer.zero_grad()
    dx, dh0 = layer.backward(dout, dn)

    state = tuple(s[0] for s in states(kind, h0))
    tapes, outs = [], []
    for t in range(T):
        new = cell.forward(x[t], state if is_lstm(kind) else state[0])
        state = states(kind, new)
        outs.append(state[0])
        tapes.append(cell.tape)
    np.testing.assert_allclose(np.stack(outs), out, rtol=1e-12, atol=1e-14)
    for a, b in zip(state, states(kind, hn)):
        np.testing.assert_allclose(a, b[0], rtol=1e-12, atol=1e-14)

    # Backward step by step: the cell's state gradient flows to the previous step.
    cell.zero_grad()
    grad = [s[0].copy() for s in states(kind, dn)]
    dxs = []
    for t in range(T - 1, -1, -1):
        grad[0] = grad[0] + dout[t]
        dxt, dprev = cell.backward(tuple(grad) if is_lstm(kind) else grad[0], tape=tapes[t])
        grad = list(states(kind, dprev))
        dxs.append(dxt)
    np.testing.assert_allclose(np.stack(dxs[::-1]), dx, rtol=1e-10, atol=1e-12)
    for a, b in zip(grad, states(kind, dh0)):
        np.testing.assert_allclose(a, b[0], rtol=1e-10, atol=1e-12)
    layer_grads = {n.removesuffix("_l0"): p.grad for n, p in layer.named_parameters()}
    for n, p in cell.named_parameters():
        np.testing.assert_allclose(p.grad, layer_grads[n], rtol=1e-10, atol=1e-12, err_msg=n)


@pytest.mark.parametrize("kind", list(KINDS))
def test_chunked_backward_matches_full_backward(kind):
    """Truncated BPTT made exact: chunk 2 starts from chunk 1's final state, and chunk 2's
    initial-state gradient is fed into chunk 1's backward."""
    rng = np.random.default_rng(3)
    m = make(kind, num_layers=2, dtype=np.float64)
    x = rng.standard_normal((T, B, D))
    h0 = state_like(kind, (2, B, H), rng)
    dout = rng.standard_normal((T, B, H))
    dn = state_like(kind, (2, B, H), rng)
    m.zero_grad()
    out_full, hn_full = m.forward(x, h0)
    dx_full, dh0_full = m.backward(dout, dn)
    grads_full = {n: p.grad.copy() for n, p in m.named_parameters()}

    k = 2
    m.zero_grad()
    out1, h_mid = m.forward(x[:k], h0)
    tape1 = m.tape
    out2, hn2 = m.forward(x[k:], h_mid)
    dx2, dmid = m.backward(dout[k:], dn)
    dx1, dh0 = m.backward(dout[:k], dmid, tape=tape1)

    np.testing.assert_allclose(np.concatenate([out1, out2]), out_full, rtol=1e-12)
    np.testing.assert_allclose(np.concatenate([dx1, dx2]), dx_full, rtol=1e-10, atol=1e-12)
    for a, b in zip(states(kind, dh0), states(kind, dh0_full)):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
    for n, p in m.named_parameters():
        np.testing.assert_allclose(p.grad, grads_full[n], rtol=1e-10, atol=1e-12, err_msg=n)


@pytest.mark.parametrize("kind", ["lstm", "gru-after", "rnn-tanh"])
def test_lengths_equal_running_each_sequence_alone(kind):
    rng = np.random.default_rng(4)
    m = make(kind, num_layers=2, bidirectional=True, dtype=np.float64)
    lengths = [2, 5, 1]
    x = rng.standard_normal((T, B, D))
    h0 = state_like(kind, (4, B, H), rng)
    out, hn = m.forward(x, h0, lengths=lengths)
    for b, n in enumerate(lengths):
        hb = tuple(s[:, b : b + 1] for s in states(kind, h0))
        out_b, hn_b = m.forward(x[:n, b : b + 1], hb if is_lstm(kind) else hb[0])
        np.testing.assert_allclose(out[:n, b], out_b[:, 0], rtol=1e-12, atol=1e-14)
        assert not out[n:, b].any(), "padded outputs must be zero"
        for a, s in zip(states(kind, hn), states(kind, hn_b)):
            np.testing.assert_allclose(a[:, b], s[:, 0], rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("kind", ["lstm-peephole", "gru-before", "rnn-relu"])
def test_padding_neither_changes_results_nor_receives_gradient(kind):
    rng = np.random.default_rng(5)
    m = make(kind, num_layers=2, bidirectional=True, dtype=np.float64)
    lengths = np.array([3, 5, 1])
    x = rng.standard_normal((T, B, D))
    pad = np.arange(T)[:, None] >= lengths[None, :]
    out_a, hn_a = m.forward(x, lengths=lengths)
    dout = rng.standard_normal(out_a.shape)
    m.zero_grad()
    dx, _ = m.backward(dout)
    grads = {n: p.grad.copy() for n, p in m.named_parameters()}
    x_b = x.copy()
    x_b[pad] = 100.0  # different padding
    dout_b = dout.copy()
    dout_b[pad] = -7.0  # gradients on padded outputs are ignored
    out_b, hn_b = m.forward(x_b, lengths=lengths)
    m.zero_grad()
    dx_b, _ = m.backward(dout_b)
    np.testing.assert_array_equal(out_a, out_b)
    for a, b in zip(states(kind, hn_a), states(kind, hn_b)):
        np.testing.assert_array_equal(a, b)
    assert not dx[pad].any() and not dx_b[pad].any()
    np.testing.assert_allclose(dx, dx_b, rtol=1e-12)
    for n, p in m.named_parameters():
        np.testing.assert_allclose(p.grad, grads[n], rtol=1e-12, err_msg=n)


def test_dropout_is_reproducible_from_an_rng_and_off_in_eval_mode():
    x = np.random.default_rng(6).standard_normal((T, B, D)).astype(np.float32)
    a = LSTM(D, H, num_layers=3, dropout=0.5, rng=np.random.default_rng(8))
    b = LSTM(D, H, num_layers=3, dropout=0.5, rng=np.random.default_rng(8))
    out_a1, _ = a.forward(x)
    out_b1, _ = b.forward(x)
    np.testing.assert_array_equal(out_a1, out_b1)  # same seed, same masks
    out_a2, _ = a.forward(x)
    assert not np.array_equal(out_a1, out_a2)  # fresh masks on each training forward
    a.eval()
    e1, _ = a.forward(x)
    e2, _ = a.forward(x)
    np.testing.assert_array_equal(e1, e2)
    plain = LSTM(D, H, num_layers=3, rng=np.random.default_rng(0))
    plain.load_state_dict(a.state_dict())
    np.testing.assert_array_equal(plain.forward(x)[0], e1)
    assert not np.array_equal(e1, out_a1)


@pytest.mark.parametrize("kind", ["lstm", "lstm-peephole", "gru-after", "gru-before", "rnn-tanh"])
def test_record_keeps_the_gates_and_states_of_every_layer_and_direction(kind):
    rng = np.random.default_rng(7)
    m = make(kind, num_layers=2, bidirectional=True, batch_first=True, dtype=np.float64)
    x = rng.standard_normal((B, T, D))
    out, hn = m.forward(x, record=True)
    assert set(m.recorded) == {"l0", "l0_reverse", "l1", "l1_reverse"}
    rec = m.recorded["l1"]
    np.testing.assert_allclose(rec["h"], out[..., :H], rtol=1e-12)
    np.testing.assert_allclose(m.recorded["l1_reverse"]["h"], out[..., H:], rtol=1e-12)
    for values in rec.values():
        assert values.shape == (B, T, H)
    if kind == "lstm":  # the recorded internals satisfy the cell's equations (3), (5)
        c_prev = np.concatenate([np.zeros((B, 1, H)), rec["c"][:, :-1]], axis=1)
        np.testing.assert_allclose(rec["c"], rec["f"] * c_prev + rec["i"] * rec["g"], rtol=1e-12)
        np.testing.assert_allclose(rec["h"], rec["o"] * np.tanh(rec["c"]), rtol=1e-12)
    if kind.startswith("gru"):
        h_prev = np.concatenate([np.zeros((B, 1, H)), rec["h"][:, :-1]], axis=1)
        np.testing.assert_allclose(rec["h"], (1 - rec["z"]) * rec["n"] + rec["z"] * h_prev, rtol=1e-12)
    m.forward(x)
    assert m.recorded == {}


def test_state_dict_round_trips_and_bad_loads_change_nothing():
    a = GRU(D, H, num_layers=2, rng=np.random.default_rng(1))
    b = GRU(D, H, num_layers=2, rng=np.random.default_rng(2))
    b.load_state_dict(a.state_dict())
    for (n, p), (_, q) in zip(a.named_parameters(), b.named_parameters()):
        np.testing.assert_array_equal(p.data, q.data, err_msg=n)
    before = b.state_dict()
    good = a.state_dict()
    bad_shape = good | {"weight_hh_l1": np.zeros((3 * H, H + 1), np.float32)}
    with pytest.raises(ValueError, match=r"weight_hh_l1.*\(18, 7\).*\(18, 6\)"):
        b.load_state_dict(bad_shape)
    bad_dtype = good | {"bias_ih_l0": good["bias_ih_l0"].astype(np.float64) + 1}
    with pytest.raises(TypeError, match="bias_ih_l0.*float64.*float32"):
        b.load_state_dict(bad_dtype)
    missing = {k: v for k, v in good.items() if k != "bias_hh_l1"}
    with pytest.raises(KeyError, match="bias_hh_l1"):
        b.load_state_dict(missing | {"weight_ih_l2": good["weight_ih_l1"]})
    for k, v in b.state_dict().items():
        np.testing.assert_array_equal(v, before[k], err_msg=k)


# --- bad input: clear errors, nothing half-updated -----------------------------------------------
def test_bad_inputs_name_the_argument_and_the_expected_shape():
    m = LSTM(D, H, num_layers=2)
    x = np.zeros((T, B, D), np.float32)
    with pytest.raises(ValueError, match=r"x has shape \(5, 3, 7\), expected \(T, B, input_size\)"):
        m.forward(np.zeros((T, B, 7), np.float32))
    with pytest.raises(ValueError, match="x must be 2-D or 3-D"):
        m.forward(np.zeros((T,), np.float32))
    with pytest.raises(TypeError, match="x has dtype float64.*float32"):
        m.forward(x.astype(np.float64))
    with pytest.raises(TypeError, match="floating-point"):
        m.forward(x.astype(np.int64))
    with pytest.raises(ValueError, match="NaN"):
        m.forward(np.full((T, B, D), np.nan, np.float32))
    with pytest.raises(ValueError, match=r"h0 has shape \(2, 3, 5\), expected \(2, 3, 6\)"):
        m.forward(x, (np.zeros((2, B, 5), np.float32), np.zeros((2, B, H), np.float32)))
    with pytest.raises(TypeError, match=r"tuple \(h0, c0\)"):
        m.forward(x, np.zeros((2, B, H), np.float32))
    with pytest.raises(ValueError, match=r"lengths must lie in 1\.\.5"):
        m.forward(x, lengths=[0, 2, 3])
    with pytest.raises(ValueError, match=r"lengths must lie in 1\.\.5"):
        m.forward(x, lengths=[6, 2, 3])
    with pytest.raises(ValueError, match=r"shape \(3,\)"):
        m.forward(x, lengths=[1, 2])
    with pytest.raises(ValueError, match="positive integer"):
        LSTM(D, 0)
    with pytest.raises(ValueError, match="nonlinearity"):
        RNN(D, H, nonlinearity="sigmoid")
    with pytest.raises(ValueError, match="reset"):
        GRU(D, H, reset="sometimes")
    with pytest.raises(TypeError, match="float32 or float64"):
        LSTM(D, H, dtype=np.int32)


def test_backward_errors_leave_gradients_and_tape_untouched():
    m = GRU(D, H)
    with pytest.raises(ValueError, match="forward"):
        m.backward(np.zeros((T, B, H), np.float32))
    x = np.random.default_rng(0).standard_normal((T, B, D)).astype(np.float32)
    out, _ = m.forward(x)
    with pytest.raises(ValueError, match=r"dout has shape \(5, 3, 7\), expected \(5, 3, 6\)"):
        m.backward(np.zeros((T, B, 7), np.float32))
    with pytest.raises(ValueError, match=r"dh_n has shape"):
        m.backward(np.ones_like(out), np.zeros((2, B, H), np.float32))
    assert all(not p.grad.any() for p in m.parameters())
    with pytest.raises(ValueError, match="x has shape"):  # a failed forward keeps the last tape
        m.forward(np.zeros((T, B, 1), np.float32))
    dx, _ = m.backward(np.ones_like(out))
    assert dx.shape == x.shape and any(p.grad.any() for p in m.parameters())


def test_cell_bad_inputs():
    cell = LSTMCell(D, H)
    with pytest.raises(ValueError, match=r"x has shape \(3, 5\), expected \(B, input_size=4\)"):
        cell.forward(np.zeros((B, 5), np.float32))
    with pytest.raises(ValueError, match=r"h0 has shape \(3, 5\), expected \(3, 6\)"):
        cell.forward(np.zeros((B, D), np.float32), (np.zeros((B, 5), np.float32), np.zeros((B, H), np.float32)))
    with pytest.raises(ValueError, match="forward"):
        RNNCell(D, H).backward(np.zeros((B, H), np.float32))


def test_lstm_cell_backward_takes_dc_as_keyword_or_in_a_tuple():
    rng = np.random.default_rng(9)
    cell = LSTMCell(D, H, dtype=np.float64, rng=rng)
    x, dh, dc = rng.standard_normal((B, D)), rng.standard_normal((B, H)), rng.standard_normal((B, H))
    cell.forward(x)
    dx_a, (dh_a, dc_a) = cell.backward(dh, dc)
    dx_b, (dh_b, dc_b) = cell.backward((dh, dc))
    dx_c, _ = cell.backward(dh)  # no dc: zero
    dx_d, _ = cell.backward(dh, np.zeros((B, H)))
    np.testing.assert_array_equal(dx_a, dx_b)
    np.testing.assert_array_equal(dc_a, dc_b)
    np.testing.assert_array_equal(dx_c, dx_d)
    with pytest.raises(TypeError, match="no cell state"):
        gru = GRUCell(D, H, dtype=np.float64)
        gru.forward(x)
        gru.backward(dh, dc)
    with pytest.raises(ValueError, match=r"dc has shape \(3, 5\), expected \(3, 6\)"):
        cell.backward(dh, np.zeros((B, 5)))


def test_the_layers_docstring_examples_run_as_written():
    """help(rnnlab.nn.LSTM) and its siblings show examples; they run and print what they say."""
    import doctest

    import rnnlab.nn.recurrent as recurrent

    result = doctest.testmod(recurrent, extraglobs={"np": np}, raise_on_error=False, report=True)
    assert result.attempted >= 6 and result.failed == 0
