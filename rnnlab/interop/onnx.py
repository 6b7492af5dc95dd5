"""Export to ONNX from standard operators, for onnxruntime and other inference runtimes.

    export(module, path=None, lengths=False) -> onnx.ModelProto

| rnnlab module                      | graph inputs                          | graph outputs         |
|------------------------------------|---------------------------------------|-----------------------|
| RNN, GRU                           | x, h0 [, lengths]                     | out, h_n              |
| LSTM                               | x, h0, c0 [, lengths]                 | out, h_n, c_n         |
| CharLM (one step or many)          | ids (T, B) int64, h0 (, c0)           | logits, h_n (, c_n)   |
| Sequential of Embedding, RNN/LSTM/ | x (ids int64 after an Embedding)      | y                     |
| GRU, Dropout, LastStep, MeanPool,  |  [, lengths]                          |                       |
| Linear (e.g. a classifier); a lone |                                       |                       |
| Linear or Embedding                |                                       |                       |

Shapes are rnnlab's (x (T, B, D), or (B, T, D) for batch_first; states (layers * directions, B,
H)); T and B are free dimensions. `lengths` (B,) int64 is each sequence's valid steps, with
rnnlab's meaning (outputs past it are zero; h_n is each sequence's state at its last valid step).
Dropout is left out: an exported model is for inference. The graph computes in float32 whatever
the module's dtype (float64 weights are rounded): onnxruntime's RNN, LSTM and GRU kernels run
float32 only ("LSTM operator does not support double yet", onnxruntime 1.31).

Each recurrent layer is one ONNX RNN/LSTM/GRU operator per stacked layer, chained (its cell kind names
the operator, the gate order and the attributes: `CellKind.onnx_operator`). The ONNX
operators (opset 7 onwards) differ from torch.nn in three ways that the export translates:

    gate order   LSTM: torch i, f, g, o -> ONNX i, o, f, c  (rows [0, 3, 1, 2] of the blocks)
                 GRU:  torch r, z, n    -> ONNX z, r, h     (rows [1, 0, 2])
    bias         B = [Wb, Rb] = [bias_ih, bias_hh] per direction, (num_directions, 2 * G * H)
    output       Y is (T, num_directions, B, H): Transpose to (T, B, num_directions, H) and
                 Reshape to (T, B, num_directions * H), torch's [forward | reverse] layout

LSTM peepholes map onto the operator's P input, P = [P_i, P_o, P_f] (ONNX order) =
[weight_ci, weight_co, weight_cf]: ONNX's equations are rnnlab's (i and f see C_{t-1}, o sees
C_t). GRU reset="after" (PyTorch's) is linear_before_reset=1:
    h~ = tanh(W_h x + Wb_h + r * (R_h h + Rb_h))
and reset="before" (Cho et al.) is linear_before_reset=0, with both biases outside the reset:
    h~ = tanh(W_h x + Wb_h + R_h (r * h) + Rb_h)
which is rnnlab's form (b_hn folded into the input part).

onnx is imported inside `export`, onnxruntime inside `run_onnxruntime`; without them an
ImportError says `pip install -e ".[onnx]"`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .. import __version__
from ..models.charlm import CharLM
from ..nn import Dropout, Embedding, LastStep, Linear, MeanPool, Module, RecurrentLayer, Sequential
from ..nn.cells import OnnxOperator

OPSET = 17  # onnxruntime >= 1.17 runs it; every operator used here exists in this form there
IR_VERSION = 8  # the IR version that opset 17 needs, so older runtimes load the file too
INSTALL_HINT = 'pip install -e ".[onnx]"'


def _onnx():
    try:
        import onnx
    except ImportError as err:
        raise ImportError(f"ONNX export needs the onnx package: {INSTALL_HINT} ({err})") from err
    return onnx


# The graph's input and output names: fresh() never hands them out for inner values.
INTERFACE = ("x", "ids", "h0", "c0", "lengths", "out", "h_n", "c_n", "logits", "y")


class _Graph:
    """Nodes, initialisers and value names of the graph being built; every name is unique."""

    def __init__(self):
        self.onnx = _onnx()
        self.dtype = np.dtype(np.float32)
        self.elem = self.onnx.helper.np_dtype_to_tensor_dtype(self.dtype)
        self.nodes, self.initializers, self.inputs, self.outputs = [], [], [], []
        self.used: set[str] = set(INTERFACE)
        self.small: dict[tuple, str] = {}  # small constants (axes, shapes) are stored once

    def fresh(self, hint: str) -> str:
        name, k = hint, 1
        while name in self.used:
            k += 1
            name = f"{hint}_{k}"
        self.used.add(name)
        return name

    def const(self, hint: str, array) -> str:
        array = np.asarray(array)
        if array.dtype.kind == "f":
            array = array.astype(self.dtype)
        key = (hint, array.dtype.str, array.shape, array.tobytes()) if array.size <= 8 else None
        if key in self.small:
            return self.small[key]
        name = self.fresh(hint)
        self.initializers.append(self.onnx.numpy_helper.from_array(array, name))
        if key is not None:
            self.small[key] = name
        return name

    def ints(self, hint: str, values) -> str:
        return self.const(hint, np.asarray(values, np.int64))

    def op(self, op_type: str, inputs: list[str], hint: str, n_out: int = 1, **attrs):
        """Append a node; returns its output name (a list of names when n_out > 1)."""
        while inputs and inputs[-1] == "":  # trailing optional inputs may be left out
            inputs = inputs[:-1]
        outs = [self.fresh(hint if n_out == 1 else f"{hint}_{k}") for k in range(n_out)]
        self.nodes.append(self.onnx.helper.make_node(op_type, inputs, outs, name=self.fresh(f"{hint}_node"), **attrs))
        return outs[0] if n_out == 1 else outs

    def input(self, name: str, elem, shape) -> str:
        self.inputs.append(self.onnx.helper.make_tensor_value_info(name, elem, shape))
        return name

    def output(self, value: str, name: str, elem, shape) -> None:
        self.nodes.append(self.onnx.helper.make_node("Identity", [value], [name], name=self.fresh(f"{name}_out")))
        self.outputs.append(self.onnx.helper.make_tensor_value_info(name, elem, shape))

    def model(self, doc: str, metadata: dict[str, str] | None):
        helper = self.onnx.helper
        graph = helper.make_graph(self.nodes, "rnnlab", self.inputs, self.outputs, self.initializers, doc_string=doc)
        model = helper.make_model(
            graph,
            opset_imports=[helper.make_opsetid("", OPSET)],
            ir_version=IR_VERSION,
            producer_name="rnnlab",
            producer_version=__version__,
        )
        for key, value in (metadata or {}).items():
            model.metadata_props.add(key=str(key), value=str(value))
        self.onnx.checker.check_model(model, full_check=True)
        return model


# --- the recurrent operators ------------------------------------------------------------------------
def _in_operator_order(a: np.ndarray, op: OnnxOperator, H: int) -> np.ndarray:
    """The kind's row blocks (rows k*H..(k+1)*H) in the operator's order."""
    return np.concatenate([a[k * H : (k + 1) * H] for k in op.gate_order])


def _recurrent(
    g: _Graph, layer: RecurrentLayer, x: str, lengths32: str | None, initial: dict[str, str | None], prefix: str
) -> tuple[str, dict[str, str]]:
    """Chain one ONNX operator per stacked layer: x (T, B, D) time-major -> out (T, B, nd*H) and
    the final states {"h": h_n, "c": c_n for an LSTM}, each (L*nd, B, H). `initial` names the
    graph values of the initial states (None: zeros)."""
    kind, H, nd = layer.kind, layer.hidden_size, layer.num_directions
    op = kind.onnx_operator(layer.options, nd)  # a ValueError for a kind ONNX has no operator for
    attrs = {"hidden_size": H, "direction": "bidirectional" if nd == 2 else "forward", **op.attributes}
    finals: dict[str, list[str]] = {s: [] for s in kind.states}
    for lay, cells in enumerate(layer.cells):
        name = f"{prefix}l{lay}"

        def stack(fn, cells=cells):
            return np.stack([fn(p) for p in cells])

        W = g.const(f"{name}.W", stack(lambda p: _in_operator_order(p["weight_ih"].data, op, H)))
        R = g.const(f"{name}.R", stack(lambda p: _in_operator_order(p["weight_hh"].data, op, H)))
        B = ""
        if layer.bias:  # B = [Wb, Rb] per direction
            B = g.const(
                f"{name}.B",
                stack(
                    lambda p: np.concatenate(
                        [_in_operator_order(p["bias_ih"].data, op, H), _in_operator_order(p["bias_hh"].data, op, H)]
                    )
                ),
            )
        P = ""
        if op.peepholes:
            P = g.const(f"{name}.P", stack(lambda p: np.concatenate([p[k].data for k in op.peepholes])))

        def this_layer(states: str | None, hint: str, name=name, lay=lay) -> str:
            """Rows lay*nd .. (lay+1)*nd of the (L*nd, B, H) initial states; "" means zeros."""
            if not states:
                return ""
            rows = [g.ints(f"{name}.first", [lay * nd]), g.ints(f"{name}.end", [(lay + 1) * nd]), g.ints("axis0", [0])]
            return g.op("Slice", [states, *rows], hint)

        # The operators' inputs: X, W, R, B, sequence_lens, initial_h (, initial_c, P for the LSTM)
        inputs = [x, W, R, B, lengths32 or ""]
        inputs += [this_layer(initial[s], f"{name}.{s}0") for s in kind.states]
        inputs += [P]  # "" when there is none (trailing empty inputs are left out)
        outs = g.op(op.op_type, inputs, f"{name}.{op.op_type}", n_out=1 + len(kind.states), **attrs)
        for s, value in zip(kind.states, outs[1:]):
            finals[s].append(value)
        Y = g.op("Transpose", [outs[0]], f"{name}.Y_tbdh", perm=[0, 2, 1, 3])  # (T, nd, B, H) -> (T, B, nd, H)
        x = g.op("Reshape", [Y, g.ints("shape_tb_any", [0, 0, -1])], f"{name}.out")  # (T, B, nd*H)
    if lengths32 is not None:
        # Outputs past each length: rnnlab's are zero. onnxruntime (1.31) writes zeros there too,
        # but the operator's spec does not say so; the mask makes the graph itself say it.
        x = _mask_past_lengths(g, x, lengths32, f"{prefix}out_masked")
    return x, {
        s: parts[0] if len(parts) == 1 else g.op("Concat", parts, f"{prefix}{s}_n", axis=0)
        for s, parts in finals.items()
    }


def _valid_steps(g: _Graph, x_tm: str, lengths: str, hint: str) -> str:
    """(T, B) float: 1 where step t of sequence b is valid (t < lengths[b]), else 0."""
    T = g.op("Shape", [x_tm], f"{hint}.T", start=0, end=1)
    T = g.op("Squeeze", [T, g.ints("axis0", [0])], f"{hint}.T_scalar")
    lengths64 = g.op("Cast", [lengths], f"{hint}.lengths64", to=g.onnx.TensorProto.INT64)
    steps = g.op("Range", [g.const("zero", np.int64(0)), T, g.const("one", np.int64(1))], f"{hint}.steps")
    valid = g.op(
        "Less",
        [
            g.op("Unsqueeze", [steps, g.ints("axis1", [1])], f"{hint}.steps_t1"),
            g.op("Unsqueeze", [lengths64, g.ints("axis0", [0])], f"{hint}.lengths_1b"),
        ],
        f"{hint}.valid",
    )  # (T, B) bool
    return g.op("Cast", [valid], f"{hint}.weights", to=g.elem)


def _mask_past_lengths(g: _Graph, x_tm: str, lengths: str, hint: str) -> str:
    mask = _valid_steps(g, x_tm, lengths, hint)
    return g.op("Mul", [x_tm, g.op("Unsqueeze", [mask, g.ints("axis2", [2])], f"{hint}.mask")], hint)


def _time_major(g: _Graph, x: str, batch_first: bool, hint: str) -> str:
    return g.op("Transpose", [x], hint, perm=[1, 0, 2]) if batch_first else x


# --- graphs for whole modules ----------------------------------------------------------------------
def _state_inputs(g: _Graph, layer: RecurrentLayer, rows, width) -> dict[str, str]:
    """A graph input per part of the layer's state: h0 (and c0 for an LSTM), (rows, B, width)."""
    return {s: g.input(f"{s}0", g.elem, [rows, "B", width]) for s in layer.kind.states}


