"""Recurrent layers and cells with PyTorch's interface: RNN, LSTM, GRU, RNNCell, LSTMCell, GRUCell.

Constructor arguments, shapes, state conventions, parameter names and the default initialisation
U(-1/sqrt(H), 1/sqrt(H)) are those of `torch.nn`; beyond PyTorch: `LSTM(peephole=True)`,
`GRU(reset="before")`, `forward(lengths=...)` instead of packing, `forward(record=True)`, and a
hand-written `backward`. The time loop lives in sequence.py and the gate arithmetic of each cell
in cells/; this file checks arguments and moves arrays between the user's layout
(time, batch, features) and the engine's (features, time, batch).
"""

from __future__ import annotations

import warnings

import numpy as np

from .cells.gru import GRURun
from .cells.lstm import PEEPHOLES, LSTMRun
from .cells.rnn import RNNRun
from .core import Module, as_float_array, check_dtype, check_lengths, check_shape, positive_int, uniform_init
from .sequence import SequenceRun
from .stepper import Stepper


def _cell_params(
    module: Module, suffix: str, input_size: int, hidden_size: int, gates: int, bias: bool, peephole: bool
) -> dict:
    """Create one cell's parameters on `module` (names + suffix) and return them by short name."""
    shapes = {"weight_ih": (gates * hidden_size, input_size), "weight_hh": (gates * hidden_size, hidden_size)}
    if bias:
        shapes |= {"bias_ih": (gates * hidden_size,), "bias_hh": (gates * hidden_size,)}
    if peephole:
        shapes |= {name: (hidden_size,) for name in PEEPHOLES}
    bound = 1.0 / np.sqrt(hidden_size)
    return {
        name: module.add_param(name + suffix, uniform_init(module.rng, shape, bound, module.dtype))
        for name, shape in shapes.items()
    }


def _states_in(names: tuple[str, ...], hx, shape: tuple, dtype) -> tuple:
    """The state(s) `hx` (an array, or a tuple for an LSTM's (h, c)) checked against `shape`,
    each named in errors by `names`; zeros when hx is None."""
    if hx is None:
        return tuple(np.zeros(shape, dtype) for _ in names)
    if len(names) == 2:
        if not isinstance(hx, (tuple, list)) or len(hx) != 2:
            raise TypeError(f"an LSTM's state is a tuple ({', '.join(names)}), got {type(hx).__name__}")
    else:
        hx = (hx,)
    states = tuple(as_float_array(n, h, dtype, (len(shape),)) for n, h in zip(names, hx))
    for n, s in zip(names, states):
        check_shape(n, s, shape)
    return states


