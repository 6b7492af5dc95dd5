"""Many-to-many: one vector of scores per step (a tag, a bit, a next note).

    x --SequenceEncoder--> out (T, B, D*H) --Linear at every step--> scores (T, B, outputs)

With two directions the score at step t has read the whole sequence, the words after t too: what
tagging "Teddy" needs. With one direction it has read x[0..t] only: what a causal model (bit-serial
addition, running parity, next-step music) must be.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..nn import Linear, Module
from .encoder import HeadConfig, SequenceEncoder, predict_in_batches


@dataclass
class TaggerConfig(HeadConfig):
    """outputs: tags (logits) or outputs per step (e.g. 88 piano keys)."""


class SequenceTagger(Module):
    def __init__(self, config: TaggerConfig, rng: np.random.Generator | None = None):
        super().__init__()
        rng = rng if rng is not None else np.random.default_rng()
        self.config = config
        self.encoder = self.add_module("encoder", SequenceEncoder(config.encoder, rng))
        self.head = self.add_module(
            "head", Linear(self.encoder.width, config.outputs, dtype=self.encoder.dtype, rng=rng)
        )

    @property
    def dtype(self) -> np.dtype:
        return self.encoder.dtype

    def forward(self, x, lengths=None) -> np.ndarray:
        """x: ids (T, B) or features (T, B, F) -> scores (T, B, outputs)."""
        out, _ = self.encoder.forward(x, lengths)
        return self.head.forward(out)

    def backward(self, dscores):
        """dscores (T, B, outputs) -> dx (None for token ids); parameter gradients into .grad."""
        return self.encoder.backward(self.head.backward(dscores), None)

    def predict(self, x, lengths=None, batch: int = 512) -> np.ndarray:
        """Scores in eval mode, `batch` sequences at a time."""
        return predict_in_batches(self, x, lengths, batch, axis=1)
