"""Running parity: an RNN trained on short sequences is right on sequences 50 times longer;
an MLP trained on N bits has no input for bit N + 1.

The RNN reads one bit per step and says, at every step, whether it has seen an odd number of
ones: it needs one bit of state, flipped by every 1. Trained on sequences of at most 20 bits,
it is tested on 20, 100 and 1000. The contrast: an MLP with N = 8 inputs learns the parity of
8 bits, but a 9-bit string does not fit its input; fed the 8 bits it can see, it is right half
the time, because the ninth bit flips the answer.
"""

from __future__ import annotations

import numpy as np

from ..data.tasks import running_parity
from ..models.encoder import EncoderConfig
from ..models.mlp import MLP
from ..models.tagger import SequenceTagger, TaggerConfig
from ..nn import Adam, clip_grad_norm_, cross_entropy
from .common import Experiment, Fit, SupervisedTask, fit

TRAIN_MAX_LEN = 20
TEST_LENGTHS = (20, 100, 1000)
MLP_BITS = 8


def sequence_accuracy(model, T: int, n: int, rng) -> tuple[float, float]:
    """(share of sequences with every running parity right, share of final parities right)."""
    x, y = running_parity(n, T, rng)
    predicted = model.predict(x, batch=n).argmax(-1)
    return float((predicted == y).all(axis=0).mean()), float((predicted[-1] == y[-1]).mean())


def train_mlp(bits: int, steps: int, rng: np.random.Generator) -> tuple[MLP, float, float]:
    """An MLP on every `bits`-bit string; returns it, its accuracy on them, and its accuracy on
    (bits + 1)-bit strings given their first `bits` bits (all it can take)."""
    mlp = MLP([bits, 64, 2], rng=rng)
    strings = ((np.arange(2**bits)[:, None] >> np.arange(bits)) & 1).astype(np.float32)
    labels = strings.sum(axis=1).astype(np.int64) & 1
    opt = Adam(mlp.named_parameters(), lr=1e-2)
    for _ in range(steps):
        opt.zero_grad()
        loss, d = cross_entropy(mlp.forward(strings), labels)
        mlp.backward(d)
        clip_grad_norm_(mlp.parameters(), 1.0)
        opt.step()
    seen = float((mlp.forward(strings).argmax(-1) == labels).mean())
    longer = ((np.arange(2 ** (bits + 1))[:, None] >> np.arange(bits + 1)) & 1).astype(np.float32)
    longer_labels = longer.sum(axis=1).astype(np.int64) & 1
    truncated = float((mlp.forward(longer[:, :bits]).argmax(-1) == longer_labels).mean())
    return mlp, seen, truncated


