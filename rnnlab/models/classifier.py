"""Many-to-one: a sequence in, one vector of scores out (classes, or regression outputs).

    x --SequenceEncoder--> out (T, B, D*H), last (B, D*H)
      --pool: "last" (the final states) or "mean" (MeanPool over valid steps)--> (B, D*H)
      --Linear--> scores (B, outputs)

Used for sentiment (token ids), digits read row by row (28 features per step), the adding
problem (one regression output) and direct multi-step forecasting (one output per horizon).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..nn import Linear, MeanPool, Module
from .encoder import HeadConfig, SequenceEncoder, predict_in_batches

POOLS = ("last", "mean")


@dataclass
class ClassifierConfig(HeadConfig):
    pool: str = "last"  # "last": the final states of both directions; "mean": over valid steps

    def __post_init__(self):
        super().__post_init__()
        if self.pool not in POOLS:
            raise ValueError(f"pool must be one of {', '.join(POOLS)}, got {self.pool!r}")


class SequenceClassifier(Module):
    def __init__(self, config: ClassifierConfig, rng: np.random.Generator | None = None):
        super().__init__()
        rng = rng if rng is not None else np.random.default_rng()
        self.config = config
        self.encoder = self.add_module("encoder", SequenceEncoder(config.encoder, rng))
        self.pool = MeanPool() if config.pool == "mean" else None
        self.head = self.add_module(
            "head", Linear(self.encoder.width, config.outputs, dtype=self.encoder.dtype, rng=rng)
        )

    @property
    def dtype(self) -> np.dtype:
        return self.encoder.dtype

    def forward(self, x, lengths=None) -> np.ndarray:
        """x: ids (T, B) or features (T, B, F); lengths (B,) or None -> scores (B, outputs)."""
        out, last = self.encoder.forward(x, lengths)
        pooled = last if self.pool is None else self.pool.forward(out, lengths=lengths)
        return self.head.forward(pooled)

    def backward(self, dscores):
        """dscores (B, outputs) -> dx (None for token ids); parameter gradients into .grad."""
        dpooled = self.head.backward(dscores)
        if self.pool is None:
            return self.encoder.backward(None, dpooled)
        return self.encoder.backward(self.pool.backward(dpooled), None)

    def predict(self, x, lengths=None, batch: int = 512) -> np.ndarray:
        """Scores in eval mode, `batch` sequences at a time (x is time-major)."""
        return predict_in_batches(self, x, lengths, batch, axis=0)
