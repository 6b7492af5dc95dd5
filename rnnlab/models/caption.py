r"""Image captioning, the lectures' one-to-many example: a CNN reads the image once, an LSTM
emits the caption word by word (Vinyals et al. 2015, "Show and Tell"); optionally the decoder
attends, at every word, over the positions of the CNN's feature map (Xu et al. 2015, "Show,
Attend and Tell").

::

    images (N, 3, H, W)
      --n blocks of Conv2d 3x3 pad 1 + relu, a MaxPool2d 2x2 after each but the last-->
                                                    F (N, C, h, w), h = H / 2^(n-1), w = W / 2^(n-1)
      --flatten, normalise-->                       u = (v - mean(v)) / std(v), v = vec(F) (N, C h w)
      --Linear-->                                   z = W_i u + b_i (N, Hd)                     (1)
      the decoder's initial state                   h_0 = s = tanh(z), c_0 = 0                  (1)
    words in (T, N) (BOS y_1 ... y_{T-1}) --Embedding--> e (T, N, E)
      step inputs                                   x_t = [e_t; z] (T, N, E + Hd), or e_t      (2)
      --LSTM from (h_0, c_0)-->                     h (T, N, Hd)                               (2)
    without attention:  f_t = h_t                   (the whole image squeezed into z)
    with attention:     keys k_p = [F[:, :, i, j]; x_j; y_i], one per grid position p = (i, j),
                        K (S, N, C + 2), S = h w, (x, y) in [-1, 1] (the position, CoordConv)  (3)
                        c_t, a_t = Attention(h_t, K)                    (attention.py)          (4)
                        f_t = tanh(W_c [c_t; h_t] + b_c)  (Luong's attentional state)          (5)
    logits_t = W_o f_t + b_o                                 (T, N, V)                         (6)

Feeding z at every step (``feed``, the default) gives the image a short path to every word, as
Show and Tell's LSTM sees the image before the first word. It is z, not tanh(z), that is fed: a
saturated tanh passes no gradient back to W_i. Why saturation threatens: the relus make every
entry of v >= 0, so each row of W_i's gradient has one sign across its C h w weights, Adam moves
them all by about lr together, and W_i v drifts by lr times the sum of v in a few steps. Centring
and scaling v (layer normalisation without its gain) takes the common part out. In our runs
(Adam, lr 4e-3) a model whose image input was tanh(W_i v + b_i), as h_0 alone or fed as well,
stayed on the grammar-only plateau (its s saturated at once) for the 800 to 1200 steps we ran
it; normalising alone still left s saturated; normalising and feeding z left the plateau within
400 steps.

Why a grid. After the pools each position of F describes a patch of the image ("a red curve
about here"), and S = h w of them are a sequence the decoder can read from in any order: for
"a red circle left of a blue square" it can look at the left shape for the first three words and
at the right one for the last three. The position channels (3) let a query say "the upper-left
one"; the convolutions alone know little of where they are.

Backward, the same lines upwards: (6) df; (5) df (1 - f^2) -> W_c -> dc_t, dh_t; (4) dc_t -> dh_t
(more), dK, whose first C channels are dF; (2) the LSTM's BPTT -> dx, dh_0: dx's first E
channels are the embeddings' gradient; (1) dz = dh_0 (1 - s^2) + sum_t dx_t[E:] (with feed)
-> W_i -> du; dv = (du - mean(du) - u mean(du u)) / std(v) (the normalisation's backward),
dF (more); then through the relus, pools and convolutions to dimages.

Training is teacher forced: every word in is the true previous word, so the decoder runs as one
layer over all T steps and attention as one batched product. :meth:`Captioner.greedy` runs the
same equations one word at a time, feeding back the most likely word.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from ..nn import LSTM, Conv2d, Embedding, Linear, MaxPool2d, Module
from ..nn.core import check_dtype
from ..nn.init import forget_gate_bias_
from .attention import KINDS, Attention

BOS, EOS = 1, 2  # the ids of the begin- and end-of-caption words (rnnlab.data.scenes.VOCAB)


@dataclass
class CaptionConfig:
    vocab: int  # word ids 0..vocab-1 (BOS and EOS among them)
    height: int = 32  # image height in pixels, a multiple of 2^(len(channels) - 1)
    width: int = 32  # image width in pixels, likewise
    in_channels: int = 3  # colour channels of the images
    channels: tuple[int, ...] = (16, 32, 32)  # output channels of the conv blocks (a 2x2 pool after all but the last)
    embedding: int = 32  # word embedding size
    hidden: int = 128  # LSTM units (Hd)
    attention: str | None = None  # None (a global vector only), "dot", "general" or "additive"
    attention_size: int | None = None  # additive attention's hidden size (None: hidden)
    coordinates: bool = True  # append each grid position's (x, y) to the attention keys
    feed: bool = True  # the global vector z is part of every step's input (h_0 = tanh(z) either way)
    forget_bias: float = 1.0  # LSTM forget-gate bias at the start
    dtype: str = "float32"

    def __post_init__(self):
        self.channels = tuple(self.channels)
        if not self.channels:
            raise ValueError("channels must name at least one conv block")
        for name, value in [
            ("vocab", self.vocab),
            ("height", self.height),
            ("width", self.width),
            ("in_channels", self.in_channels),
            ("embedding", self.embedding),
            ("hidden", self.hidden),
        ] + [(f"channels[{k}]", c) for k, c in enumerate(self.channels)]:
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if self.vocab <= max(BOS, EOS):
            raise ValueError(f"vocab must hold BOS={BOS} and EOS={EOS}, got {self.vocab}")
        scale = self.downsample
        if self.height % scale or self.width % scale:
            raise ValueError(
                f"height and width must be multiples of {scale} ({len(self.channels) - 1} 2x2 pools), "
                f"got {self.height} x {self.width}"
            )
        if self.attention is not None and self.attention not in KINDS:
            raise ValueError(f"attention must be None or one of {', '.join(KINDS)}, got {self.attention!r}")
        if self.attention == "dot" and self.key_size != self.hidden:
            raise ValueError(
                f"dot attention needs hidden == the key size {self.key_size} (channels[-1] + 2 with "
                "coordinates); use 'general' or 'additive'"
            )

    @property
    def downsample(self) -> int:
        """2^(blocks - 1): image pixels per grid position along each side."""
        return 2 ** (len(self.channels) - 1)

    @property
    def grid(self) -> tuple[int, int]:
        """(h, w): the feature map's size."""
        return self.height // self.downsample, self.width // self.downsample

    @property
    def key_size(self) -> int:
        """What one grid position says to the attention: C channels (+ x, y)."""
        return self.channels[-1] + (2 if self.coordinates else 0)

    def to_json(self) -> dict:
        return asdict(self)


