"""The training loop for any model with forward/backward, with runs that survive being killed.

A `Task` knows the model and the data; the `Trainer` owns everything else: the step loop and its
budgets (steps, epochs, minutes), gradient clipping, the divergence guard, periodic evaluation,
early stopping, the best checkpoint, the metrics log, the progress bar, Ctrl-C, and checkpoints
from which a resumed run continues bit for bit.

What makes a resume exact: the weights, the optimiser's moments and step count, the schedule's
step, the trainer's RNG (which the task draws batches from) and every module's RNG (dropout
masks), the task's carried arrays (e.g. the hidden state between windows), the step counter
(the data position), the divergence counters and the best score, all saved at the end of a step;
and the same BLAS thread count on resume (the run records it and pins it), since a GEMM's
summation order, and so its last bits, depends on how the work is split.

Run folder:
    config.json          the trainer's and the task's configuration
    metrics.jsonl        one JSON object per line: training steps, evaluations, a task's own records
    checkpoint-XXXXXXXX/ the last `keep_checkpoints` checkpoints (see checkpoint.py)
    best/                the checkpoint with the best evaluation score so far (a link swapped atomically)
    .lock                held while the run trains: a second trainer on the folder is refused (runlock.py)

A fresh run refuses a folder that already holds checkpoints (another run's, which pruning would
delete); a resumed run cuts metrics.jsonl back to the step it continues from, so every step is
logged once however often the run was killed.
"""

from __future__ import annotations

import json
import math
import os
import signal
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from ..nn.clip import clip_grad_norm_
from ..nn.core import Module
from .checkpoint import (
    Checkpoint,
    checkpoints_held,
    clean_up,
    list_checkpoints,
    load_checkpoint,
    load_weights_into,
    save_best,
    save_checkpoint,
)
from .runlock import hold_run
from .safetensors import CheckpointError


class Task(Protocol):
    """What the trainer needs from a model and its data."""

    model: Module

    def train_step(self, step: int, rng: np.random.Generator) -> float:
        """Run forward and backward on the batch for `step` (drawing any randomness from `rng`),
        leaving the gradients in the parameters' `.grad`; return the loss."""

    def evaluate(self) -> float:
        """A validation score, lower is better (e.g. the validation loss). A task may name it with
        a `score_name` attribute (e.g. "val_nats"): metrics.jsonl then logs it under that name too."""

    def steps_per_epoch(self) -> int | None:
        """Steps in one pass over the training data, or None when the data has no epochs."""

    def config(self) -> dict:
        """A JSON-serialisable description of the model and data."""

    def carried_state(self) -> dict[str, np.ndarray]:
        """Arrays a resume needs besides the weights (e.g. the hidden state between windows)."""

    def load_carried_state(self, arrays: dict[str, np.ndarray]) -> None: ...


@dataclass
class TrainConfig:
    max_steps: int | None = 1000  # stop after this many optimiser steps (None: no limit)
    max_epochs: float | None = None  # ... or this many passes over the data
    max_minutes: float | None = None  # ... or this much wall-clock time (checked between steps)
    eval_every: int = 100  # steps between evaluations (0: never)
    eval_every_seconds: float | None = None  # ... and/or seconds between evaluations (each also checkpoints)
    final_eval: bool = False  # evaluate once more when the budget is spent, unless the last step just did
    checkpoint_every: int = 100  # steps between checkpoints
    keep_checkpoints: int = 3  # how many recent checkpoints stay on disk
    clip_norm: float | None = 5.0  # clip the global gradient norm to this (None: no clipping)
    patience: int | None = None  # stop after this many evaluations without improvement
    target_score: float | None = None  # stop once an evaluation scores at or below this (solved)
    on_nonfinite: str = "skip"  # a NaN/inf loss or gradient: "skip" the step, or "stop" the run
    max_skipped: int = 20  # stop anyway after this many skipped steps in a row
    seed: int = 0  # seeds the trainer's RNG, from which the task draws its batches
    blas_threads: int | None = None  # BLAS threads to pin (None: what is set now); recorded
    progress: bool = True  # show a progress bar on stderr


