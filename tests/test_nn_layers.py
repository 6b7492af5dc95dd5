"""Linear, Embedding, Dropout, Sequential, LastStep, MeanPool: finite differences in float64,
PyTorch as a reference, behaviour and argument errors."""

import numpy as np
import pytest

from rnnlab.nn import GRU, LSTM, Module
from rnnlab.nn.gradcheck import gradcheck, numeric_gradient
from rnnlab.nn.layers import Dropout, Embedding, LastStep, Linear, MeanPool, Sequential

TOL = 1e-6
T, B, D, H = 4, 3, 3, 5
F64 = dict(dtype=np.float64)


def _assert_small(errors):
    worst = max(errors, key=errors.get)
    assert errors[worst] < TOL, f"{worst}: relative error {errors[worst]:.2e} (all: {errors})"


def _weighted_backward(m, x, rng, **kw):
    """Run forward, then backward with random output weights; return (out, weights, dx)."""
    out = m.forward(x, **kw)
    w = rng.standard_normal(out.shape)
    return out, w, m.backward(w)


# --- Linear -------------------------------------------------------------------------------------
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("shape", [(B, D), (T, B, D), (D,)], ids=["2d", "3d", "1d"])
def test_linear_backward_matches_finite_differences(shape, bias):
    rng = np.random.default_rng(0)
    m = Linear(D, H, bias=bias, **F64, rng=np.random.default_rng(1))
    _assert_small(gradcheck(m, rng.standard_normal(shape)))


def test_linear_applies_per_time_step():
    rng = np.random.default_rng(0)
    m = Linear(D, H, rng=rng)
    x = rng.standard_normal((T, B, D)).astype(np.float32)
    y = m.forward(x)
    assert y.shape == (T, B, H) and y.dtype == np.float32
    for t in range(T):
        np.testing.assert_allclose(y[t], x[t] @ m.weight.data.T + m.bias.data, rtol=1e-5, atol=1e-6)


def test_linear_gradients_accumulate_across_backward_calls():
    rng = np.random.default_rng(0)
    m = Linear(D, H, **F64, rng=rng)
    x, dout = rng.standard_normal((B, D)), rng.standard_normal((B, H))
    m.forward(x)
    m.backward(dout)
    once = m.weight.grad.copy(), m.bias.grad.copy()
    m.backward(dout)
    np.testing.assert_allclose(m.weight.grad, 2 * once[0])
    np.testing.assert_allclose(m.bias.grad, 2 * once[1])


def test_linear_init_is_torch_default_uniform_bound():
    m = Linear(100, 50, rng=np.random.default_rng(0))
    bound = 1 / np.sqrt(100)
    for p in (m.weight.data, m.bias.data):
        assert np.abs(p).max() <= bound and np.abs(p).max() > 0.9 * bound
    assert [n for n, _ in m.named_parameters()] == ["weight", "bias"]
    assert m.weight.data.shape == (50, 100) and m.weight.data.dtype == np.float32


def test_linear_matches_torch_outputs_and_gradients(torch):
    rng = np.random.default_rng(0)
    m = Linear(D, H, **F64, rng=rng)
    ref = torch.nn.Linear(D, H).double()
    with torch.no_grad():
        ref.weight.copy_(torch.from_numpy(m.weight.data))
        ref.bias.copy_(torch.from_numpy(m.bias.data))
    x = rng.standard_normal((T, B, D))
    xt = torch.tensor(x, requires_grad=True)
    y, w, dx = _weighted_backward(m, x, rng)
    yt = ref(xt)
    (yt * torch.from_numpy(w)).sum().backward()
    np.testing.assert_allclose(y, yt.detach().numpy(), rtol=0, atol=1e-10)
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=0, atol=1e-10)
    np.testing.assert_allclose(m.weight.grad, ref.weight.grad.numpy(), rtol=0, atol=1e-10)
    np.testing.assert_allclose(m.bias.grad, ref.bias.grad.numpy(), rtol=0, atol=1e-10)


def test_linear_rejects_bad_inputs():
    m = Linear(D, H)
    with pytest.raises(ValueError, match=r"in_features=3"):
        m.forward(np.zeros((B, D + 1), np.float32))
    with pytest.raises(TypeError, match="float64"):
        m.forward(np.zeros((B, D)))
    with pytest.raises(ValueError, match="scalar"):
        m.forward(np.float32(1.0))
    m.forward(np.zeros((B, D), np.float32))
    with pytest.raises(ValueError, match=r"dout has shape \(3, 4\), expected \(3, 5\)"):
        m.backward(np.zeros((B, H - 1), np.float32))
    with pytest.raises(ValueError, match="out_features"):
        Linear(D, 0)


