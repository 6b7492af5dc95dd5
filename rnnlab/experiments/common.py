"""What every experiment shares: its run folder, the training of one model, the plots.

Run folder of `rnnlab experiment NAME --out DIR`:
    config.json       the experiment, its options and seed
    metrics.jsonl     one JSON object per measured result (a model, a length, a split ...)
    summary.json      the headline numbers, the anchor they are read against, target met or not
    summary.md        the same for a person, with the command that produced it
    *.png             plots (matplotlib, the `plot` extra; skipped with a note when missing)
    MODEL/            one folder per trained model, written by rnnlab.train.Trainer: its own
                      config.json, metrics.jsonl (every step), loss.png and last/best checkpoints
"""

from __future__ import annotations

import argparse
import json
import math
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..nn.optim import make_optimizer
from ..train.trainer import DivergedError, TrainConfig, Trainer, TrainResult


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (np.floating, float)):
        return float(value) if math.isfinite(value) else str(float(value))
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, (np.bool_,)):
        return bool(value)
    if isinstance(value, Path):
        return str(value)
    return value


class RunFolder:
    """An experiment's output folder; `say` receives one-line progress messages (the CLI prints
    them, tests pass nothing)."""

    def __init__(self, path, say: Callable[[str], None] | None = None):
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        (self.path / "metrics.jsonl").unlink(missing_ok=True)
        self.say = say or (lambda line: None)
        self.notes: list[str] = []
        self.started = time.perf_counter()

    def write_config(self, config: dict) -> None:
        (self.path / "config.json").write_text(json.dumps(_jsonable(config), indent=1))

    def log(self, **record) -> None:
        with open(self.path / "metrics.jsonl", "a") as f:
            f.write(json.dumps(_jsonable(record)) + "\n")

    def records(self) -> list[dict]:
        path = self.path / "metrics.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []

    @contextmanager
    def figure(self, name: str, **subplots):
        """Yields (fig, axes) and saves NAME.png; yields None (and notes it once) when matplotlib
        is missing, so an experiment runs to its numbers without the plot extra."""
        try:
            import matplotlib

            matplotlib.use("Agg")  # files only, no screen needed
            import matplotlib.pyplot as plt
        except ImportError:
            note = "plots skipped: matplotlib is not installed (pip install 'rnnlab[plot]')"
            if note not in self.notes:
                self.notes.append(note)
                self.say(note)
            yield None
            return
        subplots.setdefault("figsize", (8, 4.5))
        fig, axes = plt.subplots(dpi=110, **subplots)
        try:
            yield fig, axes
            fig.tight_layout()
            fig.savefig(self.path / f"{name}.png")
        finally:
            plt.close(fig)

    def finish(self, name: str, command: str, summary: dict, lines: list[str]) -> dict:
        """Write summary.json and summary.md; return the summary with wall time and notes."""
        summary = dict(summary)
        summary["experiment"] = name
        summary["command"] = command
        summary["wall_seconds"] = round(time.perf_counter() - self.started, 1)
        summary["notes"] = self.notes
        (self.path / "summary.json").write_text(json.dumps(_jsonable(summary), indent=1))
        md = [
            f"# {name}",
            "",
            f"`{command}`",
            "",
            *lines,
            "",
            f"Wall time: {summary['wall_seconds']} s.",
            *(f"Note: {n}" for n in self.notes),
        ]
        (self.path / "summary.md").write_text("\n".join(md) + "\n")
        return summary


def positive_int(text: str) -> int:
    """An option's value: an integer > 0."""
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return value


def positive_float(text: str) -> float:
    """An option's value: a number > 0."""
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return value


def non_negative_int(text: str) -> int:
    """An option's value: an integer >= 0."""
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text}")
    return value


@dataclass(frozen=True)
class Option:
    """An option an experiment reads: `--NAME` of `rnnlab experiment` (underscores as dashes) and
    the keyword NAME of run_experiment(). Experiments that share a NAME share its form (parse,
    nargs, choices, metavar); each says in `help` what it means to it."""

    name: str
    help: str
    parse: Callable[[str], object] | None = None  # the command line's text -> the value
    nargs: str | None = None  # "+": one or more values
    choices: tuple[str, ...] | None = None
    metavar: str | None = None
    switch: bool = False  # given or not, no value

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")


MINUTES = Option("minutes", "the training budget per model", parse=positive_float)
SAMPLING = Option(
    "sampling",
    "the teacher-forcing ratio schedule (default constant: always the true previous "
    "token; linear, inverse_sigmoid: scheduled sampling)",
    choices=("constant", "linear", "inverse_sigmoid"),
)


