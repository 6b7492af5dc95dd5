"""Export to ONNX from standard operators, for onnxruntime and other inference runtimes.

    export(module, path=None, lengths=False) -> onnx.ModelProto
    export_crnn(crnn, path=None, widths=True) -> onnx.ModelProto    (the OCR model)

| rnnlab module                      | graph inputs                          | graph outputs         |
|------------------------------------|---------------------------------------|-----------------------|
| RNN, GRU                           | x, h0 [, lengths]                     | out, h_n              |
| LSTM                               | x, h0, c0 [, lengths]                 | out, h_n, c_n         |
| CharLM (one step or many)          | ids (T, B) int64, h0 (, c0)           | logits, h_n (, c_n)   |
| Sequential of Embedding, RNN/LSTM/ | x (ids int64 after an Embedding)      | y                     |
| GRU, Dropout, LastStep, MeanPool,  |  [, lengths]                          |                       |
| Linear (e.g. a classifier); a lone |                                       |                       |
| Linear or Embedding                |                                       |                       |
| Sequential of Conv2d, MaxPool2d,   | x (N, C, H, W), images                | y                     |
| Flatten, Linear, ...; a lone       |                                       |                       |
| Conv2d or MaxPool2d                |                                       |                       |
| CRNN (rnnlab.models.ocr)           | images (N, 1, H, W) [, widths]        | log_probs [, lengths] |

Shapes are rnnlab's (x (T, B, D), or (B, T, D) for batch_first; states (layers * directions, B,
H)); T and B are free dimensions. `lengths` (B,) int64 is each sequence's valid steps, with
rnnlab's meaning (outputs past it are zero; h_n is each sequence's state at its last valid step).
Images are NCHW as in torch.nn and ONNX: Conv2d is a Conv operator (pads [ph, pw, ph, pw]),
MaxPool2d a MaxPool (floor mode; ONNX pads never win a window, as rnnlab's -inf), Flatten a
Reshape to x.shape[:s] + (-1,) + x.shape[e+1:]; N, H and W are free. The CRNN graph
(`export_crnn`) has T = W // 4 and, optionally, the widths input that CRNN.forward takes.
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
from ..models.ocr import CRNN, DOWNSAMPLE
from ..nn import (
    Conv2d,
    Dropout,
    Embedding,
    Flatten,
    LastStep,
    Linear,
    MaxPool2d,
    MeanPool,
    Module,
    RecurrentLayer,
    Sequential,
)
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
INTERFACE = ("x", "ids", "h0", "c0", "lengths", "out", "h_n", "c_n", "logits", "y", "images", "widths", "log_probs")


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
    elif isinstance(modules[0], (Conv2d, MaxPool2d)):  # images, batched: (N, C, H, W)
        channels = modules[0].in_channels if isinstance(modules[0], Conv2d) else "C"
        shape = ["N", channels, "H", "W"]
        x = g.input("x", g.elem, shape)
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
                f"the first module of an exported Sequential must be an Embedding, a Linear, a recurrent "
                f"layer, a Conv2d or a MaxPool2d (to know the input's size and rank), got {type(first).__name__}"
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
        elif isinstance(m, (Conv2d, MaxPool2d)):
            if len(shape) != 4:
                raise TypeError(f"module {k}, a {type(m).__name__}, needs images (N, C, H, W); it would get {shape}")
            x = _conv2d(g, m, x, hint) if isinstance(m, Conv2d) else _maxpool2d(g, m, x, hint)
            channels = m.out_channels if isinstance(m, Conv2d) else shape[1]
            shape = [shape[0], channels, *(_pooled(n, *hw) for n, hw in zip(shape[2:], _windows_of(m)))]
        elif isinstance(m, Flatten):
            x, shape = _flatten(g, m, x, shape, hint)
        elif isinstance(m, Dropout):
            continue  # the identity at inference
        else:
            raise TypeError(
                f"ONNX export of a Sequential knows Embedding, recurrent layers (RNN, LSTM, GRU), Dropout, "
                f"LastStep, MeanPool, Linear, Conv2d, MaxPool2d and Flatten; module {k} is a {type(m).__name__}"
            )
    g.output(x, "y", g.elem, shape)
    return "y = f(x" + (", lengths" if lengths else "") + ")"


# --- image layers (rnnlab.nn.conv): NCHW, as the ONNX operators --------------------------------------
def _conv2d(g: _Graph, m: Conv2d, x: str, hint: str) -> str:
    """Conv2d (1)-(2) of rnnlab.nn.conv: ONNX Conv is the same cross-correlation, weight (O, C, kh, kw)."""
    (ph, pw), inputs = m.padding, [x, g.const(f"{hint}.weight", m.weight.data)]
    if m.bias is not None:
        inputs.append(g.const(f"{hint}.bias", m.bias.data))
    return g.op("Conv", inputs, hint, kernel_shape=list(m.kernel_size), strides=list(m.stride), pads=[ph, pw, ph, pw])


def _maxpool2d(g: _Graph, m: MaxPool2d, x: str, hint: str) -> str:
    """MaxPool2d (3): ONNX MaxPool's pads never win a window (rnnlab pads with -inf); floor mode."""
    ph, pw = m.padding
    return g.op("MaxPool", [x], hint, kernel_shape=list(m.kernel_size), strides=list(m.stride), pads=[ph, pw, ph, pw])


