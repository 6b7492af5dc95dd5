"""Reading text lines: the IIIT lecture's two OCR models beside CRNN with CTC, on the same data.

Data: lines of random lower-case letters (3 to 10 in training), rendered with the DejaVu fonts
matplotlib ships (rnnlab.data.render: ten faces for training, DejaVuSerif-Italic and
DejaVuSansMono-Bold held out), with a random slant, size jitter and pixel noise. Random letters,
not words: no model can guess a letter from its neighbours, so every character must be read.

The three models (rnnlab.models.ocr) see the same lines:
    segmented  the characters' boxes are given; each glyph through a CNN, a BiLSTM over the
               glyphs, one softmax per character (the lecture's case study 1)
    maxlen     no boxes: the CNN features of the whole line, copied to each of Maxlen LSTM
               steps, one softmax per step with a "no character" class (case study 2)
    crnn       no boxes: CNN columns as a sequence, a BiLSTM, CTC (Shi, Bai & Yao 2015)

Each is read on new lines of every length from 3 to 14 (11 to 14: longer than any it trained on),
in the training fonts and in the held-out ones: sequence accuracy (the whole line right) and the
character error rate (edit distance / characters). Maxlen covers the longest test line and the
fixed canvas its width, so the maxlen model could write the longer lines; it has never had to.
"""

from __future__ import annotations

import numpy as np

from ..data import render
from ..models.metrics import character_error_rate, exact_match
from ..models.ocr import CRNN, DOWNSAMPLE, CRNNConfig, MaxlenReader, ReaderConfig, SegmentedReader
from ..nn import cross_entropy, ctc_loss
from ..train.checkpoint import load_checkpoint, load_weights_into
from .common import MINUTES, Experiment, Fit, Option, SupervisedTask, fit, positive_int

MODELS = ("segmented", "maxlen", "crnn")
TRAIN_LENGTHS = (3, 10)  # characters per training line
TEST_LENGTHS = range(3, 15)  # 11..14 are longer than any training line
BATCH = 32  # lines per step (16 with --quick)
QUICK_STEPS = 120
GLYPH = 28  # the segmented model's crop width: wider than 99% of glyph boxes (at most 31 px measured)
STYLE = dict(slant=0.15, noise=0.05, jitter=0.1)  # the rendering's random variation, the same for every set


