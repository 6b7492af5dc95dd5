"""Polyphonic next-step model: the keys sounding at step t+1 from the frames up to t.

    input  x[t] = frame[t-1]  (x[0] = silence, so the first frame is predicted too)
    logits z[t] = Linear(RNN(x[0..t]))                       (T, B, 88), one per piano key
    p(frame[t] | frame[<t]) = prod_k sigmoid(z[t,k])^v_k (1 - sigmoid(z[t,k]))^(1 - v_k)

Each key is an independent Bernoulli given the past (sigmoid outputs, bce_with_logits), the
"RNN" of Boulanger-Lewandowski et al. 2012 (their RNN-RBM and RNN-NADE model the keys jointly).
The frame-level negative log-likelihood is the sum over the 88 keys of the binary cross-entropy,
averaged over frames.
"""

from __future__ import annotations

import numpy as np

from .tagger import SequenceTagger, TaggerConfig


def shifted_inputs(rolls: np.ndarray, dtype=np.float32) -> np.ndarray:
    """rolls (T, B, K) -> inputs (T, B, K): a silent frame, then every frame but the last."""
    x = np.zeros(rolls.shape, dtype)
    x[1:] = rolls[:-1]
    return x


class PolyphonicModel(SequenceTagger):
    """A SequenceTagger (one direction) whose outputs are per-key logits of the next frame."""

    def __init__(self, config: TaggerConfig, rng: np.random.Generator | None = None):
        if config.encoder.bidirectional:
            raise ValueError("a next-step model may not read the future: the encoder must have one direction")
        if config.encoder.input_size != config.outputs:
            raise ValueError(
                f"the model reads the frames it predicts: input_size ({config.encoder.input_size}) "
                f"must equal outputs ({config.outputs})"
            )
        super().__init__(config, rng)

    def frame_nll(self, rolls: np.ndarray, lengths: np.ndarray, batch: int = 64) -> float:
        """Mean over valid frames of -log p(frame | earlier frames), in nats: rolls (T, B, K) 0/1."""
        total, frames = 0.0, 0
        for k in range(0, rolls.shape[1], batch):
            r, lens = rolls[:, k : k + batch], lengths[k : k + batch]
            T = int(lens.max())
            z = self.predict(shifted_inputs(r[:T], self.dtype), lens).astype(np.float64)
            y = r[:T].astype(np.float64)
            terms = np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z)))  # BCE on logits, per key
            valid = np.arange(T)[:, None] < lens[None, :]
            total += float(terms.sum(axis=2)[valid].sum())
            frames += int(valid.sum())
        return total / frames

    def sample(self, steps: int, rng: np.random.Generator, first: np.ndarray | None = None) -> np.ndarray:
        """A (steps, K) uint8 roll drawn frame by frame from the model, each frame fed back; it
        starts from silence, or continues after `first` (a (T0, K) roll it reads, then keeps)."""
        rnn, head, K = self.encoder.rnn, self.head, self.config.outputs
        with self.evaluating():
            dt = self.dtype
            prime = np.zeros((1, K), dt) if first is None else np.vstack([np.zeros((1, K), dt), np.asarray(first, dt)])
            out, state = rnn.forward(prime[:, None, :])
            frames = [] if first is None else [np.asarray(f, np.uint8) for f in first]
            for _ in range(steps - len(frames)):
                p = 1.0 / (1.0 + np.exp(-head.forward(out[-1])[0].astype(np.float64)))
                frame = (rng.random(K) < p).astype(np.uint8)
                frames.append(frame)
                out, state = rnn.forward(frame.astype(dt)[None, None, :], state)
        return np.array(frames, np.uint8).reshape(-1, K)