class RecurrentLayer(Module):
    """Stacked, optionally bidirectional recurrent layer over a whole sequence (see module doc)."""

    run_class: type[SequenceRun]

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        *,
        dtype=np.float32,
        rng: np.random.Generator | None = None,
        **options,
    ):
        super().__init__()
        self.input_size = positive_int("input_size", input_size)
        self.hidden_size = positive_int("hidden_size", hidden_size)
        self.num_layers = positive_int("num_layers", num_layers)
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
        if dropout > 0 and num_layers == 1:
            warnings.warn("dropout acts between stacked layers; with num_layers=1 it does nothing", stacklevel=2)
        self.bias, self.batch_first, self.dropout = bool(bias), bool(batch_first), float(dropout)
        self.bidirectional = bool(bidirectional)
        self.num_directions = 2 if bidirectional else 1
        self.dtype = check_dtype(dtype)
        self.rng = rng if rng is not None else np.random.default_rng()
        self.options = self.run_class.check_options(options)
        gates, peephole = self.run_class.n_gates, self.options.get("peephole", False)
        self.cells = [
            [
                _cell_params(
                    self,
                    f"_l{layer}" + ("_reverse" if d else ""),
                    self.input_size if layer == 0 else hidden_size * self.num_directions,
                    hidden_size,
                    gates,
                    self.bias,
                    peephole,
                )
                for d in range(self.num_directions)
            ]
            for layer in range(num_layers)
        ]
        self.recorded: dict[str, dict[str, np.ndarray]] = {}
        self.tape = None

    def __repr__(self) -> str:
        extra = "".join(f", {k}={v!r}" for k, v in self.options.items())
        return (
            f"{type(self).__name__}({self.input_size}, {self.hidden_size}, num_layers="
            f"{self.num_layers}, bidirectional={self.bidirectional}{extra}, dtype={self.dtype})"
        )

    # --- forward -------------------------------------------------------------------------------
    def forward(self, x, hx=None, lengths=None, record: bool = False):
        """x (T, B, input_size), or (B, T, input_size) if batch_first, or unbatched (T, input_size).

        Returns out (T, B, D*H) and h_n (num_layers*D, B, H), D = 2 if bidirectional else 1;
        an LSTM returns (out, (h_n, c_n)) and takes hx=(h0, c0). lengths (B,) gives each
        sequence's valid steps: padded outputs are zero and h_n is each sequence's last valid step.
        record=True keeps every layer's and direction's per-step internals in `m.recorded`
        ({"l0": {"i": ..., "c": ..., "h": ...}, "l0_reverse": ...}, each (T, B, H) in x's
        layout); at padded steps they hold the unchanged state.
        """
        x = as_float_array("x", x, self.dtype, (2, 3))
        batched = x.ndim == 3
        xt = (x.transpose(1, 0, 2) if self.batch_first else x) if batched else x[:, None, :]
        T, B, D = xt.shape
        if D != self.input_size or T == 0 or B == 0:
            layout = "(B, T, input_size)" if self.batch_first else "(T, B, input_size)"
            raise ValueError(
                f"x has shape {x.shape}, expected {layout if batched else '(T, input_size)'}"
                f" with input_size={self.input_size}"
            )
        n_cells, H, n_states = self.num_layers * self.num_directions, self.hidden_size, self.run_class.n_states
        state_shape = (n_cells, B, H) if batched else (n_cells, H)
        states0 = _states_in(("h0", "c0") if n_states == 2 else ("hx",), hx, state_shape, self.dtype)
        if not batched:
            states0 = tuple(s[:, None, :] for s in states0)
        active = self._active(lengths, T, B, batched)

        inp = xt.reshape(T * B, D).T  # (D, T*B), the layout of every layer's input
        runs, drop_masks = [], []
        for layer, cells in enumerate(self.cells):
            S = np.empty((self.num_directions * H, T + 2, B), self.dtype)  # hidden store, both directions
            layer_runs = []
            for d, params in enumerate(cells):
                run = self.run_class(params, inp, S[d * H : (d + 1) * H], T, B, d == 1, active, **self.options)
                run.forward(tuple(s[layer * self.num_directions + d].T for s in states0))
                layer_runs.append(run)
            runs.append(layer_runs)
            inp = S[:, 1 : T + 1].reshape(-1, T * B)
            if self.training and self.dropout > 0 and layer < self.num_layers - 1:
                keep = self.rng.random(inp.shape) >= self.dropout
                mask = keep.astype(self.dtype) / self.dtype.type(1 - self.dropout)
                inp = inp * mask
                drop_masks.append(mask)
            else:
                drop_masks.append(None)

        out_fhb = S[:, 1 : T + 1]  # (D*H, T, B)
        if active is not None:
            out_fhb = out_fhb * active.transpose(1, 0, 2)
        out = self._to_user(out_fhb.transpose(1, 2, 0), batched)
        finals = [
            np.stack([run.final_state()[k].T for cell_runs in runs for run in cell_runs]) for k in range(n_states)
        ]
        if not batched:
            finals = [f[:, 0] for f in finals]
        self.tape = (runs, drop_masks, active, x.shape, out.shape, finals[0].shape, batched)
        self.recorded = self._record(runs, batched) if record else {}
        return out, (tuple(finals) if n_states == 2 else finals[0])

    def _active(self, lengths, T: int, B: int, batched: bool) -> np.ndarray | None:
        """(T, 1, B) bool: step t of sequence b is valid; None when every step is."""
        if lengths is None:
            return None
        if not batched:
            raise ValueError("lengths needs a batched x of shape (T, B, input_size)")
        lengths = check_lengths(lengths, T, B)
        if (lengths == T).all():
            return None
        return (np.arange(T)[:, None] < lengths[None, :])[:, None, :]

    def _to_user(self, a_tbf: np.ndarray, batched: bool) -> np.ndarray:
        """(T, B, F) engine-ordered array -> the user's layout, as a new contiguous array."""
        if not batched:
            return np.ascontiguousarray(a_tbf[:, 0])
        if self.batch_first:
            a_tbf = a_tbf.transpose(1, 0, 2)
        return np.ascontiguousarray(a_tbf)

    def _record(self, runs, batched) -> dict[str, dict[str, np.ndarray]]:
        """Per-step internals of every layer and direction, each (T, B, H) in the user's layout."""
        return {
            f"l{layer}" + ("_reverse" if d else ""): {
                name: self._to_user(a.transpose(0, 2, 1), batched) for name, a in run.recorded().items()
            }
            for layer, cell_runs in enumerate(runs)
            for d, run in enumerate(cell_runs)
        }

    def stepper(self) -> Stepper:
        """A frozen copy of this layer for generation one token at a time: `step(x, state)`, x
        (B, input_size), much cheaper per call than forward with T = 1 (see stepper.py)."""
        return Stepper(self)

    # --- backward ------------------------------------------------------------------------------
    def backward(self, dout, dh_n=None, *, tape=None):
        """Gradients w.r.t. x and the initial state(s) from dout (the shape of out) and dh_n (the
        shape of h_n; (dh_n, dc_n) for an LSTM; None means zero). Parameter gradients are added
        into each parameter's `.grad`. Returns (dx, dh0), or (dx, (dh0, dc0)) for an LSTM.

        It differentiates the last forward pass, or an earlier one whose `m.tape` was kept and is
        passed as `tape` (e.g. the chunks of truncated BPTT, backward in reverse order)."""
        tape = tape if tape is not None else self.tape
        if tape is None:
            raise ValueError("backward() needs a forward() first: it differentiates the last forward pass")
        runs, drop_masks, active, x_shape, out_shape, state_shape, batched = tape
        n_states, H, dt = self.run_class.n_states, self.hidden_size, self.dtype
        if dout is None:
            dout = np.zeros(out_shape, dt)
        dout = as_float_array("dout", dout, dt, (len(out_shape),))
        check_shape("dout", dout, out_shape, "the shape of out")
        dstates = _states_in(("dh_n", "dc_n") if n_states == 2 else ("dh_n",), dh_n, state_shape, dt)
        if not batched:
            dout, dstates = dout[:, None, :], tuple(s[:, None, :] for s in dstates)
        elif self.batch_first:
            dout = dout.transpose(1, 0, 2)
        T, B = dout.shape[:2]

        dY = np.ascontiguousarray(dout.transpose(2, 0, 1))  # (D*H, T, B)
        if active is not None:
            dY *= active.transpose(1, 0, 2)  # padded steps receive no gradient
        dstates0 = [[None] * self.num_directions for _ in runs]
        for layer in range(self.num_layers - 1, -1, -1):
            dinp = None
            for d, run in enumerate(runs[layer]):
                k = layer * self.num_directions + d
                dstate = [s[k].T.copy() for s in dstates]
                dstates0[layer][d] = run.backward(dY[d * H : (d + 1) * H], dstate)
                part = run.accumulate_grads(time_major_input_grad=layer == 0)
                dinp = part if dinp is None else dinp.__iadd__(part)
            if layer > 0:
                if drop_masks[layer - 1] is not None:
                    dinp *= drop_masks[layer - 1]
                dY = dinp.reshape(-1, T, B)
        dx = self._to_user(dinp.reshape(T, B, -1), batched)
        dhx = [np.stack([ds[k].T for cell_ds in dstates0 for ds in cell_ds]) for k in range(n_states)]
        if not batched:
            dhx = [s[:, 0] for s in dhx]
        return dx, (tuple(dhx) if n_states == 2 else dhx[0])


