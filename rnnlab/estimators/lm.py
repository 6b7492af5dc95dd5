"""The character-level language model as an estimator: `rnnlab train` from a notebook.

    lm = RNNLanguageModel(hidden=128, steps=500).fit(text)
    lm.predict(["ROMEO:"])                 # a continuation of each prime
    lm.score(other_text)                   # minus the nats per character (higher is better)
    lm.save("runs/lm"); lm = load("runs/lm")

It is rnnlab.runs.charlm underneath (TrainSpec, build_run, load_charlm, text_loss): the run folder
is the one `rnnlab train` writes, its run.json a TrainSpec, so `rnnlab sample`, `eval`,
`predict`, `evaluate` and `export` read a folder saved here, and load() reads theirs.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import asdict
from pathlib import Path

import numpy as np

from ..models.sampling import generate
from ..runs.charlm import TrainSpec, build_run, load_charlm, text_loss
from .base import RUN_FILE, RNNEstimator, Say, _quiet, clear_earlier_fit

# The estimator's parameters are TrainSpec's fields, two of them under scikit-learn's names.
SPEC_NAMES = {"batch_size": "batch", "validation_fraction": "val_fraction"}
FROM_PYTHON = "python"  # run.json's `fitted_from` when the text came from Python, not a file


class RNNLanguageModel(RNNEstimator):
    """A character-level language model (char-rnn) with truncated BPTT over contiguous streams.

    Args (keyword only): model, hidden, layers, embedding, dropout, seq_len, batch_size, lr, clip,
    steps / minutes (the budget; 3 minutes when neither), eval_every, validation_fraction, seed,
    progress, run_dir: as `rnnlab train`'s options (rnnlab.runs.charlm.TrainSpec).

    fit(text) takes a string (or a list of strings, joined by newlines); predict(primes, length=200,
    temperature=0.8) continues each prime; score(text) = -nats per character; evaluate(text) ->
    nats and bits per character and the characters outside the vocabulary.
    """

    task = "lm"
    _score_name = "nats/char"

    def __init__(
        self,
        *,
        model: str = "lstm",
        hidden: int = 256,
        layers: int = 2,
        embedding: int = 64,
        dropout: float = 0.0,
        seq_len: int = 100,
        batch_size: int = 32,
        lr: float = 2e-3,
        clip: float = 5.0,
        steps: int | None = None,
        minutes: float | None = None,
        eval_every: int | None = None,
        validation_fraction: float = 0.05,
        seed: int = 0,
        progress: bool = False,
        run_dir: str | Path | None = None,
    ):
        self.model, self.hidden, self.layers, self.embedding = model, hidden, layers, embedding
        self.dropout, self.seq_len, self.batch_size, self.lr, self.clip = dropout, seq_len, batch_size, lr, clip
        self.steps, self.minutes, self.eval_every = steps, minutes, eval_every
        self.validation_fraction, self.seed, self.progress, self.run_dir = validation_fraction, seed, progress, run_dir

    def _spec(self) -> TrainSpec:
        """The TrainSpec of these parameters (two are named as scikit-learn names them)."""
        params = self.get_params()
        return TrainSpec(**{SPEC_NAMES.get(k, k): params[k] for k in params if k not in ("progress", "run_dir")})

    def fit(self, X, y=None, *, source: dict | None = None, say: Say | None = None) -> RNNLanguageModel:
        text = X if isinstance(X, str) else "\n".join(X)
        spec = self._spec()
        folder = Path(self.run_dir) if self.run_dir is not None else Path(tempfile.mkdtemp(prefix="rnnlab-"))
        try:
            run = build_run(spec, folder, progress=self.progress, say=say or _quiet, text=(text, "the text"))
            folder.mkdir(parents=True, exist_ok=True)
            clear_earlier_fit(folder, self.task)
            self._write_spec(folder, spec)
            result = run.trainer.run()
            self.n_steps_, self.stop_reason_, self.best_validation_ = (
                result.steps,
                result.stop_reason,
                result.best_score,
            )
            self.model_, self.vocab_ = load_charlm(folder) if (folder / "best").is_dir() else (run.model, run.vocab)
        finally:
            if self.run_dir is None:
                shutil.rmtree(folder, ignore_errors=True)
        return self

    @staticmethod
    def _write_spec(folder: Path, spec: TrainSpec) -> None:
        (folder / RUN_FILE).write_text(json.dumps(asdict(spec) | {"task": "lm", "fitted_from": FROM_PYTHON}, indent=1))

    def predict(self, X, length: int = 200, temperature: float = 0.8, seed: int = 0) -> list[str]:
        """A continuation of `length` characters for each prime (characters outside the vocabulary
        are an error naming them)."""
        self._require_fitted()
        rng = np.random.default_rng(seed)
        out = []
        for prime in [X] if isinstance(X, str) else X:
            ids = list(self.vocab_.encode_known(prime, source="the prime"))
            with self.model_.evaluating():
                out.append(
                    self.vocab_.decode(np.array(list(generate(self.model_, ids, length, rng, temperature=temperature))))
                )
        return out

    def evaluate(self, X, y=None) -> dict:
        self._require_fitted()
        loss = text_loss(self.model_, self.vocab_, X if isinstance(X, str) else "\n".join(X))
        return {"nats_per_char": loss.nats, "bits_per_char": loss.bits, "predictions": loss.predictions}

    def score(self, X, y=None) -> float:
        return -self.evaluate(X)["nats_per_char"]

    def save(self, path) -> Path:
        """The run folder `rnnlab train` writes: run.json (a TrainSpec) and best/ (whose state
        names the model and the vocabulary, as load_charlm reads them)."""
        state = {"config": {"task": {"model": asdict(self.model_.config), "vocab": self.vocab_.to_json()}}}
        path = self._save_weights(path, state)
        self._write_spec(path, self._spec())
        return path

    @classmethod
    def _from_record(cls, record: dict, folder: Path) -> RNNLanguageModel:
        spec = TrainSpec.from_file(folder / RUN_FILE)
        names = (k for k in cls._get_param_names() if k not in ("progress", "run_dir"))
        est = cls(**{k: getattr(spec, SPEC_NAMES.get(k, k)) for k in names}, run_dir=str(folder))
        est.model_, est.vocab_ = load_charlm(folder)
        est.n_steps_ = None
        return est
