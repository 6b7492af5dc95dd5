"""A first look at the engine: an LSTM learns to echo its input a few steps late.

Each sequence is random +-1 values; the target at step t is the input at step t - delay, so the
network must hold `delay` values in its state. Predicting 0 (knowing nothing) gives a mean
squared error of 1.0; a network that remembers gets close to 0. An LSTM, a linear readout at
every step, the mean squared error after the delay, Adam: the engine's pieces and nothing else.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .nn import LSTM, Adam, Linear, Module, mse


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
    y[cfg.delay :] = x[: -cfg.delay]
    return x, y


def train_echo(cfg: EchoConfig, report: Callable[[int, float], None] | None = None) -> list[float]:
    """Train and return the loss (MSE over the steps after the delay) of every step."""
    rng = np.random.default_rng(cfg.seed)
    model = Module()
    lstm = model.add_module("lstm", LSTM(1, cfg.hidden, rng=rng))
    readout = model.add_module("readout", Linear(cfg.hidden, 1, rng=rng))
    adam = Adam(model.named_parameters(), lr=cfg.lr)
    mask = np.arange(cfg.seq_len)[:, None] >= cfg.delay  # steps that have something to echo
    losses = []
    for step in range(1, cfg.steps + 1):
        x, y = echo_batch(rng, cfg)
        h, _ = lstm.forward(x)  # (T, B, H)
        loss, dpred = mse(readout.forward(h), y, mask=mask)
        adam.zero_grad()
        lstm.backward(readout.backward(dpred))
        adam.step()
        losses.append(loss)
        if report is not None:
            report(step, loss)
    return losses
