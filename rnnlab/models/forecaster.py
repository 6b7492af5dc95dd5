"""Forecasting a series: at every step, the next `horizon` values.

    x (T, B, features) --SequenceEncoder (one direction)--> out (T, B, H)
      --Linear at every step--> pred (T, B, horizon),  pred[t, :, k] ~ y[t + 1 + k]

Trained on windows with a loss at every step (teacher forcing: the model always reads the true
past), it is used two ways for a multi-step forecast from the end of a history:

- recursive (horizon = 1): forecast y[T], feed it back as the next input, forecast y[T+1], ...
  One model for every lead time, but its own errors come back in as inputs.
- direct (horizon = K): read pred[T-1, :, k] for k = 0..K-1, all lead times at once from the
  state after the last true value. Nothing is fed back; each lead time has its own output.

The encoder reads only the past (one direction): a forecaster may not see the values it forecasts.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from .encoder import EncoderConfig, EncoderWithHead


@dataclass
class ForecasterConfig:
    horizon: int = 1  # values forecast at each step: 1 for recursive use, K for direct K-step forecasts
    features: int = 1  # inputs per step (the series itself: 1)
    cell: str = "lstm"  # "lstm", "gru", "rnn" or "irnn"
    hidden: int = 32  # hidden units per layer
    layers: int = 1  # stacked recurrent layers
    dtype: str = "float32"

    def __post_init__(self):
        for name in ("horizon", "features"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")

    def encoder_config(self) -> EncoderConfig:
        return EncoderConfig(
            input_size=self.features, cell=self.cell, hidden=self.hidden, layers=self.layers, dtype=self.dtype
        )

    def to_json(self) -> dict:
        return asdict(self)


class Forecaster(EncoderWithHead):
    r"""At every step of a series, the next ``horizon`` values: a causal recurrent encoder and a
    Linear head at every step.

    ::

        x (T, B, features) --SequenceEncoder (one direction)--> out (T, B, H)
          --Linear at every step--> pred (T, B, horizon),  pred[t, :, k] ~ y[t + 1 + k]

    H = ``config.hidden``. Trained with a loss at every step (teacher forcing); the module
    docstring explains the two multi-step uses, recursive (horizon 1, each forecast fed back)
    and direct (horizon K, every lead time read from the last step).

    Args:
        config: a :class:`ForecasterConfig`: ``horizon``, ``features`` and the encoder's
            ``cell``, ``hidden``, ``layers``, ``dtype`` (``config.encoder_config()`` builds the
            :class:`~rnnlab.models.encoder.EncoderConfig`).
        rng: the generator the initial weights are drawn from (encoder first, then head);
            None draws a fresh one.

    Attributes:
        encoder: the :class:`~rnnlab.models.encoder.SequenceEncoder` (one direction).
        head: the ``Linear(H, horizon)``.

    Shapes:
        forward(x, lengths=None) -> pred (T, B, horizon); x must be (T, B, features).

        backward(dpred (T, B, horizon)) -> dx (T, B, features); parameter gradients accumulate
        in ``.grad``.

        predict(x, lengths=None, batch=512) -> pred (T, B, horizon), in eval mode.

        forecast_direct(history (T, B, features)) -> (B, horizon).

        forecast_recursive(history (T, B, 1), steps) -> (B, steps); needs horizon = features = 1.

    Example::

        >>> import numpy as np
        >>> from rnnlab.models.forecaster import Forecaster, ForecasterConfig
        >>> from rnnlab.nn import mse
        >>> model = Forecaster(ForecasterConfig(horizon=1, hidden=8), np.random.default_rng(0))
        >>> series = np.sin(np.arange(21, dtype=np.float32) / 3).reshape(21, 1, 1)  # T+1, B=1, 1
        >>> pred = model(series[:-1])  # each step forecasts the next value
        >>> pred.shape
        (20, 1, 1)
        >>> loss, dpred = mse(pred, series[1:])
        >>> model.backward(dpred).shape
        (20, 1, 1)
        >>> model.forecast_recursive(series, steps=4).shape  # 4 values past the end
        (1, 4)
    """

    predict_axis = 1  # pred is (T, B, horizon): sequences on axis 1

    def __init__(self, config: ForecasterConfig, rng: np.random.Generator | None = None):
        super().__init__(config, config.encoder_config(), config.horizon, rng)

    def forward(self, x, lengths=None) -> np.ndarray:
        """x (T, B, features) -> pred (T, B, horizon): at step t, the values at t+1 .. t+horizon."""
        x = np.asarray(x)
        if x.ndim != 3 or x.shape[2] != self.config.features:
            raise ValueError(f"x has shape {x.shape}, expected (T, B, {self.config.features}): time, batch, features")
        out, _ = self.encoder.forward(x, lengths)
        return self.head.forward(out)

    def backward(self, dpred) -> np.ndarray:
        """dpred (T, B, horizon) -> dx (T, B, features); parameter gradients into .grad."""
        return self.encoder.backward(self.head.backward(dpred), None)

    def forecast_direct(self, history) -> np.ndarray:
        """history (T, B, features) -> (B, horizon): every lead time from the last step's output."""
        with self.evaluating():
            return self.forward(history)[-1]

    def forecast_recursive(self, history, steps: int) -> np.ndarray:
        """history (T, B, 1) -> (B, steps): the one-step forecast fed back `steps` times.
        Needs horizon = 1 and features = 1 (the forecast must be the next input)."""
        if self.config.horizon != 1 or self.config.features != 1:
            raise ValueError(
                "recursive forecasting feeds each forecast back as the next input: it needs "
                f"horizon=1 and features=1, this model has horizon={self.config.horizon}, "
                f"features={self.config.features}"
            )
        history = np.asarray(history, self.dtype)
        if history.ndim != 3 or history.shape[2] != 1:
            raise ValueError(f"history has shape {history.shape}, expected (T, B, 1)")
        rnn, head = self.encoder.rnn, self.head
        with self.evaluating():
            out, state = rnn.forward(history)
            y = head.forward(out[-1])  # (B, 1): the forecast of the first unseen value
            forecasts = [y[:, 0]]
            for _ in range(steps - 1):  # feed the forecast back, carrying the recurrent state on
                out, state = rnn.forward(y[None], state)
                y = head.forward(out[0])
                forecasts.append(y[:, 0])
        return np.stack(forecasts, axis=1)