class Lines:
    """Rendered lines kept as uint8 (render.text_lines_uint8), each at its own width."""

    def __init__(self, n: int, fonts, rng: np.random.Generator, min_len: int, max_len: int, chunk: int = 500):
        self.images, self.texts, self.boxes, self.fonts = render.text_lines_uint8(
            n, fonts, render.LOWER, min_len, max_len, rng, chunk=chunk, **STYLE
        )
        self.widths = np.array([image.shape[1] for image in self.images], np.int64)

    def __len__(self) -> int:
        return len(self.texts)

    def batch(self, index, width: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Lines `index` as (images (n, H, W) float32 in [0, 1], widths (n,)), W = width or the widest,
        rounded up to a multiple of 4 so every column of the feature map is whole."""
        widths = self.widths[index]
        W = width or int(-(-widths.max() // DOWNSAMPLE) * DOWNSAMPLE)
        images = np.zeros((len(index), self.images[0].shape[0], W), np.float32)
        for row, i in enumerate(index):
            images[row, :, : widths[row]] = self.images[i]
        return images / np.float32(255), widths

    def crops(self, index) -> tuple[np.ndarray, np.ndarray]:
        images, _ = self.batch(index)
        return render.glyph_crops(images, [self.boxes[i] for i in index], GLYPH)


def build(name: str, quick: bool, canvas: int, maxlen: int, rng: np.random.Generator):
    """The model `name` at the experiment's size (smaller with quick)."""
    alphabet = render.LOWER
    if name == "crnn":
        size = dict(channels=(8, 16), features=32, hidden=32, layers=1) if quick else {}
        return CRNN(CRNNConfig(alphabet, **size), rng)
    size = dict(channels=(8, 16), features=32, hidden=32) if quick else dict(features=128, hidden=128)
    if name == "segmented":
        return SegmentedReader(ReaderConfig(alphabet, width=GLYPH, **size), rng)
    return MaxlenReader(ReaderConfig(alphabet, width=canvas, maxlen=maxlen, **size), rng)


def read(model, lines: Lines, index=None) -> list[str]:
    index = np.arange(len(lines)) if index is None else index
    if isinstance(model, SegmentedReader):
        return model.read(*lines.crops(index))
    if isinstance(model, MaxlenReader):
        return model.read(lines.batch(index, model.config.width)[0])
    return model.decode(*lines.batch(index))


def task_for(model, lines: Lines, val: Lines, sorted_index: np.ndarray, batch_size: int) -> SupervisedTask:
    """A SupervisedTask: batches of lines of similar width (less padding), validation CER as the score."""

    def indices(rng):
        start = rng.integers(0, max(1, len(sorted_index) - 4 * batch_size))
        return rng.choice(sorted_index[start : start + 4 * batch_size], size=batch_size, replace=False)

    if isinstance(model, SegmentedReader):

        def batch(step, rng):
            index = indices(rng)
            crops, lengths = lines.crops(index)
            return crops, lengths, model.encode([lines.texts[i] for i in index], steps=crops.shape[0])

        def loss(logits, target):
            return cross_entropy(logits, target[0], mask=target[1])

    elif isinstance(model, MaxlenReader):

        def batch(step, rng):
            index = indices(rng)
            return lines.batch(index, model.config.width)[0], None, model.encode([lines.texts[i] for i in index])

        loss = cross_entropy

    else:

        def batch(step, rng):
            index = indices(rng)
            images, widths = lines.batch(index)
            return images, widths, model.encode([lines.texts[i] for i in index])

        def loss(scores, target):
            (log_probs, steps), (targets, target_lengths) = scores, target
            return ctc_loss(log_probs, targets, steps, target_lengths, reduction="mean")

    return SupervisedTask(
        model,
        batch,
        loss,
        lambda: character_error_rate(read(model, val), val.texts),
        {"model": type(model).__name__, "config": vars(model.config), "batch": batch_size},
    )


def run(ctx):
    quick = ctx.quick
    rng = np.random.default_rng(ctx.seed)
    n_train = ctx.options.get("lines") or (400 if quick else 12000)
    per_length = 4 if quick else 100
    batch_size = 16 if quick else BATCH
    models = ctx.options.get("models") or MODELS
    ctx.say(
        f"rendering {n_train} training lines of {TRAIN_LENGTHS[0]}-{TRAIN_LENGTHS[1]} letters "
        f"in {len(render.TRAIN_FONTS)} fonts"
    )
    train = Lines(n_train, render.TRAIN_FONTS, rng, *TRAIN_LENGTHS)
    val = Lines(32 if quick else 256, render.TRAIN_FONTS, rng, *TRAIN_LENGTHS)
    tests = {}
    for fonts_name, fonts in (("training fonts", render.TRAIN_FONTS), ("held-out fonts", render.HELD_OUT_FONTS)):
        parts = [Lines(per_length, fonts, rng, L, L) for L in TEST_LENGTHS]
        tests[fonts_name] = parts
    widest = max(int(p.widths.max()) for parts in tests.values() for p in parts)
    canvas = -(-max(widest, int(train.widths.max())) // DOWNSAMPLE) * DOWNSAMPLE
    ctx.say(
        f"test lines: {per_length} per length {TEST_LENGTHS[0]}-{TEST_LENGTHS[-1]} in each font set; "
        f"the Maxlen canvas is {canvas} px wide"
    )
    sorted_index = np.argsort(train.widths, kind="stable")
    minutes = ctx.options.get("minutes") or 8.0
    results, trained = {}, {}
    for name in models:
        model = build(name, quick, canvas, TEST_LENGTHS[-1], np.random.default_rng(ctx.seed))
        how = Fit(
            steps=QUICK_STEPS if quick else None,
            minutes=None if quick else minutes,
            lr=3e-3,
            clip=5.0,
            eval_every=QUICK_STEPS // 2 if quick else 200,
            progress=ctx.progress,
            seed=ctx.seed,
            score_name="CER",
            final_eval=True,
        )
        ctx.say(
            f"training {name} ({sum(p.data.size for p in model.parameters()):,} weights) "
            + (f"for {QUICK_STEPS} steps" if quick else f"for {minutes:g} minutes")
        )
        result, _ = fit(
            task_for(model, train, val, sorted_index, batch_size),
            ctx.out.path / name,
            how,
            on_eval=lambda step, score, improved: ctx.say(f"  step {step}: validation CER {100 * score:.2f}%"),
        )
        load_weights_into(model, load_checkpoint(ctx.out.path / name / "best"))
        trained[name] = model
        for fonts_name, parts in tests.items():
            for L, part in zip(TEST_LENGTHS, parts):
                readings = read(model, part)
                record = {
                    "model": name,
                    "fonts": fonts_name,
                    "length": L,
                    "sequence_accuracy": exact_match(readings, part.texts),
                    "cer": character_error_rate(readings, part.texts),
                    "per_character": per_character(readings, part.texts),
                    "lines": len(part),
                }
                ctx.out.log(**record, steps=result.steps)
                results[(name, fonts_name, L)] = record
        ctx.say(f"  {name}: {result.steps} steps; " + headline(results, name, "held-out fonts"))

    summary, lines = report(results, models, tests, quick)
    plot_lengths(ctx, results, models)
    plot_examples(ctx, trained, tests["held-out fonts"])
    return summary, lines


def per_character(readings: list[str], truths: list[str]) -> float:
    """The share of characters read right at their own position (lines of the right length only
    count fully; a reading of another length counts its positions up to the shorter)."""
    right = sum(sum(a == b for a, b in zip(r, t)) for r, t in zip(readings, truths))
    return right / sum(len(t) for t in truths)


def pooled(results: dict, name: str, fonts: str, lengths) -> dict:
    """Line-weighted means over `lengths` (every length has the same number of lines)."""
    rows = [results[(name, fonts, L)] for L in lengths]
    return {k: float(np.mean([r[k] for r in rows])) for k in ("sequence_accuracy", "cer", "per_character")}


def headline(results: dict, name: str, fonts: str) -> str:
    seen = pooled(results, name, fonts, range(TRAIN_LENGTHS[0], TRAIN_LENGTHS[1] + 1))
    longer = pooled(results, name, fonts, range(TRAIN_LENGTHS[1] + 1, TEST_LENGTHS[-1] + 1))
    return (
        f"{fonts}, 3-10 letters: {100 * seen['sequence_accuracy']:.1f}% lines right, CER {100 * seen['cer']:.2f}%; "
        f"11-14 letters: {100 * longer['sequence_accuracy']:.1f}% lines right"
    )


def report(results: dict, models, tests: dict, quick: bool) -> tuple[dict, list[str]]:
    seen_lengths = range(TRAIN_LENGTHS[0], TRAIN_LENGTHS[1] + 1)
    longer_lengths = range(TRAIN_LENGTHS[1] + 1, TEST_LENGTHS[-1] + 1)
    table = {
        name: {
            fonts: {
                "3-10": pooled(results, name, fonts, seen_lengths),
                "11-14": pooled(results, name, fonts, longer_lengths),
            }
            for fonts in tests
        }
        for name in models
    }
    lines = [
        "| model | fonts | lines right, 3-10 | CER, 3-10 | per character, 3-10 | lines right, 11-14 | CER, 11-14 |",
        "|---|---|---|---|---|---|---|",
    ]
    for name in models:
        for fonts in tests:
            a, b = table[name][fonts]["3-10"], table[name][fonts]["11-14"]
            lines.append(
                f"| {name} | {fonts} | {100 * a['sequence_accuracy']:.1f}% | {100 * a['cer']:.2f}% | "
                f"{100 * a['per_character']:.2f}% | {100 * b['sequence_accuracy']:.1f}% | {100 * b['cer']:.2f}% |"
            )
    targets = {}
    if not quick:
        held = "held-out fonts"
        if "crnn" in models:
            crnn = table["crnn"][held]["3-10"]
            targets["crnn_95_percent_lines_1_percent_cer"] = crnn["sequence_accuracy"] >= 0.95 and crnn["cer"] <= 0.01
        if "crnn" in models and "maxlen" in models:
            targets["ctc_ahead_on_longer_lines"] = (
                table["crnn"][held]["11-14"]["sequence_accuracy"] > table["maxlen"][held]["11-14"]["sequence_accuracy"]
            )
        if "segmented" in models:
            targets["segmented_99_percent_per_character"] = table["segmented"][held]["3-10"]["per_character"] >= 0.99
        lines += ["", *(f"Target {k.replace('_', ' ')}: {'met' if v else 'not met'}." for k, v in targets.items())]
    summary = {
        "table": table,
        "targets": targets,
        "target_met": all(targets.values()) if targets else None,
        "result": "; ".join(f"{name}: {headline(results, name, 'held-out fonts')}" for name in models),
    }
    return summary, lines


def plot_lengths(ctx, results: dict, models) -> None:
    with ctx.out.figure("accuracy_by_length") as plot:
        if plot is None:
            return
        fig, ax = plot
        for color, name in zip(("C0", "C1", "C2"), models):
            for style, fonts in (("-", "training fonts"), ("--", "held-out fonts")):
                acc = [100 * results[(name, fonts, L)]["sequence_accuracy"] for L in TEST_LENGTHS]
                ax.plot(list(TEST_LENGTHS), acc, style, color=color, marker="o", ms=3, label=f"{name}, {fonts}")
        ax.axvspan(TRAIN_LENGTHS[1] + 0.5, TEST_LENGTHS[-1] + 0.5, color="0.92", label="longer than any training line")
        ax.set_xlabel("letters in the line")
        ax.set_ylabel("lines read exactly (%)")
        ax.set_title("reading rendered lines: segmented, Maxlen and CRNN + CTC")
        ax.legend(fontsize=7)


def plot_examples(ctx, trained: dict, parts: list[Lines], count: int = 8) -> None:
    """Held-out-font lines of increasing length, each with every model's reading (green when right)."""
    picks = [(parts[k], 0) for k in np.linspace(0, len(parts) - 1, count).round().astype(int)]
    widest = max(part.widths[i] for part, i in picks)
    with ctx.out.figure("examples", nrows=count, figsize=(9, 0.95 * count)) as plot:
        if plot is None:
            return
        fig, axes = plot
        for ax, (part, i) in zip(np.atleast_1d(axes), picks):
            ax.imshow(part.images[i], cmap="gray_r", extent=(0, part.widths[i], part.images[i].shape[0], 0))
            ax.set_xlim(0, widest)
            ax.axis("off")
            ax.set_title(f"{part.texts[i]}   ({part.fonts[i]})", fontsize=8, loc="left")
            for k, (name, model) in enumerate(trained.items()):
                reading = read(model, part, np.array([i]))[0]
                ax.text(
                    1.03,
                    0.85 - 0.35 * k,
                    f"{name}: {reading or '(nothing)'}",
                    transform=ax.transAxes,
                    fontsize=8,
                    family="monospace",
                    color="green" if reading == part.texts[i] else "firebrick",
                )
        fig.suptitle("held-out fonts: each model's reading (green: the whole line right)", fontsize=9)
        fig.subplots_adjust(right=0.62)


EXPERIMENT = Experiment(
    name="ocr",
    title="reading rendered text lines: the lecture's segmented and Maxlen models beside CRNN + CTC",
    anchor=(
        "CRNN (Shi, Bai & Yao 2015) and Keras' captcha OCR example (2 conv blocks, 2 BiLSTMs, CTC): target >= 95% "
        "of held-out-font lines of 3-10 letters read exactly, CER <= 1%, within 10 minutes on 2 cores; CTC ahead of "
        "Maxlen on lines longer than any trained on; the segmented model >= 99% per character"
    ),
    options=(
        MINUTES,
        Option("lines", "training lines to render (default 12000; 400 with --quick)", parse=positive_int),
        Option("models", "which models to train (default all three)", nargs="+", choices=MODELS),
    ),
    run=run,
)