@dataclass
class TrainResult:
    steps: int  # optimiser steps taken in total (including before a resume)
    stop_reason: str  # "max_steps", "max_epochs", "max_minutes", "early_stopping", "target_reached",
    #                   "interrupted", "diverged"
    best_score: float | None
    skipped: int  # steps skipped by the divergence guard
    last_loss: float | None


class DivergedError(RuntimeError):
    """Training met a non-finite loss or gradient with on_nonfinite="stop" (or too many in a row)."""


def _module_rngs(module: Module, prefix: str = "") -> dict[str, np.random.Generator]:
    """Every RNG a model holds (dropout masks), by module path."""
    found = {}
    rng = getattr(module, "rng", None)
    if isinstance(rng, np.random.Generator):
        found[prefix or "."] = rng
    for name, child in module._children.items():
        found |= _module_rngs(child, f"{prefix}{name}.")
    return found


def _blas_threads(n: int | None) -> int | None:
    """Pin numpy's BLAS to n threads (if given) and return the count in force (None if unknown)."""
    try:
        from threadpoolctl import threadpool_info, threadpool_limits
    except ImportError:
        return None
    if n is not None:
        threadpool_limits(n, user_api="blas")
    counts = [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]
    return counts[0] if counts else None


class Trainer:
    r"""The step loop around a :class:`Task`, writing a run folder a killed run resumes from.

    One step (the gradient of a non-finite loss or norm never reaches the weights)::

        optimizer.zero_grad()
        loss = task.train_step(step, rng)           # forward + backward, gradients in .grad
        norm = clip_grad_norm_(params, clip_norm)   # the global norm, before clipping
        finite: optimizer.step(); schedule.step()   # else: skipped (on_nonfinite="skip"/"stop")
        metrics.jsonl <- {"step", "loss", "grad_norm", "lr"}

    every ``eval_every`` steps: score = task.evaluate() (lower is better) -> ``best/`` when
    improved, on_eval(step, score, improved), early stopping (``patience``, ``target_score``);
    every ``checkpoint_every`` steps and at the end: ``checkpoint-XXXXXXXX/``. The loop stops at
    the first budget spent (``max_steps``, ``max_epochs``, ``max_minutes``) or on Ctrl-C, which
    finishes the step and saves. The module docstring lists what a checkpoint holds for a
    bit-exact resume.

    Args:
        task: the model and its data (the :class:`Task` protocol).
        optimizer: an optimiser over ``task.model``'s parameters (e.g. ``rnnlab.nn.Adam``).
        run_dir: the run folder (created if missing).
        config: a :class:`TrainConfig`; None uses its defaults.
        schedule: a learning-rate schedule stepped after each optimiser step, or None.
        on_eval: ``on_eval(step, score, improved)``, called after each evaluation, or None.

    ``run(resume=False)`` returns a :class:`TrainResult` (steps, stop_reason, best_score,
    skipped, last_loss); with ``resume=True`` it continues from the newest checkpoint in
    ``run_dir``. It raises :class:`DivergedError` when the divergence guard gives up.

    Example::

        >>> import tempfile
        >>> from pathlib import Path
        >>> import numpy as np
        >>> from rnnlab.nn import SGD, Linear, mse
        >>> from rnnlab.train.trainer import TrainConfig, Trainer
        >>> class FitALine:  # a Task: y = 2x with one Linear
        ...     def __init__(self):
        ...         self.model = Linear(1, 1, rng=np.random.default_rng(0))
        ...         self.x = np.linspace(-1, 1, 16, dtype=np.float32)[:, None]
        ...     def train_step(self, step, rng):
        ...         loss, dpred = mse(self.model(self.x), 2 * self.x)
        ...         self.model.backward(dpred)
        ...         return loss
        ...     def evaluate(self):
        ...         return mse(self.model(self.x), 2 * self.x)[0]
        ...     def steps_per_epoch(self):
        ...         return None
        ...     def config(self):
        ...         return {"task": "fit a line"}
        ...     def carried_state(self):
        ...         return {}
        ...     def load_carried_state(self, arrays):
        ...         pass
        >>> task, run_dir = FitALine(), tempfile.mkdtemp()
        >>> config = TrainConfig(max_steps=40, eval_every=20, checkpoint_every=20, progress=False)
        >>> result = Trainer(task, SGD(task.model.named_parameters(), lr=0.5), run_dir, config).run()
        >>> result.steps, result.stop_reason, result.skipped
        (40, 'max_steps', 0)
        >>> sorted(path.name for path in Path(run_dir).iterdir() if not path.name.startswith("."))
        ['best', 'checkpoint-00000020', 'checkpoint-00000040', 'config.json', 'metrics.jsonl']
        >>> (Path(run_dir) / "best").resolve().name.startswith(".best-00000040-")  # a link to the best
        True
    """

    def __init__(self, task: Task, optimizer, run_dir, config: TrainConfig | None = None, schedule=None, on_eval=None):
        """on_eval(step, score, improved), if given, is called after each evaluation (the CLI
        prints there; the trainer itself prints nothing but its progress bar)."""
        self.task, self.optimizer, self.schedule, self.on_eval = task, optimizer, schedule, on_eval
        self.run_dir = Path(run_dir)
        self.config = config or TrainConfig()
        if self.config.on_nonfinite not in ("skip", "stop"):
            raise ValueError(f"on_nonfinite must be 'skip' or 'stop', got {self.config.on_nonfinite!r}")
        self.rng = np.random.default_rng(self.config.seed)
        self.step = 0
        self.skipped = 0
        self.skipped_in_a_row = 0
        self.best_score: float | None = None
        self.evals_since_best = 0
        self.params = list(task.model.named_parameters())
        self._interrupted = False
        self._target_reached = False

    # --- checkpoints -------------------------------------------------------------------------
    def _checkpoint(self) -> Checkpoint:
        opt_meta, opt_tensors = self.optimizer.state_dict()
        train = {f"optim.{k}": v for k, v in opt_tensors.items()}
        train |= {f"carry.{k}": v for k, v in self.task.carried_state().items()}
        state = {
            "trainer": {
                "skipped": self.skipped,
                "skipped_in_a_row": self.skipped_in_a_row,
                "best_score": self.best_score,
                "evals_since_best": self.evals_since_best,
            },
            "optimizer": opt_meta,
            "schedule": self.schedule.state_dict() if self.schedule is not None else None,
            "rng": self.rng.bit_generator.state,
            "module_rngs": {k: g.bit_generator.state for k, g in _module_rngs(self.task.model).items()},
            "blas_threads": self.blas_threads,
            "config": {"train": asdict(self.config), "task": self.task.config()},
        }
        return Checkpoint(step=self.step, model=self.task.model.state_dict(), train=train, state=state)

    def _restore(self, ckpt: Checkpoint) -> None:
        """Everything a bit-exact continuation needs, checked before anything is changed.
        state.json's sections were checked against their schema when it was loaded
        (checkpoint.check_state); what depends on this run (parameter names, shapes, the
        optimiser's class, the module RNGs, the carried state) is checked here."""
        file = ckpt.path / "state.json"
        state = ckpt.state
        for key in ("trainer", "optimizer", "rng", "module_rngs"):
            if key not in state:
                raise CheckpointError(
                    file, f"lacks {key!r}: it is not a training checkpoint (best/ holds only weights)"
                )
        opt = {k[len("optim.") :]: v for k, v in ckpt.train.items() if k.startswith("optim.")}
        carry = {k[len("carry.") :]: v for k, v in ckpt.train.items() if k.startswith("carry.")}
        unknown = sorted(k for k in ckpt.train if not k.startswith(("optim.", "carry.")))
        if unknown:
            raise CheckpointError(ckpt.path / "train.safetensors", f"holds unknown tensors {unknown[:5]}")
        rngs = _module_rngs(self.task.model)
        if set(rngs) != set(state["module_rngs"]):
            raise CheckpointError(
                file, f"module RNGs {sorted(state['module_rngs'])} do not match the model's {sorted(rngs)}"
            )
        if (state.get("schedule") is None) != (self.schedule is None):
            raise CheckpointError(file, "holds a learning-rate schedule this run does not have, or lacks its own")
        counters = state["trainer"]
        try:
            load_weights_into(self.task.model, ckpt)
            self.optimizer.load_state_dict(state["optimizer"], opt)
            if self.schedule is not None:
                self.schedule.load_state_dict(state["schedule"])
            self.task.load_carried_state(carry)
        except (KeyError, TypeError, ValueError, OverflowError) as err:
            if isinstance(err, CheckpointError):
                raise
            raise CheckpointError(file, f"cannot restore the run: {err}") from None
        self.rng.bit_generator.state = state["rng"]
        for k, g in rngs.items():
            g.bit_generator.state = state["module_rngs"][k]
        self.skipped = counters["skipped"]
        self.skipped_in_a_row = counters["skipped_in_a_row"]
        self.best_score = counters["best_score"]
        self.evals_since_best = counters["evals_since_best"]
        self.step = ckpt.step
        if state.get("blas_threads") is not None:  # in [1, 4096]: checkpoint.check_state
            self.blas_threads = _blas_threads(state["blas_threads"])

    def _save(self) -> None:
        save_checkpoint(self.run_dir, self._checkpoint(), keep=self.config.keep_checkpoints)

    def _save_best(self) -> None:
        save_best(self.run_dir, self._checkpoint())

    # --- metrics -----------------------------------------------------------------------------
    def log(self, record: dict) -> None:
        """Append a task's own record to metrics.jsonl (e.g. a sample written at an evaluation,
        from on_eval); it carries "step" and an "event" other than the trainer's ("eval",
        "skipped", "diverged"), so readers of training steps pass over it."""
        if not isinstance(record.get("step"), int) or not isinstance(record.get("event"), str):
            raise ValueError('a metrics record needs an integer "step" and an "event" name')
        self._log(record)

    def _log(self, record: dict) -> None:
        with open(self.run_dir / "metrics.jsonl", "a") as f:
            f.write(json.dumps(record) + "\n")

    def _truncate_metrics(self, step: int) -> None:
        """A killed run may have logged steps after its last checkpoint (and half a line, if
        killed mid-write); the resumed run redoes them, so they are dropped to keep one line per
        step. The shorter file replaces the old one atomically."""
        path = self.run_dir / "metrics.jsonl"
        if not path.exists():
            return
        kept = []
        for line in path.read_text(errors="replace").splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue  # the half-written last line of a killed run
            if isinstance(record, dict) and isinstance(record.get("step"), int) and record["step"] <= step:
                kept.append(line + "\n")
        tmp = path.with_name(f".metrics.jsonl.tmp-{os.getpid()}")
        tmp.write_text("".join(kept))
        os.replace(tmp, path)

    # --- the loop ----------------------------------------------------------------------------
    def run(self, resume: bool = False) -> TrainResult:
        """Train until a budget is spent, early stopping triggers or Ctrl-C; with resume=True,
        continue from the run folder's newest checkpoint (if it has one)."""
        with hold_run(self.run_dir):
            return self._run(resume)

    def _run(self, resume: bool) -> TrainResult:
        cfg = self.config
        self.blas_threads = _blas_threads(cfg.blas_threads)
        held = checkpoints_held(self.run_dir)
        if not resume and held:
            raise ValueError(
                f"{self.run_dir} already holds checkpoints of a run: resume it, or train into another folder "
                f"({', '.join(held[:3])}{', ...' if len(held) > 3 else ''})"
            )
        clean_up(self.run_dir)  # what killed runs left: we hold the lock, no one else writes here
        if resume and list_checkpoints(self.run_dir):
            self._restore(load_checkpoint(self.run_dir))
        self._truncate_metrics(self.step)  # a fresh run, or one killed before its first checkpoint: 0
        (self.run_dir / "config.json").write_text(
            json.dumps({"train": asdict(cfg), "task": self.task.config(), "blas_threads": self.blas_threads}, indent=1)
        )

        per_epoch = self.task.steps_per_epoch()
        limits = [
            s
            for s in (
                cfg.max_steps,
                math.ceil(cfg.max_epochs * per_epoch) if cfg.max_epochs is not None and per_epoch else None,
            )
            if s is not None
        ]
        last_step = min(limits) if limits else None
        deadline = time.monotonic() + 60 * cfg.max_minutes if cfg.max_minutes is not None else None
        bar = _progress(cfg.progress, self.step, last_step, 60 * cfg.max_minutes if deadline else None)
        self._last_eval, self._evaluated_at = time.monotonic(), None
        previous = signal.signal(signal.SIGINT, self._on_sigint)
        reason, loss = "max_steps", None
        try:
            while True:
                if last_step is not None and self.step >= last_step:
                    reason = "max_steps" if cfg.max_steps == last_step else "max_epochs"
                    break
                if deadline is not None and time.monotonic() >= deadline:
                    reason = "max_minutes"
                    break
                if self._interrupted:
                    reason = "interrupted"
                    break
                loss = self._one_step(bar)
                on_time = cfg.eval_every_seconds is not None and (
                    time.monotonic() - self._last_eval >= cfg.eval_every_seconds
                )
                if (cfg.eval_every and self.step % cfg.eval_every == 0) or on_time:
                    if self._evaluate():
                        reason = "target_reached" if self._target_reached else "early_stopping"
                        break
                # a timed evaluation checkpoints too: a minutes budget has no step count to save by,
                # and a run killed mid-way must keep something to resume from
                if on_time or (cfg.checkpoint_every and self.step % cfg.checkpoint_every == 0):
                    self._save()
        except DivergedError:
            bar.close()
            self._log({"step": self.step, "event": "diverged", "skipped": self.skipped})
            raise
        finally:
            signal.signal(signal.SIGINT, previous)
        bar.close()
        if cfg.final_eval and reason != "interrupted" and self._evaluated_at != self.step and self.step > 0:
            self._evaluate()  # the score the run ends with: in metrics.jsonl, loss.png and best/
        if (
            not list_checkpoints(self.run_dir)
            or list_checkpoints(self.run_dir)[-1].name != f"checkpoint-{self.step:08d}"
        ):
            self._save()
        return TrainResult(self.step, reason, self.best_score, self.skipped, loss)

    def _on_sigint(self, signum, frame) -> None:
        """Ctrl-C: finish the current step, save, stop (a second Ctrl-C interrupts at once)."""
        self._interrupted = True
        signal.signal(signal.SIGINT, signal.default_int_handler)

    def _one_step(self, bar) -> float:
        cfg = self.config
        self.optimizer.zero_grad()
        loss = float(self.task.train_step(self.step, self.rng))
        params = [p for _, p in self.params]
        norm = clip_grad_norm_(params, cfg.clip_norm if cfg.clip_norm is not None else math.inf)
        if not (math.isfinite(loss) and math.isfinite(norm)):
            # The divergence guard: a non-finite loss or gradient never reaches the weights.
            self.skipped += 1
            self.skipped_in_a_row += 1
            self.step += 1
            self._log(
                {
                    "step": self.step,
                    "event": "skipped",
                    "loss": loss if math.isfinite(loss) else str(loss),
                    "grad_norm": norm if math.isfinite(norm) else str(norm),
                }
            )
            if cfg.on_nonfinite == "stop" or self.skipped_in_a_row >= cfg.max_skipped:
                raise DivergedError(
                    f"step {self.step}: non-finite {'loss' if not math.isfinite(loss) else 'gradient'} "
                    f"({self.skipped_in_a_row} in a row); the weights were not updated. Lower the "
                    f"learning rate or clip gradients harder, and resume from the last checkpoint."
                )
            bar.update(1)
            return loss
        self.skipped_in_a_row = 0
        lr = self.optimizer.lr  # the rate this step uses (the schedule then sets the next one)
        self.optimizer.step()
        if self.schedule is not None:
            self.schedule.step()
        self.step += 1
        self._log({"step": self.step, "loss": loss, "grad_norm": norm, "lr": lr})
        bar.set_postfix(loss=f"{loss:.4f}", refresh=False)
        bar.update(1)
        return loss

    def _evaluate(self) -> bool:
        """Evaluate, track the best checkpoint; True when early stopping says stop."""
        score = float(self.task.evaluate())
        self._last_eval, self._evaluated_at = time.monotonic(), self.step
        improved = math.isfinite(score) and (self.best_score is None or score < self.best_score)
        if improved:
            self.best_score, self.evals_since_best = score, 0
        else:
            self.evals_since_best += 1
        record = {"step": self.step, "event": "eval", "score": score, "best": self.best_score}
        name = getattr(self.task, "score_name", None)
        if name:
            record = {"step": self.step, "event": "eval", name: score, "score": score, "best": self.best_score}
        self._log(record)
        if improved:
            self._save_best()
        if self.on_eval is not None:
            self.on_eval(self.step, score, improved)
        target = self.config.target_score
        self._target_reached = target is not None and math.isfinite(score) and score <= target
        patience = self.config.patience
        return self._target_reached or (patience is not None and self.evals_since_best >= patience)


