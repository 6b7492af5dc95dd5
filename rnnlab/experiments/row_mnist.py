"""Digits read one row per step: an LSTM sees a 28x28 image as 28 steps of 28 pixels and names
the digit after the last row.

Data: the MNIST test set (the data set mnist-test of rnnlab.data.datasets, downloaded once; or
--data DIR), 10,000 images, split at random into 8,000 for training (of which 800 for validation:
the best checkpoint is kept) and 2,000 for testing; or --sklearn-digits, scikit-learn's 1,797 8x8
digits (8 steps of 8 pixels), when scikit-learn is installed. Training images are shifted by up to
2 pixels at random each time they are drawn, since 7,200 images are few for 10 classes.
"""

from __future__ import annotations

import numpy as np

from ..data.mnist import load_mnist
from ..models.classifier import ClassifierConfig, SequenceClassifier
from ..models.encoder import EncoderConfig
from ..nn import cross_entropy
from ..train.checkpoint import load_checkpoint, load_weights_into
from .common import MINUTES, Experiment, Fit, Option, SupervisedTask, accuracy, fit
from .sentiment import split


def sklearn_digits() -> tuple[np.ndarray, np.ndarray]:
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise ImportError("--sklearn-digits needs scikit-learn: pip install scikit-learn") from None
    digits = load_digits()
    return (digits.images * (255 / 16)).astype(np.uint8), digits.target.astype(np.int64)


def shift(images: np.ndarray, rng: np.random.Generator, most: int = 2) -> np.ndarray:
    """Each image moved by up to `most` pixels in each direction, zeros shifted in."""
    n, H, W = images.shape
    pad = np.zeros((n, H + 2 * most, W + 2 * most), images.dtype)
    pad[:, most : most + H, most : most + W] = images
    dy, dx = rng.integers(0, 2 * most + 1, size=(2, n))
    rows = (dy[:, None] + np.arange(H))[:, :, None]
    cols = (dx[:, None] + np.arange(W))[:, None, :]
    return pad[np.arange(n)[:, None, None], rows, cols]


def as_steps(images: np.ndarray) -> np.ndarray:
    """(n, rows, cols) uint8 -> (rows, n, cols) float32 in [0, 1]: one row per step."""
    return (images.transpose(1, 0, 2) / np.float32(255)).astype(np.float32)


def run(ctx):
    quick = ctx.quick
    if ctx.options.get("sklearn_digits"):
        images, labels, source = *sklearn_digits(), "scikit-learn 8x8 digits"
    else:
        folder = ctx.options.get("data") or ctx.datasets["mnist-test"]
        images, labels = load_mnist(folder)
        source = f"MNIST test set ({folder})"
    rng = np.random.default_rng(ctx.seed)
    train, val, test = split(len(images), rng)
    if quick:
        train = train[:1000]
    ctx.say(
        f"{source}: {len(images)} images of {images.shape[1]}x{images.shape[2]}; "
        f"train {len(train)}, validation {len(val)}, test {len(test)}"
    )
    config = ClassifierConfig(
        outputs=10, encoder=EncoderConfig(input_size=images.shape[2], cell="lstm", hidden=32 if quick else 128)
    )
    model = SequenceClassifier(config, np.random.default_rng(ctx.seed))
    batch_size = 64
    epoch = max(1, len(train) // batch_size)
    val_x = as_steps(images[val])

    def batch(step, rng):
        idx = rng.choice(train, size=batch_size, replace=False)
        return as_steps(shift(images[idx], rng, 0 if quick else 2)), None, labels[idx]

    def evaluate():
        return 1.0 - accuracy(model.predict(val_x), labels[val])  # the validation error rate

    minutes = ctx.options.get("minutes") or 9.0
    how = Fit(
        steps=300 if quick else None,
        minutes=None if quick else minutes,
        lr=2e-3,
        clip=1.0,
        eval_every=100 if quick else epoch,
        progress=ctx.progress,
        seed=ctx.seed,
        score_name="error rate",
    )
    task = SupervisedTask(
        model,
        batch,
        lambda s, y: cross_entropy(s, y),
        evaluate,
        {"model": config.to_json(), "batch": batch_size, "source": source},
    )
    ctx.say(
        f"training an LSTM ({config.encoder.hidden} units) "
        + ("for 300 steps" if quick else f"for {minutes:g} minutes")
    )
    result, scores = fit(
        task,
        ctx.out.path / "lstm",
        how,
        on_eval=lambda step, score, improved: ctx.say(f"  step {step}: validation accuracy {100 * (1 - score):.2f}%"),
    )
    load_weights_into(model, load_checkpoint(ctx.out.path / "lstm" / "best"))
    test_acc = accuracy(model.predict(as_steps(images[test])), labels[test])
    ctx.out.log(event="test", accuracy=test_acc, images=len(test), steps=result.steps)
    ctx.say(f"test accuracy {100 * test_acc:.2f}% on {len(test)} images ({result.steps} steps)")

    with ctx.out.figure("validation") as plot:
        if plot is not None and scores:
            fig, ax = plot
            steps, errors = zip(*scores)
            ax.plot(steps, [100 * (1 - e) for e in errors], "o-", ms=3, label="validation")
            ax.axhline(97, color="0.6", ls="--", label="target 97%")
            ax.set_xlabel("step")
            ax.set_ylabel("accuracy (%)")
            ax.set_title("digits read row by row, LSTM")
            ax.legend()

    target_met = None if quick or ctx.options.get("sklearn_digits") else test_acc >= 0.97
    summary = {
        "test_accuracy": test_acc,
        "steps": result.steps,
        "source": source,
        "target_met": target_met,
        "result": f"test accuracy {100 * test_acc:.2f}% ({len(test)} images, {result.steps} steps)",
    }
    lines = [
        f"{source}: trained on {len(train)} images, {result.steps} steps of {batch_size} "
        f"({result.stop_reason}), the best validation checkpoint kept.",
        "",
        f"Test accuracy: {100 * test_acc:.2f}% on {len(test)} held-out images.",
    ]
    if target_met is not None:
        lines.append(f"Target (>= 97%): {'met' if target_met else 'not met'}.")
    return summary, lines


EXPERIMENT = Experiment(
    name="row-mnist",
    title="digits read one row per step by an LSTM (MNIST test set split 8000/2000, or sklearn 8x8 digits)",
    anchor="the lectures / Le et al. 2015's row-by-row MNIST: target >= 97% test accuracy within 10 minutes",
    options=(
        Option(
            "data", "the folder with the MNIST IDX files (default: data set mnist-test, downloaded once)", metavar="DIR"
        ),
        MINUTES,
        Option("sklearn_digits", "scikit-learn's 8x8 digits instead", switch=True),
    ),
    run=run,
    datasets=("mnist-test",),
    data_options=("data", "sklearn_digits"),
)
