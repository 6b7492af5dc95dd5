"""Attention (rnnlab.models.attention): weights are a distribution over the valid source steps,
the hand-written backward matches finite differences for every kind, and a wrong backward fails."""

import numpy as np
import pytest

from rnnlab.models.attention import Attention
from rnnlab.nn.gradcheck import numeric_gradient

T, B, S, HQ, HK = 3, 2, 5, 4, 6


def _inputs(rng, hq=HQ, hk=HK):
    Q = rng.standard_normal((T, B, hq))
    K = rng.standard_normal((S, B, hk))
    mask = np.arange(S)[:, None] < np.array([S, 3])[None, :]  # the second sequence has 3 valid steps
    return Q, K, mask


@pytest.mark.parametrize("kind", ["dot", "general", "additive"])
def test_weights_sum_to_one_and_ignore_padded_steps(kind):
    rng = np.random.default_rng(0)
    hk = HQ if kind == "dot" else HK
    att = Attention(kind, HQ, hk, 5, dtype=np.float64, rng=rng)
    Q, K, mask = _inputs(rng, hk=hk)
    context, weights = att.forward(Q, K, mask)
    assert context.shape == (T, B, hk) and weights.shape == (T, B, S)
    np.testing.assert_allclose(weights.sum(-1), 1.0, atol=1e-12)
    assert (weights[:, 1, 3:] == 0).all() and (weights[:, 1, :3] > 0).all()
    # changing a padded key changes nothing
    K2 = K.copy()
    K2[4, 1] += 100.0
    np.testing.assert_allclose(att.forward(Q, K2, mask)[0], context, atol=1e-12)
    # the context is the weighted mean of the keys (3)
    np.testing.assert_allclose(context[2, 0], weights[2, 0] @ K[:, 0], atol=1e-12)


@pytest.mark.parametrize("kind", ["dot", "general", "additive"])
def test_backward_matches_finite_differences(kind):
    rng = np.random.default_rng(1)
    hk = HQ if kind == "dot" else HK
    att = Attention(kind, HQ, hk, 5, dtype=np.float64, rng=rng)
    Q, K, mask = _inputs(rng, hk=hk)
    wc, wa = rng.standard_normal((T, B, hk)), rng.standard_normal((T, B, S))

    def loss():
        c, a = att.forward(Q, K, mask)
        return float((wc * c).sum() + (wa * a).sum())

    att.zero_grad()
    att.forward(Q, K, mask)
    dQ, dK = att.backward(wc, wa)
    checks = {"Q": (dQ, numeric_gradient(loss, Q)), "K": (dK, numeric_gradient(loss, K))}
    for name, p in att.named_parameters():
        checks[name] = (p.grad.copy(), numeric_gradient(loss, p.data))
    if kind == "additive":
        assert set(checks) == {"Q", "K", "weight_query", "weight_key", "bias", "weight_score"}
    for name, (analytic, numeric) in checks.items():
        scale = max(np.abs(numeric).max(), 1e-12)
        assert np.abs(analytic - numeric).max() / scale < 1e-7, name


def test_finite_differences_catch_a_wrong_backward():
    rng = np.random.default_rng(2)
    att = Attention("general", HQ, HK, dtype=np.float64, rng=rng)
    Q, K, mask = _inputs(rng)
    wc = rng.standard_normal((T, B, HK))

    def loss():
        return float((wc * att.forward(Q, K, mask)[0]).sum())

    att.forward(Q, K, mask)
    dQ, _ = att.backward(wc)
    numeric = numeric_gradient(loss, Q)
    assert np.abs(dQ - numeric).max() < 1e-7 * np.abs(numeric).max()
    att.forward(Q, K, mask)
    a = att.tape[4]
    att.tape = att.tape[:4] + (np.ones_like(a) / a.shape[-1],) + att.tape[5:]  # wrong weights kept
    dQ_wrong, _ = att.backward(wc)
    assert np.abs(dQ_wrong - numeric).max() > 1e-3 * np.abs(numeric).max()


def test_errors_name_the_argument_and_shape():
    att = Attention("additive", 4, 6)
    with pytest.raises(ValueError, match="queries has shape"):
        att.forward(np.zeros((2, 3, 5), np.float32), np.zeros((4, 3, 6), np.float32))
    with pytest.raises(ValueError, match="keys has shape"):
        att.forward(np.zeros((2, 3, 4), np.float32), np.zeros((4, 2, 6), np.float32))
    with pytest.raises(ValueError, match="mask leaves a sequence"):
        att.forward(np.zeros((2, 3, 4), np.float32), np.zeros((4, 3, 6), np.float32), np.zeros((4, 3), bool))
    with pytest.raises(ValueError, match="dot attention needs query_size == key_size"):
        Attention("dot", 4, 6)
    with pytest.raises(ValueError, match="attention kind"):
        Attention("cosine", 4, 4)
