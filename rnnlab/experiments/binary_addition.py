"""Bit-serial binary addition: an RNN "can add two numbers of any size".

A tanh RNN reads the two numbers one bit pair per step, least significant bit first, and writes
the sum's bit at the same step; all it has to remember is the carry. It is trained on numbers of
at most 8 bits and tested, exactly (every bit of the sum right), on 8, 16, 64 and 256-bit
numbers: an algorithm learnt once works at every length, which a network with a fixed-size
input cannot even be asked.
"""

from __future__ import annotations

import numpy as np

from ..data.tasks import binary_addition
from ..models.encoder import EncoderConfig
from ..models.tagger import SequenceTagger, TaggerConfig
from ..nn import cross_entropy
from .common import Experiment, Fit, SupervisedTask, fit

TEST_BITS = (8, 16, 64, 256)
TRAIN_MAX_BITS = 8


def exact_match(model, bits: int, n: int, rng: np.random.Generator) -> float:
    """Share of n random pairs of `bits`-bit numbers whose every sum bit the model gets right."""
    x, y = binary_addition(n, bits, rng)
    predicted = model.predict(x, batch=n).argmax(-1)
    return float((predicted == y).all(axis=0).mean())


def run(ctx):
    quick = ctx.quick
    rng = np.random.default_rng(ctx.seed)
    config = TaggerConfig(outputs=2, encoder=EncoderConfig(input_size=2, cell="rnn", hidden=8 if quick else 16))
    model = SequenceTagger(config, rng)
    val_x, val_y = binary_addition(500, TRAIN_MAX_BITS, np.random.default_rng(ctx.seed + 1))

    def batch(step, rng):
        bits = int(rng.integers(1, TRAIN_MAX_BITS + 1))  # numbers of 1 to 8 bits
        x, y = binary_addition(64, bits, rng)
        return x, None, y

    def evaluate():
        return cross_entropy(model.forward(val_x), val_y)[0]

    how = Fit(
        steps=400 if quick else 3000,
        lr=1e-2,
        clip=1.0,
        eval_every=50 if quick else 100,
        target=None if quick else 1e-3,
        progress=ctx.progress,
        seed=ctx.seed,
    )
    task = SupervisedTask(
        model,
        batch,
        lambda s, y: cross_entropy(s, y),
        evaluate,
        {"model": config.to_json(), "train_max_bits": TRAIN_MAX_BITS, "batch": 64},
    )
    ctx.say(f"training a tanh RNN ({config.encoder.hidden} units) on numbers of at most {TRAIN_MAX_BITS} bits")
    result, _ = fit(task, ctx.out.path / "rnn", how)

    test_rng = np.random.default_rng(ctx.seed + 2)
    n = 200 if quick else 1000
    scores = {}
    for bits in TEST_BITS:
        scores[bits] = exact_match(model, bits, n, test_rng)
        ctx.out.log(event="test", bits=bits, sums=n, exact_match=scores[bits])
        ctx.say(f"{bits:4d}-bit numbers: {100 * scores[bits]:.1f}% of {n} sums exactly right")

    with ctx.out.figure("exact_match") as plot:
        if plot is not None:
            fig, ax = plot
            ax.plot(list(scores), [100 * v for v in scores.values()], "o-")
            ax.axvline(TRAIN_MAX_BITS, color="0.6", ls="--", label=f"trained on <= {TRAIN_MAX_BITS} bits")
            ax.set_xscale("log", base=2)
            ax.set_xlabel("bits per number")
            ax.set_ylabel("sums exactly right (%)")
            ax.set_ylim(-2, 102)
            ax.set_title("bit-serial addition, tanh RNN")
            ax.legend()

    target_met = all(v == 1.0 for v in scores.values())
    summary = {
        "exact_match": scores,
        "train_steps": result.steps,
        "stop_reason": result.stop_reason,
        "target_met": target_met,
        "result": ", ".join(f"{b} bits {100 * v:.1f}%" for b, v in scores.items()) + " exact",
    }
    lines = [
        f"Tanh RNN with {config.encoder.hidden} units, trained {result.steps} steps "
        f"({result.stop_reason}) on numbers of at most {TRAIN_MAX_BITS} bits.",
        "",
        "| bits | sums exactly right |",
        "|---|---|",
        *(f"| {b} | {100 * v:.1f}% of {n} |" for b, v in scores.items()),
        "",
        f"Target (100% at every length): {'met' if target_met else 'not met'}.",
    ]
    return summary, lines


EXPERIMENT = Experiment(
    name="binary-addition",
    title="bit-serial addition, trained on <= 8 bits, tested on 8/16/64/256-bit numbers",
    anchor="the lectures: an RNN 'can add two numbers of any size' (target 100% exact at every length)",
    options=(),
    run=run,
)