def _state_outputs(g: _Graph, finals: dict[str, str], rows, width) -> None:
    for s, value in finals.items():
        g.output(value, f"{s}_n", g.elem, [rows, "B", width])


def _export_layer(g: _Graph, layer: RecurrentLayer, lengths: bool):
    L, H = layer.num_layers * layer.num_directions, layer.hidden_size
    x_shape = ["B", "T", layer.input_size] if layer.batch_first else ["T", "B", layer.input_size]
    x = g.input("x", g.elem, x_shape)
    initial = _state_inputs(g, layer, L, H)
    lengths32 = None
    if lengths:
        lengths32 = g.op(
            "Cast", [g.input("lengths", g.onnx.TensorProto.INT64, ["B"])], "lengths32", to=g.onnx.TensorProto.INT32
        )
    out, finals = _recurrent(g, layer, _time_major(g, x, layer.batch_first, "x_tbd"), lengths32, initial, "")
    out = _time_major(g, out, layer.batch_first, "out_btf")
    g.output(out, "out", g.elem, x_shape[:2] + [layer.num_directions * H])
    _state_outputs(g, finals, L, H)
    return "out = f(x, " + ", ".join(initial) + (", lengths" if lengths else "") + ")"


def _export_charlm(g: _Graph, model: CharLM):
    cfg, rnn = model.config, model.rnn
    L = rnn.num_layers
    ids = g.input("ids", g.onnx.TensorProto.INT64, ["T", "B"])
    initial = _state_inputs(g, rnn, L, cfg.hidden)
    x = g.op("Gather", [g.const("embed.weight", model.embed.weight.data), ids], "embedded", axis=0)
    out, finals = _recurrent(g, rnn, x, None, initial, "rnn.")
    logits = _linear(g, model.head, out, "head")
    g.output(logits, "logits", g.elem, ["T", "B", cfg.vocab_size])
    _state_outputs(g, finals, L, cfg.hidden)
    return "char-LM: logits, state = f(ids, state); one step is T = 1"


