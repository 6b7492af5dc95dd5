"""Encoder-decoder sequence-to-sequence (Sutskever et al. 2014), optionally with attention (Bahdanau
et al. 2015; Luong et al. 2015), every piece with a hand-written backward.

    src ids (S, B) --Embedding--> (S, B, E) --encoder: RNN/LSTM/GRU, L_e layers, D directions,
        lengths=src_lengths--> K (S, B, D*H_e), final state
    final state --bridge--> decoder's initial state s_0                                      (1)
        direct when the shapes agree (one direction, same layers and size): s_0 = h_n (, c_n)
        else       s_0 = tanh(W_b [h_fwd; h_bwd] + b_b), the last encoder layer's final h of
                   each direction, one block of H_d per decoder layer (an LSTM's c_0 = 0)
    tgt_in ids (T, B) (BOS y_1 ... y_{T-1}) --Embedding--> --decoder, L_d layers, from s_0,
        lengths=tgt_lengths--> h (T, B, H_d)                                                  (2)
    without attention:  f_t = h_t                          (the whole source squeezed into s_0)
    with attention:     c_t, a_t = Attention(h_t, K, src mask)        (attention.py)          (3)
                        f_t = tanh(W_c [c_t; h_t] + b_c)   (Luong's attentional state)        (4)
    logits_t = W_o f_t + b_o                                                                  (5)

Backward runs the same lines upwards: (5) -> df; (4) df (1 - f^2) -> W_c -> dc, dh; (3) dc -> dh
(more), dK; (2) the decoder's BPTT -> d tgt embeddings, ds_0; (1) ds_0 -> the encoder's dh_n
(through tanh and W_b when bridged); the encoder's BPTT takes dK and dh_n.

The attention of step t reads h_t, the decoder's own state, so teacher-forced training runs the
decoder as one layer over all T steps and attention as one batched product. Decoding (greedy and
beam search) runs the same equations one step at a time through `layer.stepper()`; a test checks
that it gives the layer's numbers. Scheduled sampling (Bengio et al. 2015) is done in parallel
(Duckworth et al. 2019): a first pass predicts every step, then a share of the decoder inputs is
replaced by those predictions and the second pass is trained (`scheduled_inputs`).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from ..nn import Embedding, Linear, Module, cells, recurrent_layer
from ..nn.init import forget_gate_bias_, has_forget_gate
from .attention import KINDS, Attention

BOS, EOS = 1, 2  # the default ids of the begin- and end-of-sequence tokens (rnnlab.data.seq2seq)


@dataclass
class Seq2SeqConfig:
    src_vocab: int  # source token ids 0..src_vocab-1
    tgt_vocab: int  # target token ids 0..tgt_vocab-1 (BOS and EOS among them)
    embedding: int = 32  # embedding size, source and target
    cell: str = "lstm"  # the encoder's cell kind: "lstm", "gru" or "rnn" (rnnlab.nn.cells.names())
    hidden: int = 64  # encoder units per layer and direction
    layers: int = 1  # encoder layers
    bidirectional: bool = False  # a second encoder direction reading the source backwards
    decoder_cell: str | None = None  # the decoder's cell (None: the encoder's)
    decoder_hidden: int | None = None  # decoder units (None: D * hidden, the encoder's output width)
    decoder_layers: int | None = None  # decoder layers (None: the encoder's)
    attention: str | None = None  # None, "dot", "general" (Luong) or "additive" (Bahdanau)
    attention_size: int | None = None  # additive attention's hidden size (None: decoder_hidden)
    bridge: str = "auto"  # "auto": a learned bridge only when the states differ in shape; "always"
    forget_bias: float = 1.0  # LSTM forget-gate bias at the start (Gers et al. 2000)
    dtype: str = "float32"

    def __post_init__(self):
        self.decoder_cell = self.decoder_cell or self.cell
        self.decoder_hidden = self.decoder_hidden or (2 if self.bidirectional else 1) * self.hidden
        self.decoder_layers = self.decoder_layers or self.layers
        for name in ("cell", "decoder_cell"):
            if getattr(self, name) not in cells.names():
                raise ValueError(f"{name} must be one of {', '.join(cells.names())}, got {getattr(self, name)!r}")
        for name in ("src_vocab", "tgt_vocab", "embedding", "hidden", "layers", "decoder_hidden", "decoder_layers"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if self.attention is not None and self.attention not in KINDS:
            raise ValueError(f"attention must be None or one of {', '.join(KINDS)}, got {self.attention!r}")
        if self.bridge not in ("auto", "always"):
            raise ValueError(f"bridge must be 'auto' or 'always', got {self.bridge!r}")

    def to_json(self) -> dict:
        return asdict(self)


class Seq2Seq(Module):
    r"""An encoder-decoder over token ids, with or without attention, trained teacher forced.

    ::

        src ids (S, B) --Embedding--> (S, B, E) --encoder, L_e layers, D directions--> K (S, B, D*H_e)
          final state --bridge--> s_0
        tgt_in ids (T, B) --Embedding--> (T, B, E) --decoder from s_0--> h (T, B, H_d)
          --attention over K (optional), tanh(W_c [c; h])--> f (T, B, H_d)
          --Linear--> logits (T, B, V_t)

    D = 2 if ``config.bidirectional`` else 1, H_e = ``config.hidden``, H_d =
    ``config.decoder_hidden``, V_t = ``config.tgt_vocab``. The module docstring numbers every
    equation, (1) the bridge to (5) the logits, and derives the backward pass line by line.

    Args:
        config: a :class:`Seq2SeqConfig` (vocabularies, sizes, cells, attention kind, bridge).
        rng: the generator the initial weights are drawn from (embeddings, encoder, decoder,
            bridge, attention, combine, head, in that order); None draws a fresh one.

    Attributes:
        src_embed, tgt_embed: the two ``Embedding`` tables.
        encoder, decoder: the recurrent layers.
        bridge: the ``Linear`` of (1), or None when the states are passed on directly.
        attention, combine: the :class:`~rnnlab.models.attention.Attention` and the ``Linear`` of
            (4), or None without attention.
        head: the ``Linear(H_d, V_t)``.
        weights: the last forward's attention weights (T, B, S), or None.

    Shapes:
        forward(src (S, B), src_lengths (B,) or None, tgt_in (T, B), tgt_lengths (B,) or None)
        -> logits (T, B, V_t); ``tgt_in`` is BOS then the target without its last token.

        backward(dlogits (T, B, V_t)) -> None; parameter gradients accumulate in ``.grad``.

        greedy(src, src_lengths, max_len, bos, eos) and beam_search(src, src_lengths, width,
        max_len, alpha, bos, eos) -> (tokens, weights): per sequence, its output ids (EOS
        dropped) and its attention weights or None.

    Example::

        >>> import numpy as np
        >>> from rnnlab.models.seq2seq import Seq2Seq, Seq2SeqConfig
        >>> from rnnlab.nn import cross_entropy
        >>> config = Seq2SeqConfig(src_vocab=9, tgt_vocab=7, embedding=4, hidden=6, attention="dot")
        >>> model = Seq2Seq(config, np.random.default_rng(0))
        >>> src = np.full((5, 2), 3)  # S=5 source steps, B=2 sentences
        >>> tgt = np.array([[1, 1], [4, 5], [6, 4], [2, 2]])  # BOS, two tokens, EOS (T+1=4, B=2)
        >>> logits = model(src, np.array([5, 3]), tgt[:-1])
        >>> logits.shape, model.weights.shape
        ((3, 2, 7), (3, 2, 5))
        >>> loss, dlogits = cross_entropy(logits, tgt[1:])
        >>> model.backward(dlogits)
        >>> tokens, weights = model.greedy(src, max_len=4)
        >>> len(tokens), all(len(t) <= 4 for t in tokens)
        (2, True)
    """

    def __init__(self, config: Seq2SeqConfig, rng: np.random.Generator | None = None):
        super().__init__()
        rng = rng if rng is not None else np.random.default_rng()
        c = self.config = config
        dt = self.dtype = np.dtype(c.dtype)
        self.directions = 2 if c.bidirectional else 1
        self.key_size = self.directions * c.hidden
        add = self.add_module
        self.src_embed = add("src_embed", Embedding(c.src_vocab, c.embedding, dtype=dt, rng=rng))
        self.tgt_embed = add("tgt_embed", Embedding(c.tgt_vocab, c.embedding, dtype=dt, rng=rng))
        self.encoder = add(
            "encoder",
            recurrent_layer(c.cell, c.embedding, c.hidden, c.layers, bidirectional=c.bidirectional, dtype=dt, rng=rng),
        )
        self.decoder = add(
            "decoder",
            recurrent_layer(c.decoder_cell, c.embedding, c.decoder_hidden, c.decoder_layers, dtype=dt, rng=rng),
        )
        for layer in (self.encoder, self.decoder):
            if has_forget_gate(layer):
                forget_gate_bias_(layer, c.forget_bias)
        self.direct = (
            c.bridge == "auto"
            and self.directions == 1
            and c.layers == c.decoder_layers
            and c.hidden == c.decoder_hidden
        )
        self.bridge = (
            None
            if self.direct
            else add("bridge", Linear(self.key_size, c.decoder_layers * c.decoder_hidden, dtype=dt, rng=rng))
        )
        self.attention = self.combine = None
        if c.attention is not None:
            self.attention = add(
                "attention",
                Attention(c.attention, c.decoder_hidden, self.key_size, c.attention_size, dtype=dt, rng=rng),
            )
            self.combine = add("combine", Linear(self.key_size + c.decoder_hidden, c.decoder_hidden, dtype=dt, rng=rng))
        self.head = add("head", Linear(c.decoder_hidden, c.tgt_vocab, dtype=dt, rng=rng))
        # whether each side's state is a pair (h, c), as an LSTM's
        self.enc_pair, self.dec_pair = len(self.encoder.kind.states) > 1, len(self.decoder.kind.states) > 1
        self.tape = None

    # --- the pieces ------------------------------------------------------------------------------
    def encode(self, src, src_lengths=None):
        """src ids (S, B) -> keys K (S, B, D*H_e), the decoder's initial state s_0, source mask (S, B)."""
        src = np.asarray(src)
        if src.ndim != 2 or src.dtype.kind not in "iu":
            raise ValueError(f"src must be token ids of shape (S, B), got {src.dtype} of shape {src.shape}")
        S, B = src.shape
        lengths = np.full(B, S) if src_lengths is None else np.asarray(src_lengths)
        K, enc_state = self.encoder.forward(self.src_embed.forward(src), lengths=lengths)
        mask = np.arange(S)[:, None] < lengths[None, :]
        return K, self._bridge(enc_state), mask

    def _bridge(self, enc_state):
        """(1): the encoder's final state(s) -> the decoder's initial state(s)."""
        h_n = enc_state[0] if self.enc_pair else enc_state
        self._enc_shape = h_n.shape
        if self.direct:
            if self.dec_pair:
                return (h_n, enc_state[1] if self.enc_pair else np.zeros_like(h_n))
            return h_n
        D, Ld, Hd = self.directions, self.config.decoder_layers, self.config.decoder_hidden
        last = np.concatenate([h_n[len(h_n) - D + k] for k in range(D)], axis=1)  # (B, D*H_e)
        s0 = np.tanh(self.bridge.forward(last))  # (1)
        self._bridge_out = s0
        s0 = np.ascontiguousarray(s0.reshape(-1, Ld, Hd).transpose(1, 0, 2))  # (L_d, B, H_d)
        return (s0, np.zeros_like(s0)) if self.dec_pair else s0

    def _bridge_backward(self, ds0):
        """(1) upwards: the decoder's initial-state gradient -> the encoder's dh_n (, dc_n)."""
        dh0 = ds0[0] if self.dec_pair else ds0
        if self.direct:
            dh_n = dh0
            dc_n = (ds0[1] if self.dec_pair else np.zeros_like(dh0)) if self.enc_pair else None
        else:
            B = dh0.shape[1]
            dpre = dh0.transpose(1, 0, 2).reshape(B, -1) * (1 - self._bridge_out**2)  # (1) tanh'
            dlast = self.bridge.backward(dpre)
            dh_n = np.zeros(self._enc_shape, self.dtype)
            D, H = self.directions, self.config.hidden
            for k in range(D):
                dh_n[len(dh_n) - D + k] = dlast[:, k * H : (k + 1) * H]
            dc_n = np.zeros_like(dh_n) if self.enc_pair else None
        return (dh_n, dc_n) if self.enc_pair else dh_n

    def _features(self, h, K, mask):
        """(3)-(4): decoder states h (T, B, H_d) -> features f (T, B, H_d) and attention weights."""
        if self.attention is None:
            return h, None
        context, weights = self.attention.forward(h, K, mask)  # (3)
        f = np.tanh(self.combine.forward(np.concatenate([context, h], axis=-1)))  # (4)
        return f, weights

    # --- whole sequences, teacher forced ------------------------------------------------------------
    def forward(self, src, src_lengths=None, tgt_in=None, tgt_lengths=None) -> np.ndarray:
        """src (S, B) ids, src_lengths (B,), tgt_in (T, B) ids (BOS then the target but its last
        token), tgt_lengths (B,) -> logits (T, B, tgt_vocab) for the next target tokens."""
        if tgt_in is None:
            raise ValueError(
                "forward needs tgt_in, the decoder's inputs (T, B); use greedy() or "
                "beam_search() to translate without a target"
            )
        K, s0, mask = self.encode(src, src_lengths)
        tgt_in = np.asarray(tgt_in)
        if tgt_in.ndim != 2 or tgt_in.shape[1] != K.shape[1] or tgt_in.dtype.kind not in "iu":
            raise ValueError(
                f"tgt_in must be token ids of shape (T, B={K.shape[1]}), got {tgt_in.dtype} of shape {tgt_in.shape}"
            )
        h, _ = self.decoder.forward(self.tgt_embed.forward(tgt_in), s0, lengths=tgt_lengths)  # (2)
        f, weights = self._features(h, K, mask)
        self.weights = weights  # (T, B, S) for plots; None without attention
        self.tape = (f, K.shape)
        return self.head.forward(f)  # (5)

    def backward(self, dlogits) -> None:
        """dlogits (T, B, tgt_vocab) -> parameter gradients into .grad (token ids get none)."""
        if self.tape is None:
            raise ValueError("Seq2Seq.backward() needs a forward() first")
        f, K_shape = self.tape
        df = self.head.backward(dlogits)  # (5)
        dK = None
        if self.attention is not None:
            dcat = self.combine.backward(df * (1 - f * f))  # (4)
            dcontext, dh = dcat[..., : self.key_size], dcat[..., self.key_size :]
            dq, dK = self.attention.backward(dcontext)  # (3)
            dh = dh + dq
        else:
            dh = df
        dx, ds0 = self.decoder.backward(dh)  # (2)
        self.tgt_embed.backward(dx)
        dxs, _ = self.encoder.backward(
            dK if dK is not None else np.zeros(K_shape, self.dtype), self._bridge_backward(ds0)
        )  # (1)
        self.src_embed.backward(dxs)
        return None

    # --- one step at a time: decoding -------------------------------------------------------------
    def _step(self, stepper, tokens, state, K, mask):
        """(2)-(5) for one step of rows `tokens` (R,): -> log-probabilities (R, V), state, weights (R, S)."""
        h, state = stepper.step(self.tgt_embed.weight.data[tokens], state)
        f, weights = self._features(h[None], K, mask)
        logits = self.head.forward(f[0])
        logits = logits - logits.max(axis=1, keepdims=True)
        logp = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
        return logp, state, (None if weights is None else weights[0])

    def greedy(self, src, src_lengths=None, max_len: int = 50, bos: int = BOS, eos: int = EOS):
        """The most likely token at every step, for a batch. Returns (tokens, weights): per
        sequence its output ids (EOS dropped) and its attention weights (len+1, S_b) or None."""
        K, s0, mask = self.encode(src, src_lengths)
        B = K.shape[1]
        stepper = self.decoder.stepper()
        tokens = np.full(B, bos)
        out, steps_w = [], []
        done = np.zeros(B, bool)
        state = s0
        for _ in range(max_len):
            logp, state, w = self._step(stepper, tokens, state, K, mask)
            tokens = logp.argmax(axis=1)
            out.append(tokens)
            steps_w.append(w)
            done |= tokens == eos
            if done.all():
                break
        out = np.stack(out, axis=1)  # (B, steps)
        seqs, weights = [], []
        src_len = mask.sum(axis=0)
        for b in range(B):
            row = list(out[b])
            n = row.index(eos) if eos in row else len(row)
            seqs.append([int(t) for t in row[:n]])
            weights.append(None if self.attention is None else np.stack([w[b, : src_len[b]] for w in steps_w[: n + 1]]))
        return seqs, weights

    def beam_search(
        self,
        src,
        src_lengths=None,
        width: int = 4,
        max_len: int = 50,
        alpha: float = 1.0,
        bos: int = BOS,
        eos: int = EOS,
    ):
        """Beam search per sequence: keep the `width` best partial outputs by total log-probability;
        a finished one (ending in EOS) is ranked by log p / len^alpha (length normalisation; alpha
        = 0 ranks by log p, which favours short outputs). Returns (tokens, weights) as greedy()."""
        if isinstance(width, bool) or not isinstance(width, int) or width < 1:
            raise ValueError(f"width must be a positive integer, got {width!r}")
        K, s0, mask = self.encode(src, src_lengths)
        stepper = self.decoder.stepper()
        seqs, weights = [], []
        for b in range(K.shape[1]):
            n = int(mask[:, b].sum())
            Kb, mb = K[:n, b : b + 1], mask[:n, b : b + 1]
            state = tuple(s[:, b : b + 1] for s in s0) if self.dec_pair else s0[:, b : b + 1]
            tokens, w = self._beam_one(stepper, Kb, mb, state, width, max_len, alpha, bos, eos)
            seqs.append(tokens)
            weights.append(w)
        return seqs, weights

    def _beam_one(self, stepper, K, mask, state, width, max_len, alpha, bos, eos):
        beams = [([], 0.0, [])]  # (tokens, log p, attention rows)
        finished = []
        for _ in range(max_len):
            R = len(beams)
            logp, new_state, w = self._step(
                stepper,
                np.array([t[-1] if t else bos for t, _, _ in beams]),
                state,
                np.repeat(K, R, axis=1),
                np.repeat(mask, R, axis=1),
            )
            total = np.array([s for _, s, _ in beams])[:, None] + logp  # (R, V)
            order = np.argsort(total, axis=None)[::-1][: 2 * width]
            keep = []
            for flat in order:
                r, tok = divmod(int(flat), total.shape[1])
                rows = beams[r][2] + ([w[r]] if w is not None else [])
                if tok == eos:
                    length = len(beams[r][0]) + 1
                    finished.append((beams[r][0], total[r, tok] / length**alpha, rows))
                else:
                    keep.append((r, beams[r][0] + [tok], float(total[r, tok]), rows))
                if len(keep) == width:
                    break
            if len(finished) >= width or not keep:
                break
            index = np.array([k[0] for k in keep])
            state = tuple(s[:, index] for s in new_state) if self.dec_pair else new_state[:, index]
            beams = [(t, s, rows) for _, t, s, rows in keep]
        if not finished:
            finished = [(t, s / max(len(t), 1) ** alpha, rows) for t, s, rows in beams]
        tokens, _, rows = max(finished, key=lambda item: item[1])
        return [int(t) for t in tokens], (np.stack(rows) if rows else None)


