"""A first look at the engine: an LSTM learns to echo its input a few steps late.

Each sequence is random +-1 values; the target at step t is the input at step t - delay, so the
network must hold `delay` values in its state. Predicting 0 (knowing nothing) gives a mean
squared error of 1.0; a network that remembers gets close to 0. The readout is a linear layer and
the optimiser plain Adam, both written out here in a few lines, because this demo only has the
engine to stand on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .nn import LSTM


@dataclass
class EchoConfig:
    delay: int = 4  # how many steps late the input is echoed (what the state must hold)
    hidden: int = 32  # LSTM hidden size
    seq_len: int = 40  # steps per training sequence
    batch: int = 32  # sequences per step
    steps: int = 300  # Adam steps
    lr: float = 1e-2  # Adam learning rate
    seed: int = 0  # seeds the data and the initial weights


def echo_batch(rng: np.random.Generator, cfg: EchoConfig) -> tuple[np.ndarray, np.ndarray]:
    """x (T, B, 1) of +-1, y (T, B, 1) with y[t] = x[t - delay] (and 0 before the delay)."""
    x = rng.choice(np.array([-1.0, 1.0], np.float32), size=(cfg.seq_len, cfg.batch, 1))
    y = np.zeros_like(x)
    y[cfg.delay:] = x[:-cfg.delay]
    return x, y


def train_echo(cfg: EchoConfig, report: Callable[[int, float], None] | None = None) -> list[float]:
    """Train and return the loss (MSE over the steps after the delay) of every step."""
    rng = np.random.default_rng(cfg.seed)
    lstm = LSTM(1, cfg.hidden, rng=rng)
    w_out = (rng.uniform(-1, 1, (1, cfg.hidden)) / np.sqrt(cfg.hidden)).astype(np.float32)
    b_out = np.zeros(1, np.float32)
    params = [p.data for p in lstm.parameters()] + [w_out, b_out]
    adam = _Adam(params, cfg.lr)
    losses = []
    for step in range(1, cfg.steps + 1):
        x, y = echo_batch(rng, cfg)
        h, _ = lstm.forward(x)  # (T, B, H)
        pred = h @ w_out.T + b_out  # linear readout at every step
        err = (pred - y)[cfg.delay:]
        loss = float(np.mean(err**2))
        dpred = np.zeros_like(pred)
        dpred[cfg.delay:] = 2 * err / err.size
        lstm.zero_grad()
        lstm.backward(dpred @ w_out)
        grads = [p.grad for p in lstm.parameters()]
        grads += [np.einsum("tbo,tbh->oh", dpred, h), dpred.sum(axis=(0, 1))]
        adam.step(grads)
        losses.append(loss)
        if report is not None:
            report(step, loss)
    return losses


class _Adam:
    """Adam (Kingma & Ba 2015), updating the arrays in place."""

    def __init__(self, params: list[np.ndarray], lr: float, b1=0.9, b2=0.999, eps=1e-8):
        self.params, self.lr, self.b1, self.b2, self.eps, self.t = params, lr, b1, b2, eps, 0
        self.m = [np.zeros_like(p) for p in params]
        self.v = [np.zeros_like(p) for p in params]

    def step(self, grads: list[np.ndarray]) -> None:
        self.t += 1
        b1, b2 = self.b1, self.b2
        for p, g, m, v in zip(self.params, grads, self.m, self.v):
            m += (1 - b1) * (g - m)
            v += (1 - b2) * (g * g - v)
            p -= self.lr * (m / (1 - b1**self.t)) / (np.sqrt(v / (1 - b2**self.t)) + self.eps)
