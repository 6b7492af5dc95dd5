"""Training one model on a supervised problem with rnnlab.train.Trainer, from three functions.

    task = SupervisedTask(model, batch, loss, evaluate)     # batch(step, rng) -> (x, lengths, target)
    result, scores = fit(task, run_dir, Fit(steps=500, lr=2e-3))

What the experiments and the estimators share; the Trainer owns the loop, checkpoints and resume.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..nn.core import NonFiniteError
from ..nn.optim import make_optimizer
from .trainer import DivergedError, TrainConfig, Trainer, TrainResult


def jsonable(value):
    """`value` with NumPy scalars, tuples and paths made JSON's own (non-finite floats as text)."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, (np.floating, float)):
        return float(value) if math.isfinite(value) else str(float(value))
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, (np.bool_,)):
        return bool(value)
    if isinstance(value, Path):
        return str(value)
    return value


def metric_key(name: str | None) -> str:
    """metrics.jsonl's name for a validation score: "error rate" -> "val_error_rate", None
    (a loss) -> "val_loss"."""
    return "val_" + (re.sub(r"\W+", "_", name.lower()).strip("_") if name else "loss")


class SupervisedTask:
    """A Task for the Trainer from three functions: batch(step, rng) -> (x, lengths, target),
    loss(scores, target) -> (loss, dscores) and evaluate() -> score (lower is better)."""

    score_name: str | None = None  # metrics.jsonl's name for evaluate()'s score (fit() sets it)

    def __init__(self, model, batch, loss, evaluate, config: dict | None = None, steps_per_epoch: int | None = None):
        self.model, self._batch, self._loss, self._evaluate = model, batch, loss, evaluate
        self._config = config or {}
        self._steps_per_epoch = steps_per_epoch

    def train_step(self, step: int, rng: np.random.Generator) -> float:
        x, lengths, target = self._batch(step, rng)
        scores = None
        try:
            scores = self.model.forward(x, lengths) if lengths is not None else self.model.forward(x)
            loss, dscores = self._loss(scores, target)
            self.model.backward(dscores)
        except ValueError as err:
            # The engine refuses non-finite arrays. When the batch was finite but something inside
            # overflowed (the weights, the activations, the scores), the run is diverging: a NaN
            # loss, which the divergence guard counts (the step's partial gradients never reach
            # the weights). Any other ValueError is a bug and stays one.
            overflow = isinstance(err, NonFiniteError) and _finite(x)
            if not (overflow or not all_finite(self.model) or not _finite(scores)):
                raise
            return math.nan
        return loss

    def evaluate(self) -> float:
        """The validation score; NaN (never the best) when the model overflows on it."""
        with self.model.evaluating():
            try:
                return float(self._evaluate())
            except NonFiniteError:
                return math.nan

    def steps_per_epoch(self):
        return self._steps_per_epoch

    def config(self) -> dict:
        return jsonable(self._config)

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
    checkpoint_every: int = 0  # steps between checkpoints (0: only at the end)
    target: float | None = None  # stop once the evaluation score is at or below this
    optimizer: str = "adam"  # a name of rnnlab.nn.optim.OPTIMIZERS
    progress: bool = False  # a progress bar on stderr
    seed: int = 0  # the trainer's RNG, from which batches are drawn
    max_skipped: int = 20  # non-finite steps in a row after which the run counts as diverged
    extra: dict = field(default_factory=dict)  # optimiser arguments beyond lr
    score_name: str | None = None  # what evaluate() measures, when not the loss (loss.png's right axis)
    final_eval: bool = False  # evaluate once more at the end of the budget (the Trainer's final_eval)


def fit(task: SupervisedTask, run_dir: Path, how: Fit, on_eval=None, resume: bool = False):
    """Train with rnnlab.train.Trainer into run_dir (resume=True: from its newest checkpoint, if
    any); returns (TrainResult, eval scores by step)."""
    if getattr(task, "score_name", None) is None:  # metrics.jsonl names the score it logs
        task.score_name = metric_key(how.score_name)
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
        checkpoint_every=how.checkpoint_every,
        final_eval=how.final_eval,
        keep_checkpoints=1,
        clip_norm=how.clip,
        seed=how.seed,
        target_score=how.target,
        progress=how.progress,
        max_skipped=how.max_skipped,
    )
    trainer = Trainer(task, opt, run_dir, cfg, on_eval=record)
    try:
        result = trainer.run(resume=resume)
    except DivergedError:
        result = TrainResult(trainer.step, "diverged", trainer.best_score, trainer.skipped, math.nan)
    try:
        from ..train.plot import plot_run

        if result.steps > 0:  # a budget spent before the first step leaves nothing to draw
            plot_run(run_dir, unit="loss", score=how.score_name)
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


def _finite(value) -> bool:
    """Whether an array (or a tuple of them: some models return several) holds only finite numbers."""
    if isinstance(value, (tuple, list)):
        return all(_finite(v) for v in value)
    return not isinstance(value, np.ndarray) or value.dtype.kind != "f" or bool(np.isfinite(value).all())


def all_finite(model) -> bool:
    return all(np.isfinite(p.data).all() for p in model.parameters())
