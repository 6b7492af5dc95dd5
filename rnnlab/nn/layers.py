"""Feed-forward pieces around the recurrent layers: Linear, Embedding, Dropout, Sequential, and the
sequence poolings LastStep and MeanPool that turn (T, B, F) into (B, F) for many-to-one models.

Each module keeps what its backward needs from the last forward in `m.tape` (backward before any
forward is a ValueError), adds parameter gradients into `p.grad` and returns the input gradient.
Constructor arguments, parameter names and default initialisations are those of `torch.nn`.

Linear, y = x W^T + b, over any leading dims (rows r of the flattened x):
    y[r] = x[r] @ W.T + b                                  (1)
    dx[r] = dy[r] @ W                                      (1)
    dW = sum_r dy[r]^T x[r] = dY^T X,   db = sum_r dy[r]    (1)   one GEMM and one sum

Embedding, a row lookup, y[n] = W[ids[n]]                  (2)
    dW[v] = sum over n with ids[n] == v of dy[n]          (2)   (none for v == padding_idx)

Dropout (inverted), keep ~ Bernoulli(1 - p) per element:
    y = x * keep / (1 - p)          (training)             (3)
    y = x                           (eval)                 (3)
    dx = dy * keep / (1 - p)                               (3)

Pooling over the valid steps t < L_b of each sequence b (L_b = lengths[b], or T):
    LastStep: y[b] = x[L_b - 1, b]                         (4)
              dx[L_b - 1, b] = dy[b], zero elsewhere        (4)
    MeanPool: y[b] = (1 / L_b) sum_{t < L_b} x[t, b]       (5)
              dx[t, b] = dy[b] / L_b for t < L_b, else 0    (5)
"""

from __future__ import annotations

import inspect

import numpy as np

from .core import (
    FLOAT_DTYPES,
    Module,
    as_float_array,
    check_dtype,
    check_lengths,
    check_shape,
    positive_int,
    uniform_init,
)


def _float_input(name: str, value, dtype=None, ndims: tuple[int, ...] | None = None) -> np.ndarray:
    """`value` as a finite float32/float64 array; of `dtype` when given, else of its own dtype."""
    a = np.asarray(value)
    if dtype is None:
        if a.dtype not in FLOAT_DTYPES:
            raise TypeError(f"{name} must be a float32 or float64 array, got dtype {a.dtype}")
        dtype = a.dtype
    if a.ndim == 0 and ndims is None:
        raise ValueError(f"{name} must have at least one dimension, got a scalar")
    return as_float_array(name, a, dtype, ndims if ndims is not None else (a.ndim,))


def _no_tape(module: Module):
    if module.tape is None:
        raise ValueError(
            f"{type(module).__name__}.backward() needs a forward() first: it differentiates the last forward pass"
        )
    return module.tape


