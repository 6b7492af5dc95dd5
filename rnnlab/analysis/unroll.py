"""A recurrent layer unrolled into its cells, one step at a time, with the per-step gradients.

The layers (rnnlab.nn.recurrent) run their time loop inside the engine and hand back only the
gradient of the initial state. The diagnostics want the gradient at every step, so this module
copies a layer's weights into one engine cell per layer and direction (RNNCell, LSTMCell,
GRUCell: the same gate arithmetic, cells/*.py) and runs the same computation as a Python loop of
cell steps, keeping each step's tape. Its backward is the engine's own cell backward, step by
step, in the order of backpropagation through time:

    g_t = dL/dh_t  = dout_t (from above)  +  dh_prev returned by step t + 1     (BPTT)
    dL/dc_t        =                          dc_prev returned by step t + 1    (LSTM)

and it records g_t (and dL/dc_t) for every step, layer and direction. (For an LSTM the state is
the pair (h, c); dL/dc_t is the gradient with respect to c_t with h_t held as its own variable,
the error carried by the constant error carousel, c_t = f_t c_{t-1} + ...)

The copies are float64 by default (gradient norms that vanish over a hundred steps underflow
float32), and the inspected layer is never changed: its weights are read, not written, and its
tape and records are left as they were. Dropout is off (the analysis is of the eval-mode model).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..nn import RecurrentLayer, recurrent_cell, recurrent_layer
from ..nn.core import check_dtype


def check_layer(layer) -> RecurrentLayer:
    if not isinstance(layer, RecurrentLayer):
        raise TypeError(f"expected a recurrent layer (rnnlab.nn.RNN, LSTM or GRU), got {type(layer).__name__}")
    return layer


def cell_names(layer: RecurrentLayer) -> list[str]:
    """ "l0", "l0_reverse", "l1", ...: the keys of `m.recorded`, one per layer and direction."""
    return [f"l{k}" + ("_reverse" if d else "") for k in range(layer.num_layers) for d in range(layer.num_directions)]


def layer_cells(layer: RecurrentLayer, dtype=np.float64) -> list[list]:
    """One engine cell per layer and direction, [layer][direction], holding copies of the
    layer's weights (cast to `dtype`), of its kind and options."""
    check_layer(layer)
    dtype = check_dtype(dtype)
    params = dict(layer.named_parameters())
    H, D = layer.hidden_size, layer.num_directions
    cells = []
    for k in range(layer.num_layers):
        row = []
        for d in range(D):
            width = layer.input_size if k == 0 else H * D
            cell = recurrent_cell(
                layer.kind, width, H, bias=layer.bias, dtype=dtype, backend=layer.backend, **layer.options
            )
            suffix = f"_l{k}" + ("_reverse" if d else "")
            cell.load_state_dict(
                {name: params[name + suffix].data.astype(dtype) for name, _ in cell.named_parameters()}
            )
            row.append(cell)
        cells.append(row)
    return cells


def layer_copy(layer: RecurrentLayer, dtype=np.float64) -> RecurrentLayer:
    """A new layer of the same kind and options with the weights cast to `dtype` (time-major),
    so that running it (which sets its tape and records) leaves the original untouched."""
    check_layer(layer)
    copy = recurrent_layer(
        layer.kind,
        layer.input_size,
        layer.hidden_size,
        layer.num_layers,
        bias=layer.bias,
        bidirectional=layer.bidirectional,
        dtype=dtype,
        backend=layer.backend,
        **layer.options,
    )
    copy.load_state_dict({k: v.astype(dtype) for k, v in layer.state_dict().items()})
    return copy.eval()


def time_major(layer: RecurrentLayer, x, dtype) -> np.ndarray:
    """x as a float (T, B, input_size) array of `dtype`, from the layer's own layout."""
    x = np.asarray(x, dtype=dtype)
    if x.ndim == 2:
        x = x[:, None, :]
    elif x.ndim == 3 and layer.batch_first:
        x = x.transpose(1, 0, 2)
    if x.ndim != 3 or x.shape[2] != layer.input_size or x.shape[0] == 0 or x.shape[1] == 0:
        raise ValueError(
            f"x has shape {np.shape(x)}, expected (T, B, input_size={layer.input_size})"
            + (" in the layer's batch_first layout (B, T, input_size)" if layer.batch_first else "")
        )
    return np.ascontiguousarray(x)


