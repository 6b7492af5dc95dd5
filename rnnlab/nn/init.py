"""Initialisers, in place, from an explicit rng.

The recurrent layers start from PyTorch's default, U(-1/sqrt(H), 1/sqrt(H)) for every weight and
bias. These functions overwrite an array in place (modules keep references to their arrays):

- `uniform_`: U(-bound, bound); `default_bound(H) = 1/sqrt(H)` is PyTorch's choice.
- `xavier_uniform_` (Glorot & Bengio 2010): U(-a, a), a = gain * sqrt(6 / (fan_in + fan_out)),
  keeping the variance of activations and gradients about equal across a layer.
- `orthogonal_` (Saxe et al. 2014): a random orthogonal matrix; every singular value is `gain`,
  so a linear recurrence neither grows nor shrinks a state (the eigenvalue argument of the
  lectures).
- `kaiming_normal_` (He et al. 2015): N(0, 2 / fan_in) for layers before a relu (the readers'
  conv blocks, as Keras' captcha OCR example).
- `identity_` (IRNN, Le et al. 2015): W_hh = scale * I, for ReLU RNNs that start out remembering.
- `forget_gate_bias_` (Gers et al. 2000; Jozefowicz et al. 2015): an LSTM forget bias of 1 keeps
  the cell state flowing at the start of training.

A layer's stacked gate matrices, (G*H, D) with G = 4 for the LSTM and 3 for the GRU, are
initialised gate block by gate block with `blocks=G` (each (H, D) block is its own matrix, as
Keras does for its recurrent kernels); `init_recurrent_` does this for a whole layer or cell.
"""

from __future__ import annotations

import numpy as np

from .core import Module
from .recurrent import RecurrentCell, RecurrentLayer


def default_bound(hidden_size: int) -> float:
    """PyTorch's bound for recurrent weights and biases: 1/sqrt(hidden_size)."""
    return 1.0 / np.sqrt(hidden_size)


def _blocks(a: np.ndarray, blocks: int) -> list[np.ndarray]:
    if a.ndim != 2 or blocks < 1 or a.shape[0] % blocks:
        raise ValueError(
            f"expected a 2-D array whose {a.shape[0] if a.ndim else '?'} rows split into "
            f"{blocks} equal gate blocks, got shape {a.shape}"
        )
    rows = a.shape[0] // blocks
    return [a[k * rows : (k + 1) * rows] for k in range(blocks)]


def uniform_(a: np.ndarray, bound: float, rng: np.random.Generator) -> np.ndarray:
    """a <- U(-bound, bound), in place."""
    a[...] = rng.uniform(-bound, bound, size=a.shape)
    return a


def xavier_uniform_(a: np.ndarray, rng: np.random.Generator, gain: float = 1.0, blocks: int = 1) -> np.ndarray:
    """a <- U(-b, b) with b = gain * sqrt(6 / (fan_in + fan_out)) per gate block, in place."""
    for block in _blocks(a, blocks):
        fan_out, fan_in = block.shape
        uniform_(block, gain * np.sqrt(6.0 / (fan_in + fan_out)), rng)
    return a


