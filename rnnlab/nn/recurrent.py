"""Recurrent layers and cells with PyTorch's interface: RNN, LSTM, GRU, RNNCell, LSTMCell, GRUCell,
and `RecurrentLayer` / `RecurrentCell` for any registered cell kind (cells/kind.py).

Constructor arguments, shapes, state conventions, parameter names and the default initialisation
U(-1/sqrt(H), 1/sqrt(H)) are those of `torch.nn`; beyond PyTorch: `LSTM(peephole=True)`,
`GRU(reset="before")`, `forward(lengths=...)` instead of packing, `forward(record=True)`, a
hand-written `backward`, and `backend=` (backend.py). The time loop lives in sequence.py and
everything kind-specific in cells/; this file checks arguments and moves arrays between the
user's layout (time, batch, features) and the engine's (features, time, batch).
"""

from __future__ import annotations

import functools
import warnings

import numpy as np

from . import backend as backends
from . import cells
from .core import Module, as_float_array, check_dtype, check_lengths, check_shape, positive_int, uniform_init
from .stepper import Stepper

_LAYERS: dict[str, type] = {}  # kind name -> its public layer class (RNN, LSTM, GRU)
_CELLS: dict[str, type] = {}  # kind name -> its public cell class (RNNCell, LSTMCell, GRUCell)


def _states_in(kind, names: tuple[str, ...], hx, shape: tuple, dtype) -> tuple:
    """The state(s) `hx` (an array, or a tuple such as an LSTM's (h, c)) checked against `shape`,
    each named in errors by `names`; zeros when hx is None."""
    if hx is None:
        return tuple(np.zeros(shape, dtype) for _ in names)
    if len(names) > 1:
        if not isinstance(hx, (tuple, list)) or len(hx) != len(names):
            raise TypeError(f"the {kind.title}'s state is a tuple ({', '.join(names)}), got {type(hx).__name__}")
    else:
        hx = (hx,)
    states = tuple(as_float_array(n, h, dtype, (len(shape),)) for n, h in zip(names, hx))
    for n, s in zip(names, states):
        check_shape(n, s, shape)
    return states


@functools.cache
def _state_names(kind, template: str) -> tuple[str, ...]:
    """The names of a kind's state parts in messages: template "{}0" gives ("h0", "c0")."""
    return tuple(template.format(s) for s in kind.states)


def _initial_names(kind) -> tuple[str, ...]:
    """How forward's initial state is named in messages: torch's hx, or h0 and c0 for an LSTM."""
    return ("hx",) if len(kind.states) == 1 else _state_names(kind, "{}0")


class _Recurrent(Module):
    """What layers and cells share: the kind, its options, the backend, dtype, rng, parameters."""

    kind: cells.CellKind
    _registry: dict[str, type]

    def __init_subclass__(cls, cell: str | None = None, **kwargs):
        super().__init_subclass__(**kwargs)
        if cell is not None:  # a public class of one kind: LSTM(RecurrentLayer, cell="lstm")
            cls.kind = cells.get(cell)
            cls._registry[cls.kind.name] = cls

    def _setup(self, cell, input_size, hidden_size, bias, backend: str, dtype, rng, options: dict) -> None:
        if cell is None and not hasattr(type(self), "kind"):
            raise TypeError(
                f"{type(self).__name__} needs cell=: a registered kind ({', '.join(cells.names())}) or a CellKind"
            )
        self.kind = cells.get(cell) if cell is not None else type(self).kind
        self.input_size = positive_int("input_size", input_size)
        self.hidden_size = positive_int("hidden_size", hidden_size)
        self.bias = bool(bias)
        self.dtype = check_dtype(dtype)
        self.rng = rng if rng is not None else np.random.default_rng()
        self.options = self.kind.check_options(options)
        self.backend = backend

    @property
    def backend(self) -> str:
        """What was asked for: "auto", "numpy" or "compiled" (`running_backend` says what runs)."""
        return self._backend

    @backend.setter
    def backend(self, name: str) -> None:
        if name == "compiled" and not self.kind.has_kernels:
            raise ValueError(
                f"backend='compiled': the {self.kind.title} cell has no compiled kernels; use 'numpy' or 'auto'"
            )
        self._backend = backends.check_backend(name)

    @property
    def running_backend(self) -> str:
        """The backend a forward pass started now runs on: "numpy" or "compiled"."""
        return backends.resolve(self._backend, self.kind.has_kernels)

    def _make_params(self, suffix: str, input_size: int) -> dict:
        """Create one layer-direction's parameters (names + suffix), U(-1/sqrt(H), 1/sqrt(H)), and
        return them by short name."""
        shapes = self.kind.parameter_shapes(input_size, self.hidden_size, self.bias, self.options)
        bound = 1.0 / np.sqrt(self.hidden_size)
        return {
            name: self.add_param(name + suffix, uniform_init(self.rng, shape, bound, self.dtype))
            for name, shape in shapes.items()
        }

    def _describe(self) -> str:
        cell = "" if type(self) in self._registry.values() else f", cell={self.kind.name!r}"
        extra = "".join(f", {k}={v!r}" for k, v in self.options.items())
        return f"{cell}{extra}, dtype={self.dtype}, backend={self.backend!r} (runs {self.running_backend})"

    def stepper(self) -> Stepper:
        """A frozen copy for generation one token at a time, `step(x, state) -> (out, state)`:
        no tape, and on the compiled backend fused weights (see stepper.py)."""
        return Stepper(self)


