"""Long-term memory: the adding problem, the copy-memory task, and gradient clipping.

adding (Hochreiter & Schmidhuber 1997; Le, Jaitly & Hinton 2015): T values and two markers; say
the sum of the two marked values. Answering the mean, 1, scores MSE 1/6 ~ 0.167. H&S count a
sequence as processed correctly when its absolute error is below 0.04 and stop training once
every recent one is; here training stops once all 1000 validation sequences are (the model has
then solved the task), and the test counts the wrong answers among 2560 new sequences as H&S did.

copy (Arjovsky, Shah & Bengio 2016): ten symbols from 8, T - 1 blanks, a delimiter, then write the
ten symbols back. Blanks until the delimiter and a uniform guess after score 10 ln 8 / (T + 20)
nats per step: a model below that has remembered something.

Both compare a tanh RNN, an IRNN (ReLU, identity init), an LSTM and a GRU at T = 100 and 200,
each with the same hidden size, Adam and gradient-norm clipping, for at most --minutes each
(stopping early once solved). The budget is wall-clock time, so the cheaper tanh RNN and IRNN
take three to four times as many steps as the gated cells.

clipping: the same tanh RNN on the adding problem at a learning rate where gradients explode,
once without and once with gradient-norm clipping (Pascanu, Mikolov & Bengio 2013).
"""

from __future__ import annotations

import json
import math
import time

import numpy as np

from ..data.tasks import (
    ADDING_BASELINE_MSE,
    ADDING_SOLVED_ERROR,
    COPY_LENGTH,
    COPY_SYMBOLS,
    adding_problem,
    copy_baseline,
    copy_memory,
)
from ..models.classifier import ClassifierConfig, SequenceClassifier
from ..models.encoder import EncoderConfig, cell_choices
from ..models.tagger import SequenceTagger, TaggerConfig
from ..nn import cross_entropy, mse
from .common import MINUTES, Experiment, Fit, Option, SupervisedTask, all_finite, fit, positive_int, training_losses

CELL_LABELS = {"rnn": "tanh RNN", "irnn": "IRNN", "lstm": "LSTM", "gru": "GRU"}
# The anchor at T = 100: the gated cells and the IRNN solve it, the tanh RNN does not.
SOLVE_T100, FAIL_T100 = ("lstm", "gru", "irnn"), "rnn"
# Adam's learning rate per cell: 1e-3 for all (the IRNN at 1e-4 stayed at the baseline MSE for
# 1000 steps at T=100, at 1e-3 it fell to 0.007; measured with the gradient norm clipped to 1).
LEARNING_RATES = {"rnn": 1e-3, "irnn": 1e-3, "lstm": 1e-3, "gru": 1e-3}


def _options(ctx, default_lengths):
    cells = ctx.options.get("cells") or list(CELL_LABELS)
    for c in cells:
        if c not in cell_choices():
            raise ValueError(f"--cells takes {', '.join(cell_choices())}, got {c!r}")
    lengths = ctx.options.get("lengths") or default_lengths
    if any(T < 2 for T in lengths):
        raise ValueError(f"--lengths must be at least 2, got {lengths}")
    minutes = ctx.options.get("minutes") or 5.0
    return cells, lengths, minutes