def initial_states(layer: RecurrentLayer, hx, B: int, dtype) -> tuple[np.ndarray, ...]:
    """The initial state(s) as ((L*D, B, H),) or (h0, c0), zeros when hx is None."""
    names = tuple(f"{s}0" for s in layer.kind.states)
    shape = (layer.num_layers * layer.num_directions, B, layer.hidden_size)
    if hx is None:
        return tuple(np.zeros(shape, dtype) for _ in names)
    parts = tuple(hx) if len(names) > 1 else (hx,)
    if len(parts) != len(names):
        raise TypeError(f"the {layer.kind.title}'s hx is a tuple ({', '.join(names)})")
    states = tuple(np.asarray(p, dtype=dtype) for p in parts)
    for name, s in zip(names, states):
        if s.shape != shape:
            raise ValueError(f"{name} has shape {s.shape}, expected {shape} (layers*directions, B, H)")
    return states


def _parts(state) -> tuple:
    """A cell's state as a tuple: (h,) or (h, c)."""
    return state if isinstance(state, tuple) else (state,)


@dataclass
class Unrolled:
    """A forward pass of a layer as cell steps, and (after `backward`) the per-step gradients.

    states[name]: {"h": (T, B, H), and "c" for an LSTM (each of the kind's states)}, indexed by
    time step t (for a reverse direction too); grads[name]: {"h": dL/dh_t, "c": dL/dc_t}, same shapes.
    """

    layer: RecurrentLayer
    cells: list
    x: np.ndarray
    initial: tuple
    out: np.ndarray = None
    tapes: dict = field(default_factory=dict)
    states: dict = field(default_factory=dict)
    grads: dict = field(default_factory=dict)

    @property
    def names(self) -> list[str]:
        return cell_names(self.layer)


def unroll(layer: RecurrentLayer, x, hx=None, dtype=np.float64) -> Unrolled:
    """Run `layer` on x (its layout) step by step through copies of its cells; returns the
    Unrolled record whose `out` (T, B, D*H) equals layer.forward(x, hx)[0] up to rounding."""
    cells = layer_cells(layer, dtype)
    x = time_major(layer, x, dtype)
    T, B, _ = x.shape
    initial = initial_states(layer, hx, B, dtype)
    run = Unrolled(layer, cells, x, initial)
    names, H, D = layer.kind.states, layer.hidden_size, layer.num_directions
    inp = x
    for k, row in enumerate(cells):
        outs = []
        for d, cell in enumerate(row):
            name = f"l{k}" + ("_reverse" if d else "")
            state = tuple(s[k * D + d] for s in initial)
            seen, tapes = {s: np.empty((T, B, H), dtype) for s in names}, [None] * T
            for t in range(T - 1, -1, -1) if d else range(T):
                state = _parts(cell.forward(inp[t], state if len(state) > 1 else state[0]))
                tapes[t] = cell.tape
                for s, value in zip(names, state):
                    seen[s][t] = value
            run.tapes[name] = tapes
            run.states[name] = seen
            outs.append(seen["h"])
        inp = np.concatenate(outs, axis=2) if D == 2 else outs[0]
    run.out = inp
    return run


def backward(run: Unrolled, dout) -> np.ndarray:
    """BPTT through the unrolled steps from dout (T, B, D*H), the gradient of the loss w.r.t.
    the top layer's output at every step. Fills run.grads with dL/dh_t (and dL/dc_t) of every
    layer, direction and step, and returns dL/dx (T, B, input_size)."""
    layer, dtype = run.layer, run.x.dtype
    T, B, _ = run.x.shape
    names, H = layer.kind.states, layer.hidden_size
    dout = np.asarray(dout, dtype=dtype)
    if dout.shape != run.out.shape:
        raise ValueError(f"dout has shape {dout.shape}, expected {run.out.shape} (the shape of out, time-major)")
    for k in range(layer.num_layers - 1, -1, -1):
        din = None
        for d, cell in enumerate(run.cells[k]):
            name = f"l{k}" + ("_reverse" if d else "")
            seen = {s: np.empty((T, B, H), dtype) for s in names}
            dstate = tuple(np.zeros((B, H), dtype) for _ in names)
            for t in range(T) if d else range(T - 1, -1, -1):  # the reverse of the forward order
                # the output's gradient joins the recurrent one
                dstate = (dstate[0] + dout[t, :, d * H : (d + 1) * H], *dstate[1:])
                for s, value in zip(names, dstate):
                    seen[s][t] = value
                dx, dprev = cell.backward(dstate if len(dstate) > 1 else dstate[0], tape=run.tapes[name][t])
                dstate = _parts(dprev)
                if din is None:
                    din = np.zeros((T, B, dx.shape[1]), dtype)
                din[t] += dx
            run.grads[name] = seen
        dout = din
    return dout
