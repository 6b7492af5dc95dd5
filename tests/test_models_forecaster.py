"""The forecaster and the polyphonic next-step model: finite differences, causality, the
recursive forecast equal to feeding its own forecasts back by hand, sampling."""

import numpy as np
import pytest

from rnnlab.models.encoder import EncoderConfig
from rnnlab.models.forecaster import Forecaster, ForecasterConfig
from rnnlab.models.polyphonic import PolyphonicModel, shifted_inputs
from rnnlab.models.tagger import TaggerConfig
from rnnlab.nn import bce_with_logits
from rnnlab.nn.gradcheck import gradcheck

F64 = "float64"


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("horizon", [1, 3])
def test_forecaster_backward_matches_finite_differences(cell, horizon):
    rng = np.random.default_rng(0)
    model = Forecaster(ForecasterConfig(horizon=horizon, features=2, cell=cell, hidden=3, layers=2, dtype=F64), rng)
    errors = gradcheck(model, rng.standard_normal((5, 3, 2)))
    assert set(errors) >= {"x", "head.weight"} and max(errors.values()) < 1e-6, errors


def test_forecaster_reads_only_the_past():
    rng = np.random.default_rng(1)
    model = Forecaster(ForecasterConfig(horizon=2, hidden=4, dtype=F64), rng)
    x = rng.standard_normal((8, 2, 1))
    changed = x.copy()
    changed[5:] += 1.0  # the future of step 4
    a, b = model.forward(x), model.forward(changed)
    assert a.shape == (8, 2, 2)
    np.testing.assert_array_equal(a[:5], b[:5])
    assert not np.allclose(a[5:], b[5:])


def test_recursive_forecast_feeds_each_forecast_back_as_the_next_input():
    rng = np.random.default_rng(2)
    model = Forecaster(ForecasterConfig(horizon=1, cell="gru", hidden=5, dtype=F64), rng)
    history = rng.standard_normal((6, 3, 1))
    forecast = model.forecast_recursive(history, steps=4)
    assert forecast.shape == (3, 4)
    extended = history
    for k in range(4):  # the whole-sequence forward over the history and the forecasts so far
        expected = model.forward(extended)[-1, :, 0]
        np.testing.assert_allclose(forecast[:, k], expected, rtol=1e-10, atol=1e-12)
        extended = np.concatenate([extended, expected[None, :, None]])
    np.testing.assert_array_equal(model.forecast_direct(history), model.forward(history)[-1])


def test_forecaster_says_what_is_wrong():
    model = Forecaster(ForecasterConfig(horizon=3), np.random.default_rng(0))
    with pytest.raises(ValueError, match="horizon=1"):
        model.forecast_recursive(np.zeros((4, 1, 1)), 2)
    with pytest.raises(ValueError, match=r"expected \(T, B, 1\)"):
        model.forward(np.zeros((4, 1, 2)))
    with pytest.raises(ValueError, match="horizon must be a positive integer"):
        ForecasterConfig(horizon=0)


def _poly(rng, hidden=4, keys=6):
    return PolyphonicModel(
        TaggerConfig(outputs=keys, encoder=EncoderConfig(input_size=keys, cell="lstm", hidden=hidden, dtype=F64)), rng
    )


def test_polyphonic_model_backward_matches_finite_differences():
    rng = np.random.default_rng(3)
    errors = gradcheck(_poly(rng), rng.standard_normal((5, 2, 6)))
    assert max(errors.values()) < 1e-6, errors


def test_frame_nll_is_the_summed_binary_cross_entropy_per_valid_frame():
    rng = np.random.default_rng(4)
    model = _poly(rng)
    rolls = (rng.random((7, 3, 6)) < 0.3).astype(np.uint8)
    lengths = np.array([7, 4, 2])
    mask = np.arange(7)[:, None] < lengths[None, :]
    mean_per_key, _ = bce_with_logits(
        model.forward(shifted_inputs(rolls, np.float64), lengths), rolls.astype(float), mask=mask
    )
    assert model.frame_nll(rolls, lengths, batch=2) == pytest.approx(6 * mean_per_key, rel=1e-10)


def test_sampling_is_reproducible_and_continues_a_given_opening():
    model = _poly(np.random.default_rng(5))
    a = model.sample(10, np.random.default_rng(0))
    b = model.sample(10, np.random.default_rng(0))
    assert a.shape == (10, 6) and a.dtype == np.uint8
    np.testing.assert_array_equal(a, b)
    opening = np.eye(6, dtype=np.uint8)[:3]
    np.testing.assert_array_equal(model.sample(8, np.random.default_rng(1), first=opening)[:3], opening)


def test_polyphonic_model_refuses_to_read_the_future():
    with pytest.raises(ValueError, match="one direction"):
        PolyphonicModel(TaggerConfig(outputs=4, encoder=EncoderConfig(input_size=4, bidirectional=True)))
