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
from ..nn.core import check_dtype, check_lengths
from ..nn.init import forget_gate_bias_, kaiming_normal_

DOWNSAMPLE = 4  # two 2x2 pools: one column of the feature map per 4 image columns


def he_init(rng: np.random.Generator, *layers) -> None:
    """Weights N(0, 2 / fan_in), biases 0, for layers a relu follows (He et al. 2015; Keras' captcha
    OCR example starts its convs so). torch's default, U(+-1/sqrt(fan_in)), has a sixth of that
    variance, so each relu layer shrinks what the LSTM sees; CTC's first plateau (blanks
    everywhere) is long enough without that."""
    for layer in layers:
        kaiming_normal_(layer.weight.data, rng)
        layer.bias.data[...] = 0


class ReaderLayers:
    """What the three readers here share, as a mixin so the parameters keep flat names (conv1.*,
    conv2.*, proj.*, rnn.*, head.*) in each model's state_dict: their layers (_build_reader) and
    the two conv blocks every one of them starts with:

        x (N, 1, H, W) --Conv2d 3x3 pad 1 -- relu -- MaxPool2d 2x2-->   (N, C1, H/2, W/2)
                        --Conv2d 3x3 pad 1 -- relu -- MaxPool2d 2x2-->   (N, C2, H/4, W/4)

    With widths, the input and both blocks' activations are zeroed right of each width (W, W/2),
    so a narrow image reads as it would alone, whatever padding lies right of it in the batch.
    Backward: the pools send the gradient to each window's maximum, relu passes it where the
    activation was positive (a zeroed column counts as not positive), the convs as in rnnlab.nn.conv.
    """

    def _build_reader(self, config, rng, proj_inputs: int, *, bidirectional: bool, classes: int) -> None:
        """The readers' layers, drawn from rng in this order: conv1, conv2 (he_init), proj (he_init:
        a relu follows it), the LSTM (forget bias config.forget_bias), the head to `classes`."""
        rng = rng if rng is not None else np.random.default_rng()
        self.config = config
        dt = self.dtype = check_dtype(config.dtype)
        c1, c2 = config.channels
        self.conv1 = self.add_module("conv1", Conv2d(1, c1, 3, padding=1, dtype=dt, rng=rng))
        self.pool1 = self.add_module("pool1", MaxPool2d(2))
        self.conv2 = self.add_module("conv2", Conv2d(c1, c2, 3, padding=1, dtype=dt, rng=rng))
        self.pool2 = self.add_module("pool2", MaxPool2d(2))
        he_init(rng, self.conv1, self.conv2)
        self.proj = self.add_module("proj", Linear(proj_inputs, config.features, dtype=dt, rng=rng))
        he_init(rng, self.proj)
        lstm = LSTM(
            config.features, config.hidden, num_layers=config.layers, bidirectional=bidirectional, dtype=dt, rng=rng
        )
        self.rnn = self.add_module("rnn", lstm)
        forget_gate_bias_(self.rnn, config.forget_bias)
        self.head = self.add_module("head", Linear((1 + bidirectional) * config.hidden, classes, dtype=dt, rng=rng))
        self.tape = None

    def _convs_forward(self, x: np.ndarray, widths: np.ndarray | None) -> np.ndarray:
        """x (N, 1, H, W), widths (N,) or None -> the feature map (N, C2, H/4, W/4)."""
        keep = None
        if widths is not None:  # zero everything right of each width, before each conv
            w = np.asarray(widths)[:, None, None, None]
            keep = np.arange(x.shape[3]) < w  # (N, 1, 1, W)
            x = x * keep
        a1 = np.maximum(self.conv1.forward(x), 0)
        if keep is not None:
            a1 *= keep
        a2 = np.maximum(self.conv2.forward(self.pool1.forward(a1)), 0)
        if keep is not None:
            a2 *= np.arange(a2.shape[3]) < w // 2
        self._conv_tape = (keep, a1, a2)
        return self.pool2.forward(a2)

    def _convs_backward(self, dfmap: np.ndarray) -> np.ndarray:
        """d feature map (N, C2, H/4, W/4) -> dx (N, 1, H, W)."""
        keep, a1, a2 = self._conv_tape
        dp1 = self.conv2.backward(self.pool2.backward(dfmap) * (a2 > 0))  # (a2 > 0): relu and the width mask
        dx = self.conv1.backward(self.pool1.backward(dp1) * (a1 > 0))
        if keep is not None:
            dx *= keep
        return dx


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


