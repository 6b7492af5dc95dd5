"""A multilayer perceptron: the fixed-size contrast to an RNN, and the deep network of the
vanishing-gradient figures.

    h_0 = x;  a_k = h_{k-1} W_k^T + b_k;  h_k = f(a_k) for hidden k, out = a_K        (1)
    backward: da_K = dout;  dh_{k-1} = da_k W_k;  da_{k-1} = dh_{k-1} * f'(a_{k-1})   (2)

f is tanh (f' = 1 - h^2), sigmoid (h (1 - h)), relu (1 where a > 0) or elu (1 where a > 0, else
h + 1, with alpha = 1), each f' written from what the forward keeps. Its input has exactly
`sizes[0]` features: trained on N bits it has no place for bit N + 1.
"""

from __future__ import annotations

import numpy as np

from ..nn import Linear, Module

# name: (f(a), f'(a, h)) with h = f(a): the derivative from what the forward keeps
ACTIVATIONS = {
    "tanh": (np.tanh, lambda a, h: 1 - h * h),
    "sigmoid": (lambda a: 0.5 + 0.5 * np.tanh(0.5 * a), lambda a, h: h * (1 - h)),
    "relu": (lambda a: np.maximum(a, 0), lambda a, h: (a > 0).astype(a.dtype)),
    "elu": (lambda a: np.where(a > 0, a, np.expm1(np.minimum(a, 0))), lambda a, h: np.where(a > 0, 1, h + 1)),
}


class MLP(Module):
    def __init__(
        self,
        sizes: list[int],
        *,
        activation: str = "tanh",
        dtype=np.float32,
        rng: np.random.Generator | None = None,
    ):
        super().__init__()
        if len(sizes) < 2:
            raise ValueError(f"sizes must list at least the input and output sizes, got {sizes}")
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {', '.join(ACTIVATIONS)}, got {activation!r}")
        self.activation = activation
        rng = rng if rng is not None else np.random.default_rng()
        self.layers = [
            self.add_module(str(k), Linear(a, b, dtype=dtype, rng=rng))
            for k, (a, b) in enumerate(zip(sizes[:-1], sizes[1:]))
        ]
        self.tape = None

    def forward(self, x) -> np.ndarray:
        """x (B, sizes[0]) -> (B, sizes[-1])."""
        f = ACTIVATIONS[self.activation][0]
        tape = []
        for layer in self.layers[:-1]:
            a = layer.forward(x)  # (1)
            x = f(a)  # (1)
            tape.append((a, x))
        self.tape = tape
        return self.layers[-1].forward(x)  # (1)

    def backward(self, dout) -> np.ndarray:
        if self.tape is None:
            raise ValueError("backward() needs a forward() first")
        df = ACTIVATIONS[self.activation][1]
        d = self.layers[-1].backward(dout)  # (2)
        for layer, (a, h) in zip(reversed(self.layers[:-1]), reversed(self.tape)):
            d = layer.backward(d * df(a, h))  # (2)
        return d