def _linear(g: _Graph, lin: Linear, x: str, hint: str) -> str:
    """y = x W^T + b over any leading dims (MatMul broadcasts over them)."""
    y = g.op("MatMul", [x, g.const(f"{hint}.weight_T", lin.weight.data.T.copy())], f"{hint}.xWT")
    if lin.bias is not None:
        y = g.op("Add", [y, g.const(f"{hint}.bias", lin.bias.data)], f"{hint}.y")
    return y


def _export_sequential(g: _Graph, modules: list[Module], lengths: bool):
    if lengths and not any(isinstance(m, (RecurrentLayer, LastStep, MeanPool)) for m in modules):
        raise ValueError("lengths=True but no module in this Sequential takes lengths")
    first_bf = next((m.batch_first for m in modules if isinstance(m, (RecurrentLayer, LastStep, MeanPool))), False)
    shape: list = ["B", "T"] if first_bf else ["T", "B"]
    if isinstance(modules[0], Embedding):
        x = g.input("x", g.onnx.TensorProto.INT64, shape)
    else:
        first = modules[0]
        features = (
            first.in_features
            if isinstance(first, Linear)
            else first.input_size
            if isinstance(first, RecurrentLayer)
            else None
        )
        if features is None:
            raise TypeError(
                f"the first module of an exported Sequential must be an Embedding, a "
                f"Linear or a recurrent layer (to know the input size), got {type(first).__name__}"
            )
        shape = shape + [features]
        x = g.input("x", g.elem, shape)
    lengths64 = g.input("lengths", g.onnx.TensorProto.INT64, ["B"]) if lengths else None
    lengths32 = g.op("Cast", [lengths64], "lengths32", to=g.onnx.TensorProto.INT32) if lengths else None
    for k, m in enumerate(modules):
        hint = str(k)
        if isinstance(m, Embedding):
            if k > 0:
                raise TypeError(f"an Embedding can only come first in an exported Sequential (module {k})")
            x = g.op("Gather", [g.const(f"{hint}.weight", m.weight.data), x], hint, axis=0)
            shape = shape + [m.embedding_dim]
        elif isinstance(m, RecurrentLayer):
            zeros = dict.fromkeys(m.kind.states)
            out, _ = _recurrent(g, m, _time_major(g, x, m.batch_first, f"{hint}.x_tbd"), lengths32, zeros, f"{hint}.")
            x = _time_major(g, out, m.batch_first, f"{hint}.out")
            shape = shape[:2] + [m.num_directions * m.hidden_size]
        elif isinstance(m, (LastStep, MeanPool)):
            x = _pool(g, m, _time_major(g, x, m.batch_first, f"{hint}.x_tbf"), lengths64, hint)
            shape = [shape[0] if m.batch_first else shape[1], shape[-1]]
        elif isinstance(m, Linear):
            x = _linear(g, m, x, hint)
            shape = shape[:-1] + [m.out_features]
        elif isinstance(m, Dropout):
            continue  # the identity at inference
        else:
            raise TypeError(
                f"ONNX export of a Sequential knows Embedding, recurrent layers (RNN, LSTM, GRU), Dropout, "
                f"LastStep, MeanPool and Linear; module {k} is a {type(m).__name__}"
            )
    g.output(x, "y", g.elem, shape)
    return "y = f(x" + (", lengths" if lengths else "") + ")"


