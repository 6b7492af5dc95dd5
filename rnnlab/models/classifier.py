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

from ..nn import MeanPool
from .encoder import EncoderWithHead, HeadConfig

POOLS = ("last", "mean")


@dataclass
class ClassifierConfig(HeadConfig):
    pool: str = "last"  # "last": the final states of both directions; "mean": over valid steps

    def __post_init__(self):
        super().__post_init__()
        if self.pool not in POOLS:
            raise ValueError(f"pool must be one of {', '.join(POOLS)}, got {self.pool!r}")


class SequenceClassifier(EncoderWithHead):
    r"""One vector of scores per sequence: a recurrent encoder, a pool over time, a Linear head.

    ::

        x: ids (T, B) or features (T, B, F) --SequenceEncoder--> out (T, B, D*H), last (B, D*H)
          --pool "last": last  |  "mean": mean of out over the valid steps--> (B, D*H)
          --Linear--> scores (B, outputs)

    D = 2 for a bidirectional encoder, else 1; H = ``config.encoder.hidden``. The scores are
    logits for ``cross_entropy`` or values for ``mse``; nothing is normalised here.

    Args:
        config: a :class:`ClassifierConfig`: ``outputs`` (classes or regression outputs),
            ``encoder`` (an :class:`~rnnlab.models.encoder.EncoderConfig`) and ``pool``
            (``"last"`` or ``"mean"``).
        rng: the generator the initial weights are drawn from (encoder first, then head);
            None draws a fresh one.

    Attributes:
        encoder: the :class:`~rnnlab.models.encoder.SequenceEncoder`.
        pool: a ``MeanPool`` (``pool="mean"``) or None (``pool="last"``).
        head: the ``Linear(D*H, outputs)``.

    Shapes:
        forward(x, lengths=None) -> scores (B, outputs); lengths (B,) or None (all T valid).

        backward(dscores (B, outputs)) -> dx (T, B, F), or None for token ids; parameter
        gradients accumulate in ``.grad``.

        predict(x, lengths=None, batch=512) -> scores (B, outputs), in eval mode, ``batch``
        sequences at a time.

    Example::

        >>> import numpy as np
        >>> from rnnlab.models.classifier import ClassifierConfig, SequenceClassifier
        >>> from rnnlab.models.encoder import EncoderConfig
        >>> from rnnlab.nn import cross_entropy
        >>> config = ClassifierConfig(outputs=3, encoder=EncoderConfig(input_size=2, hidden=8), pool="mean")
        >>> model = SequenceClassifier(config, np.random.default_rng(0))
        >>> x = np.zeros((5, 4, 2), np.float32)  # T=5 steps, B=4 sequences, F=2 features
        >>> scores = model(x, lengths=np.array([5, 5, 3, 1]))
        >>> scores.shape
        (4, 3)
        >>> loss, dscores = cross_entropy(scores, np.array([0, 1, 2, 0]))
        >>> model.backward(dscores).shape
        (5, 4, 2)
    """

    predict_axis = 0  # one row of scores per sequence

    def __init__(self, config: ClassifierConfig, rng: np.random.Generator | None = None):
        super().__init__(config, config.encoder, config.outputs, rng)
        self.pool = MeanPool() if config.pool == "mean" else None  # no weights: draws nothing from rng

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
