"""What every estimator shares: scikit-learn's parameter protocol, the split, the training loop
through rnnlab.train.Trainer, and the run folder that the command line reads and writes too.

    est = RNNClassifier(hidden=64, steps=300).fit(texts, labels)     # any estimator
    est.predict(["what a film"]); est.score(texts, labels)
    est.save("runs/reviews"); est = load("runs/reviews")             # == `rnnlab fit ... --out`

Run folder (one format for `rnnlab fit TASK --out RUN` and `est.save(RUN)`):
    run.json          the task, the estimator's parameters, the preprocessing learnt from the
                      training data (vocabularies, label names, scaler, time stamps), where the
                      data came from (so `rnnlab resume` can read it again), and the fit's results
    best/             the weights with the best validation score (a checkpoint, rnnlab.train)
    checkpoint-*/     the trainer's last checkpoint: `rnnlab resume RUN --steps N` continues it
    metrics.jsonl     every training step and evaluation; loss.png draws it
    evaluation.json   the metrics on the held-out test share (when test_fraction > 0)

scikit-learn conventions: the constructor only stores its arguments (get_params/set_params read
them back, so sklearn.base.clone, cross_val_score and GridSearchCV work), what fit learns ends in
an underscore, and `score` is "higher is better". scikit-learn itself is never imported here: the
tags it asks for (__sklearn_tags__) are built from its own classes when it asks.
"""

from __future__ import annotations

import inspect
import json
import math
import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from .. import __version__
from ..nn.core import Module
from ..train.checkpoint import (
    Checkpoint,
    checkpoint_step,
    list_checkpoints,
    load_checkpoint,
    load_weights_into,
    remove_folder,
    save_best,
)
from ..train.files import read_json
from ..train.limits import LAYER_OVERHEAD, require_memory, training_bytes
from ..train.runlock import hold_run
from ..train.safetensors import CheckpointError
from ..train.schema import arguments, check_keys, check_value, construct, constructor_annotations
from ..train.supervised import Fit, SupervisedTask, fit, jsonable

RUN_FILE = "run.json"
FORMAT = 1  # run.json's layout; a newer rnnlab reads every older format

Say = Callable[[str], None]


def _quiet(line: str) -> None:
    pass


class NotFittedError(ValueError):
    """The estimator is used before fit() (or load())."""