@dataclass(frozen=True)
class Experiment:
    name: str  # the command's NAME
    title: str  # one line: what it shows
    anchor: str  # the published or lecture figure the result is read against
    options: tuple[Option, ...]  # the options of `rnnlab experiment` it reads (besides --quick/--seed/--out)
    run: Callable  # run(ctx) -> (summary dict, summary.md lines)

    @property
    def option_names(self) -> tuple[str, ...]:
        return tuple(o.name for o in self.options)


# --- training one model with rnnlab.train.Trainer ------------------------------------------------
class SupervisedTask:
    """A Task for the Trainer from three functions: batch(step, rng) -> (x, lengths, target),
    loss(scores, target) -> (loss, dscores) and evaluate() -> score (lower is better)."""

    def __init__(self, model, batch, loss, evaluate, config: dict | None = None, steps_per_epoch: int | None = None):
        self.model, self._batch, self._loss, self._evaluate = model, batch, loss, evaluate
        self._config = config or {}
        self._steps_per_epoch = steps_per_epoch

    def train_step(self, step: int, rng: np.random.Generator) -> float:
        x, lengths, target = self._batch(step, rng)
        try:
            scores = self.model.forward(x, lengths) if lengths is not None else self.model.forward(x)
        except ValueError:
            if all_finite(self.model):
                raise
            return math.nan  # the weights have overflowed: the run has diverged (the guard counts it)
        loss, dscores = self._loss(scores, target)
        self.model.backward(dscores)
        return loss

    def evaluate(self) -> float:
        with self.model.evaluating():
            return float(self._evaluate())

    def steps_per_epoch(self):
        return self._steps_per_epoch

    def config(self) -> dict:
        return _jsonable(self._config)

    def carried_state(self) -> dict:
        return {}

    def load_carried_state(self, arrays) -> None:
        pass


@dataclass
class Fit:
    """How one model is trained: Adam, a budget, clipping, evaluation and an optional target."""

    steps: int | None = 1000  # optimiser steps (None: only the minutes budget)
    minutes: float | None = None  # wall-clock budget
    lr: float = 1e-3  # Adam's learning rate
    clip: float | None = 1.0  # global gradient-norm clip (None: none)
    eval_every: int = 100  # steps between evaluations
    target: float | None = None  # stop once the evaluation score is at or below this
    optimizer: str = "adam"  # a name of rnnlab.nn.optim.OPTIMIZERS
    progress: bool = False  # a progress bar on stderr
    seed: int = 0  # the trainer's RNG, from which batches are drawn
    max_skipped: int = 20  # non-finite steps in a row after which the run counts as diverged
    extra: dict = field(default_factory=dict)  # optimiser arguments beyond lr


def fit(task: SupervisedTask, run_dir: Path, how: Fit, on_eval=None):
    """Train with rnnlab.train.Trainer into run_dir; returns (TrainResult, eval scores by step)."""
    params = task.model.named_parameters()
    opt = make_optimizer(how.optimizer, params, how.lr, **how.extra)
    scores: list[tuple[int, float]] = []

    def record(step, score, improved):
        scores.append((step, score))
        if on_eval is not None:
            on_eval(step, score, improved)

    cfg = TrainConfig(
        max_steps=how.steps,
        max_minutes=how.minutes,
        eval_every=how.eval_every,
        checkpoint_every=0,
        keep_checkpoints=1,
        clip_norm=how.clip,
        seed=how.seed,
        target_score=how.target,
        progress=how.progress,
        max_skipped=how.max_skipped,
    )
    trainer = Trainer(task, opt, run_dir, cfg, on_eval=record)
    try:
        result = trainer.run()
    except DivergedError:
        result = TrainResult(trainer.step, "diverged", trainer.best_score, trainer.skipped, math.nan)
    try:
        from ..train.plot import plot_run

        plot_run(run_dir, unit="loss")
    except ImportError:
        pass
    return result, scores


def training_losses(run_dir: Path) -> list[tuple[int, float]]:
    """(step, loss) of every logged training step of a Trainer run folder (NaN for skipped)."""
    out = []
    for line in (Path(run_dir) / "metrics.jsonl").read_text().splitlines():
        r = json.loads(line)
        if "event" not in r:
            out.append((r["step"], float(r["loss"])))
        elif r["event"] == "skipped":
            out.append((r["step"], math.nan))
    return out


def all_finite(model) -> bool:
    return all(np.isfinite(p.data).all() for p in model.parameters())


def accuracy(scores: np.ndarray, labels: np.ndarray) -> float:
    return float((scores.argmax(-1) == labels).mean())
