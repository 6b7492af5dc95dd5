"""The cell kinds: one module each (its equations, its NumPy step, its description as a `CellKind`)
and, beside it, its compiled kernels (<kind>_compiled.py). `get(name)` finds a registered kind."""

# Each module registers its kind on import; the order is the order `--model` lists them.
# isort: off
from . import lstm, gru, rnn  # noqa: F401

# isort: on
from .kind import CellKind, OnnxOperator, TorchCounterpart, get, names, register

__all__ = ["CellKind", "OnnxOperator", "TorchCounterpart", "get", "names", "register"]
