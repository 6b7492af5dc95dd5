r"""Where does the ball go next: a recurrent forecaster that reads frames and predicts positions.

::

    frames (T, B, S, S), ink in [0, 1]
      --each frame on its own, one of two encoders-->                        (T, B, F)
          "pixels": flatten, Linear (S*S -> F)
          "conv":   Conv2d 3x3 pad 1 (1 -> C1) - relu - MaxPool2d 2x2
                    Conv2d 3x3 pad 1 (C1 -> C2) - relu - MaxPool2d 2x2
                    flatten, Linear (C2 (S/4)^2 -> F) - relu
      --LSTM (one direction: only frames 0..t are seen)-->                   (T, B, H)
      --Linear (H -> 2), then p = S/2 (1 + u)-->                              pred (T, B, 2)

pred[t] is the ball's centre (x, y) in pixels at step t + 1, forecast from frames 0..t; trained
with the mean squared error at every step (rnnlab.nn.mse), as rnnlab.data.ball makes the data.
The last map puts the head's u in [-1, 1] onto the box [0, S], so the untrained head starts in
the middle of the box and the loss is in pixels squared.

Why a Linear layer can read a position. A whole disc has a constant total ink m (it never leaves
the box), so its centroid x = sum_ij I_ij (j + 1/2) / m is a linear function of the pixels I:
one Linear unit computes it exactly. The "pixels" encoder can therefore hand the LSTM the
position itself; the LSTM has to find the velocity (a difference of two steps) and the bounce (a
fold at the walls). The "conv" encoder is the usual picture-reading front end; its 2x2 pools
blur where in its window the ball sits, which the Linear after them has to undo.

Backward: the head, the LSTM (BPTT over all T steps), then each encoder's layers in reverse,
every relu passing the gradient where its output was positive; the affine output map multiplies
dpred by S/2.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from ..nn import LSTM, Conv2d, Linear, MaxPool2d, Module
from ..nn.core import check_dtype
from ..nn.init import forget_gate_bias_

ENCODERS = ("pixels", "conv")


@dataclass
class BallForecasterConfig:
    size: int = 16  # frames are size x size pixels (a multiple of 4 for the "conv" encoder)
    encoder: str = "pixels"  # "pixels" (flatten + Linear) or "conv" (two conv blocks + Linear)
    features: int = 32  # F, what the encoder hands the LSTM per frame
    hidden: int = 32  # H, LSTM units
    channels: tuple[int, int] = (8, 16)  # the "conv" encoder's two blocks
    forget_bias: float = 1.0  # LSTM forget-gate bias at the start
    dtype: str = "float32"

    def __post_init__(self):
        if self.encoder not in ENCODERS:
            raise ValueError(f"encoder must be one of {', '.join(ENCODERS)}, got {self.encoder!r}")
        self.channels = tuple(self.channels)
        if len(self.channels) != 2:
            raise ValueError(f"channels must be two integers (one per conv block), got {self.channels!r}")
        sizes = [("size", self.size), ("features", self.features), ("hidden", self.hidden)]
        for name, value in sizes + [("channels[0]", self.channels[0]), ("channels[1]", self.channels[1])]:
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if self.encoder == "conv" and self.size % 4:
            raise ValueError(f"the conv encoder needs a size that is a multiple of 4 (two 2x2 pools), got {self.size}")

    def to_json(self) -> dict:
        return asdict(self)


class BallForecaster(Module):
    r"""Frames of a moving ball in, its next position out, at every step.

    ::

        frames (T, B, S, S) --encoder per frame--> (T, B, F) --LSTM--> (T, B, H)
          --Linear, S/2 (1 + u)--> pred (T, B, 2): the centre (x, y) at step t + 1, in pixels

    S = ``config.size``, F = ``config.features``, H = ``config.hidden``; the encoder is
    ``"pixels"`` (flatten + Linear) or ``"conv"`` (two Conv2d + relu + MaxPool2d blocks, then
    Linear + relu), see the module docstring.

    Args:
        config: a :class:`BallForecasterConfig`.
        rng: the generator the initial weights are drawn from (encoder, LSTM, head, in that
            order); None draws a fresh one.

    Shapes:
        forward(frames (T, B, S, S)) -> pred (T, B, 2); pred[t] forecasts the position at t + 1
        from frames 0..t.

        backward(dpred (T, B, 2)) -> dframes (T, B, S, S); parameter gradients accumulate in
        ``.grad``.

        rollout(frames (T0, B, S, S), lead, render) -> (lead, B, 2): read T0 true frames, then
        ``lead`` times forecast the next position, draw it with ``render(positions (B, 2))`` and
        read that frame as the next one (the model's own forecasts fed back). In eval mode, no
        tape kept.

    Example::

        >>> import numpy as np
        >>> from rnnlab.data.ball import bouncing_balls, render_frames
        >>> from rnnlab.models.ball import BallForecaster, BallForecasterConfig
        >>> from rnnlab.nn import mse
        >>> balls = bouncing_balls(4, 10, np.random.default_rng(0), size=16)  # 4 balls, 11 positions
        >>> frames = render_frames(balls.positions[:-1], 16, balls.radius)  # frames 0..9
        >>> frames.shape
        (10, 4, 16, 16)
        >>> model = BallForecaster(BallForecasterConfig(size=16), np.random.default_rng(0))
        >>> pred = model(frames)  # pred[t]: where the ball is at t + 1
        >>> pred.shape
        (10, 4, 2)
        >>> loss, dpred = mse(pred, balls.positions[1:].astype(np.float32))
        >>> model.backward(dpred).shape
        (10, 4, 16, 16)
        >>> model.rollout(frames[:5], 3, lambda p: render_frames(p, 16, balls.radius)).shape
        (3, 4, 2)
    """

    def __init__(self, config: BallForecasterConfig, rng: np.random.Generator | None = None):
        super().__init__()
        self.config = config
        rng = rng if rng is not None else np.random.default_rng()
        dt = self.dtype = check_dtype(config.dtype)
        S, F = config.size, config.features
        if config.encoder == "conv":
            c1, c2 = config.channels
            self.conv1 = self.add_module("conv1", Conv2d(1, c1, 3, padding=1, dtype=dt, rng=rng))
            self.pool1 = self.add_module("pool1", MaxPool2d(2))
            self.conv2 = self.add_module("conv2", Conv2d(c1, c2, 3, padding=1, dtype=dt, rng=rng))
            self.pool2 = self.add_module("pool2", MaxPool2d(2))
            self.proj = self.add_module("proj", Linear(c2 * (S // 4) ** 2, F, dtype=dt, rng=rng))
        else:
            self.proj = self.add_module("proj", Linear(S * S, F, dtype=dt, rng=rng))
        self.rnn = self.add_module("rnn", LSTM(F, config.hidden, dtype=dt, rng=rng))
        forget_gate_bias_(self.rnn, config.forget_bias)
        self.head = self.add_module("head", Linear(config.hidden, 2, dtype=dt, rng=rng))
        self.tape = None

    def _frames(self, frames) -> np.ndarray:
        x = np.asarray(frames, dtype=self.dtype)
        S = self.config.size
        if x.ndim != 4 or x.shape[2:] != (S, S) or x.shape[0] == 0 or x.shape[1] == 0:
            raise ValueError(f"frames have shape {np.shape(frames)}, expected (T, B, {S}, {S})")
        return x

    def _encode(self, x: np.ndarray) -> tuple[np.ndarray, tuple]:
        """frames (N, S, S) -> features (N, F), and what the backward needs."""
        if self.config.encoder == "pixels":
            return self.proj.forward(x.reshape(len(x), -1)), ()
        a1 = np.maximum(self.conv1.forward(x[:, None]), 0)
        a2 = np.maximum(self.conv2.forward(self.pool1.forward(a1)), 0)
        pooled = self.pool2.forward(a2)
        f = np.maximum(self.proj.forward(pooled.reshape(len(x), -1)), 0)
        return f, (a1, a2, pooled.shape, f)

    def _encode_backward(self, df: np.ndarray, saved: tuple) -> np.ndarray:
        """dfeatures (N, F) -> dframes (N, S, S)."""
        S = self.config.size
        if self.config.encoder == "pixels":
            return self.proj.backward(df).reshape(len(df), S, S)
        a1, a2, pooled_shape, f = saved
        dpooled = self.proj.backward(df * (f > 0)).reshape(pooled_shape)
        dp1 = self.conv2.backward(self.pool2.backward(dpooled) * (a2 > 0))
        return self.conv1.backward(self.pool1.backward(dp1) * (a1 > 0))[:, 0]

    def forward(self, frames) -> np.ndarray:
        """frames (T, B, S, S) -> pred (T, B, 2), the centre at t + 1 in pixels."""
        x = self._frames(frames)
        T, B, S, _ = x.shape
        f, saved = self._encode(x.reshape(T * B, S, S))
        out, _ = self.rnn.forward(f.reshape(T, B, -1))
        u = self.head.forward(out)
        self.tape = (x.shape, saved)
        return (S / 2) * (1 + u)

    def backward(self, dpred) -> np.ndarray:
        """dpred (T, B, 2) -> dframes (T, B, S, S)."""
        if self.tape is None:
            raise ValueError("backward() needs a forward() first: it differentiates the last forward pass")
        shape, saved = self.tape
        T, B, S, _ = shape
        g = np.asarray(dpred, dtype=self.dtype)
        if g.shape != (T, B, 2):
            raise ValueError(f"dpred has shape {g.shape}, expected the shape of pred {(T, B, 2)}")
        dout = self.head.backward(g * (S / 2))
        df, _ = self.rnn.backward(dout)
        return self._encode_backward(df.reshape(T * B, -1), saved).reshape(shape)

    def predict(self, frames, batch: int = 512) -> np.ndarray:
        """forward in eval mode, in batches of sequences, no tape kept: (T, B, 2)."""
        x = self._frames(frames)
        with self.evaluating():
            pred = np.concatenate([self.forward(x[:, k : k + batch]) for k in range(0, x.shape[1], batch)], axis=1)
        self.tape = None
        return pred

    def rollout(self, frames, lead: int, render) -> np.ndarray:
        """Read the true frames (T0, B, S, S), then forecast `lead` positions, each drawn by
        ``render(positions (B, 2)) -> (B, S, S)`` and read as the next frame: (lead, B, 2)."""
        x = self._frames(frames)
        T, B, S, _ = x.shape
        if isinstance(lead, bool) or not isinstance(lead, (int, np.integer)) or lead < 1:
            raise ValueError(f"lead must be a positive integer, got {lead!r}")
        preds = np.empty((lead, B, 2), self.dtype)
        with self.evaluating():
            f, _ = self._encode(x.reshape(T * B, S, S))
            out, state = self.rnn.forward(f.reshape(T, B, -1))
            for k in range(lead):
                preds[k] = (S / 2) * (1 + self.head.forward(out[-1]))
                if k + 1 < lead:
                    f, _ = self._encode(self._frames(np.asarray(render(preds[k]))[None])[0])
                    out, state = self.rnn.forward(f[None], state)
        self.tape = None
        return preds
