"""A character-level language model (Karpathy's char-rnn) and the task that trains it.

    ids (T, B) --Embedding--> (T, B, E) --RNN/LSTM/GRU, L layers--> (T, B, H) --Linear--> logits (T, B, V)

Trained with truncated BPTT over contiguous streams (data.text.BatchStream): each window starts
from the hidden state the previous window ended with, so the model sees context across window
boundaries while gradients stop at them; the loss is the mean cross-entropy of predicting each
next character, in nats (bits = nats / ln 2).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from ..data.text import BatchStream, Vocab
from ..nn import Embedding, Linear, Module, cells, cross_entropy, recurrent_layer
from ..nn.stepper import Stepper


@dataclass
class CharLMConfig:
    vocab_size: int  # distinct characters
    model: str = "lstm"  # the cell kind: "lstm", "gru" or "rnn" (tanh) (rnnlab.nn.cells.names())
    hidden: int = 256  # hidden units per layer
    layers: int = 2  # stacked recurrent layers
    embedding: int = 64  # size of each character's embedding
    dropout: float = 0.0  # between stacked layers (training only)
    peephole: bool = False  # LSTM peephole connections
    dtype: str = "float32"

    # what a config read back from a file may hold (rnnlab.train.schema); memory is checked apart
    LIMITS = {"vocab_size": (1, 2**24), "hidden": (1, 2**20), "layers": (1, 1024), "embedding": (1, 2**20)}
    LIMITS |= {"dropout": (0.0, 0.999), "dtype": ("float32", "float64")}

    def __post_init__(self):
        if self.model not in cells.names():
            raise ValueError(f"model must be one of {', '.join(cells.names())}, got {self.model!r}")
        for name in ("vocab_size", "hidden", "layers", "embedding"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ValueError(f"{name} must be a positive integer, got {getattr(self, name)!r}")
        if self.peephole and "peephole" not in cells.get(self.model).options:
            raise ValueError(f"peephole connections exist only for model='lstm', not {self.model!r}")


class CharLM(Module):
    r"""A character-level language model: at every step, logits for the next character.

    ::

        ids (T, B) --Embedding--> (T, B, E) --RNN/LSTM/GRU, L layers--> (T, B, H)
          --Linear--> logits (T, B, V)

    V = ``config.vocab_size``, E = ``config.embedding``, H = ``config.hidden``, L =
    ``config.layers``. Trained with truncated BPTT (see :class:`CharLMTask` and the module
    docstring): the state a window ends with starts the next one, the gradient stops there.
    It is also a :class:`~rnnlab.models.sampling.TokenModel` (``initial``, ``step``,
    ``select``), so ``generate`` and ``beam_search`` run on it, through a frozen
    ``rnn.stepper()``.

    Args:
        config: a :class:`CharLMConfig`: ``vocab_size``, the cell kind ``model``, ``hidden``,
            ``layers``, ``embedding``, ``dropout`` (between layers), ``peephole`` (LSTM), ``dtype``.
        rng: the generator the initial weights are drawn from (embedding, recurrent layers,
            head, in that order); None draws a fresh one.

    Attributes:
        embed: the ``Embedding(V, E)``.
        rnn: the recurrent layer (parameters ``rnn.weight_ih_l0``, ... as in PyTorch).
        head: the ``Linear(H, V)``.

    Shapes:
        forward(ids (T, B), state=None) -> (logits (T, B, V), final state): the state is h_n
        (L, B, H), or (h_n, c_n) for an LSTM; None starts from zeros.

        backward(dlogits (T, B, V)) -> None; parameter gradients accumulate in ``.grad``, the
        initial state is treated as a constant.

        step(state, ids (W,)) -> (logits (W, V), new state), one character for W rows.

    Example::

        >>> import numpy as np
        >>> from rnnlab.models.charlm import CharLM, CharLMConfig
        >>> from rnnlab.models.sampling import generate
        >>> from rnnlab.nn import cross_entropy
        >>> model = CharLM(CharLMConfig(vocab_size=12, hidden=16, layers=1, embedding=8), np.random.default_rng(0))
        >>> ids = np.arange(24).reshape(8, 3) % 12  # T=8 steps, B=3 streams
        >>> logits, state = model(ids[:-1])
        >>> logits.shape, state[0].shape  # an LSTM's state is (h_n, c_n)
        ((7, 3, 12), (1, 3, 16))
        >>> loss, dlogits = cross_entropy(logits, ids[1:])
        >>> model.backward(dlogits)
        >>> len(list(generate(model, [1, 2], 5, np.random.default_rng(0))))
        5
    """

    def __init__(self, config: CharLMConfig, rng: np.random.Generator | None = None):
        super().__init__()
        self.config = config
        rng = rng if rng is not None else np.random.default_rng()
        dt = np.dtype(config.dtype)
        options = {"peephole": True} if config.peephole else {}
        self.embed = self.add_module("embed", Embedding(config.vocab_size, config.embedding, dtype=dt, rng=rng))
        self.rnn = self.add_module(
            "rnn",
            recurrent_layer(
                config.model,
                config.embedding,
                config.hidden,
                config.layers,
                dropout=config.dropout,
                dtype=dt,
                rng=rng,
                **options,
            ),
        )
        self.head = self.add_module("head", Linear(config.hidden, config.vocab_size, dtype=dt, rng=rng))

    @property
    def dtype(self) -> np.dtype:
        return self.rnn.dtype

    def forward(self, ids: np.ndarray, state=None):
        """ids (T, B) -> logits (T, B, V) and the final state (h_n, or (h_n, c_n) for an LSTM)."""
        out, state = self.rnn.forward(self.embed.forward(ids), state)
        return self.head.forward(out), state

    def backward(self, dlogits: np.ndarray) -> None:
        """Accumulate every parameter's gradient; the initial state is treated as a constant
        (truncated BPTT: gradients stop at the window boundary)."""
        dx, _ = self.rnn.backward(self.head.backward(dlogits))
        self.embed.backward(dx)

    # --- models.sampling.TokenModel: generation and beam search step through these -----------
    def initial(self, batch: int) -> Generation:
        """The state before any token: zeros, and a frozen stepper of the recurrent layers (one
        fused GEMV per layer and step instead of a forward call, see nn/stepper.py)."""
        return Generation(self.rnn.stepper(), None)

    def step(self, state, ids: np.ndarray):
        """One character for each of W rows: ids (W,) -> logits (W, V), new state. `state` is what
        initial() or the last step returned, or a plain recurrent state (then forward runs)."""
        ids = np.asarray(ids).reshape(-1)
        if not isinstance(state, Generation):
            logits, state = self.forward(ids.reshape(1, -1), state)
            return logits[0], state
        out, rnn_state = state.stepper.step(self.embed.forward(ids), state.state)
        return self.head.forward(out), Generation(state.stepper, rnn_state)

    @staticmethod
    def select(state, rows: np.ndarray):
        if isinstance(state, Generation):
            return Generation(state.stepper, CharLM.select(state.state, rows))
        if state is None:
            return None
        if isinstance(state, tuple):
            return tuple(s[:, rows] for s in state)
        return state[:, rows]


@dataclass
class Generation:
    """A generation's state: the frozen stepper and the recurrent state (None: zeros)."""

    stepper: Stepper
    state: object