# --- Embedding ----------------------------------------------------------------------------------
def test_embedding_backward_with_repeated_ids_matches_finite_differences():
    m = Embedding(6, 4, **F64, rng=np.random.default_rng(0))
    ids = np.array([[0, 2, 2], [5, 2, 0], [0, 0, 1], [3, 3, 3]])  # repeats, 4 unused
    _assert_small(gradcheck(m, ids))


@pytest.mark.parametrize("padding_idx", [0, 3, -1])
def test_embedding_padding_row_gets_no_gradient_and_others_match_finite_differences(padding_idx):
    rng = np.random.default_rng(1)
    m = Embedding(5, 4, padding_idx=padding_idx, **F64, rng=np.random.default_rng(2))
    pad = padding_idx % 5
    assert np.all(m.weight.data[pad] == 0)
    m.weight.data[pad] = rng.standard_normal(4)  # a loaded, non-zero padding row is still frozen
    ids = np.array([[pad, 1, pad], [4, pad, 1], [0, 2, 3]])
    y, w, dx = _weighted_backward(m, ids, rng)
    assert dx is None
    numeric = numeric_gradient(lambda: float((w * m.forward(ids)).sum()), m.weight.data)
    numeric[pad] = 0
    np.testing.assert_allclose(m.weight.grad, numeric, rtol=0, atol=1e-8)
    assert np.all(m.weight.grad[pad] == 0)
    np.testing.assert_array_equal(y[0, 0], m.weight.data[pad])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_embedding_backward_equals_add_at_scatter_on_many_repeats(dtype):
    rng = np.random.default_rng(3)
    m = Embedding(37, 8, padding_idx=5, dtype=dtype, rng=rng)
    ids = rng.integers(0, 37, size=(50, 16))
    out = m.forward(ids)
    assert out.shape == (50, 16, 8) and out.dtype == dtype
    dout = rng.standard_normal(out.shape).astype(dtype)
    m.backward(dout)
    expected = np.zeros((37, 8))
    np.add.at(expected, ids.reshape(-1), dout.reshape(-1, 8).astype(np.float64))
    expected[5] = 0
    np.testing.assert_allclose(
        m.weight.grad,
        expected,
        rtol=1e-5 if dtype == np.float32 else 1e-12,
        atol=1e-5 if dtype == np.float32 else 1e-12,
    )


def test_embedding_matches_torch_outputs_and_gradients(torch):
    rng = np.random.default_rng(4)
    m = Embedding(7, 3, padding_idx=2, **F64, rng=rng)
    ref = torch.nn.Embedding(7, 3, padding_idx=2).double()
    with torch.no_grad():
        ref.weight.copy_(torch.from_numpy(m.weight.data))
    ids = rng.integers(0, 7, size=(T, B))
    ids[0, 0] = ids[1, 1] = 2
    y, w, _ = _weighted_backward(m, ids, rng)
    yt = ref(torch.from_numpy(ids))
    (yt * torch.from_numpy(w)).sum().backward()
    np.testing.assert_allclose(y, yt.detach().numpy(), rtol=0, atol=1e-10)
    np.testing.assert_allclose(m.weight.grad, ref.weight.grad.numpy(), rtol=0, atol=1e-10)


def test_embedding_init_is_standard_normal_like_torch():
    m = Embedding(400, 50, rng=np.random.default_rng(0))
    assert m.weight.data.dtype == np.float32
    assert abs(m.weight.data.mean()) < 0.02 and abs(m.weight.data.std() - 1) < 0.02


def test_embedding_rejects_bad_ids_and_arguments():
    m = Embedding(10, 4)
    with pytest.raises(ValueError, match=r"\[0, 10\).*got 10"):
        m.forward(np.array([1, 10, 3]))
    with pytest.raises(ValueError, match=r"\[0, 10\).*got -1"):
        m.forward(np.array([[1, -1]]))
    with pytest.raises(TypeError, match="integer"):
        m.forward(np.array([1.0, 2.0]))
    with pytest.raises(ValueError, match="padding_idx"):
        Embedding(10, 4, padding_idx=10)
    m.forward(np.array([1, 2]))
    with pytest.raises(ValueError, match=r"dout has shape \(2, 3\), expected \(2, 4\)"):
        m.backward(np.zeros((2, 3), np.float32))


# --- Dropout ------------------------------------------------------------------------------------
class SeededDropout(Dropout):
    """Draws the same mask at every forward, so finite differences see a fixed function."""

    def forward(self, x):
        self.rng = np.random.default_rng(7)
        return super().forward(x)


