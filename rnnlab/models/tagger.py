"""Many-to-many: one vector of scores per step (a tag, a bit, a next note).

    x --SequenceEncoder--> out (T, B, D*H) --Linear at every step--> scores (T, B, outputs)

With two directions the score at step t has read the whole sequence, the words after t too: what
tagging "Teddy" needs. With one direction it has read x[0..t] only: what a causal model (bit-serial
addition, running parity, next-step music) must be.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .encoder import EncoderWithHead, HeadConfig


@dataclass
class TaggerConfig(HeadConfig):
    """outputs: tags (logits) or outputs per step (e.g. 88 piano keys)."""


class SequenceTagger(EncoderWithHead):
    r"""One vector of scores per step: a recurrent encoder and a Linear head applied at every step.

    ::

        x: ids (T, B) or features (T, B, F) --SequenceEncoder--> out (T, B, D*H)
          --Linear at every step--> scores (T, B, outputs)

    D = 2 for a bidirectional encoder (each score has read the whole sequence), else 1 (the score
    at step t has read x[0..t] only); H = ``config.encoder.hidden``. Scores at steps past a
    sequence's length are computed but meaningless: mask them in the loss.

    Args:
        config: a :class:`TaggerConfig`: ``outputs`` (tags or outputs per step) and ``encoder``
            (an :class:`~rnnlab.models.encoder.EncoderConfig`).
        rng: the generator the initial weights are drawn from (encoder first, then head);
            None draws a fresh one.

    Attributes:
        encoder: the :class:`~rnnlab.models.encoder.SequenceEncoder`.
        head: the ``Linear(D*H, outputs)``.

    Shapes:
        forward(x, lengths=None) -> scores (T, B, outputs); lengths (B,) or None (all T valid).

        backward(dscores (T, B, outputs)) -> dx (T, B, F), or None for token ids; parameter
        gradients accumulate in ``.grad``.

        predict(x, lengths=None, batch=512) -> scores (T, B, outputs), in eval mode, ``batch``
        sequences at a time.

    Example::

        >>> import numpy as np
        >>> from rnnlab.models.encoder import EncoderConfig
        >>> from rnnlab.models.tagger import SequenceTagger, TaggerConfig
        >>> from rnnlab.nn import cross_entropy
        >>> config = TaggerConfig(outputs=5, encoder=EncoderConfig(vocab_size=20, bidirectional=True))
        >>> model = SequenceTagger(config, np.random.default_rng(0))
        >>> ids = np.ones((6, 2), dtype=int)  # T=6 steps, B=2 sentences
        >>> scores = model(ids)
        >>> scores.shape
        (6, 2, 5)
        >>> loss, dscores = cross_entropy(scores, np.zeros((6, 2), dtype=int))
        >>> model.backward(dscores) is None  # token ids: no input gradient
        True
    """

    predict_axis = 1  # scores are (T, B, outputs): sequences on axis 1

    def __init__(self, config: TaggerConfig, rng: np.random.Generator | None = None):
        super().__init__(config, config.encoder, config.outputs, rng)

    def forward(self, x, lengths=None) -> np.ndarray:
        """x: ids (T, B) or features (T, B, F) -> scores (T, B, outputs)."""
        out, _ = self.encoder.forward(x, lengths)
        return self.head.forward(out)

    def backward(self, dscores):
        """dscores (T, B, outputs) -> dx (None for token ids); parameter gradients into .grad."""
        return self.encoder.backward(self.head.backward(dscores), None)