def _pool(g: _Graph, m: Module, x_tm: str, lengths: str | None, hint: str) -> str:
    """LastStep (4) / MeanPool (5) of rnnlab.nn.layers on a time-major (T, B, F) x -> (B, F)."""
    if isinstance(m, LastStep):
        if lengths is None:  # y[b] = x[T - 1, b]
            return g.op("Gather", [x_tm, g.const("minus_one", np.int64(-1))], hint, axis=0)
        x_bt = g.op("Transpose", [x_tm], f"{hint}.x_btf", perm=[1, 0, 2])
        last = g.op("Sub", [lengths, g.const("one", np.int64(1))], f"{hint}.last")
        last = g.op("Unsqueeze", [last, g.ints("axis1", [1])], f"{hint}.last_b1")
        return g.op("GatherND", [x_bt, last], hint, batch_dims=1)  # y[b] = x[L_b - 1, b]
    if lengths is None:  # y[b] = mean_t x[t, b]
        return g.op("ReduceMean", [x_tm], hint, axes=[0], keepdims=0)
    w = _valid_steps(g, x_tm, lengths, f"{hint}.steps")  # (T, B)
    masked = g.op("Mul", [x_tm, g.op("Unsqueeze", [w, g.ints("axis2", [2])], f"{hint}.w")], f"{hint}.masked")
    total = g.op("ReduceSum", [masked, g.ints("axis0", [0])], f"{hint}.sum", keepdims=0)
    count = g.op(
        "Cast", [g.op("Unsqueeze", [lengths, g.ints("axis1", [1])], f"{hint}.L_b1")], f"{hint}.count", to=g.elem
    )
    return g.op("Div", [total, count], hint)  # sum_{t < L_b} x / L_b


