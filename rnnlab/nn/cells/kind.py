"""A cell kind: everything that makes one recurrent cell different from another, in one object.

The layers (recurrent.py), the stepper, the analysis and the interop never ask "is this an LSTM?";
they ask the layer's `kind`. A kind is a `CellKind` subclass in its own module (cells/<name>.py,
its compiled kernels in cells/<name>_compiled.py), registered once by name:

| what                                    | the kind's                                        |
|-----------------------------------------|---------------------------------------------------|
| its name and title                      | `name` ("lstm", what configs and --model say), `title` |
| row blocks of weight_ih and weight_hh   | `blocks`, in order: ("i", "f", "g", "o")           |
| which blocks are sigmoid gates          | `gates`: ("i", "f", "o"); a block named "f" is a forget gate |
| the state                               | `states`: ("h",), or ("h", "c") for an LSTM         |
| options beyond torch's arguments        | `options` (name -> default), `check_options`       |
| parameter names and shapes              | `parameter_shapes`                                 |
| which biases fold into the projection   | `input_bias`                                       |
| one step forward and backward, NumPy    | `run`, a `sequence.SequenceRun` subclass: the reference |
| the same with compiled kernels          | `compiled_run` ("module:Class"), used by backend="compiled" |
| one fused generation step               | `compiled_step` ("module:Class"), used by the stepper |
| the step Jacobian dstate_t/dstate_{t-1} | `step_jacobian` (by default exact, from the cell's own backward) |
| what `record=True` keeps                | `recorded`, the names; the run's `gate_records()`  |
| the PyTorch counterpart                 | `torch_counterpart`, or a ValueError saying why there is none |
| the ONNX operator                       | `onnx_operator`, or a ValueError saying why there is none |

Adding a kind is one module with a `CellKind` subclass, its `SequenceRun` subclass and
`register(MyKind())`: docs/architecture.md has the recipe, tests/test_nn_cell_kinds.py a toy kind.
"""

from __future__ import annotations

import functools
import importlib
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..core import Param


@dataclass(frozen=True)
class TorchCounterpart:
    """The torch.nn classes that compute what a kind computes with the given options."""

    layer: str  # the torch.nn class of a whole layer, e.g. "LSTM"
    cell: str  # ... and of one step, e.g. "LSTMCell"
    kwargs: dict  # constructor arguments besides the sizes, e.g. {"nonlinearity": "relu"}


@dataclass(frozen=True)
class OnnxOperator:
    """How a kind maps onto one of ONNX's recurrent operators (RNN, LSTM, GRU)."""

    op_type: str  # "RNN", "LSTM" or "GRU"
    gate_order: tuple[int, ...]  # the kind's row blocks in the operator's order
    attributes: dict  # operator attributes besides hidden_size and direction
    peepholes: tuple[str, ...] = ()  # parameter names that form the P input, in the operator's order