def kaiming_normal_(a: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """a <- N(0, 2 / fan_in), in place, fan_in = a[0].size (inputs of a Linear row, C kh kw of a
    conv filter): He et al. 2015's choice for layers followed by relu, keeping the activations'
    second moment from layer to layer. torch.nn.init.kaiming_normal_ (fan_in, relu) as Keras'
    "he_normal" without its truncation."""
    a[...] = rng.normal(0.0, np.sqrt(2.0 / a[0].size), size=a.shape)
    return a


def orthogonal_(a: np.ndarray, rng: np.random.Generator, gain: float = 1.0, blocks: int = 1) -> np.ndarray:
    """a <- gain * Q per gate block, Q with orthonormal rows or columns, in place.

    Q comes from the QR decomposition of a Gaussian matrix with the signs of R's diagonal folded
    in, so that Q is uniformly distributed (Mezzadri 2007), as torch.nn.init.orthogonal_ does.
    """
    for block in _blocks(a, blocks):
        rows, cols = block.shape
        g = rng.standard_normal((max(rows, cols), min(rows, cols)))
        q, r = np.linalg.qr(g)
        q *= np.sign(np.diag(r))
        block[...] = gain * (q if rows >= cols else q.T)
    return a


def identity_(a: np.ndarray, scale: float = 1.0, blocks: int = 1) -> np.ndarray:
    """a <- scale * I per gate block, in place (IRNN: a ReLU RNN that starts by copying its state)."""
    for block in _blocks(a, blocks):
        block[...] = 0
        np.fill_diagonal(block, scale)
    return a


def _cells(module: Module):
    """(suffix, params-by-short-name) for each layer-direction of a recurrent layer or cell."""
    if isinstance(module, RecurrentLayer):
        names = [
            f"_l{layer}" + ("_reverse" if d else "")
            for layer in range(module.num_layers)
            for d in range(module.num_directions)
        ]
        return list(zip(names, (params for layer in module.cells for params in layer)))
    if isinstance(module, RecurrentCell):
        return [("", module.params)]
    raise TypeError(f"expected a recurrent layer or cell (RNN, LSTM, GRU or their cells), got {type(module).__name__}")


def has_forget_gate(module: Module) -> bool:
    """Whether a recurrent layer or cell has a forget gate (its kind has a block named "f")."""
    return isinstance(module, (RecurrentLayer, RecurrentCell)) and "f" in module.kind.blocks


def forget_gate_bias_(module: Module, value: float = 1.0) -> Module:
    """Set the forget-gate bias of an LSTM (any kind with a block "f") to `value`: bias_ih's f
    block to value, bias_hh's to 0, so that their sum, which is what the gate sees, equals value."""
    if not has_forget_gate(module):
        raise TypeError(f"forget_gate_bias_ needs a cell with a forget gate (an LSTM), got {type(module).__name__}")
    H = module.hidden_size
    rows = slice(module.kind.blocks.index("f") * H, (module.kind.blocks.index("f") + 1) * H)
    for _, params in _cells(module):
        if "bias_ih" not in params:
            raise ValueError(f"{type(module).__name__} was built with bias=False: it has no forget-gate bias")
        params["bias_ih"].data[rows] = value
        params["bias_hh"].data[rows] = 0
    return module


def init_recurrent_(
    module: Module,
    rng: np.random.Generator,
    *,
    input_init: str = "xavier",
    hidden_init: str = "orthogonal",
    hidden_scale: float = 1.0,
    bias: float | None = 0.0,
) -> Module:
    """Re-initialise every layer-direction of a recurrent layer or cell, gate block by gate block.

    input_init: "xavier" or "default" (PyTorch's uniform) for weight_ih;
    hidden_init: "orthogonal", "identity" (IRNN) or "default" for weight_hh, times hidden_scale;
    bias: a constant for every bias, or None to keep PyTorch's uniform biases.
    """
    _cells(module)  # a recurrent layer or cell, or a TypeError
    gates, H = len(module.kind.blocks), module.hidden_size
    if input_init not in ("xavier", "default"):
        raise ValueError(f"input_init must be 'xavier' or 'default', got {input_init!r}")
    if hidden_init not in ("orthogonal", "identity", "default"):
        raise ValueError(f"hidden_init must be 'orthogonal', 'identity' or 'default', got {hidden_init!r}")
    for _, params in _cells(module):
        w_ih, w_hh = params["weight_ih"].data, params["weight_hh"].data
        if input_init == "xavier":
            xavier_uniform_(w_ih, rng, blocks=gates)
        else:
            uniform_(w_ih, default_bound(H), rng)
        if hidden_init == "orthogonal":
            orthogonal_(w_hh, rng, gain=hidden_scale, blocks=gates)
        elif hidden_init == "identity":
            identity_(w_hh, hidden_scale, blocks=gates)
        else:
            uniform_(w_hh, hidden_scale * default_bound(H), rng)
        for name in ("bias_ih", "bias_hh"):
            if bias is not None and name in params:
                params[name].data[...] = bias
    return module
