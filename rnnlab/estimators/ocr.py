"""Reading the text of a one-line image (OCR) from a person's own labelled images, or from
rendered lines: a CRNN trained with CTC.

    est = RNNTextReader(minutes=3).fit(images, texts)     # images: 2-D arrays of any size
    est.predict([image]), est.score(images, texts), est.evaluate(images, texts)
    images, texts, source = RNNTextReader.read_file("lines/labels.csv")   # file,text rows
    images, texts, source = RNNTextReader.read_file(None, rendered=RNNTextReader.rendered_source(5000))

Preprocessing (rnnlab.data.images.line_image), the same for training and reading, so nothing of
it is learnt but the alphabet:
    images    each scaled to `height` rows keeping its aspect ratio, stretched to [0, 1], inverted
              when the border is light (dark ink on paper), the background subtracted: ink 1,
              background 0, as rendered lines are; padded on the right to a multiple of 4 columns
              (the model reads one step per 4 columns); a training image too narrow for its text (CTC
              needs a step per character, and one more between doubled letters: T = W/4 >=
              len + repeats) is padded further
    alphabet  the characters of the training texts, sorted: class k >= 1 of the model is
              alphabet[k - 1], class 0 the CTC blank

Model: rnnlab.models.ocr.CRNN, two conv blocks (`channels` and 2 * `channels` maps, 3x3, relu,
2x2 max-pool), the feature map read column by column (T = W/4 steps), a Linear of `features`
units, a bidirectional LSTM of `layers` x `hidden` units, per-column class scores; the CTC loss
(mean over the batch of each line's loss over its length; an impossible alignment counts zero).
The checkpoint kept has the lowest validation error: the share of validation lines not read
exactly, plus a hundredth of the character error rate to break ties. predict() decodes greedily
(best class per column, repeats merged, blanks dropped), or by CTC prefix beam search of width
`beam`.

Metrics: sequence accuracy (the share of lines read exactly) and the character error rate (edit
distance over reference characters, rnnlab.models.metrics).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..data.images import MAX_HEIGHT, read_image, read_labels, rendered_lines
from ..data.render import HELD_OUT_FONTS, LOWER, TRAIN_FONTS
from ..data.text import DataError
from ..models.metrics import character_error_rate, exact_match
from ..models.ocr import CRNN, DOWNSAMPLE, CRNNConfig
from ..nn import ctc_loss
from ..train.limits import recurrent_parameters
from .base import RNNEstimator, Say

MAX_BEAM = 100  # prefix beam search keeps beam x classes candidates a step: wider is all cost
MAX_RENDERED = 100_000  # rendered lines one fit may ask for (each some 14 KB once preprocessed)
READ_BATCH = 64  # lines decoded at once, sorted by width so that little is padding
# BLAS threads while fitting and reading: the CRNN's GEMMs are small (a batch of 32 lines, 64-unit
# LSTM steps); on the 2-core machine, shared, 2 threads took 0.96-2.1 s a step of the default model
# and 1 thread 0.26-0.31 s (the hand-off between threads, rnnlab's design guide, section 2)
BLAS_THREADS = 1
RENDERED_LENGTHS = (3, 10)  # the built-in default's strings: 3 to 10 lower-case letters


def _ctc(scores, target):
    """The Trainer's loss: CRNN.forward's (log_probs, lengths) against (targets, target_lengths)."""
    log_probs, lengths = scores
    targets, target_lengths = target
    return ctc_loss(log_probs, targets, lengths, target_lengths, reduction="mean", zero_infinity=True)


def columns_needed(text: str) -> int:
    """The fewest CTC steps that can spell `text`: a step per character and a blank between doubled ones."""
    return len(text) + sum(a == b for a, b in zip(text, text[1:]))


def _pad(lines: list[np.ndarray], height: int) -> tuple[np.ndarray, np.ndarray]:
    """Lines of one height -> (images (N, height, W) float32 zero-padded right, widths (N,))."""
    widths = np.array([line.shape[1] for line in lines], np.int64)
    images = np.zeros((len(lines), height, int(widths.max())), np.float32)
    for k, line in enumerate(lines):
        images[k, :, : line.shape[1]] = line
    return images, widths


def _positive(name: str, value, low: int = 1, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low or (high and value > high):
        bound = f" in [{low}, {high}]" if high else f" >= {low}"
        raise ValueError(f"{name} must be an integer{bound}, got {value!r}")
    return int(value)


class RNNTextReader(RNNEstimator):
    """A line reader: image of one line of text in, its text out (scikit-learn's parameter protocol).

    Args (keyword only; every one is a parameter that get_params/set_params and GridSearchCV see):
        height: the rows every image is scaled to (a multiple of 4, at most 128).
        channels: maps of the first conv block (the second has twice as many).
        features: the Linear between a column's conv features and the LSTM.
        hidden, layers: the bidirectional LSTM (units per direction, stacked layers).
        steps / minutes / epochs: the budget (steps, else minutes, else epochs passes).
        batch_size, lr, clip: Adam's batch (lines), learning rate and gradient-norm clip (0: none).
        beam: predict()'s CTC prefix beam width (0: greedy).
        validation_fraction, test_fraction: lines held out to choose the checkpoint and to report
            held-out metrics (run.json and evaluation.json of the run folder).
        seed: the split, the initial weights and the batches.
        warm_start: fit() on a fitted estimator continues training (same alphabet).
        progress: a progress bar on stderr.
        run_dir: the run folder to train into (None: a temporary one, removed after fit).

    Attributes after fit: alphabet_, model_, n_steps_, best_validation_, test_metrics_.
    """

    task = "ocr"
    _score_name = "error rate"

    def __init__(
        self,
        *,
        height: int = 32,
        channels: int = 16,
        features: int = 64,
        hidden: int = 64,
        layers: int = 1,
        steps: int | None = None,
        minutes: float | None = None,
        epochs: float = 10,
        batch_size: int = 32,
        lr: float = 3e-3,
        clip: float = 5.0,
        beam: int = 0,
        validation_fraction: float = 0.1,
        test_fraction: float = 0.0,
        seed: int = 0,
        warm_start: bool = False,
        progress: bool = False,
        run_dir: str | Path | None = None,
    ):
        self.height, self.channels, self.features, self.hidden, self.layers = height, channels, features, hidden, layers
        self.steps, self.minutes, self.epochs = steps, minutes, epochs
        self.batch_size, self.lr, self.clip, self.beam = batch_size, lr, clip, beam
        self.validation_fraction, self.test_fraction, self.seed = validation_fraction, test_fraction, seed
        self.warm_start, self.progress, self.run_dir = warm_start, progress, run_dir

    # --- input ---------------------------------------------------------------------------------
    def _check_params(self) -> None:
        height = _positive("height", self.height, 8, MAX_HEIGHT)
        if height % DOWNSAMPLE:
            raise ValueError(f"height must be a multiple of {DOWNSAMPLE} (two 2x2 pools), got {height}")
        for name in ("channels", "features", "hidden", "layers"):
            _positive(name, getattr(self, name))
        _positive("beam", self.beam, 0, MAX_BEAM)

    def _check(self, X, y) -> tuple[list, list]:
        self._check_params()
        if y is None:
            raise ValueError("a text reader needs the texts: fit(images, texts)")
        if isinstance(y, str):
            raise ValueError("the texts must be a list of strings, not one string")
        X, y = list(X), list(y)
        if len(X) != len(y):
            raise ValueError(f"got {len(X)} images but {len(y)} texts")
        if not X:
            raise ValueError("no images to learn from")
        for k, text in enumerate(y):
            if not isinstance(text, str) or not text:
                raise ValueError(f"text {k} is {text!r}; every text must be a non-empty string")
        return self._lines(X), y

    def _lines(self, X) -> list[np.ndarray]:
        """Every image through line_image (see the module docstring), padded with background on the
        right to a multiple of DOWNSAMPLE columns: the model reads W // 4 columns, and no column of
        ink is left out."""
        from ..data.images import line_image

        lines = []
        for k, image in enumerate(X):
            try:
                line = line_image(image, self.height)
            except ValueError as err:
                raise ValueError(f"image {k}: {err}") from None
            lines.append(np.pad(line, ((0, 0), (0, -line.shape[1] % DOWNSAMPLE))))
        return lines

    def fit(self, X, y=None, *, source: dict | None = None, say: Say | None = None) -> RNNTextReader:
        """As RNNEstimator.fit, with BLAS pinned to BLAS_THREADS threads (the Trainer records it)."""
        from threadpoolctl import threadpool_limits

        with threadpool_limits(BLAS_THREADS, user_api="blas"):
            return super().fit(X, y, source=source, say=say)

    def _train(self, batch, loss, rows: int, validation, say: Say, test=None) -> None:
        """As RNNEstimator._train; fitted on rendered lines (read_file(None, rendered=...)) with no
        test share, the held-out metrics are those of evaluate_held_out_fonts()."""
        if (getattr(self, "source_", None) or {}).get("rendered") and not self.test_fraction:
            test = self.evaluate_held_out_fonts
        super()._train(batch, loss, rows, validation, say, test)

    # --- preprocessing -------------------------------------------------------------------------
    def _learn(self, X: list, y: list, say: Say) -> None:
        self.alphabet_ = "".join(sorted(set("".join(y))))
        widths = [line.shape[1] for line in X]
        shown = self.alphabet_ if len(self.alphabet_) <= 40 else self.alphabet_[:37] + "..."
        say(
            f"{len(X):,} training lines of {self.height} rows, {min(widths)}-{max(widths)} columns wide; "
            f"texts of {min(map(len, y))}-{max(map(len, y))} characters; alphabet {len(self.alphabet_)} ({shown!r})"
        )

    # --- model and training --------------------------------------------------------------------
    def _config(self) -> CRNNConfig:
        return CRNNConfig(
            alphabet=self.alphabet_,
            height=self.height,
            channels=(self.channels, 2 * self.channels),
            features=self.features,
            hidden=self.hidden,
            layers=self.layers,
        )

    def _parameter_count(self) -> int:
        """The CRNN's size before it is built (the base checks that it fits in memory): the two
        3x3 convs, the Linear from a column's C2 * height/4 numbers, the bidirectional LSTM and
        the head over the alphabet and the blank."""
        c1, c2 = self.channels, 2 * self.channels
        classes = len(self.alphabet_) + 1
        convs = (9 * 1 + 1) * c1 + (9 * c1 + 1) * c2
        proj = (c2 * (self.height // DOWNSAMPLE) + 1) * self.features
        rnn = recurrent_parameters("lstm", self.features, self.hidden, self.layers, bidirectional=True)
        return convs + proj + rnn + (2 * self.hidden + 1) * classes

    def _build_model(self, rng: np.random.Generator) -> CRNN:
        return CRNN(self._config(), rng)

    def _training(self, X: list, y: list):
        lines = []
        for line, text in zip(X, y):  # room for CTC to spell the text (module docstring)
            short = DOWNSAMPLE * columns_needed(text) - line.shape[1]
            lines.append(np.pad(line, ((0, 0), (0, short))) if short > 0 else line)
        targets, target_lengths = self.model_.encode(y)
        n, batch = len(lines), min(self.batch_size, len(lines))

        def draw(step, rng):
            idx = rng.choice(n, size=batch, replace=False)
            images, widths = _pad([lines[i] for i in idx], self.height)
            longest = max(1, int(target_lengths[idx].max()))
            return images, widths, (targets[idx, :longest], target_lengths[idx])

        return draw, _ctc, n

    def _validation_score(self, X: list, y: list) -> float:
        out = self._read(X)
        return 1.0 - exact_match(out, y) + 0.01 * min(1.0, character_error_rate(out, y))

    # --- use -------------------------------------------------------------------------------------
    def _read(self, lines: list[np.ndarray], beam: int | None = None) -> list[str]:
        """The texts of preprocessed lines, decoded READ_BATCH at a time in order of width."""
        from threadpoolctl import threadpool_limits

        beam = self.beam if beam is None else beam
        _positive("beam", beam, 0, MAX_BEAM)
        out: list[str] = [""] * len(lines)
        order = np.argsort([line.shape[1] for line in lines], kind="stable")
        with threadpool_limits(BLAS_THREADS, user_api="blas"):
            for start in range(0, len(order), READ_BATCH):
                idx = order[start : start + READ_BATCH]
                images, widths = _pad([lines[i] for i in idx], self.height)
                for i, text in zip(idx, self.model_.decode(images, widths, beam=beam or None)):
                    out[i] = text
        return out

    def predict(self, X) -> list[str]:
        """The text read from every image (greedy, or prefix beam search of width `beam`)."""
        self._require_fitted()
        if isinstance(X, np.ndarray) and X.ndim == 2:
            raise ValueError("predict takes a list of images; wrap one image in a list: predict([image])")
        X = list(X)
        return self._read(self._lines(X)) if X else []

    def _texts(self, y) -> list[str]:
        if isinstance(y, str):
            raise ValueError("the texts must be a list of strings, not one string")
        y = list(y)
        for k, text in enumerate(y):
            if not isinstance(text, str):
                raise ValueError(f"text {k} is a {type(text).__name__}, not a string")
        return y

    def score(self, X, y) -> float:
        """Sequence accuracy (0..1): the share of images whose text is read exactly."""
        y = self._texts(y)
        out = self.predict(X)
        if len(out) != len(y):
            raise ValueError(f"got {len(out)} images but {len(y)} texts")
        return exact_match(out, y)

    def evaluate(self, X, y) -> dict:
        """lines, sequence_accuracy (0..1), character_error_rate (0..), and up to five lines read
        wrong (`errors`: their 0-based index, what was read and the text)."""
        y = self._texts(y)
        out = self.predict(X)
        if len(out) != len(y):
            raise ValueError(f"got {len(out)} images but {len(y)} texts")
        if not y:
            raise ValueError("no images to evaluate")
        wrong = [k for k in range(len(y)) if out[k] != y[k]]
        return {
            "lines": len(y),
            "sequence_accuracy": exact_match(out, y),
            "character_error_rate": character_error_rate(out, y) if any(y) else float(any(out)),
            "errors": [{"index": k, "output": out[k], "target": y[k]} for k in wrong[:5]],
        }

    # --- the command line: files in, records out -------------------------------------------------
    @staticmethod
    def rendered_source(lines: int = 10_000, seed: int = 0, height: int = 32, held_out: bool = False) -> dict:
        """What read_file(None, rendered=...) renders: `lines` random lower-case strings of 3-10
        letters in the training fonts (held_out: in rnnlab.data.render.HELD_OUT_FONTS, from
        another seed, so other strings too)."""
        return {
            "lines": lines,
            "fonts": list(HELD_OUT_FONTS if held_out else TRAIN_FONTS),
            "seed": seed + 1 if held_out else seed,
            "min_len": RENDERED_LENGTHS[0],
            "max_len": RENDERED_LENGTHS[1],
            "alphabet": LOWER,
            "height": height,
        }

    def evaluate_held_out_fonts(self, lines: int = 500) -> dict:
        """evaluate() on `lines` rendered lines in the fonts the built-in default never trains on
        (rnnlab.data.render.HELD_OUT_FONTS), at the model's height; `fonts` names them."""
        spec = self.rendered_source(lines, self.seed, self.height, held_out=True)
        X, y, _ = self.read_file(None, rendered=spec)
        return self.evaluate(X, y) | {"fonts": spec["fonts"]}

    @classmethod
    def read_file(cls, path, *, rendered: dict | None = None, **_) -> tuple[list, list[str], dict]:
        """(images, texts, source) from a labels file (rnnlab.data.images.read_labels: file,text rows,
        image paths relative to it), or with path None from `rendered` (rendered_source's dict)."""
        if path is not None:
            data = read_labels(path)
            return data.images, data.texts, {"path": str(path)}
        if not isinstance(rendered, dict):
            raise ValueError("no labels file: give one (--data LABELS), or rendered lines (rendered_source())")
        spec = dict(rendered)
        expected = set(cls.rendered_source())
        if set(spec) != expected:
            raise ValueError(f"rendered lines are described by {', '.join(sorted(expected))}; got {sorted(spec)}")
        _positive("the number of rendered lines (--lines)", spec["lines"], 1, MAX_RENDERED)
        _positive("rendered height", spec["height"], 8, MAX_HEIGHT)
        images, texts = rendered_lines(
            spec["lines"],
            spec["fonts"],
            spec["seed"],
            spec["min_len"],
            spec["max_len"],
            spec["alphabet"],
            spec["height"],
        )
        return images, texts, {"path": None, "rendered": spec}

    def records_for(self, path) -> list[dict]:
        """`rnnlab predict RUN IMAGE [IMAGE ...]`: the text read from each image file (`path`: one
        path or a list of them); a file that is not a readable image is a DataError naming it."""
        files = [path] if isinstance(path, (str, os.PathLike)) else list(path or [])
        if not files or "-" in files:
            raise ValueError("an ocr run reads image files: rnnlab predict RUN IMAGE [IMAGE ...]")
        self._require_fitted()
        lines = []
        for file in files:
            image = read_image(file)
            try:
                lines += self._lines([image])
            except ValueError as err:
                raise DataError(file, str(err).removeprefix("image 0: ")) from None
        return [{"input": str(f), "text": t} for f, t in zip(files, self._read(lines))]

    def predict_records(self, X) -> list[dict]:
        return [{"text": t} for t in self.predict(X)]

    def record_text(self, record: dict) -> str:
        return record["text"]

    def evaluation_lines(self, metrics: dict) -> list[str]:
        fonts = f" in the fonts {', '.join(metrics['fonts'])}" if metrics.get("fonts") else ""
        lines = [
            f"{metrics['lines']:,} lines{fonts}: sequence accuracy {metrics['sequence_accuracy']:.4f}, "
            f"character error rate {metrics['character_error_rate']:.4f}"
        ]
        if metrics.get("errors"):
            lines.append("read wrong (images counted from 1 in the order given):")
            lines += [
                f"  image {e['index'] + 1}: read {e['output']!r}, true {e['target']!r}" for e in metrics["errors"]
            ]
        return lines

    def evaluation_plot(self, metrics: dict, X, y, path: Path) -> Path | None:
        """Up to eight lines as the model sees them (the wrong ones first), each titled with what was
        read and the text."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        X, y = list(X), list(y)
        wrong = [e["index"] for e in metrics.get("errors", [])]
        shown = (wrong + [k for k in range(len(y)) if k not in wrong])[:8]
        lines = self._lines([X[k] for k in shown])
        read = self._read(lines)
        fig, axes = plt.subplots(len(shown), 1, figsize=(6, 0.9 * len(shown) + 0.6), dpi=110, squeeze=False)
        for ax, k, line, text in zip(axes[:, 0], shown, lines, read):
            ax.imshow(line, cmap="gray_r", vmin=0, vmax=1, aspect="equal")
            ax.set_title(f"read {text!r}  true {y[k]!r}", fontsize=8, color="black" if text == y[k] else "crimson")
            ax.set_axis_off()
        fig.suptitle(
            f"sequence accuracy {metrics['sequence_accuracy']:.3f}, CER {metrics['character_error_rate']:.3f}",
            fontsize=9,
        )
        fig.tight_layout()
        fig.savefig(path)
        plt.close(fig)
        return path

    # --- run.json ----------------------------------------------------------------------------------
    def _preprocessing(self) -> dict:
        return {"alphabet": self.alphabet_}

    def _restore(self, d: dict) -> None:
        alphabet = d["alphabet"]
        if not isinstance(alphabet, str) or not alphabet or len(set(alphabet)) != len(alphabet):
            raise ValueError(f"the alphabet must be a non-empty string of distinct characters, got {alphabet!r}")
        self.alphabet_ = alphabet