class RecurrentLayer(_Recurrent):
    """A stacked, optionally bidirectional recurrent layer over whole sequences, of any cell kind.

    `RNN`, `LSTM` and `GRU` are this layer for their kinds, with torch.nn's signatures;
    `RecurrentLayer(input_size, hidden_size, ..., cell="lstm" or a CellKind)` builds any registered
    kind, and `recurrent_layer(cell, ...)` the public class where there is one. See `LSTM` for the
    arguments, shapes and an example.
    """

    _registry = _LAYERS

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
        cell: str | cells.CellKind | None = None,
        backend: str = "auto",
        dtype=np.float32,
        rng: np.random.Generator | None = None,
        **options,
    ):
        super().__init__()
        self._setup(cell, input_size, hidden_size, bias, backend, dtype, rng, options)
        self.num_layers = positive_int("num_layers", num_layers)
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
        if dropout > 0 and num_layers == 1:
            warnings.warn("dropout acts between stacked layers; with num_layers=1 it does nothing", stacklevel=2)
        self.batch_first, self.dropout = bool(batch_first), float(dropout)
        self.bidirectional = bool(bidirectional)
        self.num_directions = 2 if bidirectional else 1
        H, nd = self.hidden_size, self.num_directions
        # cells[layer][direction]: that layer-direction's parameters by short name (weight_ih, ...)
        self.cells = [
            [
                self._make_params(f"_l{layer}" + ("_reverse" if d else ""), self.input_size if layer == 0 else H * nd)
                for d in range(nd)
            ]
            for layer in range(self.num_layers)
        ]
        self.recorded: dict[str, dict[str, np.ndarray]] = {}
        self.tape = None

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.input_size}, {self.hidden_size}, num_layers={self.num_layers}, "
            f"bidirectional={self.bidirectional}{self._describe()})"
        )

    # --- forward -------------------------------------------------------------------------------
    def forward(self, x, hx=None, lengths=None, record: bool = False):
        """x (T, B, input_size), or (B, T, input_size) if batch_first, or unbatched (T, input_size).

        Returns out (T, B, D*H) and h_n (num_layers*D, B, H), D = 2 if bidirectional else 1;
        an LSTM returns (out, (h_n, c_n)) and takes hx=(h0, c0). lengths (B,) gives each
        sequence's valid steps: padded outputs are zero and h_n is each sequence's last valid step.
        record=True keeps every layer's and direction's per-step internals in `m.recorded`
        ({"l0": {"i": ..., "c": ..., "h": ...}, "l0_reverse": ...}, each (T, B, H) in x's
        layout, named as `m.kind.recorded`); at padded steps they hold the unchanged state.
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
        kind, H, nd = self.kind, self.hidden_size, self.num_directions
        state_shape = (self.num_layers * nd, B, H) if batched else (self.num_layers * nd, H)
        states0 = _states_in(kind, _initial_names(kind), hx, state_shape, self.dtype)
        if not batched:
            states0 = tuple(s[:, None, :] for s in states0)
        active = self._active(lengths, T, B, batched)

        run_class = kind.run_class(self.running_backend)
        inp = xt.reshape(T * B, D).T  # (D, T*B), the layout of every layer's input
        runs, drop_masks = [], []
        for layer, layer_params in enumerate(self.cells):
            S = np.empty((nd * H, T + 2, B), self.dtype)  # hidden store, both directions
            layer_runs = []
            for d, params in enumerate(layer_params):
                run = run_class(kind, params, self.options, inp, S[d * H : (d + 1) * H], T, B, d == 1, active)
                run.forward(tuple(s[layer * nd + d].T for s in states0))
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
            np.stack([run.final_state()[k].T for layer_runs in runs for run in layer_runs])
            for k in range(len(kind.states))
        ]
        if not batched:
            finals = [f[:, 0] for f in finals]
        self.tape = (runs, drop_masks, active, x.shape, out.shape, finals[0].shape, batched)
        self.recorded = self._record(runs, batched) if record else {}
        return out, (tuple(finals) if len(finals) > 1 else finals[0])

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
        recorded = {}
        for layer, layer_runs in enumerate(runs):
            for d, run in enumerate(layer_runs):
                rec = run.recorded()  # (T, H, B) arrays
                recorded[f"l{layer}" + ("_reverse" if d else "")] = {
                    name: self._to_user(rec[name].transpose(0, 2, 1), batched) for name in self.kind.recorded
                }
        return recorded

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
        kind, H, dt = self.kind, self.hidden_size, self.dtype
        if dout is None:
            dout = np.zeros(out_shape, dt)
        dout = as_float_array("dout", dout, dt, (len(out_shape),))
        check_shape("dout", dout, out_shape, "the shape of out")
        dstates = _states_in(kind, _state_names(kind, "d{}_n"), dh_n, state_shape, dt)
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
        dhx = [np.stack([ds[k].T for layer_ds in dstates0 for ds in layer_ds]) for k in range(len(kind.states))]
        if not batched:
            dhx = [s[:, 0] for s in dhx]
        return dx, (tuple(dhx) if len(dhx) > 1 else dhx[0])


class RNN(RecurrentLayer, cell="rnn"):
    r"""Elman RNN over whole sequences, as torch.nn.RNN, with a hand-written backward.

    For each step t and each layer (the input of layer k > 0 is layer k-1's output):

        h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)      (nonlinearity="relu": max(., 0))

    (rnnlab/nn/cells/rnn.py numbers these equations and derives the backward.)

    Args:
        input_size, hidden_size: features of x and of h.
        num_layers: stacked layers (default 1).
        nonlinearity: "tanh" (default) or "relu".
        bias: with b_ih and b_hh (default True).
        batch_first: x and out are (B, T, features) instead of (T, B, features).
        dropout: dropout on the outputs of every layer but the last, in training (default 0).
        bidirectional: a second direction reading the sequence backwards (default False).
        backend: "auto" (default), "numpy" or "compiled" (rnnlab.nn.backend).
        dtype: np.float32 (default) or np.float64.  rng: np.random.Generator for init and dropout.

    Shapes (D = 2 if bidirectional else 1, L = num_layers):
        forward(x (T, B, input_size), hx (L*D, B, H) or None, lengths (B,) or None)
            -> out (T, B, D*H), h_n (L*D, B, H);   unbatched x (T, input_size) drops B
        backward(dout like out, dh_n like h_n or None) -> dx like x, dh0 like h_n

    Parameters: weight_ih_l{k} (H, input_size or D*H), weight_hh_l{k} (H, H), bias_ih_l{k},
    bias_hh_l{k} (H,), and "_reverse" ones for the second direction; U(-1/sqrt(H), 1/sqrt(H)).

    Example:
        >>> rnn = RNN(10, 20, num_layers=2, rng=np.random.default_rng(0))
        >>> out, h_n = rnn(np.zeros((5, 3, 10), np.float32))
        >>> out.shape, h_n.shape
        ((5, 3, 20), (2, 3, 20))
    """

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
        backend="auto",
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
            backend=backend,
            dtype=dtype,
            rng=rng,
            nonlinearity=nonlinearity,
        )


class LSTM(RecurrentLayer, cell="lstm"):
    r"""Long short-term memory over whole sequences, as torch.nn.LSTM, with a hand-written backward.

    For each step t and each layer (gate order i, f, g, o as in PyTorch; σ the sigmoid):

        i_t = σ(W_ii x_t + b_ii + W_hi h_{t-1} + b_hi)
        f_t = σ(W_if x_t + b_if + W_hf h_{t-1} + b_hf)
        g_t = tanh(W_ig x_t + b_ig + W_hg h_{t-1} + b_hg)
        o_t = σ(W_io x_t + b_io + W_ho h_{t-1} + b_ho)
        c_t = f_t * c_{t-1} + i_t * g_t
        h_t = o_t * tanh(c_t)

    With peephole=True the input and forget gates also see w_ci * c_{t-1}, w_cf * c_{t-1} and the
    output gate w_co * c_t (diagonal peepholes, Gers & Schmidhuber). rnnlab/nn/cells/lstm.py numbers
    these equations and derives the backward.

    Args:
        input_size, hidden_size: features of x and of h.
        num_layers: stacked layers (default 1).
        bias: with b_ih and b_hh (default True).
        batch_first: x and out are (B, T, features) instead of (T, B, features).
        dropout: dropout on the outputs of every layer but the last, in training (default 0).
        bidirectional: a second direction reading the sequence backwards (default False).
        peephole: diagonal peephole weights weight_ci, weight_cf, weight_co (default False).
        backend: "auto" (default), "numpy" or "compiled" (rnnlab.nn.backend).
        dtype: np.float32 (default) or np.float64.  rng: np.random.Generator for init and dropout.

    Shapes (D = 2 if bidirectional else 1, L = num_layers):
        forward(x (T, B, input_size), (h0, c0) each (L*D, B, H) or None, lengths (B,) or None,
                record=False) -> out (T, B, D*H), (h_n, c_n) each (L*D, B, H)
        backward(dout like out, (dh_n, dc_n) or None) -> dx like x, (dh0, dc0)
        unbatched x (T, input_size) drops B everywhere.

    Parameters: weight_ih_l{k} (4H, input_size or D*H), weight_hh_l{k} (4H, H), bias_ih_l{k},
    bias_hh_l{k} (4H,), and "_reverse" ones for the second direction; U(-1/sqrt(H), 1/sqrt(H)).
    `state_dict()` holds NumPy arrays under these names: torch's state dict loads as it is.

    Example:
        >>> lstm = LSTM(8, 32, num_layers=2, bidirectional=True, rng=np.random.default_rng(0))
        >>> x = np.random.default_rng(1).standard_normal((50, 4, 8)).astype(np.float32)
        >>> out, (h_n, c_n) = lstm(x, lengths=[50, 31, 7, 50])
        >>> out.shape, h_n.shape
        ((50, 4, 64), (4, 4, 32))
        >>> lstm.zero_grad()
        >>> dx, (dh0, dc0) = lstm.backward(np.ones_like(out))  # parameter gradients in p.grad
    """

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
        backend="auto",
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
            backend=backend,
            dtype=dtype,
            rng=rng,
            peephole=peephole,
        )


class GRU(RecurrentLayer, cell="gru"):
    r"""Gated recurrent unit over whole sequences, as torch.nn.GRU, with a hand-written backward.

    For each step t and each layer (gate order r, z, n as in PyTorch; σ the sigmoid):

        r_t = σ(W_ir x_t + b_ir + W_hr h_{t-1} + b_hr)
        z_t = σ(W_iz x_t + b_iz + W_hz h_{t-1} + b_hz)
        n_t = tanh(W_in x_t + b_in + r_t * (W_hn h_{t-1} + b_hn))
        h_t = (1 - z_t) * n_t + z_t * h_{t-1}

    That is reset="after" (PyTorch's, cuDNN's). reset="before" is Cho et al. 2014 as the lectures
    write it, n_t = tanh(W_in x_t + b_in + W_hn (r_t * h_{t-1}) + b_hn). rnnlab/nn/cells/gru.py
    numbers both and derives their backward.

    Args:
        input_size, hidden_size: features of x and of h.
        num_layers: stacked layers (default 1).
        bias: with b_ih and b_hh (default True).
        batch_first: x and out are (B, T, features) instead of (T, B, features).
        dropout: dropout on the outputs of every layer but the last, in training (default 0).
        bidirectional: a second direction reading the sequence backwards (default False).
        reset: "after" (default, PyTorch) or "before" (Cho et al. 2014).
        backend: "auto" (default), "numpy" or "compiled" (rnnlab.nn.backend).
        dtype: np.float32 (default) or np.float64.  rng: np.random.Generator for init and dropout.

    Shapes (D = 2 if bidirectional else 1, L = num_layers):
        forward(x (T, B, input_size), hx (L*D, B, H) or None, lengths (B,) or None)
            -> out (T, B, D*H), h_n (L*D, B, H);   unbatched x (T, input_size) drops B
        backward(dout like out, dh_n like h_n or None) -> dx like x, dh0 like h_n

    Parameters: weight_ih_l{k} (3H, input_size or D*H), weight_hh_l{k} (3H, H), bias_ih_l{k},
    bias_hh_l{k} (3H,), and "_reverse" ones for the second direction; U(-1/sqrt(H), 1/sqrt(H)).

    Example:
        >>> gru = GRU(10, 20, batch_first=True, rng=np.random.default_rng(0))
        >>> out, h_n = gru(np.zeros((3, 5, 10), np.float32))
        >>> out.shape, h_n.shape
        ((3, 5, 20), (1, 3, 20))
    """

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
        backend="auto",
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
            backend=backend,
            dtype=dtype,
            rng=rng,
            reset=reset,
        )


class RecurrentCell(_Recurrent):
    """One step of a cell of any kind, as torch.nn.RNNCell/LSTMCell/GRUCell, with a hand-written
    backward. `RecurrentCell(input_size, hidden_size, cell="gru")` builds any registered kind;
    `recurrent_cell(cell, ...)` the public class where there is one."""

    _registry = _CELLS

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        *,
        cell: str | cells.CellKind | None = None,
        backend: str = "auto",
        dtype=np.float32,
        rng: np.random.Generator | None = None,
        **options,
    ):
        super().__init__()
        self._setup(cell, input_size, hidden_size, bias, backend, dtype, rng, options)
        self.params = self._make_params("", self.input_size)
        self.tape = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.input_size}, {self.hidden_size}{self._describe()})"

    def forward(self, x, hx=None):
        """x (B, input_size) or (input_size,); hx (B, H) (LSTM: (h, c)); returns h' (LSTM: (h', c'))."""
        x = as_float_array("x", x, self.dtype, (1, 2))
        batched = x.ndim == 2
        if x.shape[-1] != self.input_size:
            raise ValueError(
                f"x has shape {x.shape}, expected {'(B, ' if batched else '('}input_size={self.input_size})"
            )
        kind, B, H = self.kind, (x.shape[0] if batched else 1), self.hidden_size
        states0 = _states_in(kind, _initial_names(kind), hx, (B, H) if batched else (H,), self.dtype)
        x2 = x if batched else x[None]
        S = np.empty((H, 3, B), self.dtype)
        run = kind.run_class(self.running_backend)(kind, self.params, self.options, x2.T, S, 1, B, False, None)
        run.forward(tuple(s.reshape(B, H).T for s in states0))
        self.tape = (run, batched, x.shape)
        new = tuple(np.ascontiguousarray(s.T if batched else s[:, 0]) for s in run.final_state())
        return new if len(new) > 1 else new[0]

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
        kind, H, B = self.kind, self.hidden_size, run.B
        n_states = len(kind.states)
        if isinstance(dh, (tuple, list)):
            if dc is not None or len(dh) != n_states:
                raise TypeError(f"dh must be a tuple of {n_states} arrays ({', '.join(_state_names(kind, 'd{}'))})")
            grads = tuple(dh)
        elif n_states == 1 and dc is not None:
            raise TypeError(f"{type(self).__name__} has no cell state: backward takes dh only")
        else:
            grads = (dh, dc, *(None,) * (n_states - 2))[:n_states]
        shape = (B, H) if batched else (H,)
        grads = tuple(np.zeros(shape, self.dtype) if g is None else g for g in grads)
        ds = _states_in(kind, _state_names(kind, "d{}"), grads if n_states > 1 else grads[0], shape, self.dtype)
        dY = np.zeros((H, 1, B), self.dtype)
        d0 = run.backward(dY, [s.reshape(B, H).T.copy() for s in ds])
        dx = run.accumulate_grads(time_major_input_grad=True)
        prev = tuple(np.ascontiguousarray(d.T if batched else d[:, 0]) for d in d0)
        dx = dx if batched else dx[0]
        return np.ascontiguousarray(dx), (prev if n_states > 1 else prev[0])