class CRNN(ReaderLayers, Module):
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
            that order; convs and Linear by he_init); None draws a fresh one.

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
        self._build_reader(
            config, rng, config.channels[1] * (config.height // DOWNSAMPLE), bidirectional=True, classes=config.classes
        )

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
        fmap = self._convs_forward(x, widths)  # (N, C2, H/4, T)
        T = fmap.shape[3]
        seq = np.ascontiguousarray(fmap.transpose(3, 0, 1, 2)).reshape(T, N, -1)  # column t -> step t
        f = np.maximum(self.proj.forward(seq), 0)
        out, _ = self.rnn.forward(f, lengths=lengths)
        logits = self.head.forward(out)
        shifted = logits - logits.max(axis=2, keepdims=True)
        log_probs = shifted - np.log(np.exp(shifted).sum(axis=2, keepdims=True))
        self.tape = (np.ndim(images) == 3, f, fmap.shape, log_probs)
        return log_probs, lengths

    def backward(self, dlog_probs) -> np.ndarray:
        """dlog_probs (T, N, K + 1), e.g. ctc_loss's gradient -> dimages (the shape of images)."""
        if self.tape is None:
            raise ValueError("backward() needs a forward() first: it differentiates the last forward pass")
        unbatched_channel, f, fmap_shape, log_probs = self.tape
        g = np.asarray(dlog_probs, dtype=self.dtype)
        if g.shape != log_probs.shape:
            raise ValueError(f"dlog_probs has shape {g.shape}, expected the shape of log_probs {log_probs.shape}")
        dlogits = g - np.exp(log_probs) * g.sum(axis=2, keepdims=True)  # log_softmax backward
        dout = self.head.backward(dlogits)
        df, _ = self.rnn.backward(dout)
        dseq = self.proj.backward(df * (f > 0))
        N, C2, H4, T = fmap_shape
        dfmap = dseq.reshape(T, N, C2, H4).transpose(1, 2, 3, 0)
        dx = self._convs_backward(dfmap)
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


# --- the lectures' two readers: told where the characters are, or told only how many at most --------


@dataclass
class ReaderConfig:
    """The two lecture models' settings (SegmentedReader and MaxlenReader)."""

    alphabet: str  # the characters, in class order
    height: int = 32  # image height in pixels, a multiple of 4
    width: int = 28  # SegmentedReader: one glyph crop's width; MaxlenReader: the fixed canvas width
    maxlen: int = 12  # MaxlenReader: the output steps, the longest string it can write
    channels: tuple[int, int] = (16, 32)  # output channels of the two conv blocks
    features: int = 128  # the Linear after the flattened feature map
    hidden: int = 64  # LSTM units per layer (and direction, for SegmentedReader)
    layers: int = 1  # stacked LSTM layers
    forget_bias: float = 1.0
    dtype: str = "float32"

    def __post_init__(self):
        CRNNConfig(self.alphabet, self.height, self.channels, self.features, self.hidden, self.layers)  # same checks
        self.channels = tuple(self.channels)
        for name, value in [("width", self.width), ("maxlen", self.maxlen)]:
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if self.width % DOWNSAMPLE:
            raise ValueError(f"width must be a multiple of {DOWNSAMPLE} (two 2x2 pools), got {self.width}")

    def flat_features(self) -> int:
        """C2 * H/4 * W/4: the numbers in one image's (or glyph's) feature map."""
        return self.channels[1] * (self.height // DOWNSAMPLE) * (self.width // DOWNSAMPLE)


def _check_images(images, dtype, height: int, width: int | None, what: str) -> np.ndarray:
    x = np.asarray(images, dtype=dtype)
    if x.ndim < 3 or x.shape[-2] != height or (width is not None and x.shape[-1] != width):
        w = "W" if width is None else width
        raise ValueError(f"{what} have shape {np.shape(images)}, expected (..., H={height}, {w})")
    return x


class SegmentedReader(ReaderLayers, Module):
    r"""The IIIT lecture's first OCR model: the characters are segmented (their boxes are known),
    each glyph goes through the same CNN, the glyphs' feature vectors form a sequence, a
    bidirectional LSTM reads it, and a softmax names every character; the loss is the cross-entropy
    summed (here: averaged) over the characters.

    ::

        glyph crops (L, N, H, G)  --2 conv blocks, per glyph--> (L N, C2, H/4, G/4)
          --flatten, Linear, relu--> (L, N, F) --BiLSTM (lengths)--> (L, N, 2 Hd) --Linear--> logits (L, N, K)

    L characters per line at most, G = ``config.width``, K = ``len(config.alphabet)``: class k is
    ``alphabet[k]``. Only real glyphs (step l < lengths[n]) go through the CNN; padding steps enter
    the LSTM as zeros and are masked out of the loss.

    Shapes:
        forward(crops (L, N, H, G), lengths (N,)) -> logits (L, N, K);
        backward(dlogits (L, N, K)) -> dcrops (L, N, H, G); read(crops, lengths) -> strings.

    Example::

        >>> import numpy as np
        >>> from rnnlab.models.ocr import ReaderConfig, SegmentedReader
        >>> model = SegmentedReader(ReaderConfig("ab", height=8, width=8, channels=(2, 4), features=8, hidden=4),
        ...                         np.random.default_rng(0))
        >>> crops, lengths = np.zeros((3, 2, 8, 8), np.float32), np.array([3, 1])
        >>> model(crops, lengths).shape
        (3, 2, 2)
        >>> targets, mask = model.encode(["ab", "b"], steps=3)
        >>> targets.tolist(), mask.tolist()
        ([[0, 1], [1, 0], [0, 0]], [[True, True], [True, False], [False, False]])
    """

    def __init__(self, config: ReaderConfig, rng: np.random.Generator | None = None):
        super().__init__()
        self._build_reader(config, rng, config.flat_features(), bidirectional=True, classes=len(config.alphabet))

    def encode(self, strings: list[str], steps: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Strings -> (targets (L, N) class ids, 0 past the end; mask (L, N), True on characters)."""
        index = {ch: k for k, ch in enumerate(self.config.alphabet)}
        steps = max([len(s) for s in strings] + [1]) if steps is None else steps
        targets, mask = np.zeros((steps, len(strings)), np.int64), np.zeros((steps, len(strings)), bool)
        for n, s in enumerate(strings):
            if len(s) > steps or set(s) - set(index):
                raise ValueError(f"{s!r} is longer than {steps} or has characters outside {self.config.alphabet!r}")
            targets[: len(s), n] = [index[ch] for ch in s]
            mask[: len(s), n] = True
        return targets, mask

    def forward(self, crops, lengths) -> np.ndarray:
        """crops (L, N, H, G), lengths (N,) -> logits (L, N, K)."""
        c = self.config
        x = _check_images(crops, self.dtype, c.height, c.width, "crops")
        if x.ndim != 4:
            raise ValueError(f"crops have shape {x.shape}, expected (L, N, H={c.height}, G={c.width})")
        L, N = x.shape[:2]
        lengths = check_lengths(lengths, L, N)
        real = np.flatnonzero((np.arange(L)[:, None] < lengths).reshape(-1))  # (l, n) of every glyph, l-major
        fmap = self._convs_forward(x.reshape(L * N, 1, c.height, c.width)[real], None)
        f = np.maximum(self.proj.forward(fmap.reshape(len(real), -1)), 0)
        seq = np.zeros((L * N, c.features), self.dtype)
        seq[real] = f
        out, _ = self.rnn.forward(seq.reshape(L, N, c.features), lengths=lengths)
        self.tape = (real, fmap.shape, f, x.shape)
        return self.head.forward(out)

    def backward(self, dlogits) -> np.ndarray:
        """dlogits (L, N, K) -> dcrops (L, N, H, G)."""
        if self.tape is None:
            raise ValueError("backward() needs a forward() first: it differentiates the last forward pass")
        real, fmap_shape, f, x_shape = self.tape
        dseq, _ = self.rnn.backward(self.head.backward(dlogits))
        df = dseq.reshape(-1, self.config.features)[real] * (f > 0)
        dglyphs = self._convs_backward(self.proj.backward(df).reshape(fmap_shape))
        dx = np.zeros((x_shape[0] * x_shape[1],) + x_shape[2:], self.dtype)
        dx[real] = dglyphs[:, 0]
        return dx.reshape(x_shape)

    def read(self, crops, lengths, batch: int = 256) -> list[str]:
        """The most likely character at every glyph, in eval mode."""
        texts: list[str] = []
        lengths = np.asarray(lengths)
        with self.evaluating():
            for start in range(0, len(lengths), batch):
                ln = lengths[start : start + batch]
                best = self.forward(crops[: max(1, ln.max()), start : start + batch], ln).argmax(axis=2)
                texts.extend("".join(self.config.alphabet[k] for k in best[: ln[n], n]) for n in range(len(ln)))
        self.tape = None
        return texts


class MaxlenReader(ReaderLayers, Module):
    r"""The IIIT lecture's second OCR model, without segmentation: the CNN features of the whole
    image, flattened to one vector, are copied to each of Maxlen steps of an LSTM, which writes one
    character per step; class 0 means "no character" (the string has ended). The loss is the
    cross-entropy over all Maxlen steps, so the model learns where strings end too.

    ::

        image (N, 1, H, Wc) --2 conv blocks--> (N, C2, H/4, Wc/4) --flatten, Linear, relu--> v (N, F)
          --the same v at each of Maxlen steps--> (Maxlen, N, F) --LSTM--> --Linear--> logits (Maxlen, N, K + 1)

    Wc = ``config.width`` is fixed (the flattened map must always have the same size): narrower
    images are padded with background, wider ones refused. Maxlen = ``config.maxlen`` bounds the
    strings it can write. Both are the model's limits, and what CRNN with CTC removes.

    Backward: v feeds every step, so dv is the sum over steps of the LSTM's input gradients.

    Shapes:
        forward(images (N, 1, H, W) or (N, H, W), W <= Wc) -> logits (Maxlen, N, K + 1);
        backward(dlogits) -> dimages (N, 1, H, Wc); read(images) -> strings.

    Example::

        >>> import numpy as np
        >>> from rnnlab.models.ocr import MaxlenReader, ReaderConfig
        >>> config = ReaderConfig("ab", height=8, width=16, maxlen=3, channels=(2, 4), features=8, hidden=4)
        >>> model = MaxlenReader(config, np.random.default_rng(0))
        >>> model(np.zeros((2, 8, 12), np.float32)).shape
        (3, 2, 3)
        >>> model.encode(["ab", "b"]).tolist()
        [[1, 2], [2, 0], [0, 0]]
    """

    def __init__(self, config: ReaderConfig, rng: np.random.Generator | None = None):
        super().__init__()
        self._build_reader(config, rng, config.flat_features(), bidirectional=False, classes=len(config.alphabet) + 1)

    def encode(self, strings: list[str]) -> np.ndarray:
        """Strings -> targets (Maxlen, N): class k >= 1 is alphabet[k - 1], 0 after the end. A string
        longer than Maxlen is cut to its first Maxlen characters (all this model could ever write)."""
        index = {ch: k + 1 for k, ch in enumerate(self.config.alphabet)}
        targets = np.zeros((self.config.maxlen, len(strings)), np.int64)
        for n, s in enumerate(strings):
            if set(s) - set(index):
                raise ValueError(f"{s!r} has characters outside the alphabet {self.config.alphabet!r}")
            s = s[: self.config.maxlen]
            targets[: len(s), n] = [index[ch] for ch in s]
        return targets

    def _canvas(self, images) -> np.ndarray:
        c = self.config
        x = _check_images(images, self.dtype, c.height, None, "images")
        x = x[:, None] if x.ndim == 3 else x
        if x.ndim != 4 or x.shape[1] != 1 or x.shape[3] > c.width:
            raise ValueError(f"images have shape {np.shape(images)}, expected (N, 1, H={c.height}, W <= {c.width})")
        if x.shape[3] < c.width:
            x = np.pad(x, ((0, 0), (0, 0), (0, 0), (0, c.width - x.shape[3])))
        return x

    def forward(self, images) -> np.ndarray:
        """images (N, 1, H, W) or (N, H, W) with W <= Wc -> logits (Maxlen, N, K + 1)."""
        x = self._canvas(images)
        fmap = self._convs_forward(x, None)
        v = np.maximum(self.proj.forward(fmap.reshape(len(x), -1)), 0)
        out, _ = self.rnn.forward(np.broadcast_to(v, (self.config.maxlen,) + v.shape))
        self.tape = (fmap.shape, v)
        return self.head.forward(out)

    def backward(self, dlogits) -> np.ndarray:
        """dlogits (Maxlen, N, K + 1) -> dimages (N, 1, H, Wc)."""
        if self.tape is None:
            raise ValueError("backward() needs a forward() first: it differentiates the last forward pass")
        fmap_shape, v = self.tape
        dsteps, _ = self.rnn.backward(self.head.backward(dlogits))
        dv = dsteps.sum(axis=0) * (v > 0)  # v fed every step: its gradient is the sum over steps
        return self._convs_backward(self.proj.backward(dv).reshape(fmap_shape))

    def read(self, images, batch: int = 256) -> list[str]:
        """Each step's most likely class, up to the first "no character"."""
        texts: list[str] = []
        with self.evaluating():
            for start in range(0, len(images), batch):
                best = self.forward(images[start : start + batch]).argmax(axis=2)  # (Maxlen, n)
                for n in range(best.shape[1]):
                    ids = best[:, n]
                    end = int(np.argmax(ids == 0)) if (ids == 0).any() else len(ids)
                    texts.append("".join(self.config.alphabet[k - 1] for k in ids[:end]))
        self.tape = None
        return texts