def _windows_of(m: Conv2d | MaxPool2d):
    """((kernel, stride, padding) along H, the same along W)."""
    return tuple(zip(m.kernel_size, m.stride, m.padding))


def _pooled(n, kernel: int, stride: int, padding: int):
    """An output size along one axis, (n + 2 padding - kernel) // stride + 1; None when n is not fixed."""
    return (n + 2 * padding - kernel) // stride + 1 if isinstance(n, int) else None


def _flatten(g: _Graph, m: Flatten, x: str, shape: list, hint: str) -> tuple[str, list]:
    """Flatten (4): Reshape to x.shape[:s] + (-1,) + x.shape[e+1:], the kept sizes read at run time."""
    rank = len(shape)
    s = m.start_dim % rank if -rank <= m.start_dim < rank else None
    e = m.end_dim % rank if -rank <= m.end_dim < rank else None
    if s is None or e is None or s > e:
        raise ValueError(f"{m!r} cannot flatten an input of rank {rank} ({shape})")
    parts = [g.op("Shape", [x], f"{hint}.lead", start=0, end=s)] if s > 0 else []
    parts.append(g.ints("minus_one_1", [-1]))
    if e < rank - 1:
        parts.append(g.op("Shape", [x], f"{hint}.trail", start=e + 1))
    target = parts[0] if len(parts) == 1 else g.op("Concat", parts, f"{hint}.shape", axis=0)
    merged = shape[s : e + 1]
    size = int(np.prod(merged)) if all(isinstance(n, int) for n in merged) else None
    return g.op("Reshape", [x, target], hint), shape[:s] + [size] + shape[e + 1 :]


def _zero_right_of(g: _Graph, x: str, widths: str, hint: str) -> str:
    """x (N, C, H, W) with columns w >= widths[n] of image n set to zero (CRNN.forward's width mask)."""
    W = g.op("Squeeze", [g.op("Shape", [x], f"{hint}.W", start=3, end=4), g.ints("axis0", [0])], f"{hint}.W_scalar")
    columns = g.op("Range", [g.const("zero", np.int64(0)), W, g.const("one", np.int64(1))], f"{hint}.columns")
    keep = g.op(
        "Less",
        [
            g.op("Unsqueeze", [columns, g.ints("axis0", [0])], f"{hint}.columns_1w"),
            g.op("Unsqueeze", [widths, g.ints("axis1", [1])], f"{hint}.widths_n1"),
        ],
        f"{hint}.keep",
    )  # (N, W) bool
    keep = g.op("Unsqueeze", [g.op("Cast", [keep], f"{hint}.keepf", to=g.elem), g.ints("axes12", [1, 2])], f"{hint}.k")
    return g.op("Mul", [x, keep], hint)  # keep is (N, 1, 1, W)


