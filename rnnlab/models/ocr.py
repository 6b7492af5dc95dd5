r"""Line OCR: a CRNN (Shi, Bai & Yao 2015) trained with CTC, small like Keras' captcha OCR example.

::

    images (N, 1, H, W), ink = 1
      --Conv2d 3x3 pad 1 (1 -> C1) -- relu -- MaxPool2d 2x2-->   (N, C1, H/2, W/2)
      --Conv2d 3x3 pad 1 (C1 -> C2) - relu -- MaxPool2d 2x2-->   (N, C2, H/4, W/4)
      --read column by column: step t = column t-->             seq (T, N, C2 H/4),  T = W/4
      --Linear -- relu-->                                        (T, N, F)
      --LSTM, L layers, two directions, lengths = widths // 4--> (T, N, 2 Hd)
      --Linear-->                                                logits (T, N, K + 1)
      --log_softmax over classes-->                              log_probs (T, N, K + 1)

K = ``len(config.alphabet)``; class 0 is the CTC blank and class k >= 1 is ``alphabet[k - 1]``.

A sequence of columns. After two 2x2 pools each column of the feature map covers a 4-pixel-wide
vertical strip of the image (and, through the 3x3 convolutions, its neighbours): all of its
C2 * H/4 numbers together describe "what is drawn around here", top to bottom. Reading the
columns left to right turns the image into a sequence of T = W/4 feature vectors, which the
bidirectional LSTM reads in both directions, so the scores of column t have seen the whole line.

Why CTC. The labels are only the string, not where each character sits: CTC (Graves et al. 2006)
sums over every alignment of the string to the T columns (a character may span several columns;
blanks go between and around), so no segmentation is ever needed, and the string may have any
length up to T (T at least the length plus the number of doubled letters). Decoding takes the best
class per column, merges repeats and drops blanks (greedy), or searches over prefixes (beam).

Backward. ``rnnlab.nn.ctc_loss`` returns, as torch does, g = exp(log_probs) - occupancy, which
is the gradient with respect to the logits. ``backward`` applies the true log_softmax backward,
dlogits = dlog_probs - softmax * sum_c dlog_probs; since g sums to zero over the classes at every
step (exp(log_probs) sums to 1, so does the occupancy), that leaves g unchanged. So ``backward``
is right both for ``ctc_loss``'s gradient and for the gradient of any other function of
log_probs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..nn import LSTM, Conv2d, Linear, MaxPool2d, Module, ctc_beam_decode, ctc_greedy_decode
from ..nn.core import check_dtype
from ..nn.init import forget_gate_bias_

DOWNSAMPLE = 4  # two 2x2 pools: one column of the feature map per 4 image columns


@dataclass
class CRNNConfig:
    alphabet: str  # the characters, in class order (class 0 is the CTC blank)
    height: int = 32  # image height in pixels, a multiple of 4
    channels: tuple[int, int] = (32, 64)  # output channels of the two conv blocks
    features: int = 64  # the Linear between a column's C2 * H/4 features and the LSTM
    hidden: int = 64  # LSTM units per layer and direction
    layers: int = 2  # stacked bidirectional LSTM layers
    forget_bias: float = 1.0  # LSTM forget-gate bias at the start
    dtype: str = "float32"

    def __post_init__(self):
        if not isinstance(self.alphabet, str) or not self.alphabet or len(set(self.alphabet)) != len(self.alphabet):
            raise ValueError(f"alphabet must be a non-empty string of distinct characters, got {self.alphabet!r}")
        self.channels = tuple(self.channels)
        if len(self.channels) != 2:
            raise ValueError(f"channels must be two integers (one per conv block), got {self.channels!r}")
        for name, value in [("height", self.height), ("features", self.features), ("hidden", self.hidden)] + [
            ("layers", self.layers),
            ("channels[0]", self.channels[0]),
            ("channels[1]", self.channels[1]),
        ]:
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if self.height % DOWNSAMPLE:
            raise ValueError(f"height must be a multiple of {DOWNSAMPLE} (two 2x2 pools), got {self.height}")

    @property
    def classes(self) -> int:
        """len(alphabet) + 1: the blank and one class per character."""
        return len(self.alphabet) + 1


class CRNN(Module):
    r"""Convolutions, a bidirectional LSTM over the image columns, and per-column class scores for CTC.

    ::

        images (N, 1, H, W) --2 x (Conv2d 3x3 + relu + MaxPool2d 2x2)--> (N, C2, H/4, W/4)
          --columns as steps, Linear + relu--> (T, N, F) --BiLSTM (lengths)--> (T, N, 2 Hd)
          --Linear, log_softmax--> log_probs (T, N, K + 1)

    T = W // 4, H = ``config.height``, C2 = ``config.channels[1]``, F = ``config.features``,
    Hd = ``config.hidden``, K = ``len(config.alphabet)``; class 0 is the blank.

    Args:
        config: a :class:`CRNNConfig`.
        rng: the generator the initial weights are drawn from (convs, Linear, LSTM, head, in
            that order); None draws a fresh one.

    Shapes:
        forward(images (N, 1, H, W) or (N, H, W), widths (N,) or None) -> (log_probs (T, N, K + 1),
        lengths (N,)) with lengths = widths // 4 (all T if None): the steps ``ctc_loss`` and the
        decoders read. With widths, the image and both conv blocks' outputs are zeroed right of
        each width (W, W/2), so a line reads exactly as it would alone, cropped to its width,
        whatever lies right of it in the batch.

        backward(dlog_probs (T, N, K + 1)) -> dimages (N, 1, H, W); parameter gradients
        accumulate in ``.grad``. Pass ``ctc_loss``'s gradient straight in (see the module
        docstring for why that is exact).

        decode(images, widths=None, beam=None) -> list of strings: greedy, or prefix beam search
        with ``beam`` prefixes kept.

    Example::

        >>> import numpy as np
        >>> from rnnlab.models.ocr import CRNN, CRNNConfig
        >>> from rnnlab.nn import ctc_loss
        >>> config = CRNNConfig(alphabet="ab", height=8, channels=(4, 8), features=16, hidden=8, layers=1)
        >>> model = CRNN(config, np.random.default_rng(0))
        >>> images = np.zeros((2, 1, 8, 24), np.float32)  # N=2 lines, 8 x 24 pixels
        >>> log_probs, lengths = model(images, widths=np.array([24, 16]))
        >>> log_probs.shape, lengths.tolist()
        ((6, 2, 3), [6, 4])
        >>> targets, target_lengths = model.encode(["ab", "b"])
        >>> loss, dlog_probs = ctc_loss(log_probs, targets, lengths, target_lengths, reduction="mean")
        >>> model.backward(dlog_probs).shape
        (2, 1, 8, 24)
        >>> len(model.decode(images, widths=np.array([24, 16])))
        2
    """

    def __init__(self, config: CRNNConfig, rng: np.random.Generator | None = None):
        super().__init__()
        self.config = config
        rng = rng if rng is not None else np.random.default_rng()
        dt = self.dtype = check_dtype(config.dtype)
        c1, c2 = config.channels
        self.conv1 = self.add_module("conv1", Conv2d(1, c1, 3, padding=1, dtype=dt, rng=rng))
        self.pool1 = self.add_module("pool1", MaxPool2d(2))
        self.conv2 = self.add_module("conv2", Conv2d(c1, c2, 3, padding=1, dtype=dt, rng=rng))
        self.pool2 = self.add_module("pool2", MaxPool2d(2))
        column = c2 * (config.height // DOWNSAMPLE)
        self.proj = self.add_module("proj", Linear(column, config.features, dtype=dt, rng=rng))
        self.rnn = self.add_module(
            "rnn",
            LSTM(config.features, config.hidden, num_layers=config.layers, bidirectional=True, dtype=dt, rng=rng),
        )
        forget_gate_bias_(self.rnn, config.forget_bias)
        self.head = self.add_module("head", Linear(2 * config.hidden, config.classes, dtype=dt, rng=rng))
        self.tape = None

    # --- labels <-> strings ---------------------------------------------------------------------
    def encode(self, strings: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Strings -> (targets (N, S_max) padded with 0, target_lengths (N,)) for ``ctc_loss``."""
        index = {ch: k + 1 for k, ch in enumerate(self.config.alphabet)}
        for s in strings:
            unknown = sorted(set(s) - set(index))
            if unknown:
                raise ValueError(f"{s!r} has characters outside the alphabet {self.config.alphabet!r}: {unknown}")
        lengths = np.array([len(s) for s in strings], np.int64)
        targets = np.zeros((len(strings), max(1, int(lengths.max(initial=0)))), np.int64)
        for n, s in enumerate(strings):
            targets[n, : len(s)] = [index[ch] for ch in s]
        return targets, lengths

    def labels_to_string(self, labels: list[int]) -> str:
        """Class ids (no blanks) -> the string."""
        return "".join(self.config.alphabet[k - 1] for k in labels)

    # --- forward / backward -----------------------------------------------------------------------
    def _lengths(self, widths, N: int, W: int) -> np.ndarray:
        T = W // DOWNSAMPLE
        if widths is None:
            return np.full(N, T, np.int64)
        w = np.asarray(widths)
        if w.shape != (N,) or w.dtype.kind not in "iu" or (w < DOWNSAMPLE).any() or (w > W).any():
            raise ValueError(f"widths must be N={N} integers in [{DOWNSAMPLE}, W={W}], got {widths!r}")
        return (w // DOWNSAMPLE).astype(np.int64)

    def forward(self, images, widths=None) -> tuple[np.ndarray, np.ndarray]:
        """images (N, 1, H, W) or (N, H, W), widths (N,) or None -> (log_probs (T, N, K + 1), lengths (N,))."""
        x = np.asarray(images, dtype=self.dtype)
        x = x[:, None] if x.ndim == 3 else x
        if x.ndim != 4 or x.shape[1] != 1 or x.shape[2] != self.config.height or x.shape[3] < DOWNSAMPLE:
            raise ValueError(
                f"images have shape {np.shape(images)}, expected (N, 1, H={self.config.height}, W) with W >= "
                f"{DOWNSAMPLE} (or (N, H, W))"
            )
        N, _, _, W = x.shape
        lengths = self._lengths(widths, N, W)
        keep = None
        if widths is not None:  # zero everything right of each width, before each conv
            w = np.asarray(widths)[:, None, None, None]
            keep = np.arange(W) < w  # (N, 1, 1, W)
            x = x * keep
        a1 = np.maximum(self.conv1.forward(x), 0)
        if keep is not None:
            a1 *= keep
        p1 = self.pool1.forward(a1)
        a2 = np.maximum(self.conv2.forward(p1), 0)
        if keep is not None:
            a2 *= np.arange(W // 2) < w // 2
        fmap = self.pool2.forward(a2)  # (N, C2, H/4, T)
        T = fmap.shape[3]
        seq = np.ascontiguousarray(fmap.transpose(3, 0, 1, 2)).reshape(T, N, -1)  # column t -> step t
        f = np.maximum(self.proj.forward(seq), 0)
        out, _ = self.rnn.forward(f, lengths=lengths)
        logits = self.head.forward(out)
        shifted = logits - logits.max(axis=2, keepdims=True)
        log_probs = shifted - np.log(np.exp(shifted).sum(axis=2, keepdims=True))
        self.tape = (np.ndim(images) == 3, keep, a1, a2, f, fmap.shape, log_probs)
        return log_probs, lengths

    def backward(self, dlog_probs) -> np.ndarray:
        """dlog_probs (T, N, K + 1), e.g. ctc_loss's gradient -> dimages (the shape of images)."""
        if self.tape is None:
            raise ValueError("backward() needs a forward() first: it differentiates the last forward pass")
        unbatched_channel, keep, a1, a2, f, fmap_shape, log_probs = self.tape
        g = np.asarray(dlog_probs, dtype=self.dtype)
        if g.shape != log_probs.shape:
            raise ValueError(f"dlog_probs has shape {g.shape}, expected the shape of log_probs {log_probs.shape}")
        dlogits = g - np.exp(log_probs) * g.sum(axis=2, keepdims=True)  # log_softmax backward
        dout = self.head.backward(dlogits)
        df, _ = self.rnn.backward(dout)
        dseq = self.proj.backward(df * (f > 0))
        N, C2, H4, T = fmap_shape
        dfmap = dseq.reshape(T, N, C2, H4).transpose(1, 2, 3, 0)
        dp1 = self.conv2.backward(self.pool2.backward(dfmap) * (a2 > 0))  # (a2 > 0): relu and the width mask
        dx = self.conv1.backward(self.pool1.backward(dp1) * (a1 > 0))
        if keep is not None:
            dx *= keep
        return dx[:, 0] if unbatched_channel else dx

    # --- decoding -------------------------------------------------------------------------------
    def decode(self, images, widths=None, beam: int | None = None, batch: int = 256) -> list[str]:
        """Read each image: greedy (best class per column, repeats merged, blanks dropped) or, with
        ``beam``, CTC prefix beam search keeping ``beam`` prefixes. Runs in eval mode."""
        texts: list[str] = []
        with self.evaluating():
            for start in range(0, len(images), batch):
                w = None if widths is None else np.asarray(widths)[start : start + batch]
                log_probs, lengths = self.forward(images[start : start + batch], w)
                if beam is None:
                    labels = ctc_greedy_decode(log_probs, lengths)
                else:
                    labels = ctc_beam_decode(log_probs, beam, lengths)
                texts.extend(self.labels_to_string(seq) for seq in labels)
        self.tape = None
        return texts
