"""The time loop: one layer in one direction over a whole sequence, forward and backward.

A recurrent layer spends its time in three places, and each is put where it is cheapest:

  1. the input projection of all steps is one GEMM:        Zx = W_ih @ X          (G*H, T*B)
  2. per step only the recurrent matmul and the gate math:  z = Zx[:, t] + W_hh @ h_prev
  3. the weight gradients of all steps are one GEMM each:  dW_ih = dZ @ X^T, dW_hh = dZ @ Hprev^T,
     dX = W_ih^T @ dZ

Layout. Two shapes, chosen by who reads a store. A GEMM over all steps (1, 3) needs its operand
as one (rows, T*B) matrix: such stores are (rows, time, batch), and a step's block `A[:, t]` is
(rows, B) with each row contiguous. A store that only the step itself reads is (time, rows,
batch): a step's block `A[t]` is one contiguous (rows, B) array, which the kernels and NumPy
sweep in one pass (`bench/compare_checkouts.py` measured the LSTM's gates in the first shape at
0.6-0.85x the speed of the second). The stores of one run:

| store           | shape        | made by               | holds, and why it is kept                                 |
|-----------------|--------------|-----------------------|-----------------------------------------------------------|
| inp             | (D, T*B)     | the layer             | the input, or the layer below's S: for dW_ih and dX (3)   |
| Zx              | (G*H, T, B)  | `__init__`, one GEMM  | every step's input projection and folded bias (1)         |
| dZ              | (G*H, T, B)  | the buffer of Zx      | gate pre-activation gradients, GEMM operand of (3) (a)    |
| S               | (H, T+2, B)  | the layer             | hidden states of both directions, in slots (b)            |
| cell_states     | (T+2, H, B)  | `__init__`            | one store per further state (the LSTM's c), S's slots     |
| per-step stores | (T, rows, B) | the cell's allocate() | what backward reads and record=True returns: gates, ...   |
| GEMM operands   | (rows, T, B) | the cell's allocate() | per-step values a weight gradient needs (GRU's r * h)     |
| scratch         | (rows, B)    | the cell's allocate() | one step's temporaries, reused at every step              |

(a) Zx is spent once forward is done, so backward writes dZ over it: a training step's peak
    memory is one (G*H, T, B) array lower.
(b) Slot 0 holds the forward initial state, slot T+1 the reverse one, slots 1..T the outputs of
    both directions; the previous states of all steps, slots t (forward) or t+2 (reverse), are one
    (H, T*B) view: the operand of dW_hh (3).

Every store exists once the run is made; backward makes none of its own. Untouched pages of a
large np.empty are never mapped, so an inference pass pays next to nothing for the stores only
backward writes.

Slots. Step t reads its previous state from slot `t` (forward) or `t + 2` (reverse) and writes
its new state to slot `t + 1`.

Variable lengths. Step t of sequence b is active when t < lengths[b], in both directions. An
inactive step copies the previous state forward (so the final state of the forward direction is
each sequence's last valid step, and the reverse direction starts from its initial state at each
sequence's own last step); in backward its gradient passes straight through to the previous
state and nothing reaches the gates, so parameters receive no gradient from padding.

A cell kind (cells/kind.py) supplies a subclass with `allocate`, `forward_step` and
`backward_step`, and, where they differ from the plain case, `input_grad_blocks`,
`hidden_grad_blocks`, `extra_grads` and `gate_records`.
"""

from __future__ import annotations

import numpy as np

from .core import Param


