"""User-facing checks of a module: finite differences and stepping versus the whole sequence.

- `gradcheck(module, x, hx)` is the engine's finite-difference check (rnnlab.nn.gradcheck):
  the relative error of every gradient its backward returns, ~1e-9 in float64 when it is right.
- `check_stepping(module, x)`: running a sequence one step at a time, carrying the state, must
  give the same outputs as running it whole (what generation relies on):
      out_whole[t] == out_step[t],  out_step[t] = forward(x[t:t+1], state_{t-1})[0]
  for a recurrent layer, or the `step(state, x_t)` protocol of a model such as the CharLM.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..nn.gradcheck import gradcheck  # re-exported: rnnlab.gradcheck
from ..nn.recurrent import RecurrentLayer

__all__ = ["gradcheck", "check_stepping", "StepCheck"]


@dataclass
class StepCheck:
    max_abs_diff: float  # the largest |whole - stepped| over all steps and outputs
    tolerance: float
    steps: int

    @property
    def ok(self) -> bool:
        return self.max_abs_diff <= self.tolerance


def check_stepping(module, x, hx=None, tolerance: float | None = None) -> StepCheck:
    """Compare a whole-sequence forward with stepping one step at a time.

    module: a unidirectional recurrent layer (x (T, B, input_size), or its batch_first layout) or
    a model with `forward(x, state)` and `step(state, x_t)` (e.g. CharLM: x token ids (T, B)).
    tolerance defaults to 1e-12 for float64 and 1e-5 for float32 (a matmul over one step and over
    T steps may round differently). The module's forward is called (its tape is overwritten)."""
    if isinstance(module, RecurrentLayer):
        if module.bidirectional:
            raise ValueError("a bidirectional layer cannot be stepped: its reverse direction reads the future")
        dtype = module.dtype
        whole, _ = module.forward(x, hx)
        xs = np.asarray(x)
        if module.batch_first:
            xs = xs.swapaxes(0, 1)
        state, steps = hx, []
        for t in range(xs.shape[0]):
            step_x = xs[t : t + 1].swapaxes(0, 1) if module.batch_first else xs[t : t + 1]
            out, state = module.forward(step_x, state)
            steps.append(out.swapaxes(0, 1) if module.batch_first else out)
        stepped = np.concatenate(steps, axis=0)
        if module.batch_first:
            stepped = stepped.swapaxes(0, 1)
    elif hasattr(module, "step") and hasattr(module, "forward"):
        dtype = getattr(module, "dtype", np.float64)
        whole, _ = module.forward(x, hx)
        state, steps = hx, []
        for t in range(np.shape(x)[0]):
            out, state = module.step(state, np.asarray(x)[t])
            steps.append(out)
        stepped = np.stack(steps)
    else:
        raise TypeError(f"expected a recurrent layer or a model with forward and step, got {type(module).__name__}")
    if tolerance is None:
        tolerance = 1e-12 if np.dtype(dtype) == np.float64 else 1e-5
    diff = float(np.abs(np.asarray(whole, np.float64) - np.asarray(stepped, np.float64)).max())
    return StepCheck(diff, float(tolerance), int(np.shape(x)[0]))