class RNNCell(RecurrentCell, cell="rnn"):
    """One Elman RNN step as torch.nn.RNNCell: h' = tanh(W_ih x + b_ih + W_hh h + b_hh) (or relu).

    forward(x (B, input_size), h (B, H) or None) -> h' (B, H); backward(dh') -> (dx, dh).
    Parameters weight_ih (H, input_size), weight_hh (H, H), bias_ih, bias_hh (H,).

    Example:
        >>> cell = RNNCell(4, 8, rng=np.random.default_rng(0))
        >>> h = cell(np.ones((2, 4), np.float32))
        >>> h.shape
        (2, 8)
    """

    def __init__(
        self, input_size, hidden_size, bias=True, nonlinearity="tanh", *, backend="auto", dtype=np.float32, rng=None
    ):
        super().__init__(
            input_size, hidden_size, bias, backend=backend, dtype=dtype, rng=rng, nonlinearity=nonlinearity
        )


class LSTMCell(RecurrentCell, cell="lstm"):
    """One LSTM step as torch.nn.LSTMCell (the equations of `LSTM`), optionally with peepholes.

    forward(x (B, input_size), (h, c) each (B, H) or None) -> (h', c');
    backward(dh', dc') -> (dx, (dh, dc)). Parameters weight_ih (4H, input_size), weight_hh (4H, H),
    bias_ih, bias_hh (4H,), and with peephole=True weight_ci, weight_cf, weight_co (H,).

    Example:
        >>> cell = LSTMCell(4, 8, rng=np.random.default_rng(0))
        >>> h, c = cell(np.ones((2, 4), np.float32))
        >>> h.shape, c.shape
        ((2, 8), (2, 8))
    """

    def __init__(
        self, input_size, hidden_size, bias=True, *, peephole=False, backend="auto", dtype=np.float32, rng=None
    ):
        super().__init__(input_size, hidden_size, bias, backend=backend, dtype=dtype, rng=rng, peephole=peephole)