class SequenceRun:
    """One forward pass (and its backward) of one layer-direction; holds what backward needs."""

    def __init__(
        self,
        kind,
        params: dict[str, Param],
        options: dict,
        inp: np.ndarray,
        S: np.ndarray,
        T: int,
        B: int,
        reverse: bool,
        active: np.ndarray | None,
    ):
        self.kind, self.p, self.options = kind, params, options
        self.inp = inp  # (D, T*B) layer input, kept for the weight gradients
        self.S = S  # (H, T + 2, B) hidden store of this direction
        self.T, self.B, self.reverse = T, B, reverse
        self.H = H = S.shape[0]
        # Per-step masks, None for steps where the whole batch is active (the common case).
        self.masks = [None] * T
        if active is not None:
            for t in range(T):
                if not active[t].all():
                    self.masks[t] = (active[t], ~active[t])  # each (1, B)
        zx = np.matmul(params["weight_ih"].data, inp)  # (1) all input projections in one GEMM
        bias = kind.input_bias(params, options)
        if bias is not None:
            zx += bias[:, None]
        self.Zx = zx.reshape(-1, T, B)
        self.dZ = self.Zx  # the same buffer (see the table): written by backward
        self.cell_states = [np.empty((T + 2, H, B), S.dtype) for _ in kind.states[1:]]
        self.dstate: list[np.ndarray] = []  # the state gradients while backward runs
        self.allocate()

    # --- slots ---------------------------------------------------------------------------------
    def _steps(self):
        """(t, prev_slot, cur_slot) in processing order."""
        if self.reverse:
            return [(t, t + 2, t + 1) for t in range(self.T - 1, -1, -1)]
        return [(t, t, t + 1) for t in range(self.T)]

    @property
    def initial_slot(self) -> int:
        return self.T + 1 if self.reverse else 0

    @property
    def final_slot(self) -> int:
        return 1 if self.reverse else self.T

    def state_views(self, slot: int) -> tuple[np.ndarray, ...]:
        """The (H, B) state(s) in `slot`: (h,) or (h, c)."""
        return (self.S[:, slot], *[store[slot] for store in self.cell_states])

    # --- forward -------------------------------------------------------------------------------
    def forward(self, state0: tuple[np.ndarray, ...]) -> None:
        """Run all steps from `state0`, a tuple of (H, B) arrays."""
        for view, value in zip(self.state_views(self.initial_slot), state0):
            view[...] = value
        for t, prev, cur in self._steps():
            self.forward_step(t, prev, cur)
            mask = self.masks[t]
            if mask is not None:  # inactive columns keep their previous state
                for new, old in zip(self.state_views(cur), self.state_views(prev)):
                    np.copyto(new, old, where=mask[1])

    def final_state(self) -> tuple[np.ndarray, ...]:
        return self.state_views(self.final_slot)

    # --- backward ------------------------------------------------------------------------------
    def backward(self, dY: np.ndarray, dstate: list[np.ndarray]) -> tuple[np.ndarray, ...]:
        """BPTT through all steps. dY (H, T, B): gradient w.r.t. this direction's outputs;
        dstate: (H, B) gradients w.r.t. the final state, updated in place (the caller gives
        copies). Fills dZ and returns the gradient w.r.t. state0."""
        self.dstate = dstate
        dh = dstate[0]
        for t, prev, cur in reversed(self._steps()):
            dh += dY[:, t]  # this step's output gradient joins the one from step t + 1
            mask = self.masks[t]
            if mask is None:
                self.backward_step(t, prev, cur)
                continue
            passed = [d.copy() for d in dstate]  # inactive columns: gradient passes through
            for d in dstate:
                d *= mask[0]
            self.backward_step(t, prev, cur)
            for d, keep in zip(dstate, passed):
                np.copyto(d, keep, where=mask[1])
        return tuple(dstate)

    def accumulate_grads(self, time_major_input_grad: bool = False) -> np.ndarray:
        """Add the weight gradients of all steps (one GEMM per block) into the parameters'
        `.grad` and return the gradient w.r.t. the layer input: (D, T*B), or (T*B, D) when
        `time_major_input_grad` (the user's layout, computed as dZ^T W_ih without a transpose)."""
        TB = self.T * self.B
        w_ih, b_ih, b_hh, w_hh = (self.p.get(k) for k in ("weight_ih", "bias_ih", "bias_hh", "weight_hh"))
        dinp = None
        for rows, dz in self.input_grad_blocks():
            dz2 = dz.reshape(-1, TB)
            w_ih.grad[rows] += dz2 @ self.inp.T  # dW_ih = dZ X^T
            if b_ih is not None:
                b_ih.grad[rows] += dz2.sum(axis=1)
            # dX = W_ih^T dZ
            part = dz2.T @ w_ih.data[rows] if time_major_input_grad else w_ih.data[rows].T @ dz2
            if dinp is None:
                dinp = part
            else:
                dinp += part
        for rows, dz, operand in self.hidden_grad_blocks():
            dz2 = dz.reshape(-1, TB)
            w_hh.grad[rows] += dz2 @ operand.T  # dW_hh = dZ Hprev^T
            if b_hh is not None:
                b_hh.grad[rows] += dz2.sum(axis=1)
        self.extra_grads()
        return dinp

    @property
    def _first_previous(self) -> int:
        return 2 if self.reverse else 0

    def previous_states(self) -> np.ndarray:
        """(H, T*B) view of the hidden state each step started from: the dW_hh operand."""
        first = self._first_previous
        return self.S[:, first : first + self.T].reshape(self.H, -1)

    def previous_cells(self, store: np.ndarray) -> np.ndarray:
        """(T, H, B) view of a cell state (one of `cell_states`) each step started from."""
        first = self._first_previous
        return store[first : first + self.T]

    def recorded(self) -> dict[str, np.ndarray]:
        """Per-step internals as (T, H, B) arrays, named as the kind's `recorded`."""
        T = self.T
        states = {"h": self.S[:, 1 : T + 1].transpose(1, 0, 2)}
        states |= {name: store[1 : T + 1] for name, store in zip(self.kind.states[1:], self.cell_states)}
        return self.gate_records() | states

    # --- what a cell defines where the plain case does not fit --------------------------------
    def input_grad_blocks(self):
        """(rows of weight_ih, their dZ) pairs; all rows at once in the plain case."""
        yield slice(None), self.dZ

    def hidden_grad_blocks(self):
        """(rows of weight_hh, their dZ, the (H, T*B) operand) triples."""
        yield slice(None), self.dZ, self.previous_states()

    def extra_grads(self) -> None:
        """Gradients of parameters beyond the four of the plain case (e.g. peepholes)."""

    def gate_records(self) -> dict[str, np.ndarray]:
        """The (T, H, B) per-step values of the kind's blocks that record=True keeps."""
        return {}

    # --- what every cell defines ---------------------------------------------------------------
    def allocate(self) -> None:
        """Make the per-step stores and the scratch buffers (see the table)."""
        raise NotImplementedError

    def forward_step(self, t: int, prev: int, cur: int) -> None:
        raise NotImplementedError

    def backward_step(self, t: int, prev: int, cur: int) -> None:
        """From self.dstate (the gradients w.r.t. this step's new state(s), updated in place to
        those w.r.t. the previous state(s)), write this step's gate gradients into dZ[:, t]."""
        raise NotImplementedError