def run(ctx):
    quick = ctx.quick
    rng = np.random.default_rng(ctx.seed)
    config = TaggerConfig(outputs=2, encoder=EncoderConfig(input_size=1, cell="gru", hidden=8 if quick else 16))
    model = SequenceTagger(config, rng)
    val_x, val_y = running_parity(500, TRAIN_MAX_LEN, np.random.default_rng(ctx.seed + 1))

    def batch(step, rng):
        x, y = running_parity(64, int(rng.integers(2, TRAIN_MAX_LEN + 1)), rng)
        return x, None, y

    def evaluate():
        return cross_entropy(model.forward(val_x), val_y)[0]

    # Full runs train until the validation cross-entropy is below 1e-5 nats: a confident, saturated
    # state is what carries the parity over 1000 steps (stopping at 1e-3 left 98.7% right at 1000).
    how = Fit(
        steps=300 if quick else 8000,
        lr=1e-2,
        clip=1.0,
        eval_every=50 if quick else 100,
        target=None if quick else 1e-5,
        progress=ctx.progress,
        seed=ctx.seed,
    )
    task = SupervisedTask(
        model,
        batch,
        lambda s, y: cross_entropy(s, y),
        evaluate,
        {"model": config.to_json(), "train_max_len": TRAIN_MAX_LEN, "batch": 64},
    )
    ctx.say(f"training a GRU ({config.encoder.hidden} units) on sequences of at most {TRAIN_MAX_LEN} bits")
    result, _ = fit(task, ctx.out.path / "gru", how)

    test_rng = np.random.default_rng(ctx.seed + 2)
    n = 100 if quick else 1000
    lengths = TEST_LENGTHS[:2] if quick else TEST_LENGTHS
    rnn_scores = {}
    for T in lengths:
        every, final = sequence_accuracy(model, T, n, test_rng)
        rnn_scores[T] = final
        ctx.out.log(event="test", model="gru", length=T, sequences=n, final_parity=final, every_step=every)
        ctx.say(f"length {T:5d}: final parity right for {100 * final:.1f}%, every step right for {100 * every:.1f}%")

    _, mlp_seen, mlp_longer = train_mlp(MLP_BITS, 3000, np.random.default_rng(ctx.seed + 3))
    ctx.out.log(event="test", model="mlp", bits=MLP_BITS, accuracy=mlp_seen)
    ctx.out.log(
        event="test",
        model="mlp",
        bits=MLP_BITS + 1,
        accuracy=mlp_longer,
        note=f"the MLP takes {MLP_BITS} inputs: fed the first {MLP_BITS} bits",
    )
    ctx.say(
        f"MLP on {MLP_BITS} bits: {100 * mlp_seen:.1f}%; on {MLP_BITS + 1} bits (first {MLP_BITS} "
        f"fed): {100 * mlp_longer:.1f}%"
    )

    with ctx.out.figure("parity") as plot:
        if plot is not None:
            fig, ax = plot
            ax.plot(list(rnn_scores), [100 * v for v in rnn_scores.values()], "o-", label="GRU, trained on <= 20 bits")
            ax.plot(
                [MLP_BITS, MLP_BITS + 1], [100 * mlp_seen, 100 * mlp_longer], "s--", label=f"MLP with {MLP_BITS} inputs"
            )
            ax.axhline(50, color="0.6", ls=":", label="chance")
            ax.set_xscale("log")
            ax.set_xlabel("sequence length (bits)")
            ax.set_ylabel("parity right (%)")
            ax.set_ylim(-2, 102)
            ax.legend()

    target_met = len(rnn_scores) == len(TEST_LENGTHS) and all(v == 1.0 for v in rnn_scores.values())
    summary = {
        "gru_final_parity": rnn_scores,
        "mlp": {MLP_BITS: mlp_seen, MLP_BITS + 1: mlp_longer},
        "train_steps": result.steps,
        "stop_reason": result.stop_reason,
        "target_met": target_met,
        "result": ", ".join(f"T={T} {100 * v:.1f}%" for T, v in rnn_scores.items())
        + f"; MLP {MLP_BITS} bits {100 * mlp_seen:.0f}%, {MLP_BITS + 1} bits {100 * mlp_longer:.0f}%",
    }
    lines = [
        f"GRU with {config.encoder.hidden} units, trained {result.steps} steps ({result.stop_reason}) "
        f"on sequences of at most {TRAIN_MAX_LEN} bits; {n} test sequences per length.",
        "",
        "| model | length | parity right |",
        "|---|---|---|",
        *(f"| GRU | {T} | {100 * v:.1f}% |" for T, v in rnn_scores.items()),
        f"| MLP ({MLP_BITS} inputs) | {MLP_BITS} | {100 * mlp_seen:.1f}% |",
        f"| MLP ({MLP_BITS} inputs, first {MLP_BITS} bits fed) | {MLP_BITS + 1} | {100 * mlp_longer:.1f}% |",
        "",
        f"Target (100% up to length 1000): {'met' if target_met else 'not met'}.",
    ]
    return summary, lines


EXPERIMENT = Experiment(
    name="parity",
    title="running parity, trained on <= 20 bits, tested up to 1000; an MLP on fixed N bits beside it",
    anchor="the lectures: an RNN generalises to any length, an MLP on N bits cannot take N + 1 (target 100%)",
    options=(),
    run=run,
)