class Linear(Module):
    """y = x W^T + b as torch.nn.Linear: weight (out_features, in_features), bias (out_features,),
    both initialised U(-1/sqrt(in_features), 1/sqrt(in_features)).

    x has any leading dims, (..., in_features) -> (..., out_features), so one Linear applies to
    every step of a (T, B, H) sequence at once: one GEMM over the T*B rows.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        *,
        dtype=np.float32,
        rng: np.random.Generator | None = None,
    ):
        super().__init__()
        self.in_features = positive_int("in_features", in_features)
        self.out_features = positive_int("out_features", out_features)
        self.dtype = check_dtype(dtype)
        self.rng = rng if rng is not None else np.random.default_rng()
        bound = 1.0 / np.sqrt(self.in_features)
        self.weight = self.add_param(
            "weight", uniform_init(self.rng, (self.out_features, self.in_features), bound, self.dtype)
        )
        self.bias = (
            self.add_param("bias", uniform_init(self.rng, (self.out_features,), bound, self.dtype)) if bias else None
        )
        self.tape = None

    def __repr__(self) -> str:
        return f"Linear({self.in_features}, {self.out_features}, bias={self.bias is not None}, dtype={self.dtype})"

    def forward(self, x) -> np.ndarray:
        """x (..., in_features) -> y (..., out_features)."""
        x = _float_input("x", x, self.dtype)
        if x.shape[-1] != self.in_features:
            raise ValueError(f"x has shape {x.shape}, expected (..., in_features={self.in_features})")
        X = x.reshape(-1, self.in_features)
        Y = X @ self.weight.data.T  # (1)
        if self.bias is not None:
            Y += self.bias.data  # (1)
        self.tape = (X, x.shape)
        return Y.reshape(x.shape[:-1] + (self.out_features,))

    def backward(self, dout) -> np.ndarray:
        """dout (..., out_features), the shape of y -> dx (..., in_features); adds dW, db."""
        X, x_shape = _no_tape(self)
        dout = _float_input("dout", dout, self.dtype)
        check_shape("dout", dout, x_shape[:-1] + (self.out_features,), "the shape of y")
        dY = dout.reshape(-1, self.out_features)
        self.weight.grad += dY.T @ X  # (1)
        if self.bias is not None:
            self.bias.grad += dY.sum(axis=0)  # (1)
        return (dY @ self.weight.data).reshape(x_shape)  # (1)


class Embedding(Module):
    """A lookup table as torch.nn.Embedding: weight (num_embeddings, embedding_dim) ~ N(0, 1).

    With `padding_idx` (negative counts from the end, as in torch) that row starts at zero and
    never receives a gradient, so padded positions stay constant through training.
    """

    def __init__(
        self,
        num_embeddings: int,
        embedding_dim: int,
        padding_idx: int | None = None,
        *,
        dtype=np.float32,
        rng: np.random.Generator | None = None,
    ):
        super().__init__()
        self.num_embeddings = positive_int("num_embeddings", num_embeddings)
        self.embedding_dim = positive_int("embedding_dim", embedding_dim)
        if padding_idx is not None:
            n = self.num_embeddings
            if (
                isinstance(padding_idx, bool)
                or not isinstance(padding_idx, (int, np.integer))
                or not -n <= padding_idx < n
            ):
                raise ValueError(f"padding_idx must be an integer in [{-n}, {n}), got {padding_idx!r}")
            padding_idx = int(padding_idx) % n
        self.padding_idx = padding_idx
        self.dtype = check_dtype(dtype)
        self.rng = rng if rng is not None else np.random.default_rng()
        data = self.rng.standard_normal((self.num_embeddings, self.embedding_dim), dtype=self.dtype)
        if padding_idx is not None:
            data[padding_idx] = 0
        self.weight = self.add_param("weight", data)
        self.tape = None

    def __repr__(self) -> str:
        pad = "" if self.padding_idx is None else f", padding_idx={self.padding_idx}"
        return f"Embedding({self.num_embeddings}, {self.embedding_dim}{pad}, dtype={self.dtype})"

    def forward(self, ids) -> np.ndarray:
        """ids: integers in [0, num_embeddings) of any shape -> (*ids.shape, embedding_dim)."""
        ids = np.asarray(ids)
        if ids.dtype.kind not in "iu":
            raise TypeError(f"ids must be an integer array (token indices), got dtype {ids.dtype}")
        flat = ids.reshape(-1)
        if flat.size:
            lo, hi = flat.min(), flat.max()
            if lo < 0 or hi >= self.num_embeddings:
                bad = lo if lo < 0 else hi
                raise ValueError(f"ids must lie in [0, {self.num_embeddings}) (num_embeddings), got {bad}")
        self.tape = (flat, ids.shape)
        return np.take(self.weight.data, flat, axis=0).reshape(ids.shape + (self.embedding_dim,))  # (2)

    def backward(self, dout) -> None:
        """dout (*ids.shape, embedding_dim): adds each position's row into weight.grad; returns
        None (ids are not differentiable).

        Sorting the positions by id and summing each run with one `np.add.reduceat` scatters
        every row once, where `np.add.at` takes the positions one at a time (unbuffered).
        """
        flat, ids_shape = _no_tape(self)
        dout = _float_input("dout", dout, self.dtype)
        check_shape("dout", dout, ids_shape + (self.embedding_dim,), "the shape of the output")
        if flat.size == 0:
            return None
        order = np.argsort(flat, kind="stable")
        ids_sorted = flat[order]
        starts = np.flatnonzero(np.r_[True, ids_sorted[1:] != ids_sorted[:-1]])
        rows = ids_sorted[starts]  # each used id once
        sums = np.add.reduceat(dout.reshape(-1, self.embedding_dim)[order], starts, axis=0)  # (2)
        if self.padding_idx is not None:
            keep = rows != self.padding_idx
            rows, sums = rows[keep], sums[keep]
        self.weight.grad[rows] += sums  # rows are distinct
        return None


class Dropout(Module):
    """Inverted dropout as torch.nn.Dropout: in training mode each element is zeroed with
    probability p and the rest scaled by 1/(1 - p), so eval mode is the identity (3).

    The masks come from `rng` (a np.random.Generator; the same seed gives the same masks).
    The input keeps its dtype (float32 or float64).
    """

    def __init__(self, p: float = 0.5, *, rng: np.random.Generator | None = None):
        super().__init__()
        if isinstance(p, bool) or not isinstance(p, (int, float, np.floating, np.integer)) or not 0 <= p <= 1:
            raise ValueError(f"p (the probability of zeroing an element) must be in [0, 1], got {p!r}")
        self.p = float(p)
        self.rng = rng if rng is not None else np.random.default_rng()
        self.tape = None

    def __repr__(self) -> str:
        return f"Dropout(p={self.p})"

    def forward(self, x) -> np.ndarray:
        """x of any shape -> the same shape; masks are drawn only in training mode with p > 0."""
        x = _float_input("x", x, ndims=(np.ndim(x),))
        if not self.training or self.p == 0:
            self.tape = (None, x.shape, x.dtype)
            return x  # (3) identity
        if self.p == 1:
            mask = np.zeros(x.shape, x.dtype)
        else:
            mask = (self.rng.random(x.shape, dtype=x.dtype) >= self.p).astype(x.dtype)
            mask *= x.dtype.type(1.0 / (1.0 - self.p))
        self.tape = (mask, x.shape, x.dtype)
        return x * mask  # (3)

    def backward(self, dout) -> np.ndarray:
        """dout (the shape of x) -> dx, through the mask of the last forward."""
        mask, x_shape, dtype = _no_tape(self)
        dout = _float_input("dout", dout, dtype, ndims=(len(x_shape),))
        check_shape("dout", dout, x_shape, "the shape of x")
        return dout if mask is None else dout * mask  # (3)


def _takes_lengths(module: Module) -> bool:
    try:
        return "lengths" in inspect.signature(module.forward).parameters
    except (TypeError, ValueError):
        return False


class Sequential(Module):
    """Modules applied in order, as torch.nn.Sequential: children named "0", "1", ... so that
    parameters are named "0.weight", "1.weight_ih_l0", ...

    forward(x, lengths=None) feeds each child's output to the next; a child returning a tuple (a
    recurrent layer's (out, h_n)) passes on its first element only, so a recurrent layer runs
    from the zero state and its h_n is not returned. `lengths` is handed to every child whose
    forward takes a `lengths` argument (recurrent layers, LastStep, MeanPool). backward(dout)
    runs the children's backwards in reverse, taking the first element of a tuple (dx of
    (dx, dh0)); it returns None when the first child is an Embedding.
    """

    def __init__(self, *modules: Module):
        super().__init__()
        for k, m in enumerate(modules):
            if not isinstance(m, Module):
                raise TypeError(f"Sequential takes modules, got {type(m).__name__} at position {k}")
            self.add_module(str(k), m)
        self._lengths_takers = tuple(_takes_lengths(m) for m in modules)
        self.tape = None

    def __len__(self) -> int:
        return len(self._children)

    def __getitem__(self, k: int) -> Module:
        return list(self._children.values())[k]

    def __iter__(self):
        return iter(self._children.values())

    def __repr__(self) -> str:
        inner = "".join(f"\n  ({name}): {m!r}" for name, m in self._children.items())
        return f"Sequential({inner}\n)"

    def forward(self, x, lengths=None):
        """x as the first child takes it -> what the last child returns (first element of a tuple)."""
        if lengths is not None and not any(self._lengths_takers):
            raise ValueError("lengths was given but no module in this Sequential takes lengths")
        for m, takes in zip(self._children.values(), self._lengths_takers):
            x = m.forward(x, lengths=lengths) if takes and lengths is not None else m.forward(x)
            if isinstance(x, tuple):
                x = x[0]
        self.tape = True
        return x

    def backward(self, dout):
        """dout (the shape of the output) -> dx, the first child's input gradient (or None)."""
        _no_tape(self)
        children = list(self._children.items())
        for k in range(len(children) - 1, -1, -1):
            name, m = children[k]
            dout = m.backward(dout)
            if isinstance(dout, tuple):
                dout = dout[0]
            if dout is None and k > 0:
                raise ValueError(
                    f"module {name} ({type(m).__name__}) returned no input gradient, "
                    "so the modules before it cannot be differentiated; only the first "
                    "module may take non-differentiable input such as token ids"
                )
        return dout


