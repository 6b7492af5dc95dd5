"""The time loop: one layer in one direction over a whole sequence, forward and backward.

Layout. Inside the engine every sequence is stored (features, time, batch): a step's slice
`A[:, t]` is a (features, batch) block whose rows are contiguous, so that

  1. the input projection of all steps is one GEMM:        Zx = W_ih @ X          (GH, T*B)
  2. per step only the recurrent matmul and the gate math:  z = Zx[:, t] + W_hh @ h_prev
  3. the weight gradients of all steps are one GEMM each:  dW_ih = dZ @ X^T, dW_hh = dZ @ Hprev^T,
     dX = W_ih^T @ dZ

and the gates of one step are contiguous row blocks (no strided gate slices in the hot loop).

Hidden states live in a store `S` of shape (H, T + 2, B) that the layer shares between its two
directions: step t reads its previous state from slot `t` (forward) or `t + 2` (reverse) and
writes its new state to slot `t + 1`. So slots 1..T are the outputs of both directions, slot 0 is
the forward initial state, slot T + 1 the reverse initial state, and the previous states of all
steps form one (H, T*B) view for the dW_hh GEMM.

Variable lengths. Step t of sequence b is active when t < lengths[b], in both directions. An
inactive step copies the previous state forward (so the final state of the forward direction is
each sequence's last valid step, and the reverse direction starts from its initial state at each
sequence's own last step); in backward its gradient passes straight through to the previous
state and nothing reaches the gates, so parameters receive no gradient from padding.

A cell (`cells/*.py`) subclasses `SequenceRun` with the gate arithmetic of one step, written in
NumPy and, when `self.fast` (numba installed and not turned off, see kernels.py), done by one
compiled kernel per step instead; the recurrent GEMMs are BLAS calls on both paths.
"""

from __future__ import annotations

import numpy as np

from . import kernels
from .core import Param


class SequenceRun:
    """One forward pass (and its backward) of one layer-direction; holds what backward needs.

    Subclasses set `n_gates` and implement `allocate`, `state_views`, `forward_step`,
    `backward_step` and, where they differ from the plain case, `input_bias`,
    `input_grad_blocks`, `hidden_grad_blocks`, `extra_grads` and `recorded`.
    """

    n_gates = 1
    n_states = 1  # 1 for (h,), 2 for (h, c)

    def __init__(
        self,
        params: dict[str, Param],
        inp: np.ndarray,
        S: np.ndarray,
        T: int,
        B: int,
        reverse: bool,
        active: np.ndarray | None,
        **options,
    ):
        self.p = params
        self.inp = inp  # (D, T*B) layer input, kept for the weight gradients
        self.S = S  # (H, T + 2, B) hidden store of this direction
        self.T, self.B, self.reverse = T, B, reverse
        self.H = S.shape[0]
        self.options = options
        self.fast = kernels.compiled_active()  # fused compiled gate arithmetic (kernels.py)
        # Per-step masks, None for steps where the whole batch is active (the common case).
        self.masks = [None] * T
        if active is not None:
            for t in range(T):
                if not active[t].all():
                    self.masks[t] = (active[t], ~active[t])  # each (1, B)
        zx = np.matmul(params["weight_ih"].data, inp)  # (1) all input projections in one GEMM
        bias = self.input_bias()
        if bias is not None:
            zx += bias[:, None]
        self.Zx = zx.reshape(-1, T, B)
        self.allocate()

    @staticmethod
    def check_options(options: dict) -> dict:
        """The cell's own constructor options, checked (e.g. nonlinearity, peephole, reset)."""
        return options

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
        copies). Fills the per-step gate gradients and returns the gradient w.r.t. state0."""
        if not hasattr(self, "dZ"):  # gradients w.r.t. the gate pre-activations
            # The input projections are spent once forward is done: their buffer takes dZ, which
            # keeps a training step's peak memory one (G*H, T, B) array lower.
            self.dZ, self.Zx = self.Zx, None
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

    def previous_states(self) -> np.ndarray:
        """(H, T*B) view of the state each step started from."""
        first = 2 if self.reverse else 0
        return self.S[:, first : first + self.T].reshape(self.H, -1)

    # --- defaults for the plain case (one gate block, bias_ih + bias_hh folded into Zx) --------
    def input_bias(self) -> np.ndarray | None:
        b_ih, b_hh = self.p.get("bias_ih"), self.p.get("bias_hh")
        return None if b_ih is None else b_ih.data + b_hh.data

    def input_grad_blocks(self):
        yield slice(None), self.dZ

    def hidden_grad_blocks(self):
        yield slice(None), self.dZ, self.previous_states()

    def extra_grads(self) -> None:
        pass

    def recorded(self) -> dict[str, np.ndarray]:
        """Per-step internals as (T, H, B) arrays."""
        return {"h": self.S[:, 1 : self.T + 1].transpose(1, 0, 2)}

    # --- what a cell defines -------------------------------------------------------------------
    def allocate(self) -> None:
        raise NotImplementedError

    def state_views(self, slot: int) -> tuple[np.ndarray, ...]:
        raise NotImplementedError

    def forward_step(self, t: int, prev: int, cur: int) -> None:
        raise NotImplementedError

    def backward_step(self, t: int, prev: int, cur: int) -> None:
        raise NotImplementedError
