"""The cell kinds: one module each (its equations, its NumPy step, its description as a `CellKind`)
and, beside it, its compiled kernels (<kind>_compiled.py). `get(name)` finds a registered kind."""

from . import gru, lstm, rnn  # noqa: F401  (each registers its kind)
from .kind import CellKind, OnnxOperator, TorchCounterpart, get, names, register

__all__ = ["CellKind", "OnnxOperator", "TorchCounterpart", "get", "names", "register"]