def export(module: Module, path=None, *, lengths: bool = False, metadata: dict[str, str] | None = None):
    """An ONNX model computing `module`'s forward pass (see the module docstring for the graph's
    inputs and outputs), checked with onnx.checker; written to `path` when given.

    lengths=True adds a `lengths` (B,) int64 input for batches of different lengths (recurrent
    layers and Sequentials that hold one). `metadata` goes into the model's metadata_props
    (e.g. the vocabulary a runtime needs to turn ids back into text).
    """
    if isinstance(module, CharLM) and lengths:
        raise ValueError("the char-LM graph has no lengths input: it steps all rows together")
    if isinstance(module, Sequential) and len(module) == 0:
        raise ValueError("cannot export an empty Sequential")
    if not isinstance(module, (CharLM, RecurrentLayer, Sequential, Linear, Embedding)):
        raise TypeError(
            "ONNX export knows recurrent layers (RNN, LSTM, GRU), CharLM, Sequential, Linear and Embedding; "
            f"got {type(module).__name__}"
        )
    g = _Graph()
    if isinstance(module, CharLM):
        doc = _export_charlm(g, module)
    elif isinstance(module, RecurrentLayer):
        doc = _export_layer(g, module, lengths)
    else:
        doc = _export_sequential(g, list(module) if isinstance(module, Sequential) else [module], lengths)
    model = g.model(f"rnnlab {__version__} {type(module).__name__}: {doc}", metadata)
    if path is not None:
        Path(path).write_bytes(model.SerializeToString())
    return model


