"""CharLM as a models.sampling.TokenModel: generation through the frozen stepper equals forward."""

import numpy as np
import pytest

from rnnlab.models.charlm import CharLM, CharLMConfig, Generation
from rnnlab.models.sampling import beam_search, generate


class _ForwardOnly(CharLM):
    """The same model, stepped through forward (the plain recurrent state, no stepper)."""

    def initial(self, batch):
        return None


@pytest.mark.parametrize("model", ["lstm", "gru", "rnn"])
def test_generation_through_the_stepper_equals_forward(model):
    config = CharLMConfig(vocab_size=11, model=model, hidden=16, layers=2, embedding=5)
    fast = CharLM(config, rng=np.random.default_rng(0))
    slow = _ForwardOnly(config, rng=np.random.default_rng(0))
    prime = [1, 2, 3]
    a = list(generate(fast, prime, 40, np.random.default_rng(5), temperature=0.9))
    b = list(generate(slow, prime, 40, np.random.default_rng(5), temperature=0.9))
    assert a == b
    assert beam_search(fast, prime, 6, 3)[0] == beam_search(slow, prime, 6, 3)[0]
    state = fast.initial(1)
    assert isinstance(state, Generation)
    logits, state = fast.step(state, np.array([4]))
    ref, _ = slow.step(None, np.array([4]))
    assert np.abs(logits - ref).max() < 1e-5