def test_dropout_backward_matches_finite_differences():
    m = SeededDropout(0.4)
    _assert_small(gradcheck(m, np.random.default_rng(0).standard_normal((T, B, H))))


def test_dropout_is_reproducible_from_rng_and_scales_kept_elements():
    x = np.random.default_rng(0).uniform(1, 2, size=(200, 100)).astype(np.float32)
    y1 = Dropout(0.3, rng=np.random.default_rng(5)).forward(x)
    y2 = Dropout(0.3, rng=np.random.default_rng(5)).forward(x)
    y3 = Dropout(0.3, rng=np.random.default_rng(6)).forward(x)
    np.testing.assert_array_equal(y1, y2)
    assert not np.array_equal(y1, y3)
    assert y1.dtype == np.float32
    kept = y1 != 0
    np.testing.assert_allclose(y1[kept], x[kept] / 0.7, rtol=1e-6)
    assert abs(1 - kept.mean() - 0.3) < 0.02


def test_dropout_backward_uses_the_forward_mask():
    rng = np.random.default_rng(1)
    m = Dropout(0.5, rng=rng)
    x = rng.uniform(1, 2, size=(30, 20))
    y = m.forward(x)
    dx = m.backward(np.ones_like(x))
    np.testing.assert_allclose(dx, y / x)


def test_dropout_is_identity_in_eval_mode_and_with_p_zero():
    x = np.random.default_rng(0).standard_normal((T, B, H))
    m = Dropout(0.9, rng=np.random.default_rng(0)).eval()
    np.testing.assert_array_equal(m.forward(x), x)
    np.testing.assert_array_equal(m.backward(2 * x), 2 * x)
    np.testing.assert_array_equal(Dropout(0.0).forward(x), x)
    assert np.all(Dropout(1.0).forward(x) == 0)


def test_dropout_rejects_bad_p_and_inputs():
    for p in (-0.1, 1.5, "0.5"):
        with pytest.raises(ValueError, match="p "):
            Dropout(p)
    with pytest.raises(TypeError, match="float32 or float64"):
        Dropout(0.5).forward(np.arange(4))


# --- Sequential ---------------------------------------------------------------------------------
def test_sequential_names_parameters_like_torch(torch):
    seq = Sequential(Linear(D, H), Dropout(0.1), LSTM(H, 2), Linear(2, 1, bias=False))
    ref = torch.nn.Sequential(
        torch.nn.Linear(D, H), torch.nn.Dropout(0.1), torch.nn.LSTM(H, 2), torch.nn.Linear(2, 1, bias=False)
    )
    assert [n for n, _ in seq.named_parameters()] == list(ref.state_dict())
    seq.load_state_dict({k: v.numpy() for k, v in ref.state_dict().items()})
    np.testing.assert_array_equal(seq[0].weight.data, ref[0].weight.detach().numpy())


def test_sequential_chain_of_linears_matches_finite_differences_and_composition():
    rng = np.random.default_rng(0)
    a, b = Linear(D, H, **F64, rng=rng), Linear(H, 2, **F64, rng=rng)
    seq = Sequential(a, b)
    x = rng.standard_normal((T, B, D))
    np.testing.assert_allclose(seq.forward(x), b.forward(a.forward(x)))
    _assert_small(gradcheck(seq, x))


@pytest.mark.parametrize("lengths", [None, [4, 1, 3]])
def test_sequential_with_lstm_matches_finite_differences(lengths):
    rng = np.random.default_rng(1)
    seq = Sequential(Linear(D, H, **F64, rng=rng), LSTM(H, 3, **F64, rng=rng), Linear(3, 2, **F64, rng=rng))
    _assert_small(gradcheck(seq, rng.standard_normal((T, B, D)), lengths=lengths))


@pytest.mark.parametrize("pool", [LastStep, MeanPool])
def test_many_to_one_classifier_from_ids_matches_finite_differences(pool):
    rng = np.random.default_rng(2)
    seq = Sequential(
        Embedding(6, D, padding_idx=0, **F64, rng=rng), GRU(D, H, **F64, rng=rng), pool(), Linear(H, 2, **F64, rng=rng)
    )
    ids = np.array([[1, 2, 3], [4, 5, 0], [5, 0, 0], [2, 0, 0]])
    # pad ids sit only at padded steps, which the GRU ignores: even the padding row's true gradient is 0
    _assert_small(gradcheck(seq, ids, lengths=np.array([4, 2, 1])))


class NoInputGradient(Module):
    """Identity whose backward, like an Embedding's, returns no input gradient."""

    def forward(self, x):
        return x

    def backward(self, dout):
        return None


