"""A multilayer perceptron with tanh hidden layers: the fixed-size contrast to an RNN.

    h_0 = x;  a_k = h_{k-1} W_k^T + b_k;  h_k = tanh(a_k) for hidden k, out = a_K     (1)
    backward: da_K = dout;  dh_{k-1} = da_k W_k;  da_{k-1} = dh_{k-1} * (1 - h_{k-1}^2) (1)

Its input has exactly `sizes[0]` features: trained on N bits it has no place for bit N + 1.
"""

from __future__ import annotations

import numpy as np

from ..nn import Linear, Module


class MLP(Module):
    def __init__(self, sizes: list[int], *, dtype=np.float32, rng: np.random.Generator | None = None):
        super().__init__()
        if len(sizes) < 2:
            raise ValueError(f"sizes must list at least the input and output sizes, got {sizes}")
        rng = rng if rng is not None else np.random.default_rng()
        self.layers = [
            self.add_module(str(k), Linear(a, b, dtype=dtype, rng=rng))
            for k, (a, b) in enumerate(zip(sizes[:-1], sizes[1:]))
        ]
        self.tape = None

    def forward(self, x) -> np.ndarray:
        """x (B, sizes[0]) -> (B, sizes[-1])."""
        hidden = []
        for layer in self.layers[:-1]:
            x = np.tanh(layer.forward(x))  # (1)
            hidden.append(x)
        self.tape = hidden
        return self.layers[-1].forward(x)  # (1)

    def backward(self, dout) -> np.ndarray:
        if self.tape is None:
            raise ValueError("backward() needs a forward() first")
        d = self.layers[-1].backward(dout)
        for layer, h in zip(reversed(self.layers[:-1]), reversed(self.tape)):
            d = layer.backward(d * (1 - h * h))  # (1)
        return d
