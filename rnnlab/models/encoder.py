"""The recurrent trunk shared by the classifier, the tagger and the forecaster, and their common
base (`EncoderWithHead`: this trunk with a Linear head).

    x: token ids (T, B) --Embedding--> (T, B, E)  or  features (T, B, input_size)
      --RNN/LSTM/GRU/IRNN, L layers, one or two directions--> out (T, B, D*H)
                                                              last (B, D*H)

`last` is the last layer's final state of each direction, concatenated: the forward direction at
each sequence's last valid step and the reverse direction at step 0, so with two directions both
halves have read the whole sequence (a LastStep over `out` would give the reverse half after one
token). Backward takes the gradients of both and returns the input gradient (None for ids).

Cells: "lstm", "gru", "rnn" (tanh) and "irnn" (Le, Jaitly & Hinton 2015: ReLU units, recurrent
weights initialised to the identity and biases to zero, so the state starts out copied forward).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from ..nn import Embedding, Linear, Module, cells, recurrent_layer
from ..nn.init import forget_gate_bias_, has_forget_gate, init_recurrent_

# Cells beyond the registered kinds: a kind with options and a starting point of its own.
# IRNN (Le, Jaitly & Hinton 2015): ReLU units, W_hh = I and zero biases at the start.
PRESETS = {"irnn": ("rnn", {"nonlinearity": "relu"})}


def cell_choices() -> list[str]:
    """What `cell` may be: a registered cell kind or a preset."""
    return [*cells.names(), *PRESETS]


@dataclass
class EncoderConfig:
    input_size: int | None = None  # features per step of dense input (give this or vocab_size)
    vocab_size: int | None = None  # token ids as input: an Embedding of this many rows first
    embedding: int = 32  # embedding size (token input only)
    cell: str = "lstm"  # a cell kind, "lstm", "gru", "rnn" (tanh), or "irnn" (ReLU, identity init)
    hidden: int = 64  # hidden units per layer and direction
    layers: int = 1  # stacked recurrent layers
    bidirectional: bool = False  # a second direction reading the sequence backwards
    forget_bias: float = 1.0  # LSTM forget-gate bias at the start (Gers et al. 2000)
    dtype: str = "float32"

    def __post_init__(self):
        if (self.input_size is None) == (self.vocab_size is None):
            raise ValueError(
                "give exactly one of input_size (features per step) and vocab_size "
                f"(token ids), got input_size={self.input_size}, vocab_size={self.vocab_size}"
            )
        if self.cell not in cell_choices():
            raise ValueError(f"cell must be one of {', '.join(cell_choices())}, got {self.cell!r}")
        for name in ("hidden", "layers", "embedding") + (("input_size",) if self.input_size else ("vocab_size",)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")


class SequenceEncoder(Module):
    r"""The recurrent trunk: an optional embedding, then L stacked recurrent layers.

    ::

        x: ids (T, B) --Embedding--> (T, B, E)  or  features (T, B, input_size)
          --RNN/LSTM/GRU/IRNN, L layers, D directions--> out (T, B, D*H), last (B, D*H)

    T steps, B sequences (time-major), E = ``config.embedding``, H = ``config.hidden``,
    L = ``config.layers``, D = 2 if ``config.bidirectional`` else 1. ``last`` holds the last
    layer's final state of each direction, forward half first (see the module docstring for why
    it is not ``out[-1]``).

    Args:
        config: an :class:`EncoderConfig`; exactly one of ``input_size`` (dense features) and
            ``vocab_size`` (token ids, read through an ``Embedding``).
        rng: the generator every initial weight is drawn from (embedding first, then the
            recurrent layers).

    Attributes:
        embed: the ``Embedding`` (token input) or None (dense input).
        rnn: the recurrent layer (its parameters are ``rnn.weight_ih_l0``, ... as in PyTorch).
        width: D*H, the features of ``out`` and of ``last``.

    Shapes:
        forward(x, lengths=None) -> (out, last): x ids (T, B) or features (T, B, input_size),
        lengths (B,) valid steps per sequence or None (all T).

        backward(dout, dlast=None) -> dx: dout (T, B, D*H) or None, dlast (B, D*H) or None;
        dx (T, B, input_size), or None for token ids. Parameter gradients accumulate in ``.grad``.

    Example::

        >>> import numpy as np
        >>> from rnnlab.models.encoder import EncoderConfig, SequenceEncoder
        >>> config = EncoderConfig(vocab_size=10, embedding=4, hidden=5, bidirectional=True)
        >>> encoder = SequenceEncoder(config, np.random.default_rng(0))
        >>> ids = np.zeros((7, 3), dtype=int)  # T=7 steps, B=3 sequences
        >>> out, last = encoder(ids, lengths=np.array([7, 4, 1]))
        >>> out.shape, last.shape, encoder.width
        ((7, 3, 10), (3, 10), 10)
        >>> encoder.backward(np.ones_like(out), np.ones_like(last)) is None  # token ids: no dx
        True
    """

    def __init__(self, config: EncoderConfig, rng: np.random.Generator):
        super().__init__()
        self.config = config
        dt = np.dtype(config.dtype)
        self.embed = None
        width = config.input_size
        if config.vocab_size is not None:
            self.embed = self.add_module("embed", Embedding(config.vocab_size, config.embedding, dtype=dt, rng=rng))
            width = config.embedding
        kind, options = PRESETS.get(config.cell, (config.cell, {}))
        self.rnn = self.add_module(
            "rnn",
            recurrent_layer(
                kind,
                width,
                config.hidden,
                config.layers,
                bidirectional=config.bidirectional,
                dtype=dt,
                rng=rng,
                **options,
            ),
        )
        if config.cell in PRESETS:  # the IRNN's start
            init_recurrent_(self.rnn, rng, input_init="default", hidden_init="identity", bias=0.0)
        if has_forget_gate(self.rnn):
            forget_gate_bias_(self.rnn, config.forget_bias)
        self.directions = 2 if config.bidirectional else 1
        self.width = self.directions * config.hidden  # features of out and of last
        self.tape = None

    @property
    def dtype(self) -> np.dtype:
        return self.rnn.dtype

    def forward(self, x, lengths=None) -> tuple[np.ndarray, np.ndarray]:
        """x: ids (T, B) or features (T, B, input_size) -> out (T, B, D*H), last (B, D*H)."""
        if self.embed is not None:
            x = np.asarray(x)
            if x.ndim != 2:
                raise ValueError(f"x has shape {x.shape}, expected token ids of shape (T, B)")
            x = self.embed.forward(x)
        out, h_n = self.rnn.forward(x, lengths=lengths)
        lstm = isinstance(h_n, tuple)
        h = h_n[0] if lstm else h_n  # (L*D, B, H)
        D = self.directions
        last = np.concatenate([h[len(h) - D + k] for k in range(D)], axis=1)
        self.tape = (h.shape, lstm)
        return out, last

    def backward(self, dout, dlast=None):
        """dout (T, B, D*H) or None, dlast (B, D*H) or None -> dx (None for token ids)."""
        if self.tape is None:
            raise ValueError("backward() needs a forward() first")
        shape, lstm = self.tape
        dh_n = np.zeros(shape, self.dtype)
        if dlast is not None:
            H, D = self.config.hidden, self.directions
            for k in range(D):
                dh_n[len(dh_n) - D + k] = dlast[:, k * H : (k + 1) * H]
        dx, _ = self.rnn.backward(dout, (dh_n, np.zeros_like(dh_n)) if lstm else dh_n)
        if self.embed is not None:
            self.embed.backward(dx)
            return None
        return dx


@dataclass
class HeadConfig:
    """What a model with a linear head on the encoder is configured by (classifier, tagger)."""

    outputs: int  # classes, tags or outputs (per sequence or per step)
    encoder: EncoderConfig = field(default_factory=lambda: EncoderConfig(input_size=1))

    def __post_init__(self):
        if isinstance(self.encoder, dict):  # from JSON
            self.encoder = EncoderConfig(**self.encoder)
        if isinstance(self.outputs, bool) or not isinstance(self.outputs, int) or self.outputs < 1:
            raise ValueError(f"outputs must be a positive integer, got {self.outputs!r}")

    def to_json(self) -> dict:
        return asdict(self)


class EncoderWithHead(Module):
    """A SequenceEncoder with a Linear head on top: what the classifier, the tagger and the
    forecaster share.

        x --SequenceEncoder--> out (T, B, D*H), last (B, D*H) --(the subclass's choice)-->
          --Linear(D*H, outputs)--> scores

    The base owns the parts and their construction order (encoder, then head, both drawing from
    the same rng, so a seed fixes every initial weight), `dtype` and `predict`. A subclass writes
    forward/backward (what reaches the head: the final states, a pool, every step) and sets
    `predict_axis`: the axis of forward's output that holds the sequences.
    """

    predict_axis = 0  # 0: one row per sequence (B, outputs); 1: per step (T, B, outputs)

    def __init__(self, config, encoder_config: EncoderConfig, outputs: int, rng: np.random.Generator | None):
        super().__init__()
        rng = rng if rng is not None else np.random.default_rng()
        self.config = config
        self.encoder = self.add_module("encoder", SequenceEncoder(encoder_config, rng))
        self.head = self.add_module("head", Linear(self.encoder.width, outputs, dtype=self.encoder.dtype, rng=rng))

    @property
    def dtype(self) -> np.dtype:
        return self.encoder.dtype

    def predict(self, x, lengths=None, batch: int = 512) -> np.ndarray:
        """forward in eval mode over `batch` sequences at a time (x time-major, sequences on axis
        1), the parts joined along `predict_axis`: memory stays bounded for any number of rows."""
        with self.evaluating():
            parts = [
                self.forward(x[:, k : k + batch], None if lengths is None else lengths[k : k + batch])
                for k in range(0, x.shape[1], batch)
            ]
        return np.concatenate(parts, axis=self.predict_axis)