class GRUCell(RecurrentCell, cell="gru"):
    """One GRU step as torch.nn.GRUCell (the equations of `GRU`), reset="after" (PyTorch) or
    "before" (Cho et al. 2014).

    forward(x (B, input_size), h (B, H) or None) -> h'; backward(dh') -> (dx, dh).
    Parameters weight_ih (3H, input_size), weight_hh (3H, H), bias_ih, bias_hh (3H,).

    Example:
        >>> cell = GRUCell(4, 8, rng=np.random.default_rng(0))
        >>> cell(np.ones((2, 4), np.float32)).shape
        (2, 8)
    """

    def __init__(
        self, input_size, hidden_size, bias=True, *, reset="after", backend="auto", dtype=np.float32, rng=None
    ):
        super().__init__(input_size, hidden_size, bias, backend=backend, dtype=dtype, rng=rng, reset=reset)


def recurrent_layer(
    cell: str | cells.CellKind, input_size: int, hidden_size: int, num_layers: int = 1, **kwargs
) -> RecurrentLayer:
    """A layer of a registered cell kind: the public class (RNN, LSTM, GRU) where the kind has one,
    else a RecurrentLayer; kwargs are the layer's arguments and the kind's options."""
    kind = cells.get(cell)
    if kind.name in _LAYERS:
        return _LAYERS[kind.name](input_size, hidden_size, num_layers, **kwargs)
    return RecurrentLayer(input_size, hidden_size, num_layers, cell=kind, **kwargs)


def recurrent_cell(cell: str | cells.CellKind, input_size: int, hidden_size: int, **kwargs) -> RecurrentCell:
    """One step of a registered cell kind: RNNCell, LSTMCell, GRUCell or a RecurrentCell."""
    kind = cells.get(cell)
    if kind.name in _CELLS:
        return _CELLS[kind.name](input_size, hidden_size, **kwargs)
    return RecurrentCell(input_size, hidden_size, cell=kind, **kwargs)