class Captioner(Module):
    r"""A CNN encoder and an LSTM decoder that writes a caption, with or without attention over the grid.

    ::

        images (N, 3, H, W) --n x (Conv2d 3x3 + relu) with 2x2 pools between--> F (N, C, h, w)
          --flatten, normalise, Linear--> z (N, Hd);  h_0 = tanh(z), c_0 = 0
        words in (T, N) --Embedding--> (T, N, E), with z beside it --LSTM from (h_0, c_0)--> h (T, N, Hd)
          --attention over the h w grid positions (optional), tanh(W_c [c; h])--> f (T, N, Hd)
          --Linear--> logits (T, N, V)

    C = ``config.channels[-1]``, (h, w) = ``config.grid``, Hd = ``config.hidden``, V =
    ``config.vocab``. The module docstring numbers every equation, (1) the initial state to (6)
    the logits, and derives the backward pass.

    Args:
        config: a :class:`CaptionConfig`.
        rng: the generator the initial weights are drawn from (convs, init, embedding, LSTM,
            attention, combine, head, in that order); None draws a fresh one.

    Attributes:
        weights: the last forward's attention weights (T, N, h w) (position p = i w + j), or None.

    Shapes:
        forward(images (N, 3, H, W), words_in (T, N)) -> logits (T, N, V); ``words_in`` is BOS then
        the caption without its last word (EOS is the last target).

        backward(dlogits (T, N, V)) -> dimages (N, 3, H, W); parameter gradients accumulate in
        ``.grad``.

        greedy(images, max_len, bos, eos) -> (words, weights): per image its word ids (EOS
        dropped) and, with attention, its weights (len + 1, h, w) (one map per word and EOS), or None.

    Example::

        >>> import numpy as np
        >>> from rnnlab.models.caption import Captioner, CaptionConfig
        >>> from rnnlab.nn import cross_entropy
        >>> config = CaptionConfig(vocab=6, height=8, width=8, channels=(4, 5), embedding=3, hidden=7,
        ...                        attention="additive")
        >>> model = Captioner(config, np.random.default_rng(0))
        >>> images = np.zeros((2, 3, 8, 8), np.float32)  # N=2 images
        >>> words = np.array([[1, 1], [4, 5], [3, 4], [2, 2]])  # BOS, two words, EOS (T+1=4, N=2)
        >>> logits = model(images, words[:-1])
        >>> logits.shape, model.weights.shape  # a 4 x 4 grid: 16 positions
        ((3, 2, 6), (3, 2, 16))
        >>> loss, dlogits = cross_entropy(logits, words[1:])
        >>> model.backward(dlogits).shape
        (2, 3, 8, 8)
        >>> tokens, maps = model.greedy(images, max_len=4)
        >>> len(tokens), maps[0].shape[1:]
        (2, (4, 4))
    """

    def __init__(self, config: CaptionConfig, rng: np.random.Generator | None = None):
        super().__init__()
        rng = rng if rng is not None else np.random.default_rng()
        c = self.config = config
        dt = self.dtype = check_dtype(c.dtype)
        self.convs, self.pools = [], []
        sizes = (c.in_channels,) + c.channels
        for k in range(len(c.channels)):
            self.convs.append(
                self.add_module(f"conv{k + 1}", Conv2d(sizes[k], sizes[k + 1], 3, padding=1, dtype=dt, rng=rng))
            )
            if k < len(c.channels) - 1:
                self.pools.append(self.add_module(f"pool{k + 1}", MaxPool2d(2)))
        h, w = c.grid
        self.init = self.add_module("init", Linear(c.channels[-1] * h * w, c.hidden, dtype=dt, rng=rng))
        self.embed = self.add_module("embed", Embedding(c.vocab, c.embedding, dtype=dt, rng=rng))
        steps_in = c.embedding + (c.hidden if c.feed else 0)
        self.decoder = self.add_module("decoder", LSTM(steps_in, c.hidden, dtype=dt, rng=rng))
        forget_gate_bias_(self.decoder, c.forget_bias)
        self.attention = self.combine = None
        if c.attention is not None:
            self.attention = self.add_module(
                "attention", Attention(c.attention, c.hidden, c.key_size, c.attention_size, dtype=dt, rng=rng)
            )
            self.combine = self.add_module("combine", Linear(c.key_size + c.hidden, c.hidden, dtype=dt, rng=rng))
        self.head = self.add_module("head", Linear(c.hidden, c.vocab, dtype=dt, rng=rng))
        ys, xs = np.meshgrid(np.linspace(-1, 1, h), np.linspace(-1, 1, w), indexing="ij")
        self.coords = np.stack([xs.ravel(), ys.ravel()], axis=1).astype(dt)  # (S, 2), p = i w + j
        self.weights = None
        self.tape = None

    # --- the pieces ------------------------------------------------------------------------------
    def encode(self, images):
        """images (N, 3, H, W) -> keys K (S, N, key_size) or None, (z, s): the global vector z
        (N, Hd) and the decoder's initial h_0 = s = tanh(z)."""
        c = self.config
        x = np.asarray(images, dtype=self.dtype)
        if x.ndim != 4 or x.shape[1:] != (c.in_channels, c.height, c.width):
            raise ValueError(
                f"images have shape {np.shape(images)}, expected (N, {c.in_channels}, {c.height}, {c.width})"
            )
        acts = []
        for k, conv in enumerate(self.convs):
            a = np.maximum(conv.forward(x), 0)
            acts.append(a)
            x = self.pools[k].forward(a) if k < len(self.pools) else a
        F = x  # (N, C, h, w)
        N, C, h, w = F.shape
        v = F.reshape(N, -1)
        v = v - v.mean(axis=1, keepdims=True)  # (1)
        spread = np.sqrt((v * v).mean(axis=1, keepdims=True) + 1e-5)
        u = v / spread  # (1)
        z = self.init.forward(u)  # (1)
        s = np.tanh(z)  # (1)
        K = None
        if self.attention is not None:
            K = F.reshape(N, C, h * w).transpose(2, 0, 1)  # (S, N, C)
            if c.coordinates:
                K = np.concatenate([K, np.broadcast_to(self.coords[:, None, :], (h * w, N, 2))], axis=2)  # (3)
            K = np.ascontiguousarray(K)
        self._enc_tape = (acts, F.shape, u, spread, s)
        return K, (z, s)

    def _inputs(self, e, z):
        """(2): the step inputs from word embeddings e (T, N, E) and the global vector z (N, Hd)."""
        if not self.config.feed:
            return e
        return np.concatenate([e, np.broadcast_to(z, (e.shape[0],) + z.shape)], axis=2)

    def _features(self, h, K):
        """(4)-(5): decoder states h (T, N, Hd) -> features f (T, N, Hd) and attention weights."""
        if self.attention is None:
            return h, None
        context, weights = self.attention.forward(h, K)  # (4)
        f = np.tanh(self.combine.forward(np.concatenate([context, h], axis=-1)))  # (5)
        return f, weights

    # --- whole captions, teacher forced ---------------------------------------------------------
    def forward(self, images, words_in=None) -> np.ndarray:
        """images (N, 3, H, W), words_in (T, N) ids (BOS then the caption but its last word) ->
        logits (T, N, vocab) for the next words."""
        if words_in is None:
            raise ValueError("forward needs words_in, the decoder's inputs (T, N); use greedy() to caption")
        K, (z, s) = self.encode(images)
        words_in = np.asarray(words_in)
        N = s.shape[0]
        if words_in.ndim != 2 or words_in.shape[1] != N or words_in.dtype.kind not in "iu":
            raise ValueError(
                f"words_in must be word ids of shape (T, N={N}), got {words_in.dtype} of shape {words_in.shape}"
            )
        x = self._inputs(self.embed.forward(words_in), z)  # (2)
        h, _ = self.decoder.forward(x, (s[None], np.zeros_like(s)[None]))  # (2)
        f, self.weights = self._features(h, K)
        self.tape = (f,)
        return self.head.forward(f)  # (6)

    def backward(self, dlogits) -> np.ndarray:
        """dlogits (T, N, vocab) -> dimages (N, 3, H, W); parameter gradients into .grad."""
        if self.tape is None:
            raise ValueError("Captioner.backward() needs a forward() first")
        (f,) = self.tape
        acts, (N, C, h, w), u, spread, s = self._enc_tape
        df = self.head.backward(dlogits)  # (6)
        dF = np.zeros((N, C, h, w), self.dtype)
        if self.attention is not None:
            dcat = self.combine.backward(df * (1 - f * f))  # (5)
            dcontext, dh = dcat[..., : self.config.key_size], dcat[..., self.config.key_size :]
            dq, dK = self.attention.backward(dcontext)  # (4)
            dh = dh + dq
            dF += dK[:, :, :C].transpose(1, 2, 0).reshape(N, C, h, w)  # (3): the coordinates are constants
        else:
            dh = df
        dx, (dh0, _) = self.decoder.backward(dh)  # (2)
        E = self.config.embedding
        self.embed.backward(np.ascontiguousarray(dx[..., :E]))
        dz = dh0[0] * (1 - s * s)  # (1)
        if self.config.feed:
            dz += dx[..., E:].sum(axis=0)  # (2)
        du = self.init.backward(dz)  # (1)
        dv = (du - du.mean(axis=1, keepdims=True) - u * (du * u).mean(axis=1, keepdims=True)) / spread  # (1)
        dF += dv.reshape(N, C, h, w)
        g = dF
        for k in range(len(self.convs) - 1, -1, -1):
            if k < len(self.pools):
                g = self.pools[k].backward(g)
            g = self.convs[k].backward(g * (acts[k] > 0))
        return g

    # --- one word at a time ---------------------------------------------------------------------
    def greedy(self, images, max_len: int = 12, bos: int = BOS, eos: int = EOS, batch: int = 256):
        """The most likely word at every step. Returns (words, weights): per image its word ids
        (EOS dropped) and, with attention, its weights (len + 1, h, w), else None. Eval mode."""
        seqs, maps = [], []
        h, w = self.config.grid
        with self.evaluating():
            for start in range(0, len(images), batch):
                K, (z, s) = self.encode(images[start : start + batch])
                N, state = s.shape[0], (s[None], np.zeros_like(s)[None])
                stepper = self.decoder.stepper()
                tokens = np.full(N, bos)
                out, steps_w = [], []
                done = np.zeros(N, bool)
                for _ in range(max_len):
                    x = self._inputs(self.embed.weight.data[tokens][None], z)[0]  # (2)
                    hid, state = stepper.step(x, state)
                    f, weights = self._features(hid[None], K)
                    tokens = self.head.forward(f[0]).argmax(axis=1)
                    out.append(tokens)
                    steps_w.append(weights)
                    done |= tokens == eos
                    if done.all():
                        break
                out = np.stack(out, axis=1)  # (N, steps)
                for b in range(N):
                    row = out[b].tolist()
                    n = row.index(eos) if eos in row else len(row)
                    seqs.append(row[:n])
                    maps.append(
                        None
                        if self.attention is None
                        else np.stack([sw[0, b].reshape(h, w) for sw in steps_w[: n + 1]])
                    )
        self.tape = self.weights = None
        return seqs, maps
