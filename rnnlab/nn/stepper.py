"""Generation one step at a time: a frozen copy of a layer's (or cell's) weights, laid out so that a
step costs little more than reading the weights once.

Why. Writing text feeds each sample back in, so a model runs T = 1, B = 1 (or a beam's few rows)
thousands of times. `forward` then spends more time checking arguments, building its run objects
and recording its tape than computing. A stepper does only the step: on the compiled backend each
layer is its kind's fused step (`CellKind.fused_step`, cells/<kind>_compiled.py), e.g. for the
LSTM and the Elman RNN

    z = [W_ih | W_hh | b] @ [x; h_prev; 1]     one GEMV over one (G*H, D+H+1) matrix

and the cell's gate arithmetic as one kernel call; `bench/bench_engine.py` measures it against
`nn.LSTM` per token (docs/benchmarks.md, "generation"). On the NumPy backend, or for a kind
without a fused step, it runs the frozen module's own forward for one step (the reference path,
slower, the same numbers).

Frozen means what it says: the stepper copies the weights when it is made, so it keeps computing
the model as it was (make a new one after the weights change).
"""

from __future__ import annotations

import copy

import numpy as np

from .core import as_float_array, check_shape


class Stepper:
    """`step(x, state) -> (out, state)` for a unidirectional RecurrentLayer or a RecurrentCell.

    x is (B, input_size), or (input_size,) for one row; state and new state have the module's own
    conventions (a layer: (num_layers, B, H), a cell: (B, H); an LSTM's is the tuple (h, c);
    None means zeros). out is the last layer's new h, (B, H). New arrays every step: the state
    passed in is never modified (beam search may still hold it).
    """

    def __init__(self, module):
        if getattr(module, "bidirectional", False):
            raise ValueError(
                "a bidirectional layer reads the whole sequence at once; it cannot be stepped one token at a time"
            )
        self.module = copy.deepcopy(module).eval()  # frozen: later updates don't reach it
        self.is_cell = not hasattr(module, "num_layers")
        kind = module.kind
        self.n_states = len(kind.states)
        self.names = ("hx",) if self.n_states == 1 else tuple(f"{s}0" for s in kind.states)  # as forward's
        self.title = kind.title
        self.H, self.D, self.dtype = module.hidden_size, module.input_size, module.dtype
        cells = [self.module.params] if self.is_cell else [layer[0] for layer in self.module.cells]
        self.layers = None
        if module.running_backend == "compiled":
            self.layers = [kind.fused_step(p, module.options, module.dtype) for p in cells]
            if any(layer is None for layer in self.layers):
                self.layers = None  # this kind has no fused step: forward runs each step
        self.backend = "compiled (fused)" if self.layers else "forward"
        self._last_state = self._last_arrays = self._last_rows = None  # skips re-checking it

    def __repr__(self) -> str:
        return f"Stepper({type(self.module).__name__}, H={self.H}, {self.backend})"

    def _states_in(self, state, B: int, batched: bool) -> list[np.ndarray]:
        """The state as a list of (L, B, H) arrays (zeros for None), checked."""
        L = 1 if self.is_cell else self.module.num_layers
        if state is None:
            return [np.zeros((L, B, self.H), self.dtype) for _ in self.names]
        parts = list(state) if self.n_states > 1 and isinstance(state, (tuple, list)) else [state]
        if len(parts) != self.n_states:
            raise TypeError(
                f"the {self.title}'s state is a tuple ({', '.join(self.names)}), got {type(state).__name__}"
            )
        if self.is_cell:
            expected = (B, self.H) if batched else (self.H,)
        else:
            expected = (L, B, self.H) if batched else (L, self.H)
        out = []
        for name, s in zip(self.names, parts):
            s = as_float_array(name, s, self.dtype, (len(expected),))
            check_shape(name, s, expected)
            out.append(s.reshape(L, B, self.H))
        return out

    def step(self, x, state=None):
        x = np.asarray(x)
        if x.dtype != self.dtype or x.ndim not in (1, 2):
            as_float_array("x", x, self.dtype, (1, 2))  # raises, naming the problem
        # No scan for NaN here, unlike forward: this runs once per token, and a NaN in x only
        # reaches what this step returns (the stepper's weights never change).
        batched = x.ndim == 2
        x2 = x if batched else x[None]
        if x2.shape[1] != self.D:
            raise ValueError(f"x has shape {x.shape}, expected (B, input_size={self.D})")
        if self.layers is None:
            return self._step_forward(x2, state, batched)
        B = x2.shape[0]
        if state is not None and state is self._last_state and B == self._last_rows:
            states = self._last_arrays  # what the last step returned: already checked
        else:
            states = self._states_in(state, B, batched)
        new = [np.empty_like(s) for s in states]
        inp = x2.T
        for layer, fused in enumerate(self.layers):
            out = fused.step(inp, [s[layer].T for s in states])
            for k, v in enumerate(out):
                new[k][layer] = v.T
            inp = out[0]
        out, state = self._states_out(new, batched)
        self._last_state, self._last_arrays, self._last_rows = state, new, B
        return out, state

    def _step_forward(self, x2: np.ndarray, state, batched: bool):
        """The frozen module's own forward for one step."""
        m = self.module
        if self.is_cell:
            new = m.forward(x2 if batched else x2[0], state)
            return (new[0] if self.n_states > 1 else new), new
        hx = state
        if state is not None and not batched:  # (L, H) -> (L, 1, H)
            hx = tuple(s[:, None] for s in state) if self.n_states > 1 else state[:, None]
        out, new = m.forward(x2[None], hx)
        if not batched:
            new = tuple(s[:, 0] for s in new) if self.n_states > 1 else new[:, 0]
        return (out[0] if batched else out[0, 0]), new

    def _states_out(self, new: list[np.ndarray], batched: bool):
        """Back to the module's conventions; out is the last layer's h."""
        if self.is_cell:
            new = [s[0] for s in new]
        if not batched:
            new = [s[..., 0, :] for s in new]
        out = new[0] if self.is_cell else new[0][-1]
        return out, (tuple(new) if self.n_states > 1 else new[0])