class _NoBar:
    def update(self, n=1):
        pass

    def set_postfix(self, **kw):
        pass

    def close(self):
        pass


class _TimedBar:
    """Progress under a minutes budget: the step, elapsed of total time and the ETA (what is left
    of the budget), as a tqdm bar on a terminal; elsewhere (a log file, CI) one plain line every
    `every` seconds, no carriage returns."""

    def __init__(self, start: int, total_seconds: float, terminal: bool, every: float = 10.0):
        self.step, self.total, self.every = start, total_seconds, every
        self.began = self.printed = time.monotonic()
        self.postfix = ""
        self.bar = None
        if terminal:
            from tqdm.auto import tqdm

            fmt = "{percentage:3.0f}%|{bar}| {desc}"
            self.bar = tqdm(total=round(total_seconds), bar_format=fmt, dynamic_ncols=True, leave=True)
            self.bar.set_description_str(self._line(0.0))

    def _line(self, elapsed: float) -> str:
        left = max(0.0, self.total - elapsed)
        return f"step {self.step} | {_clock(elapsed)} of {_clock(self.total)}, ETA {_clock(left)}{self.postfix}"

    def update(self, n=1):
        self.step += n
        elapsed = time.monotonic() - self.began
        if self.bar is not None:
            self.bar.set_description_str(self._line(elapsed), refresh=False)
            self.bar.update(min(round(elapsed), self.bar.total) - self.bar.n)
        elif time.monotonic() - self.printed >= self.every:
            self.printed = time.monotonic()
            print(self._line(elapsed), file=sys.stderr, flush=True)

    def set_postfix(self, refresh=False, **kw):
        self.postfix = "".join(f" | {k} {v}" for k, v in kw.items())

    def close(self):
        if self.bar is not None:
            self.bar.close()


def _clock(seconds: float) -> str:
    seconds = round(seconds)
    return f"{seconds // 60}:{seconds % 60:02d}"


def _progress(enabled: bool, start: int, total: int | None, seconds: float | None = None):
    """A tqdm bar (rate, ETA, loss) on stderr, a timed bar under a minutes budget (see _TimedBar),
    or nothing."""
    if not enabled:
        return _NoBar()
    terminal = sys.stderr.isatty()
    if seconds is not None and total is None:
        return _TimedBar(start, seconds, terminal)
    from tqdm.auto import tqdm

    # away from a terminal, tqdm redraws at most every 10 s (each redraw a line in a log file)
    return tqdm(
        initial=start, total=total, unit="step", dynamic_ncols=True, leave=True, mininterval=0.1 if terminal else 10
    )
