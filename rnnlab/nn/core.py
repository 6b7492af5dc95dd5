"""Parameters, modules and the argument checks every engine piece shares.

A `Param` is a NumPy array with a gradient of the same shape beside it. A `Module` owns named
parameters and child modules and offers PyTorch's vocabulary for them: `named_parameters()`,
`zero_grad()`, `train()`/`eval()`, `state_dict()`/`load_state_dict()`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import numpy as np

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


class NonFiniteError(ValueError):
    """An array that must be finite holds NaN or infinity. Inside a model during training, the
    usual cause is overflow: the run diverging (rnnlab.train's divergence guard counts it)."""


class Param:
    """A trainable array `data` and its accumulated gradient `grad` (same shape and dtype)."""

    __slots__ = ("data", "grad")

    def __init__(self, data: np.ndarray):
        self.data = data
        self.grad = np.zeros_like(data)

    def __repr__(self) -> str:
        return f"Param(shape={self.data.shape}, dtype={self.data.dtype})"


class Module:
    """Base class: named parameters, child modules, train/eval mode, state dicts."""

    def __init__(self) -> None:
        self._params: dict[str, Param] = {}
        self._children: dict[str, Module] = {}
        self.training = True

    def __call__(self, *args, **kwargs):
        """`module(x, ...)` is `module.forward(x, ...)`, as in PyTorch."""
        return self.forward(*args, **kwargs)

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} has no forward()")

    # --- registration -------------------------------------------------------------------------
    def add_param(self, name: str, data: np.ndarray) -> Param:
        p = Param(data)
        self._params[name] = p
        return p

    def add_module(self, name: str, module: Module) -> Module:
        self._children[name] = module
        return module

    # --- PyTorch's vocabulary -----------------------------------------------------------------
    def named_parameters(self, prefix: str = "") -> Iterator[tuple[str, Param]]:
        for name, p in self._params.items():
            yield prefix + name, p
        for child_name, child in self._children.items():
            yield from child.named_parameters(prefix + child_name + ".")

    def modules(self) -> Iterator[Module]:
        """This module and every module inside it, depth first, as torch's `modules()`."""
        yield self
        for child in self._children.values():
            yield from child.modules()

    def parameters(self) -> Iterator[Param]:
        for _, p in self.named_parameters():
            yield p

    def zero_grad(self) -> None:
        for p in self.parameters():
            p.grad.fill(0)

    def train(self, mode: bool = True) -> Module:
        self.training = mode
        for child in self._children.values():
            child.train(mode)
        return self

    def eval(self) -> Module:
        return self.train(False)

    @contextmanager
    def evaluating(self) -> Iterator[Module]:
        """Eval mode (dropout off) inside the block, the previous mode restored after it:
        `with model.evaluating(): scores = model(x)`."""
        was = self.training
        self.eval()
        try:
            yield self
        finally:
            self.train(was)

    def state_dict(self) -> dict[str, np.ndarray]:
        """Copies of every parameter under its PyTorch name."""
        return {name: p.data.copy() for name, p in self.named_parameters()}

    def load_state_dict(self, state: Mapping[str, np.ndarray]) -> None:
        """Copy `state` into the parameters after checking every name, shape and dtype.

        Everything is checked before anything is written, so a failed load changes nothing.
        A PyTorch state_dict converted with `{k: v.numpy() for k, v in sd.items()}` loads as is.
        """
        params = dict(self.named_parameters())
        missing = sorted(set(params) - set(state))
        unexpected = sorted(set(state) - set(params))
        if missing or unexpected:
            raise KeyError(
                f"state dict does not match the module: missing {missing or 'none'}, unexpected {unexpected or 'none'}"
            )
        arrays = {}
        for name, p in params.items():
            value = state[name]
            if not isinstance(value, np.ndarray):
                raise TypeError(f"state[{name!r}] is a {type(value).__name__}, expected a NumPy array")
            if value.shape != p.data.shape:
                raise ValueError(f"state[{name!r}] has shape {value.shape}, expected {p.data.shape}")
            if value.dtype != p.data.dtype:
                raise TypeError(f"state[{name!r}] has dtype {value.dtype}, expected {p.data.dtype}")
            arrays[name] = value
        for name, p in params.items():
            p.data[...] = arrays[name]


# --- argument checks: they name the argument, the shape received and the shape expected -------
def positive_int(name: str, value) -> int:
    """`value` as an int >= 1, or a ValueError naming the argument."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def check_dtype(dtype) -> np.dtype:
    dt = np.dtype(dtype)
    if dt not in FLOAT_DTYPES:
        raise TypeError(f"dtype must be float32 or float64, got {dt}")
    return dt


def as_float_array(name: str, value, dtype: np.dtype, ndims: tuple[int, ...]) -> np.ndarray:
    """`value` as an array of `dtype` with one of `ndims` dimensions, finite, or a clear error."""
    a = np.asarray(value)
    if a.dtype != dtype:
        if a.dtype.kind != "f":
            raise TypeError(f"{name} must be a floating-point array of {dtype}, got dtype {a.dtype}")
        raise TypeError(
            f"{name} has dtype {a.dtype} but the module computes in {dtype}: "
            f"pass {name}.astype(np.{dtype}) or build the module with dtype=np.{a.dtype}"
        )
    if a.ndim not in ndims:
        expected = " or ".join(f"{n}-D" for n in ndims)
        raise ValueError(f"{name} must be {expected}, got shape {a.shape}")
    # A finite sum proves every element finite (one reduction, the common case); only when the
    # sum is not finite (a NaN, an infinity, or an overflowing sum) is every element looked at.
    if not np.isfinite(np.add.reduce(a, axis=None)) and not np.isfinite(a).all():
        raise NonFiniteError(f"{name} contains NaN or infinity")
    return a


def check_lengths(lengths, T: int, B: int) -> np.ndarray:
    """Per-sequence valid lengths: integers of shape (B,) in 1..T, any order."""
    lengths = np.asarray(lengths)
    if lengths.dtype.kind not in "iu" or lengths.shape != (B,):
        raise ValueError(
            f"lengths must be integers of shape ({B},) (one per sequence), got {lengths.dtype} of shape {lengths.shape}"
        )
    if lengths.min() < 1 or lengths.max() > T:
        raise ValueError(
            f"lengths must lie in 1..{T} (the number of steps in x), got min {lengths.min()} and max {lengths.max()}"
        )
    return lengths.astype(np.intp)


def check_shape(name: str, a: np.ndarray, expected: tuple[int, ...], meaning: str = "") -> None:
    if a.shape != expected:
        hint = f" ({meaning})" if meaning else ""
        raise ValueError(f"{name} has shape {a.shape}, expected {expected}{hint}")


def uniform_init(rng: np.random.Generator, shape: tuple[int, ...], bound: float, dtype) -> np.ndarray:
    """U(-bound, bound): PyTorch's default for recurrent weights and biases, bound = 1/sqrt(H)."""
    return rng.uniform(-bound, bound, size=shape).astype(dtype)