class RNNEstimator:
    """The base of every estimator: parameters, split, training, saving and loading.

    A subclass sets `task` (the name `rnnlab fit TASK` and run.json use) and writes the hooks:
    _check(X, y) -> (X, y) as lists; _learn(X, y) (preprocessing from the training rows);
    _build_model(rng); _training(X, y) -> (batch(step, rng), loss(scores, target), rows);
    _validation_score(X, y) (lower is better); _preprocessing() / _restore(d) (to and from
    run.json); evaluate(X, y) -> dict of metrics; score(X, y) -> float, higher is better.
    """

    task: ClassVar[str] = ""
    _estimator_type: ClassVar[str | None] = None  # "classifier" / "regressor" for scikit-learn

    # --- scikit-learn's parameter protocol -------------------------------------------------------
    @classmethod
    def _get_param_names(cls) -> list[str]:
        signature = inspect.signature(cls.__init__)
        return [p.name for p in signature.parameters.values() if p.name != "self" and p.kind == p.KEYWORD_ONLY]

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The constructor's arguments as they are now (scikit-learn's protocol)."""
        return {name: getattr(self, name) for name in self._get_param_names()}

    def set_params(self, **params) -> RNNEstimator:
        """Change constructor arguments; an unknown name is a ValueError listing the valid ones."""
        valid = self._get_param_names()
        for name, value in params.items():
            if name not in valid:
                raise ValueError(f"{type(self).__name__} has no parameter {name!r}; it has {', '.join(valid)}")
            setattr(self, name, value)
        return self

    def __repr__(self) -> str:
        defaults = {p.name: p.default for p in inspect.signature(type(self).__init__).parameters.values()}
        changed = [f"{k}={v!r}" for k, v in self.get_params().items() if defaults.get(k) != v]
        return f"{type(self).__name__}({', '.join(changed)})"

    def __sklearn_tags__(self):
        """scikit-learn >= 1.6 asks every estimator for its tags; built from its own classes."""
        from sklearn.base import BaseEstimator
        from sklearn.utils import ClassifierTags, RegressorTags

        tags = BaseEstimator.__sklearn_tags__(self)
        tags.estimator_type = self._estimator_type
        tags.target_tags.required = True
        tags.input_tags.string = True
        tags.input_tags.two_d_array = False
        if self._estimator_type == "classifier":
            tags.classifier_tags = ClassifierTags()
        elif self._estimator_type == "regressor":
            tags.regressor_tags = RegressorTags()
        return tags

    # --- fitting -----------------------------------------------------------------------------------
    @property
    def is_fitted(self) -> bool:
        return getattr(self, "model_", None) is not None

    def _require_fitted(self) -> None:
        if not self.is_fitted:
            raise NotFittedError(f"this {type(self).__name__} is not fitted yet: call fit() or load() first")

    def _split(self, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Random train/validation/test rows (seeded): validation_fraction and test_fraction of n,
        at least one row each when the fraction is > 0, and at least one training row."""
        for name in ("validation_fraction", "test_fraction"):
            share = getattr(self, name)
            if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0 <= share < 1:
                raise ValueError(f"{name} must be a share in [0, 1), got {share!r}")
        rng = np.random.default_rng(self.seed)
        order = rng.permutation(n)
        n_val = max(1, round(self.validation_fraction * n)) if self.validation_fraction > 0 else 0
        n_test = max(1, round(self.test_fraction * n)) if self.test_fraction > 0 else 0
        if n - n_val - n_test < 1:
            raise ValueError(
                f"{n} example(s) leave none to train on after {n_val} for validation and {n_test} for testing; "
                "give more data or lower validation_fraction / test_fraction (--validation-fraction / --test-fraction)"
            )
        return order[n_val + n_test :], order[:n_val], order[n_val : n_val + n_test]

    def fit(self, X, y=None, *, source: dict | None = None, say: Say | None = None) -> RNNEstimator:
        """Learn the preprocessing from the training rows, build the model and train it with
        rnnlab.train.Trainer (into `run_dir`, or a temporary folder), keeping the weights of the
        best validation score. With warm_start=True on a fitted estimator, training continues
        (same preprocessing, same split) for the new budget. `source` (how the data was read) is
        saved in run.json so that `rnnlab resume` can read it again; `say` gets progress lines."""
        say = say or _quiet
        X, y = self._check(X, y)
        train, val, test = self._split(len(X))
        Xt, yt = _take(X, train), _take(y, train)
        Xv, yv = _take(X, val), _take(y, val)
        if not (self.warm_start and self.is_fitted):
            self._learn(Xt, yt, say)
            self._require_memory(training=True)
            self.model_ = self._build_model(np.random.default_rng(self.seed))
        self.source_ = source
        batch, loss, rows = self._training(Xt, yt)
        validation = (lambda: self._validation_score(Xv, yv)) if val.size else None
        self._train(
            batch,
            loss,
            rows,
            validation,
            say,
            test=lambda: self.evaluate(_take(X, test), _take(y, test)) if test.size else None,
        )
        return self

    def _train(self, batch, loss, rows: int, validation, say: Say, test=None) -> None:
        """Train model_ on batch(step, rng) -> (x, lengths, target) and loss(scores, target) ->
        (loss, dscores) with the Trainer; `rows` training examples make an epoch of
        rows / batch_size steps; validation() -> score, lower is better, picks best/ (None:
        the last weights are kept); test() -> metrics of the held-out rows, or None.
        Continues the run folder's last checkpoint when warm_start is on and one exists."""
        folder = Path(self.run_dir) if self.run_dir is not None else Path(tempfile.mkdtemp(prefix="rnnlab-"))
        with hold_run(folder):  # one writer per run folder: a second fit or resume is refused
            self._train_into(folder, batch, loss, rows, validation, say, test)

    def _train_into(self, folder: Path, batch, loss, rows: int, validation, say: Say, test) -> None:
        # warm_start with a run folder holding checkpoints: the Trainer continues the last one
        # (weights, optimiser, RNG); without one, training goes on from the weights in memory
        last = list_checkpoints(folder)[-1] if self.warm_start and list_checkpoints(folder) else None
        if last is None:
            clear_earlier_fit(folder, self.task)
        self.model_.train()
        per_epoch = max(1, math.ceil(rows / self.batch_size))
        task = SupervisedTask(
            self.model_,
            batch,
            loss,
            validation or (lambda: math.nan),
            config=self._run_record(),
            steps_per_epoch=per_epoch,
        )
        steps = self._budget_steps(per_epoch, checkpoint_step(last) if last else 0)
        self.planned_steps_ = steps
        try:
            if self.run_dir is not None:
                folder.mkdir(parents=True, exist_ok=True)
                self._write_run_file(folder)  # before training: an interrupted run can resume
            every = self._eval_every(per_epoch, steps)
            how = Fit(
                steps=steps,
                minutes=self.minutes,
                lr=self.lr,
                clip=self.clip or None,
                eval_every=every if validation is not None else 0,
                checkpoint_every=every if self.run_dir is not None else 0,
                progress=self.progress,
                seed=self.seed,
                score_name=self._score_name,
                final_eval=validation is not None,
            )

            def on_eval(step, score, improved):
                say(f"step {step}: validation {self._score_name} {score:.4f}{' *best*' if improved else ''}")

            if last is not None:
                more = f"to step {steps}" if steps is not None else f"for {self.minutes:g} minutes"
                say(f"continuing from {last} (step {checkpoint_step(last)}) {more}")
            result, _ = fit(task, folder, how, on_eval=on_eval, resume=last is not None)
            self.n_steps_ = result.steps
            self.stop_reason_ = result.stop_reason
            self.best_validation_ = result.best_score
            if validation is not None and (folder / "best").is_dir():
                load_weights_into(self.model_, load_checkpoint(folder / "best"))
            self.model_.eval()
            self.test_metrics_ = test() if test is not None else None
            if self.run_dir is not None:
                self._write_run_file(folder)
                if self.test_metrics_ is not None:
                    (folder / "evaluation.json").write_text(json.dumps(jsonable(self.test_metrics_), indent=1))
        finally:
            if self.run_dir is None:
                shutil.rmtree(folder, ignore_errors=True)

    def _budget_steps(self, per_epoch: int, done: int) -> int | None:
        """The step at which training stops: `steps`, else `epochs` passes (None with a minutes
        budget), counted from `done`, the step of the checkpoint a run continues (else 0)."""
        if self.steps is not None:
            return done + self.steps
        if self.minutes is not None:
            return None
        return done + max(1, round(self.epochs * per_epoch))

    def _eval_every(self, per_epoch: int, steps: int | None) -> int:
        """Once an epoch, but at least ten times in a run of known length and at most every 200 steps."""
        every = min(per_epoch, 200)
        if steps is not None:
            every = min(every, max(1, steps // 10))
        return max(1, every)

    _score_name = "loss"  # what the validation score is, for progress lines

    # --- saving and loading ----------------------------------------------------------------------
    def _run_record(self) -> dict:
        params = {k: (str(v) if isinstance(v, Path) else v) for k, v in self.get_params().items()}
        params.pop("run_dir", None)
        params.pop("progress", None)
        return {
            "task": self.task,
            "format": FORMAT,
            "rnnlab_version": __version__,
            "estimator": type(self).__name__,
            "params": params,
            "preprocessing": self._preprocessing(),
            "source": getattr(self, "source_", None),
            "fitted": {
                "steps": getattr(self, "n_steps_", None),
                "planned_steps": getattr(self, "planned_steps_", None),
                "stop_reason": getattr(self, "stop_reason_", None),
                "best_validation": getattr(self, "best_validation_", None),
                "test": getattr(self, "test_metrics_", None),
            },
        }

    def _write_run_file(self, folder: Path) -> None:
        tmp = folder / f".{RUN_FILE}.tmp-{os.getpid()}"
        tmp.write_text(json.dumps(jsonable(self._run_record()), indent=1))
        tmp.replace(folder / RUN_FILE)

    def save(self, path) -> Path:
        """Write the run folder (run.json and best/ weights) that `rnnlab predict/evaluate` and
        load() read. Saving into the fit's own run_dir only rewrites run.json."""
        path = self._save_weights(path)
        self._write_run_file(path)
        return path

    def _save_weights(self, path, state: dict | None = None) -> Path:
        """path/best/: the fitted weights as a checkpoint (with `state`, what its loader reads),
        unless path is the fit's own run folder, whose best/ the trainer wrote."""
        self._require_fitted()
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        if self.run_dir is None or Path(self.run_dir).resolve() != path.resolve():
            step = getattr(self, "n_steps_", 0) or 0
            save_best(path, Checkpoint(step=step, model=self.model_.state_dict(), state=state or {}))
        return path

    @classmethod
    def _from_record(cls, record: dict, folder: Path) -> RNNEstimator:
        """The fitted estimator run.json describes, every part checked before it is used: the
        parameters against the constructor's types, the preprocessing by the task's _restore
        (any malformed part a CheckpointError naming run.json), the model's size against memory."""
        file = folder / RUN_FILE
        check_keys(record, file, "", RECORD_KEYS, required=("task", "params"))
        annotations = {k: v for k, v in constructor_annotations(cls).items() if k not in ("run_dir", "progress")}
        params = arguments(record["params"], annotations, file, "params", PARAM_LIMITS)
        est = construct(cls, params, file, "params")
        est.run_dir = str(folder)
        try:
            est._restore(check_value(record.get("preprocessing") or {}, "dict", file, "preprocessing"))
        except (KeyError, IndexError, TypeError, ValueError, AttributeError, OverflowError) as err:
            if isinstance(err, CheckpointError):
                raise
            raise CheckpointError(file, f"preprocessing is malformed ({type(err).__name__}: {err})") from None
        est.source_ = check_value(record.get("source"), "dict | None", file, "source")
        fitted = check_keys(record.get("fitted") or {}, file, "fitted", FITTED_KEYS)
        got = {key: check_value(fitted.get(key), kind, file, f"fitted.{key}") for key, kind in FITTED_KEYS.items()}
        est.n_steps_, est.planned_steps_, est.stop_reason_ = got["steps"], got["planned_steps"], got["stop_reason"]
        est.best_validation_, est.test_metrics_ = got["best_validation"], got["test"]
        ckpt = load_checkpoint(folder / "best" if (folder / "best" / "state.json").is_file() else folder)
        # nothing larger than the checkpoint is built: the model run.json describes must hold as
        # many numbers as the weights do (an edited hidden size is refused here, not allocated)
        count, held = est._parameter_count(), sum(a.size for a in ckpt.model.values())
        if count and count != held:
            raise CheckpointError(file, f"describes a model of {count:,} weights; {ckpt.path} holds {held:,}")
        est._require_memory(training=False, file=file)
        est.model_ = construct(est._build_model, {"rng": np.random.default_rng(0)}, file, "params")
        load_weights_into(est.model_, ckpt)
        est.model_.eval()
        return est

    def _require_memory(self, training: bool, file: Path | None = None) -> None:
        """Refuse a model that would not fit in memory before building it (from _parameter_count,
        an estimate from the parameters and the preprocessing alone)."""
        count = self._parameter_count()
        layers = getattr(self, "layers", 1) or 1
        need = training_bytes(count, layers=layers) if training else 2 * 4 * count + layers * LAYER_OVERHEAD
        where = f"{file}'s " if file is not None else ""
        require_memory(
            need,
            f"{where}{type(self).__name__} of {count:,} parameters",
            None if file else "hidden, layers or embedding (--hidden, --layers, --embedding)",
        )

    # --- hooks -----------------------------------------------------------------------------------
    def _check(self, X, y) -> tuple[list, list]:
        raise NotImplementedError

    def _learn(self, X: list, y: list, say: Say) -> None:
        raise NotImplementedError

    def _build_model(self, rng: np.random.Generator) -> Module:
        raise NotImplementedError

    def _parameter_count(self) -> int:
        """About how many numbers the model of these parameters and this preprocessing holds,
        computed without building it (for the memory check); 0 when a task cannot tell."""
        return 0

    def _training(self, X: list, y: list) -> tuple[Callable, Callable, int]:
        raise NotImplementedError

    def _validation_score(self, X: list, y: list) -> float:
        raise NotImplementedError

    def _preprocessing(self) -> dict:
        raise NotImplementedError

    def _restore(self, preprocessing: dict) -> None:
        raise NotImplementedError

    def evaluate(self, X, y) -> dict:
        """The task's metrics on labelled data, as a JSON-able dict."""
        raise NotImplementedError

    # --- what the command line calls (rnnlab/cli/own.py): files in, records out -----------------
    @classmethod
    def read_file(cls, path, **options) -> tuple[list, list, dict]:
        """(X, y, source) from a labelled file of this task; `options` are the task's reading
        options (e.g. text_column), `source` = {"path": ..., **options} goes to run.json so that
        resume and evaluate read files the same way. Problems are DataErrors naming file and line."""
        raise NotImplementedError

    def inputs_from_lines(self, lines: list[str]) -> list:
        """`rnnlab predict`'s raw inputs, one example per line, as X for predict()."""
        return lines

    def predict_records(self, X) -> list[dict]:
        """One JSON-able record per example: the input and what the model says about it."""
        raise NotImplementedError

    def records_for(self, path: str | None) -> list[dict]:
        """`rnnlab predict RUN [FILE | -]`: the records of every non-empty line of FILE (stdin
        for "-" or None)."""
        lines = [line.rstrip("\r\n") for line in read_lines(path)]
        lines = [line for line in lines if line.strip()]
        if not lines:
            raise ValueError(f"{path or 'stdin'}: no input lines to predict")
        return self.predict_records(self.inputs_from_lines(lines))

    def record_text(self, record: dict) -> str:
        """One record as a line for a person (`--format text`)."""
        return json.dumps(record)

    def evaluation_lines(self, metrics: dict) -> list[str]:
        """evaluate()'s metrics as lines for a person."""
        return [f"{k}: {v}" for k, v in metrics.items() if not isinstance(v, (dict, list))]

    def evaluation_plot(self, metrics: dict, X, y, path: Path) -> Path | None:
        """A picture of the evaluation (needs matplotlib), or None when none helps."""
        return None


RECORD_KEYS = ("task", "format", "rnnlab_version", "estimator", "params", "preprocessing", "source", "fitted")
PARAM_LIMITS = {  # sizes no run.json of a real fit holds (whether a model fits is checked apart)
    "hidden": (1, 2**20),
    "layers": (1, 1024),
    "embedding": (1, 2**20),
    "batch_size": (1, 10**6),
    "seed": (0, 2**53),
}
FITTED_KEYS = {
    "steps": "int | None",
    "planned_steps": "int | None",
    "stop_reason": "str | None",
    "best_validation": "float | None",
    "test": "dict | None",
}


def read_run_file(path) -> dict:
    """run.json of a run folder: a regular file inside it, JSON within rnnlab's limits (depth,
    size), an object; errors name the file. Its parts are checked by whoever reads them."""
    folder = Path(path)
    if not folder.is_dir():
        raise ValueError(f"{path}: no such run folder")
    file = folder / RUN_FILE
    if not os.path.lexists(file):
        raise ValueError(f"{path} is not a run folder (no {RUN_FILE})")
    record = read_json(file, folder)
    if not isinstance(record, dict):
        raise CheckpointError(file, "is not a JSON object")
    check_value(record.get("task", "lm"), "str", file, "task")
    return record


def clear_earlier_fit(folder: Path, task: str) -> None:
    """A new fit into the folder of an earlier fit of the same task: the earlier checkpoints and
    best/ go (the Trainer refuses a folder holding checkpoints of a run it does not continue, so
    another run's folder, or one without run.json, stays refused)."""
    try:
        earlier = read_run_file(folder).get("task", "lm") if (folder / RUN_FILE).is_file() else None
    except ValueError:
        return
    if earlier == task:
        for old in [*list_checkpoints(folder), folder / "best"]:
            old.unlink() if old.is_symlink() else remove_folder(old)


def read_lines(path: str | None) -> list[str]:
    """The lines of a UTF-8 file (rnnlab.data.tables.read_utf8), or of stdin for None or "-"."""
    import sys

    from ..data.tables import read_utf8

    return sys.stdin.read().splitlines() if path in (None, "-") else read_utf8(path).splitlines()


def _take(rows: Sequence | None, index: np.ndarray) -> list:
    return [] if rows is None else [rows[i] for i in index]