def signature(model) -> str:
    """The graph's inputs and outputs as one line: 'ids [T, B] int64, h0 [2, B, 64] float32 -> ...'."""
    onnx = _onnx()

    def describe(v):
        t = v.type.tensor_type
        dims = ", ".join(d.dim_param or str(d.dim_value) for d in t.shape.dim)
        return f"{v.name} [{dims}] {np.dtype(onnx.helper.tensor_dtype_to_np_dtype(t.elem_type))}"

    return (
        ", ".join(describe(v) for v in model.graph.input) + " -> " + ", ".join(describe(v) for v in model.graph.output)
    )


def charlm_difference(lm: CharLM, model, ids: np.ndarray) -> float:
    """The largest |difference| between the logits and final states of rnnlab's char-LM and of its
    exported graph `model` (a ModelProto or file) run on onnxruntime, both fed `ids` (T, B) from
    the zero state: the check that an exported file computes what the model does."""
    logits, state = lm.forward(ids)
    names = lm.rnn.kind.states
    states = state if isinstance(state, tuple) else (state,)
    zeros = np.zeros(states[0].shape, np.float32)
    got = run_onnxruntime(model, {"ids": np.asarray(ids, np.int64)} | {f"{s}0": zeros for s in names})
    pairs = [(got["logits"], logits)] + [(got[f"{s}_n"], value) for s, value in zip(names, states)]
    return max(float(np.abs(a - b).max()) for a, b in pairs)


def run_onnxruntime(model, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Run an ONNX model (a ModelProto, its bytes, or a file path) on onnxruntime's CPU provider;
    returns every output by name."""
    try:
        import onnxruntime
    except ImportError as err:
        raise ImportError(f"running an ONNX model needs onnxruntime: {INSTALL_HINT} ({err})") from err
    source = (
        model.SerializeToString()
        if hasattr(model, "SerializeToString")
        else (model if isinstance(model, bytes) else str(model))
    )
    session = onnxruntime.InferenceSession(source, providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(names, feeds)))
