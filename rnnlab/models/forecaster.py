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

from ..nn import Linear, Module
from .encoder import EncoderConfig, SequenceEncoder


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


class Forecaster(Module):
    def __init__(self, config: ForecasterConfig, rng: np.random.Generator | None = None):
        super().__init__()
        rng = rng if rng is not None else np.random.default_rng()
        self.config = config
        self.encoder = self.add_module("encoder", SequenceEncoder(config.encoder_config(), rng))
        self.head = self.add_module(
            "head", Linear(self.encoder.width, config.horizon, dtype=self.encoder.dtype, rng=rng)
        )

    @property
    def dtype(self) -> np.dtype:
        return self.encoder.dtype

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

    def _inference(self):
        was = self.training
        self.eval()
        return was

    def forecast_direct(self, history) -> np.ndarray:
        """history (T, B, features) -> (B, horizon): every lead time from the last step's output."""
        was = self._inference()
        try:
            return self.forward(history)[-1]
        finally:
            self.train(was)

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
        was = self._inference()
        try:
            out, state = rnn.forward(history)
            y = head.forward(out[-1])  # (B, 1): the forecast of the first unseen value
            forecasts = [y[:, 0]]
            for _ in range(steps - 1):  # feed the forecast back, carrying the recurrent state on
                out, state = rnn.forward(y[None], state)
                y = head.forward(out[0])
                forecasts.append(y[:, 0])
        finally:
            self.train(was)
        return np.stack(forecasts, axis=1)
