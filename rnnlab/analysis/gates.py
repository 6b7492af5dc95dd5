"""Gate statistics of an LSTM or GRU on data: how open the gates are, and how often saturated.

A sigmoid gate near 0 or 1 passes no gradient to its pre-activation (σ' = s(1 - s) -> 0) but
makes a clean switch: a forget gate near 1 is the LSTM's constant error carousel (c_t ~ c_{t-1},
dc_{t-1} = f dc_t ~ dc_t), near 0 a reset. For every layer, direction and gate this collects
the values over all steps and sequences of a forward pass (`forward(record=True)`) and reports
per unit the mean and the fraction saturated, value < low or > high (0.1 and 0.9 by default).

Gates: LSTM i (input), f (forget), o (output); GRU r (reset), z (update: h = (1-z) n + z h_prev,
so z near 1 keeps the state).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .unroll import check_layer, initial_states, layer_copy, time_major


@dataclass
class GateStats:
    """One gate of one layer-direction. values: every value seen (T*B*H,), for histograms;
    mean, low, high, saturated: per unit (H,), the mean and the fractions < low, > high, either."""

    values: np.ndarray
    mean: np.ndarray
    low: np.ndarray
    high: np.ndarray

    @property
    def saturated(self) -> np.ndarray:
        return self.low + self.high

    def summary(self) -> dict[str, float]:
        return {
            "mean": float(self.values.mean()),
            "low": float(self.low.mean()),
            "high": float(self.high.mean()),
            "saturated": float(self.saturated.mean()),
        }


def gate_stats(values: np.ndarray, low: float = 0.1, high: float = 0.9) -> GateStats:
    """Statistics of gate values (T, B, H), the layout of `m.recorded`."""
    v = np.asarray(values, np.float64)
    if v.ndim != 3:
        raise ValueError(f"gate values must have shape (T, B, H), got {v.shape}")
    if not 0 <= low < high <= 1:
        raise ValueError(f"need 0 <= low < high <= 1, got low={low}, high={high}")
    flat = v.reshape(-1, v.shape[-1])
    return GateStats(flat.ravel(), flat.mean(axis=0), (flat < low).mean(axis=0), (flat > high).mean(axis=0))


def gate_statistics(layer, x, hx=None, *, low: float = 0.1, high: float = 0.9) -> dict[str, dict[str, GateStats]]:
    """{layer-direction: {gate: GateStats}} for a layer with gates (LSTM: i, f, o; GRU: r, z; the
    kind's `gates`) run on x (its layout); computed on a copy, the layer is left unchanged."""
    check_layer(layer)
    gates = layer.kind.gates
    if not gates:
        raise TypeError(
            f"gate statistics need a cell with gates (an LSTM or a GRU); the {layer.kind.title} "
            f"({type(layer).__name__}) has no gates"
        )
    copy = layer_copy(layer, np.float64)
    x = time_major(layer, x, np.float64)
    states0 = initial_states(layer, hx, x.shape[1], np.float64)
    copy.forward(x, states0 if len(states0) > 1 else states0[0], record=True)
    return {name: {g: gate_stats(rec[g], low, high) for g in gates} for name, rec in copy.recorded.items()}
