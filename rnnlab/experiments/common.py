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
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# Training one model lives in rnnlab.train.supervised (the estimators use it too); the experiments
# import it from here, beside Experiment and RunFolder.
from ..train.supervised import Fit, SupervisedTask, all_finite, fit, jsonable, training_losses  # noqa: F401


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
        (self.path / "config.json").write_text(json.dumps(jsonable(config), indent=1))

    def log(self, **record) -> None:
        with open(self.path / "metrics.jsonl", "a") as f:
            f.write(json.dumps(jsonable(record)) + "\n")

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
            note = 'plots skipped: matplotlib is not installed (pip install -e ".[plot]")'
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
        (self.path / "summary.json").write_text(json.dumps(jsonable(summary), indent=1))
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
    """An option's value: a finite number > 0."""
    value = float(text)
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text}")
    return value


def non_negative_int(text: str) -> int:
    """An option's value: an integer >= 0."""
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text}")
    return value


def non_negative_float(text: str) -> float:
    """An option's value: a finite number >= 0."""
    value = float(text)
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text}")
    return value


def fraction(text: str) -> float:
    """An option's value: a share in [0, 1)."""
    value = float(text)
    if not 0 <= value < 1:  # False for nan
        raise argparse.ArgumentTypeError(f"must be in [0, 1), got {text}")
    return value


def probability(text: str) -> float:
    """An option's value: a share in (0, 1] (top-p sampling's mass)."""
    value = float(text)
    if not 0 < value <= 1:  # False for nan
        raise argparse.ArgumentTypeError(f"must be in (0, 1], got {text}")
    return value


MAX_MINUTES = 1e7  # about 19 years: a budget beyond it is a typo (1e308 minutes would never end, as inf)


def minutes(text: str) -> float:
    """An option's value: a time budget in minutes, finite, > 0 and at most MAX_MINUTES."""
    value = positive_float(text)
    if value > MAX_MINUTES:
        raise argparse.ArgumentTypeError(f"must be at most {MAX_MINUTES:g} (19 years), got {text}")
    return value


MAX_LAYERS = 256  # stacked layers run one after another: thousands take minutes a step even when tiny


def layer_count(text: str) -> int:
    """An option's value: a number of stacked layers, 1 to MAX_LAYERS. Memory alone does not
    bound it: 100,000 layers of one unit fit in memory and would run for hours a step."""
    value = positive_int(text)
    if value > MAX_LAYERS:
        raise argparse.ArgumentTypeError(f"must be at most {MAX_LAYERS} (layers run one after another), got {text}")
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


MINUTES = Option("minutes", "the training budget per model", parse=minutes)
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
    # the outside data sets it reads (rnnlab.data.datasets), found or downloaded before its run
    # folder is made and passed in ctx.datasets; not when one of `data_options` is given instead
    datasets: tuple[str, ...] = ()
    data_options: tuple[str, ...] = ()  # the options that replace the data sets (--data, --tsv ...)

    @property
    def option_names(self) -> tuple[str, ...]:
        return tuple(o.name for o in self.options)


def accuracy(scores: np.ndarray, labels: np.ndarray) -> float:
    return float((scores.argmax(-1) == labels).mean())