def _pool_input(module: Module, x, lengths) -> tuple[np.ndarray, np.ndarray | None, int, int]:
    """x as a (T, B, F) float view (time-major) and lengths as (B,) integers in 1..T, or None."""
    x = _float_input("x", x, ndims=(3,))
    T, B = (x.shape[1], x.shape[0]) if module.batch_first else x.shape[:2]
    if T == 0 or B == 0:
        layout = "(B, T, F)" if module.batch_first else "(T, B, F)"
        raise ValueError(f"x has shape {x.shape}, expected {layout} with T >= 1 and B >= 1")
    xt = x.transpose(1, 0, 2) if module.batch_first else x
    if lengths is None:
        return xt, None, T, B
    return xt, check_lengths(lengths, T, B), T, B


def _pool_dx(module: Module, dxt: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(dxt.transpose(1, 0, 2)) if module.batch_first else dxt


class LastStep(Module):
    """The output at each sequence's last valid step (4): x (T, B, F), or (B, T, F) if
    batch_first, -> (B, F); with lengths (B,) (1..T, any order) step lengths[b] - 1, else T - 1.

    For a bidirectional layer's output the reverse half of the last step has seen one token only;
    pool its h_n, or use MeanPool, when both directions should summarise the whole sequence.
    """

    def __init__(self, batch_first: bool = False):
        super().__init__()
        self.batch_first = bool(batch_first)
        self.tape = None

    def __repr__(self) -> str:
        return f"LastStep(batch_first={self.batch_first})"

    def forward(self, x, lengths=None) -> np.ndarray:
        xt, lengths, T, B = _pool_input(self, x, lengths)
        last = np.full(B, T - 1, np.intp) if lengths is None else lengths - 1
        self.tape = (last, xt.shape, xt.dtype)
        return xt[last, np.arange(B)]  # (4)

    def backward(self, dout) -> np.ndarray:
        """dout (B, F) -> dx, the shape of x, zero except at each sequence's last valid step."""
        last, (T, B, F), dtype = _no_tape(self)
        dout = _float_input("dout", dout, dtype, ndims=(2,))
        check_shape("dout", dout, (B, F), "(B, F), the shape of the output")
        dxt = np.zeros((T, B, F), dtype)
        dxt[last, np.arange(B)] = dout  # (4)
        return _pool_dx(self, dxt)


class MeanPool(Module):
    """The mean over each sequence's valid steps (5): x (T, B, F), or (B, T, F) if batch_first,
    -> (B, F); with lengths (B,) (1..T, any order) the first lengths[b] steps, else all T."""

    def __init__(self, batch_first: bool = False):
        super().__init__()
        self.batch_first = bool(batch_first)
        self.tape = None

    def __repr__(self) -> str:
        return f"MeanPool(batch_first={self.batch_first})"

    def forward(self, x, lengths=None) -> np.ndarray:
        xt, lengths, T, B = _pool_input(self, x, lengths)
        if lengths is None:
            w = np.full((T, B), 1.0 / T, xt.dtype)
        else:  # w[t, b] = [t < L_b] / L_b
            w = (np.arange(T)[:, None] < lengths[None, :]) / lengths[None, :].astype(xt.dtype)
            w = w.astype(xt.dtype, copy=False)
        self.tape = (w, xt.shape, xt.dtype)
        return np.einsum("tb,tbf->bf", w, xt)  # (5)

    def backward(self, dout) -> np.ndarray:
        """dout (B, F) -> dx, the shape of x: dout[b] / L_b at valid steps, zero at padded ones."""
        w, (T, B, F), dtype = _no_tape(self)
        dout = _float_input("dout", dout, dtype, ndims=(2,))
        check_shape("dout", dout, (B, F), "(B, F), the shape of the output")
        return _pool_dx(self, w[:, :, None] * dout[None])  # (5)