class RNN(RecurrentLayer):
    """Elman RNN: h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh) (or relu), as torch.nn.RNN."""

    run_class = RNNRun

    def __init__(
        self,
        input_size,
        hidden_size,
        num_layers=1,
        nonlinearity="tanh",
        bias=True,
        batch_first=False,
        dropout=0.0,
        bidirectional=False,
        *,
        dtype=np.float32,
        rng=None,
    ):
        super().__init__(
            input_size,
            hidden_size,
            num_layers,
            bias,
            batch_first,
            dropout,
            bidirectional,
            dtype=dtype,
            rng=rng,
            nonlinearity=nonlinearity,
        )


class LSTM(RecurrentLayer):
    """LSTM as torch.nn.LSTM (gates i, f, g, o); `peephole=True` adds diagonal peepholes
    weight_ci, weight_cf, weight_co (input/forget gates see c_{t-1}, the output gate sees c_t)."""

    run_class = LSTMRun

    def __init__(
        self,
        input_size,
        hidden_size,
        num_layers=1,
        bias=True,
        batch_first=False,
        dropout=0.0,
        bidirectional=False,
        *,
        peephole=False,
        dtype=np.float32,
        rng=None,
    ):
        super().__init__(
            input_size,
            hidden_size,
            num_layers,
            bias,
            batch_first,
            dropout,
            bidirectional,
            dtype=dtype,
            rng=rng,
            peephole=peephole,
        )