def _detach(state):
    """A copy of the carried state (the next window must not alias this window's buffers)."""
    if state is None:
        return None
    return tuple(s.copy() for s in state) if isinstance(state, tuple) else state.copy()


def mean_loss(model: CharLM, windows) -> tuple[float, int]:
    """(nats per predicted character, predictions counted) over consecutive windows (x, y, mask)
    of parallel streams, x and y (T, B), mask (T, B) bool or None (every position counts), the
    state carried from each window to the next, dropout off: the validation loss of training
    and the loss of `rnnlab eval` on any text."""
    state, total, count = None, 0.0, 0
    with model.evaluating():
        for x, y, mask in windows:
            logits, state = model.forward(x, state)
            n = y.size if mask is None else int(mask.sum())
            if n:
                loss, _ = cross_entropy(logits, y, mask=mask)
                total, count = total + loss * n, count + n
    return (total / count if count else float("nan")), count


class CharLMTask:
    """The trainer's Task for a CharLM: a window of the training streams per step, the hidden
    state carried between windows (reset at each epoch's start), validation loss as the score."""

    score_name = "val_nats"  # what evaluate() returns: nats per character of validation text

    def __init__(
        self,
        model: CharLM,
        vocab: Vocab,
        train_ids: np.ndarray,
        val_ids: np.ndarray,
        batch: int,
        seq_len: int,
        max_eval_windows: int = 50,
    ):
        self.model, self.vocab = model, vocab
        self.stream = BatchStream(train_ids, batch, seq_len)
        self.val_stream = BatchStream(val_ids, min(batch, max(1, len(val_ids) // (seq_len + 1))), seq_len)
        self.max_eval_windows = max_eval_windows
        self.state = None
        self.last_eval_bits = None

    def train_step(self, step: int, rng: np.random.Generator) -> float:
        if step % self.stream.windows_per_epoch == 0:
            self.state = None  # a new epoch starts the streams afresh
        x, y = self.stream.window(step)
        logits, state = self.model.forward(x, self.state)
        loss, dlogits = cross_entropy(logits, y)
        self.model.backward(dlogits)
        self.state = _detach(state)
        return loss

    def evaluate(self) -> float:
        """Mean validation cross-entropy in nats per character over (up to) the first
        max_eval_windows windows of the validation streams, state carried, dropout off."""
        windows = min(self.val_stream.windows_per_epoch, self.max_eval_windows)
        nats, _ = mean_loss(self.model, (self.val_stream.window(k) + (None,) for k in range(windows)))
        return nats

    def steps_per_epoch(self) -> int:
        return self.stream.windows_per_epoch

    def config(self) -> dict:
        return {
            "model": asdict(self.model.config),
            "vocab": self.vocab.to_json(),
            "batch": self.stream.batch_size,
            "seq_len": self.stream.seq_len,
        }

    def carried_state(self) -> dict[str, np.ndarray]:
        if self.state is None:
            return {}
        parts = self.state if isinstance(self.state, tuple) else (self.state,)
        return {str(k): s for k, s in enumerate(parts)}

    def load_carried_state(self, arrays: dict[str, np.ndarray]) -> None:
        """The state a checkpoint carried, checked first: one (layers, batch, hidden) array of the
        model's dtype per state of the cell (h, or h and c), finite; a ValueError says what differs."""
        if not arrays:
            self.state = None
            return
        cfg = self.model.config
        names = [str(k) for k in range(len(cells.get(cfg.model).states))]
        if sorted(arrays) != names:
            raise ValueError(f"the carried state holds {sorted(arrays)}, a {cfg.model} carries {names}")
        shape = (cfg.layers, self.stream.batch_size, cfg.hidden)
        for name in names:
            a = arrays[name]
            if a.shape != shape or a.dtype != np.dtype(cfg.dtype) or not np.isfinite(a).all():
                raise ValueError(
                    f"carried state {name} is {a.dtype}{list(a.shape)}, expected finite {cfg.dtype}{list(shape)}"
                )
        parts = tuple(arrays[name] for name in names)
        self.state = parts if len(parts) == 2 else parts[0]