class CellKind:
    """The description of one kind of recurrent cell (see the module docstring)."""

    name: ClassVar[str]
    title: ClassVar[str]
    blocks: ClassVar[tuple[str, ...]]
    gates: ClassVar[tuple[str, ...]] = ()
    states: ClassVar[tuple[str, ...]] = ("h",)
    recorded: ClassVar[tuple[str, ...]] = ("h",)  # what forward(record=True) keeps per step
    options: ClassVar[dict[str, object]] = {}
    run: ClassVar[type]  # the NumPy SequenceRun subclass
    compiled_run: ClassVar[str | None] = None  # "module:Class" of the compiled SequenceRun
    compiled_step: ClassVar[str | None] = None  # "module:Class" of the fused generation step

    def __repr__(self) -> str:
        return f"<cell kind {self.name!r}: {self.title}>"

    # --- options and parameters ---------------------------------------------------------------
    def check_options(self, given: dict) -> dict:
        """Every option of this kind, defaults filled in and values checked; unknown names refused."""
        unknown = sorted(set(given) - set(self.options))
        if unknown:
            takes = f"its options are {', '.join(self.options)}" if self.options else "it has no options"
            raise TypeError(f"{self.title} takes no option {', '.join(unknown)} ({takes})")
        options = dict(self.options) | dict(given)
        self.validate_options(options)
        return options

    def validate_options(self, options: dict) -> None:
        """Raise a ValueError naming the option whose value is wrong (a kind with options overrides)."""

    def parameter_shapes(self, input_size: int, hidden_size: int, bias: bool, options: dict) -> dict:
        """{short name: shape}, in the order the parameters are created (and initialised)."""
        rows = len(self.blocks) * hidden_size
        shapes = {"weight_ih": (rows, input_size), "weight_hh": (rows, hidden_size)}
        if bias:
            shapes |= {"bias_ih": (rows,), "bias_hh": (rows,)}
        return shapes

    def input_bias(self, params: dict[str, Param], options: dict) -> np.ndarray | None:
        """The bias added to every step's input projection zx = W_ih x (+ this); None: no bias.
        Both biases by default: they only ever appear as their sum."""
        if "bias_ih" not in params:
            return None
        return params["bias_ih"].data + params["bias_hh"].data

    # --- implementations ----------------------------------------------------------------------
    @property
    def has_kernels(self) -> bool:
        return self.compiled_run is not None

    def run_class(self, backend: str) -> type:
        """The SequenceRun subclass of `backend` ("numpy" or "compiled")."""
        return _load(self.compiled_run) if backend == "compiled" else self.run

    def fused_step(self, params: dict[str, Param], options: dict, dtype) -> object | None:
        """The compiled one-step object the stepper uses, or None (the stepper then runs forward)."""
        return None if self.compiled_step is None else _load(self.compiled_step)(params, options, dtype)

    # --- analysis -----------------------------------------------------------------------------
    def step_jacobian(
        self, params: dict[str, Param], options: dict, x: np.ndarray, prev: tuple, rec: dict, full: bool
    ) -> np.ndarray:
        """J_t = d state_t / d state_{t-1} at every step, (T, B, n, n): the h -> h block (n = H), or
        with `full` the whole state (n = H * len(states), h first), numerator layout.

        x (T, B, D): the step inputs; prev: the states each step started from, one (T, B, H) array
        per state; rec: what forward(record=True) kept ((T, B, H) arrays). float64.

        This default is exact for any kind and needs no formula: backward of one step with the
        unit vector e_i as the gradient of the new state gives row i of J (dprev = J^T e_i), and
        all rows of all sequences go through the cell's own backward at once, one column each.
        The built-in kinds override it with their closed forms; the tests hold both together.
        """
        T, B, _ = x.shape
        H = prev[0].shape[-1]
        parts = len(self.states) if full else 1
        n = parts * H
        cols = B * n
        seeds = np.tile(np.eye(n), B)  # (n, B*n): column b*n + i seeds output i of sequence b
        J = np.empty((T, B, n, n))
        for t in range(T):
            S = np.empty((H, 3, cols))
            run = self.run(self, params, options, np.repeat(x[t].T, n, axis=1), S, 1, cols, False, None)
            run.forward(tuple(np.repeat(p[t].T, n, axis=1) for p in prev))
            dstate = [
                seeds[k * H : (k + 1) * H].copy() if k < parts else np.zeros((H, cols)) for k in range(len(self.states))
            ]
            dprev = run.backward(np.zeros((H, 1, cols)), dstate)
            for k in range(parts):
                J[t, :, :, k * H : (k + 1) * H] = dprev[k].T.reshape(B, n, H)
        return J

    # --- interop ------------------------------------------------------------------------------
    def torch_counterpart(self, options: dict) -> TorchCounterpart:
        """The torch.nn classes for these options, or a ValueError that says why there are none."""
        raise ValueError(f"{self.title} has no PyTorch counterpart")

    def options_from_torch(self, torch_module) -> dict:
        """This kind's options as a torch.nn module of its counterpart has them."""
        return {}

    def onnx_operator(self, options: dict, num_directions: int) -> OnnxOperator:
        """The ONNX operator for these options, or a ValueError that says why there is none."""
        raise ValueError(f"{self.title} has no ONNX operator")


def diagonal_matrices(v: np.ndarray) -> np.ndarray:
    """(..., H) -> (..., H, H): each vector as a diagonal matrix (for the Jacobians' formulas)."""
    out = np.zeros(v.shape + v.shape[-1:], v.dtype)
    idx = np.arange(v.shape[-1])
    out[..., idx, idx] = v
    return out


# --- the registry ---------------------------------------------------------------------------------
_KINDS: dict[str, CellKind] = {}


def register(kind: CellKind) -> CellKind:
    """Make `kind` known by its name (configs, --model, `RecurrentLayer(cell=NAME)`)."""
    if not isinstance(kind, CellKind):
        raise TypeError(f"register takes a CellKind instance, got {type(kind).__name__}")
    if kind.name in _KINDS and type(_KINDS[kind.name]) is not type(kind):
        raise ValueError(f"a cell kind named {kind.name!r} is registered already ({_KINDS[kind.name]!r})")
    _KINDS[kind.name] = kind
    return kind


def get(cell: str | CellKind) -> CellKind:
    """The registered kind of that name (a CellKind is returned as it is)."""
    if isinstance(cell, CellKind):
        return cell
    if cell not in _KINDS:
        raise ValueError(f"unknown cell {cell!r}; choose one of {', '.join(_KINDS)}")
    return _KINDS[cell]


def names() -> list[str]:
    """The registered kinds' names, in registration order."""
    return list(_KINDS)


@functools.cache  # else importlib's lookup is paid again by every forward pass
def _load(path: str):
    """The object "package.module:Name" names (compiled code is imported only when it runs)."""
    module, _, attr = path.partition(":")
    return getattr(importlib.import_module(module), attr)
