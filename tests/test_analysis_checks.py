"""User-facing checks: rnnlab.gradcheck and rnnlab.check_stepping."""

import numpy as np
import pytest

import rnnlab
from rnnlab.models.charlm import CharLM, CharLMConfig
from rnnlab.nn import GRU, LSTM, RNN, Linear


def test_gradcheck_is_reachable_from_the_top_level():
    rng = np.random.default_rng(0)
    lstm = LSTM(2, 3, dtype=np.float64, rng=rng)
    errors = rnnlab.gradcheck(lstm, rng.standard_normal((4, 2, 2)))
    assert max(errors.values()) < 1e-6 and "weight_hh_l0" in errors
    assert max(rnnlab.gradcheck(Linear(3, 2, dtype=np.float64, rng=rng), rng.standard_normal((5, 3))).values()) < 1e-6


@pytest.mark.parametrize(
    "layer",
    [
        RNN(3, 4, 2, dtype=np.float64),
        LSTM(3, 4, peephole=True, dtype=np.float64),
        GRU(3, 4, batch_first=True, dtype=np.float64),
        LSTM(3, 4, 2),
    ],
)
def test_stepping_equals_the_whole_sequence(layer):
    x = np.random.default_rng(1).standard_normal((2, 6, 3) if layer.batch_first else (6, 2, 3)).astype(layer.dtype)
    check = rnnlab.check_stepping(layer, x)
    assert check.ok and check.steps == (2 if layer.batch_first else 6)


def test_stepping_a_charlm_through_its_step_protocol():
    model = CharLM(CharLMConfig(vocab_size=7, hidden=5, layers=2, embedding=3), np.random.default_rng(2)).eval()
    assert rnnlab.check_stepping(model, np.random.default_rng(3).integers(0, 7, (8, 2))).ok


def test_stepping_catches_a_model_whose_step_forgets_its_state():
    class Forgetful:
        """forward runs an RNN over the sequence; step wrongly restarts from zeros every time."""

        def __init__(self):
            self.rnn = RNN(1, 3, dtype=np.float64, rng=np.random.default_rng(4))

        def forward(self, x, state=None):
            return self.rnn.forward(x, state)

        def step(self, state, x_t):
            out, new = self.rnn.forward(x_t[None], None)
            return out[0], new

    check = rnnlab.check_stepping(Forgetful(), np.ones((5, 2, 1)))
    assert not check.ok and check.max_abs_diff > 1e-3


def test_bidirectional_layers_and_other_objects_are_refused():
    with pytest.raises(ValueError, match="bidirectional"):
        rnnlab.check_stepping(RNN(1, 2, bidirectional=True), np.zeros((3, 1, 1), np.float32))
    with pytest.raises(TypeError, match="recurrent layer"):
        rnnlab.check_stepping(object(), np.zeros((3, 1, 1)))
    with pytest.raises(AttributeError):
        _ = rnnlab.no_such_thing