class GRU(RecurrentLayer):
    """GRU as torch.nn.GRU (gates r, z, n; reset="after"), or Cho et al.'s reset="before"."""

    run_class = GRURun

    def __init__(
        self,
        input_size,
        hidden_size,
        num_layers=1,
        bias=True,
        batch_first=False,
        dropout=0.0,
        bidirectional=False,
        *,
        reset="after",
        dtype=np.float32,
        rng=None,
    ):
        super().__init__(
            input_size,
            hidden_size,
            num_layers,
            bias,
            batch_first,
            dropout,
            bidirectional,
            dtype=dtype,
            rng=rng,
            reset=reset,
        )


class RecurrentCell(Module):
    """One step of a cell, as torch.nn.RNNCell/LSTMCell/GRUCell, with a hand-written backward."""

    run_class: type[SequenceRun]

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        *,
        dtype=np.float32,
        rng: np.random.Generator | None = None,
        **options,
    ):
        super().__init__()
        self.input_size = positive_int("input_size", input_size)
        self.hidden_size = positive_int("hidden_size", hidden_size)
        self.bias = bool(bias)
        self.dtype = check_dtype(dtype)
        self.rng = rng if rng is not None else np.random.default_rng()
        self.options = self.run_class.check_options(options)
        self.params = _cell_params(
            self,
            "",
            self.input_size,
            self.hidden_size,
            self.run_class.n_gates,
            self.bias,
            self.options.get("peephole", False),
        )
        self.tape = None

    def forward(self, x, hx=None):
        """x (B, input_size) or (input_size,); hx (B, H) (LSTM: (h, c)); returns h' (LSTM: (h', c'))."""
        x = as_float_array("x", x, self.dtype, (1, 2))
        batched = x.ndim == 2
        if x.shape[-1] != self.input_size:
            raise ValueError(
                f"x has shape {x.shape}, expected {'(B, ' if batched else '('}input_size={self.input_size})"
            )
        B, H, n_states = (x.shape[0] if batched else 1), self.hidden_size, self.run_class.n_states
        names = ("h0", "c0") if n_states == 2 else ("hx",)
        states0 = _states_in(names, hx, (B, H) if batched else (H,), self.dtype)
        x2 = x if batched else x[None]
        S = np.empty((H, 3, B), self.dtype)
        run = self.run_class(self.params, x2.T, S, 1, B, False, None, **self.options)
        run.forward(tuple(s.reshape(B, H).T for s in states0))
        self.tape = (run, batched, x.shape)
        new = tuple(np.ascontiguousarray(s.T if batched else s[:, 0]) for s in run.final_state())
        return new if n_states == 2 else new[0]

    def stepper(self) -> Stepper:
        """A frozen copy of this cell for generation: `step(x, state) -> (h', state')`, cheaper
        per call than forward (no tape, fused weights; see stepper.py)."""
        return Stepper(self)

    def backward(self, dh, dc=None, *, tape=None):
        """From the gradient w.r.t. the new state, dh (B, H) (for an LSTM also dc, given as dc=
        or as dh=(dh, dc); a missing dc is zero), returns (dx, dh_prev), for an LSTM
        (dx, (dh_prev, dc_prev)), and adds the parameter gradients into `.grad`.

        It differentiates the last forward step, or an earlier one whose `cell.tape` was kept and
        is passed as `tape`: backpropagation through time over a loop of cell steps."""
        tape = tape if tape is not None else self.tape
        if tape is None:
            raise ValueError("backward() needs a forward() first: it differentiates the last forward step")
        run, batched, x_shape = tape
        n_states, H, B = self.run_class.n_states, self.hidden_size, run.B
        if isinstance(dh, (tuple, list)):
            if dc is not None or len(dh) != n_states:
                raise TypeError(f"dh must be {'(dh, dc) or dh with dc=' if n_states == 2 else 'an array'}")
            dh, dc = dh if n_states == 2 else (dh[0], None)
        if n_states == 1 and dc is not None:
            raise TypeError(f"{type(self).__name__} has no cell state: backward takes dh only")
        shape = (B, H) if batched else (H,)
        if n_states == 2 and dc is None:
            dc = np.zeros(shape, self.dtype)
        ds = _states_in(("dh", "dc")[:n_states], (dh, dc) if n_states == 2 else dh, shape, self.dtype)
        dY = np.zeros((H, 1, B), self.dtype)
        d0 = run.backward(dY, [s.reshape(B, H).T.copy() for s in ds])
        dx = run.accumulate_grads(time_major_input_grad=True)
        prev = tuple(np.ascontiguousarray(d.T if batched else d[:, 0]) for d in d0)
        dx = dx if batched else dx[0]
        return np.ascontiguousarray(dx), (prev if n_states == 2 else prev[0])


class RNNCell(RecurrentCell):
    """h' = tanh(W_ih x + b_ih + W_hh h + b_hh) (or relu), as torch.nn.RNNCell."""

    run_class = RNNRun

    def __init__(self, input_size, hidden_size, bias=True, nonlinearity="tanh", *, dtype=np.float32, rng=None):
        super().__init__(input_size, hidden_size, bias, dtype=dtype, rng=rng, nonlinearity=nonlinearity)


class LSTMCell(RecurrentCell):
    """One LSTM step as torch.nn.LSTMCell, optionally with peepholes."""

    run_class = LSTMRun

    def __init__(self, input_size, hidden_size, bias=True, *, peephole=False, dtype=np.float32, rng=None):
        super().__init__(input_size, hidden_size, bias, dtype=dtype, rng=rng, peephole=peephole)


class GRUCell(RecurrentCell):
    """One GRU step as torch.nn.GRUCell (reset="after"), or Cho et al.'s reset="before"."""

    run_class = GRURun

    def __init__(self, input_size, hidden_size, bias=True, *, reset="after", dtype=np.float32, rng=None):
        super().__init__(input_size, hidden_size, bias, dtype=dtype, rng=rng, reset=reset)