def test_sequential_propagates_train_and_eval_and_checks_its_arguments():
    drop = Dropout(0.5)
    seq = Sequential(Linear(D, H), Sequential(drop))
    seq.eval()
    assert not drop.training
    seq.train()
    assert drop.training
    assert len(seq) == 2 and seq[1][0] is drop
    with pytest.raises(TypeError, match="position 1"):
        Sequential(Linear(D, H), np.tanh)
    with pytest.raises(ValueError, match="no module .* takes lengths"):
        Sequential(Linear(D, H)).forward(np.zeros((T, B, D), np.float32), lengths=[1, 2, 3])
    with pytest.raises(ValueError, match="no input gradient"):
        s = Sequential(Linear(D, D), NoInputGradient())
        s.forward(np.zeros((2, D), np.float32))
        s.backward(np.zeros((2, D), np.float32))


# --- LastStep and MeanPool ----------------------------------------------------------------------
def _reference_pool(kind, x_tbf, lengths):
    out = []
    for b, n in enumerate(lengths):
        out.append(x_tbf[n - 1, b] if kind is LastStep else x_tbf[:n, b].mean(axis=0))
    return np.stack(out)


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("lengths", [None, [2, 4, 1]])
@pytest.mark.parametrize("kind", [LastStep, MeanPool])
def test_pooling_matches_loop_and_finite_differences(kind, lengths, batch_first):
    rng = np.random.default_rng(3)
    x_tbf = rng.standard_normal((T, B, H))
    x = x_tbf.transpose(1, 0, 2).copy() if batch_first else x_tbf
    m = kind(batch_first=batch_first)
    y = m.forward(x, lengths=lengths)
    np.testing.assert_allclose(y, _reference_pool(kind, x_tbf, lengths or [T] * B), rtol=1e-12)
    _assert_small(gradcheck(m, x, lengths=lengths))


@pytest.mark.parametrize("kind", [LastStep, MeanPool])
def test_pooling_backward_is_zero_at_padded_steps(kind):
    rng = np.random.default_rng(4)
    lengths = np.array([1, 4, 2])
    m = kind()
    m.forward(rng.standard_normal((T, B, H)).astype(np.float32), lengths=lengths)
    dx = m.backward(np.ones((B, H), np.float32))
    assert dx.shape == (T, B, H) and dx.dtype == np.float32
    padded = np.arange(T)[:, None] >= lengths[None, :]
    assert np.all(dx[padded] == 0)
    assert np.all(dx.sum(axis=0) == pytest.approx(1.0))


@pytest.mark.parametrize("kind", [LastStep, MeanPool])
def test_pooling_rejects_bad_shapes_and_lengths(kind):
    m = kind()
    x = np.zeros((T, B, H), np.float32)
    with pytest.raises(ValueError, match="must be 3-D"):
        m.forward(np.zeros((T, H), np.float32))
    with pytest.raises(ValueError, match=r"shape \(3,\)"):
        m.forward(x, lengths=[1, 2])
    with pytest.raises(ValueError, match=r"1\.\.4"):
        m.forward(x, lengths=[1, 5, 2])
    with pytest.raises(ValueError, match=r"1\.\.4"):
        m.forward(x, lengths=[0, 1, 2])
    m.forward(x)
    with pytest.raises(ValueError, match=r"dout has shape \(4, 5\), expected \(3, 5\)"):
        m.backward(np.zeros((T, H), np.float32))


# --- all modules --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "make",
    [
        lambda: Linear(D, H),
        lambda: Embedding(4, D),
        lambda: Dropout(),
        lambda: Sequential(Linear(D, H)),
        LastStep,
        MeanPool,
    ],
    ids=["Linear", "Embedding", "Dropout", "Sequential", "LastStep", "MeanPool"],
)
def test_backward_before_forward_raises(make):
    with pytest.raises(ValueError, match="forward"):
        make().backward(np.zeros((B, H), np.float32))


def test_modules_run_in_float32_by_default_and_keep_float64():
    rng = np.random.default_rng(5)
    for dtype in (np.float32, np.float64):
        seq = Sequential(
            Embedding(5, D, dtype=dtype, rng=rng),
            LSTM(D, H, dtype=dtype, rng=rng),
            Dropout(0.2, rng=rng),
            MeanPool(),
            Linear(H, 2, dtype=dtype, rng=rng),
        )
        y = seq.forward(rng.integers(0, 5, (T, B)), lengths=[4, 2, 3])
        assert y.shape == (B, 2) and y.dtype == dtype
        assert seq.backward(np.ones((B, 2), dtype)) is None
        assert all(p.grad.dtype == dtype and np.isfinite(p.grad).all() for p in seq.parameters())