# --- training helpers ----------------------------------------------------------------------------
def teacher_forcing_ratio(
    step: int, total: int, schedule: str = "constant", end: float = 0.0, k: float | None = None
) -> float:
    """The probability of feeding the true previous token at `step` of `total` (scheduled sampling):
    constant:         1 (pure teacher forcing)
    linear:           1 - (1 - end) * step / total, down to `end`
    inverse_sigmoid:  k / (k + exp(step / k)) (Bengio et al. 2015), k = total / 10 by default,
                      not below `end`
    """
    if schedule == "constant":
        return 1.0
    if total < 1:
        raise ValueError(f"total must be a positive number of steps, got {total!r}")
    if schedule == "linear":
        return max(end, 1.0 - (1.0 - end) * min(step, total) / total)
    if schedule == "inverse_sigmoid":
        k = k or max(total / 10, 1.0)
        return max(end, k / (k + math.exp(min(step / k, 700.0))))
    raise ValueError(f"schedule must be 'constant', 'linear' or 'inverse_sigmoid', got {schedule!r}")


def scheduled_inputs(
    model: Seq2Seq, src, src_lengths, tgt_in, tgt_lengths, ratio: float, rng: np.random.Generator
) -> np.ndarray:
    """Scheduled sampling in parallel: the decoder inputs tgt_in with each input after the first
    replaced, with probability 1 - ratio, by the model's own prediction for that position (the
    argmax of a teacher-forced pass whose gradient is not taken)."""
    tgt_in = np.asarray(tgt_in)
    if ratio >= 1.0 or tgt_in.shape[0] < 2:
        return tgt_in
    predicted = model.forward(src, src_lengths, tgt_in, tgt_lengths).argmax(-1)  # (T, B): y_1 ... y_T
    swap = rng.random(tgt_in.shape) >= ratio
    swap[0] = False  # BOS stays
    mixed = tgt_in.copy()
    mixed[1:][swap[1:]] = predicted[:-1][swap[1:]]  # input t is the prediction made at step t-1
    return mixed