def _export_crnn(g: _Graph, model: CRNN, widths: bool):
    """CRNN.forward as one graph; its steps carry the names of rnnlab.models.ocr."""
    cfg = model.config
    x = g.input("images", g.elem, ["N", 1, cfg.height, "W"])
    w = g.input("widths", g.onnx.TensorProto.INT64, ["N"]) if widths else None
    if w is not None:
        x = _zero_right_of(g, x, w, "images_kept")
    a1 = g.op("Relu", [_conv2d(g, model.conv1, x, "conv1")], "a1")
    if w is not None:
        a1 = _zero_right_of(g, a1, w, "a1_kept")
    p1 = _maxpool2d(g, model.pool1, a1, "pool1")
    a2 = g.op("Relu", [_conv2d(g, model.conv2, p1, "conv2")], "a2")
    if w is not None:
        a2 = _zero_right_of(g, a2, g.op("Div", [w, g.const("two", np.int64(2))], "widths_half"), "a2_kept")
    fmap = _maxpool2d(g, model.pool2, a2, "pool2")  # (N, C2, H/4, T)
    seq = g.op("Transpose", [fmap], "columns", perm=[3, 0, 1, 2])  # column t -> step t: (T, N, C2, H/4)
    seq = g.op("Reshape", [seq, g.ints("shape_tb_any", [0, 0, -1])], "seq")  # (T, N, C2 H/4)
    f = g.op("Relu", [_linear(g, model.proj, seq, "proj")], "f")
    lengths = lengths32 = None
    if w is not None:
        lengths = g.op("Div", [w, g.const("downsample", np.int64(DOWNSAMPLE))], "steps")  # widths // 4
        lengths32 = g.op("Cast", [lengths], "lengths32", to=g.onnx.TensorProto.INT32)
    out, _ = _recurrent(g, model.rnn, f, lengths32, dict.fromkeys(model.rnn.kind.states), "rnn.")
    logits = _linear(g, model.head, out, "head")
    g.output(g.op("LogSoftmax", [logits], "log_softmax", axis=2), "log_probs", g.elem, ["T", "N", cfg.classes])
    if lengths is not None:
        g.output(lengths, "lengths", g.onnx.TensorProto.INT64, ["N"])
    return (
        "CRNN: log_probs, lengths = f(images, widths); lengths = widths // 4"
        if widths
        else "CRNN: log_probs = f(images), every image read across its whole width"
    )


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
    layers and Sequentials that hold one), and for a CRNN a `widths` (N,) int64 input (see
    `export_crnn`). `metadata` goes into the model's metadata_props (e.g. the vocabulary a
    runtime needs to turn ids back into text).
    """
    if isinstance(module, CharLM) and lengths:
        raise ValueError("the char-LM graph has no lengths input: it steps all rows together")
    if isinstance(module, CRNN):
        return export_crnn(module, path, widths=lengths, metadata=metadata)
    if isinstance(module, Sequential) and len(module) == 0:
        raise ValueError("cannot export an empty Sequential")
    if not isinstance(module, (CharLM, RecurrentLayer, Sequential, Linear, Embedding, Conv2d, MaxPool2d)):
        raise TypeError(
            "ONNX export knows recurrent layers (RNN, LSTM, GRU), CharLM, CRNN, Sequential, Linear, Embedding, "
            f"Conv2d and MaxPool2d (Flatten inside a Sequential); got {type(module).__name__}"
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


def export_crnn(model: CRNN, path=None, *, widths: bool = True, metadata: dict[str, str] | None = None):
    """The OCR model (rnnlab.models.ocr.CRNN) as one ONNX graph, checked with onnx.checker; written
    to `path` when given. What `rnnlab fit ocr` (or anyone) calls to deploy a trained CRNN.

        images (N, 1, H, W) float32 [, widths (N,) int64] -> log_probs (T, N, K + 1) [, lengths (N,) int64]

    N and W are free (T = W // 4); H is the model's `config.height`. Conv + Relu + MaxPool twice,
    Transpose + Reshape (column t -> step t), MatMul + Add + Relu, one bidirectional ONNX LSTM per
    stacked layer, MatMul + Add, LogSoftmax.

    widths=True (the default): a `widths` input, each image's width in pixels (in [4, W], not
    checked by the graph), with CRNN.forward's meaning: the image and both conv blocks' outputs
    are zeroed right of each width, the LSTM reads `lengths` = widths // 4 steps (the operator's
    sequence_lens; its reverse direction starts at each line's last column), log_probs past a
    line's length are those of a zero LSTM output, and `lengths` is an output, the steps a CTC
    decoder reads. widths=False: no such input or output, every image is read across its whole
    width W (CRNN.forward with widths=None); pad shorter lines with zeros (the background).

    The metadata holds `alphabet` (class k >= 1 is alphabet[k - 1], class 0 the blank) and the
    model's `config` as JSON, besides any `metadata` given.
    """
    import json
    from dataclasses import asdict

    if not isinstance(model, CRNN):
        raise TypeError(f"export_crnn exports a rnnlab.models.ocr.CRNN, got {type(model).__name__}")
    g = _Graph()
    doc = _export_crnn(g, model, widths)
    meta = {"alphabet": model.config.alphabet, "config": json.dumps(asdict(model.config))} | (metadata or {})
    onnx_model = g.model(f"rnnlab {__version__} {doc}", meta)
    if path is not None:
        Path(path).write_bytes(onnx_model.SerializeToString())
    return onnx_model


def crnn_difference(model: CRNN, onnx_model, images: np.ndarray, widths: np.ndarray | None = None) -> float:
    """The largest |difference| between rnnlab's CRNN log_probs (eval mode) and those of its exported
    graph `onnx_model` (a ModelProto or file) on onnxruntime, for `images` (N, 1, H, W) and, when the
    graph has a widths input, `widths` (N,) (None: every image's full width)."""
    images = np.asarray(images, np.float32)
    feeds = {"images": images}
    source = onnx_model if hasattr(onnx_model, "graph") else _onnx().load(str(onnx_model))
    if any(i.name == "widths" for i in source.graph.input):
        feeds["widths"] = np.full(len(images), images.shape[3], np.int64) if widths is None else np.asarray(widths)
    elif widths is not None:
        raise ValueError("this graph has no widths input (exported with widths=False): pass widths=None")
    with model.evaluating():
        log_probs, lengths = model.forward(images, widths)
    model.tape = None
    got = run_onnxruntime(source, {k: v.astype(np.int64) if k == "widths" else v for k, v in feeds.items()})
    if "lengths" in got and not np.array_equal(got["lengths"], lengths):
        return float("inf")
    return float(np.abs(got["log_probs"] - log_probs).max())


def signature(model) -> str:
    """The graph's inputs and outputs as one line: 'ids [T, B] int64, h0 [2, B, 64] float32 -> ...'."""
    onnx = _onnx()

    def describe(v):
        t = v.type.tensor_type
        dims = ", ".join(d.dim_param or (str(d.dim_value) if d.HasField("dim_value") else "?") for d in t.shape.dim)
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