def _curves_plot(ctx, name, runs, baseline, ylabel, title):
    with ctx.out.figure(name) as plot:
        if plot is None:
            return
        fig, ax = plot
        for label, run_dir in runs:
            losses = training_losses(run_dir)
            if losses:
                steps, values = zip(*losses)
                k = max(1, len(values) // 100)
                smooth = np.convolve(np.nan_to_num(values, nan=np.nanmax(values)), np.ones(k) / k, mode="valid")
                ax.plot(steps[k - 1 :], smooth, label=label)
        ax.axhline(baseline, color="0.4", ls="--", label=f"baseline {baseline:.3f}")
        ax.set_yscale("log")
        ax.set_xlabel("step")
        ax.set_ylabel(ylabel)
        ax.set_title(title)
        ax.legend(fontsize=8)


# --- the adding problem -----------------------------------------------------------------------------
def adding_model(cell: str, T: int, hidden: int, rng) -> SequenceClassifier:
    return SequenceClassifier(
        ClassifierConfig(outputs=1, encoder=EncoderConfig(input_size=2, cell=cell, hidden=hidden)), rng
    )


def train_adding(ctx, cell: str, T: int, hidden: int, how: Fit, folder: str, init_scale: float | None = None):
    """Train one model on the adding problem; returns (model, TrainResult, run folder)."""
    rng = np.random.default_rng(ctx.seed)
    model = adding_model(cell, T, hidden, rng)
    if init_scale is not None:  # recurrent weights scaled up: the regime where gradients explode
        for name, p in model.named_parameters():
            if "weight_hh" in name:
                from ..nn.init import orthogonal_

                orthogonal_(p.data, rng, gain=init_scale)
    val_x, val_y = adding_problem(1000, T, np.random.default_rng(ctx.seed + 1))

    def batch(step, rng):
        x, y = adding_problem(50, T, rng)
        return x, None, y[:, None]

    def evaluate():  # the largest validation error: below 0.04, every sequence is right (H&S)
        with np.errstate(over="ignore", invalid="ignore"):
            return float(np.abs(model.predict(val_x)[:, 0] - val_y).max())

    task = SupervisedTask(
        model, batch, lambda s, y: mse(s, y), evaluate, {"model": model.config.to_json(), "T": T, "batch": 50}
    )
    run_dir = ctx.out.path / folder
    result, _ = fit(task, run_dir, how)
    return model, result, run_dir


def adding_test(model, T: int, n: int, seed: int) -> dict:
    x, y = adding_problem(n, T, np.random.default_rng(seed))
    if not all_finite(model):  # a diverged run: its weights overflowed
        return {"mse": math.inf, "max_error": math.inf, "within_0.04": 0.0, "wrong": n, "sequences": n}
    err = model.predict(x)[:, 0] - y
    with np.errstate(over="ignore"):  # a diverging run's huge errors square to inf: that is its MSE
        mse = float(np.mean(err**2))
    wrong = int((np.abs(err) >= ADDING_SOLVED_ERROR).sum())
    return {
        "mse": mse,
        "max_error": float(np.abs(err).max()),
        "within_0.04": 1 - wrong / n,
        "wrong": wrong,
        "sequences": n,
    }


HS_TEST_SEQUENCES = 2560  # the size of Hochreiter & Schmidhuber's test sets


def run_adding(ctx):
    cells, lengths, minutes = _options(ctx, [100, 200])
    if ctx.quick:
        cells, lengths = ctx.options.get("cells") or ["gru"], [20]
    hidden = 16 if ctx.quick else 64
    results, runs = {}, []
    lines = [
        f"Hidden size {hidden}, Adam, batch 50, gradient norm clipped to 1, at most {minutes:g} min "
        "per model, stopping once solved: every one of 1000 validation sequences within 0.04 of its "
        f"sum (H&S's criterion). Test: {HS_TEST_SEQUENCES} new sequences.",
        "",
        "| T | model | solved | steps | minutes | test MSE | wrong (error >= 0.04) | max error |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for T in lengths:
        for cell in cells:
            label = f"{CELL_LABELS[cell]} T={T}"
            ctx.say(f"adding problem: {label}")
            how = Fit(
                steps=500 if ctx.quick else None,
                minutes=None if ctx.quick else minutes,
                lr=1e-2 if ctx.quick else LEARNING_RATES[cell],
                clip=1.0,
                eval_every=50 if ctx.quick else 200,
                target=None if ctx.quick else ADDING_SOLVED_ERROR,
                progress=ctx.progress,
                seed=ctx.seed,
                score_name="max error",
            )
            started = time.perf_counter()
            model, result, run_dir = train_adding(ctx, cell, T, hidden, how, f"{cell}-T{T}")
            seconds = time.perf_counter() - started
            test = adding_test(model, T, HS_TEST_SEQUENCES, ctx.seed + 2)
            solved = result.stop_reason == "target_reached"
            results[label] = test | {
                "steps": result.steps,
                "stop_reason": result.stop_reason,
                "solved": solved,
                "seconds": seconds,
            }
            runs.append((label, run_dir))
            ctx.out.log(
                event="test", task="adding", cell=cell, T=T, steps=result.steps, solved=solved, seconds=seconds, **test
            )
            ctx.say(
                f"  {'solved' if solved else 'not solved'} after {result.steps} steps ({seconds / 60:.1f} min): "
                f"test MSE {test['mse']:.4f} (baseline {ADDING_BASELINE_MSE:.3f}), "
                f"{test['wrong']} of {test['sequences']} wrong"
            )
            lines.append(
                f"| {T} | {CELL_LABELS[cell]} | {'yes' if solved else 'no'} | {result.steps} | "
                f"{seconds / 60:.1f} | {test['mse']:.4f} | {test['wrong']} of {test['sequences']} | "
                f"{test['max_error']:.3f} |"
            )
    _curves_plot(ctx, "adding", runs, ADDING_BASELINE_MSE, "training MSE", "the adding problem")
    at100 = {c: results.get(f"{CELL_LABELS[c]} T=100") for c in CELL_LABELS}
    target_met = None
    if all(v is not None for v in at100.values()):
        target_met = all(at100[c]["solved"] for c in SOLVE_T100) and not at100[FAIL_T100]["solved"]
    summary = {
        "results": results,
        "baseline_mse": ADDING_BASELINE_MSE,
        "target_met": target_met,
        "result": "; ".join(
            f"{k} {'solved' if v['solved'] else 'not solved'} in {v['steps']} steps, MSE {v['mse']:.4f}"
            for k, v in results.items()
        ),
    }
    lines += [
        "",
        f"Baseline (always answer 1): MSE {ADDING_BASELINE_MSE:.3f}. Target (LSTM, GRU and IRNN solve "
        f"T=100 within {minutes:g} min, the tanh RNN does not): "
        + ("not run (needs every cell at T=100)" if target_met is None else "met" if target_met else "not met")
        + ".",
    ]
    return summary, lines


# --- the copy-memory task ----------------------------------------------------------------------
def run_copy(ctx):
    cells, lengths, minutes = _options(ctx, [100, 200])
    if ctx.quick:
        cells, lengths = ctx.options.get("cells") or ["gru"], [5]
    hidden = 32 if ctx.quick else 64
    results, runs = {}, []
    lines = [
        f"Hidden size {hidden}, Adam, batch 50, gradient norm clipped to 1, at most {minutes:g} min "
        "per model; cross-entropy per step over all T + 20 steps, 1000 test sequences.",
        "",
        "| T | model | steps | test cross-entropy | memoryless baseline | recalled symbols right |",
        "|---|---|---|---|---|---|",
    ]
    for T in lengths:
        baseline = copy_baseline(T)
        val_ids, val_targets = copy_memory(500, T, np.random.default_rng(ctx.seed + 1))
        for cell in cells:
            label = f"{CELL_LABELS[cell]} T={T}"
            ctx.say(f"copy memory: {label} (baseline {baseline:.4f} nats)")
            rng = np.random.default_rng(ctx.seed)
            config = TaggerConfig(
                outputs=COPY_SYMBOLS + 1,
                encoder=EncoderConfig(
                    vocab_size=COPY_SYMBOLS + 2, embedding=COPY_SYMBOLS + 2, cell=cell, hidden=hidden
                ),
            )
            model = SequenceTagger(config, rng)

            def batch(step, rng, T=T):
                ids, targets = copy_memory(50, T, rng)
                return ids, None, targets

            def evaluate(model=model, val_ids=val_ids, val_targets=val_targets):
                return cross_entropy(model.predict(val_ids), val_targets)[0]

            task = SupervisedTask(
                model,
                batch,
                lambda s, y: cross_entropy(s, y),
                evaluate,
                {"model": config.to_json(), "T": T, "batch": 50},
            )
            how = Fit(
                steps=400 if ctx.quick else None,
                minutes=None if ctx.quick else minutes,
                lr=1e-2 if ctx.quick else LEARNING_RATES[cell],
                clip=1.0,
                eval_every=50 if ctx.quick else 200,
                target=None if ctx.quick else baseline / 100,
                progress=ctx.progress,
                seed=ctx.seed,
            )
            run_dir = ctx.out.path / f"{cell}-T{T}"
            result, _ = fit(task, run_dir, how)
            ids, targets = copy_memory(1000, T, np.random.default_rng(ctx.seed + 2))
            scores = model.predict(ids)
            ce = cross_entropy(scores, targets)[0]
            recalled = float((scores[-COPY_LENGTH:].argmax(-1) == targets[-COPY_LENGTH:]).mean())
            results[label] = {
                "cross_entropy": ce,
                "baseline": baseline,
                "recalled": recalled,
                "steps": result.steps,
                "stop_reason": result.stop_reason,
            }
            runs.append((label, run_dir))
            ctx.out.log(
                event="test",
                task="copy",
                cell=cell,
                T=T,
                steps=result.steps,
                cross_entropy=ce,
                baseline=baseline,
                recalled=recalled,
            )
            ctx.say(
                f"  {result.steps} steps ({result.stop_reason}): cross-entropy {ce:.4f}, "
                f"{100 * recalled:.1f}% of recalled symbols right (chance {100 / COPY_SYMBOLS:.1f}%)"
            )
            lines.append(
                f"| {T} | {CELL_LABELS[cell]} | {result.steps} | {ce:.4f} | {baseline:.4f} | {100 * recalled:.1f}% |"
            )
    _curves_plot(
        ctx,
        "copy",
        runs,
        copy_baseline(lengths[0]),
        "training cross-entropy (nats/step)",
        f"copy memory (baseline line for T={lengths[0]})",
    )
    summary = {
        "results": results,
        "target_met": None,
        "result": "; ".join(
            f"{k} CE {v['cross_entropy']:.4f} (baseline {v['baseline']:.4f}), recall {100 * v['recalled']:.0f}%"
            for k, v in results.items()
        ),
    }
    lines += ["", f"Chance for a recalled symbol: {100 / COPY_SYMBOLS:.1f}%."]
    return summary, lines


# --- gradient clipping ---------------------------------------------------------------------------
def run_clipping(ctx):
    T, hidden, lr, scale = 20, 32, 0.1, 1.5
    steps = 1000 if ctx.quick else 3000
    outcomes, runs = {}, []
    lines = [
        f"Tanh RNN, {hidden} units, recurrent weights orthogonal x {scale} (gradients explode), "
        f"the adding problem at T={T}, plain SGD with learning rate {lr}, {steps} steps, the same "
        "seed and batches; once without and once with the gradient norm clipped to 1.",
        "",
        "| clipping | steps | stopped | largest gradient norm | test MSE | skipped (non-finite) steps |",
        "|---|---|---|---|---|---|",
    ]
    for clip in (None, 1.0):
        label = "clipped to 1" if clip else "no clipping"
        ctx.say(f"clipping demonstration: {label}")
        how = Fit(
            steps=steps, lr=lr, clip=clip, optimizer="sgd", eval_every=steps // 10, progress=ctx.progress, seed=ctx.seed
        )
        with np.errstate(over="ignore", invalid="ignore"):  # the unclipped run overflows on purpose
            model, result, run_dir = train_adding(
                ctx, "rnn", T, hidden, how, "clipped" if clip else "unclipped", init_scale=scale
            )
        records = [json.loads(r) for r in (run_dir / "metrics.jsonl").read_text().splitlines()]
        grad_norms = [float(r["grad_norm"]) for r in records if "grad_norm" in r]
        largest = max(grad_norms) if grad_norms else math.nan
        test = adding_test(model, T, 1000, ctx.seed + 2)
        outcomes[label] = test | {
            "largest_grad_norm": largest,
            "skipped": result.skipped,
            "steps": result.steps,
            "stop_reason": result.stop_reason,
        }
        runs.append((label, run_dir))
        ctx.out.log(event="test", task="clipping", clip=clip, largest_grad_norm=largest, skipped=result.skipped, **test)
        ctx.say(f"  largest gradient norm {largest:.3g}, test MSE {test['mse']:.4g}")
        lines.append(
            f"| {label} | {result.steps} | {result.stop_reason} | {largest:.3g} | {test['mse']:.4g} | "
            f"{result.skipped} |"
        )
    _curves_plot(ctx, "clipping", runs, ADDING_BASELINE_MSE, "training MSE", f"tanh RNN, adding T={T}, SGD lr {lr}")
    free, clipped = outcomes["no clipping"], outcomes["clipped to 1"]
    target_met = clipped["mse"] < 0.5 * ADDING_BASELINE_MSE and free["mse"] > clipped["mse"] * 2
    summary = {
        "outcomes": outcomes,
        "target_met": target_met,
        "result": f"test MSE without clipping {free['mse']:.4g}, with clipping {clipped['mse']:.4f} "
        f"(baseline {ADDING_BASELINE_MSE:.3f})",
    }
    return summary, lines + ["", f"Baseline (always answer 1): MSE {ADDING_BASELINE_MSE:.3f}."]


_MEMORY_OPTIONS = (
    Option("cells", f"which of {' '.join(CELL_LABELS)} (default all)", nargs="+", metavar="CELL"),
    Option("lengths", "sequence lengths (default 100 200)", parse=positive_int, nargs="+", metavar="T"),
    MINUTES,
)
ADDING = Experiment(
    name="adding",
    title="the adding problem at T = 100, 200: tanh RNN, IRNN, LSTM, GRU",
    anchor="H&S 1997 / Le et al. 2015: LSTM, GRU and IRNN solve T=100 (every error < 0.04), the tanh RNN does not; "
    "baseline MSE 0.167",
    options=_MEMORY_OPTIONS,
    run=run_adding,
)
COPY = Experiment(
    name="copy",
    title="the copy-memory task at T = 100, 200: tanh RNN, IRNN, LSTM, GRU",
    anchor="Arjovsky et al. 2016: the memoryless baseline 10 ln 8 / (T + 20) (0.173 nats at T=100)",
    options=_MEMORY_OPTIONS,
    run=run_copy,
)
CLIPPING = Experiment(
    name="clipping",
    title="gradient clipping turns a diverging tanh-RNN run into a converging one",
    anchor="Pascanu, Mikolov & Bengio 2013: clipping the gradient norm tames exploding gradients",
    options=(),
    run=run_clipping,
)
