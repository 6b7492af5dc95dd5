"""A character-level language model's run: its spec, the trainer built from it, the model loaded
back from its folder, and its loss on any text.

    spec = TrainSpec(corpus="python-docs", steps=500)     # what `rnnlab train` saves as run.json
    run = build_run(spec, "runs/lm", say=print)           # data, model, task, optimiser, trainer
    run.trainer.run()
    model, vocab = load_charlm("runs/lm")                  # its best checkpoint
    print(text_loss(model, vocab, "some text"))            # nats per character, unknown characters

`rnnlab train`, `resume`, `sample`, `eval`, `export` and `diagnose` are these functions with
argument parsing and printing around them (rnnlab/cli/charlm.py).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np

from ..data.text import DataError, Vocab, builtin_corpus, load_text, split
from ..models.charlm import CharLM, CharLMConfig, CharLMTask, mean_loss
from ..models.sampling import generate
from ..nn import cells
from ..nn.optim import OPTIMIZERS, make_optimizer
from ..train.checkpoint import load_checkpoint, load_weights_into
from ..train.files import read_json
from ..train.limits import LAYER_OVERHEAD, recurrent_parameters, require_memory, training_bytes
from ..train.safetensors import CheckpointError
from ..train.schema import build, check_keys
from ..train.trainer import TrainConfig, Trainer

RECORD_KEYS = ("task", "fitted_from")  # what `rnnlab fit lm` and RNNLanguageModel add to run.json


@dataclass
class TrainSpec:
    """Everything a char-LM run is made from: `rnnlab train`'s options, saved as the run folder's
    run.json so that `rnnlab resume` rebuilds the same run. The defaults are the main job's."""

    data: str | None = None  # a text file to train on (or a corpus)
    corpus: str | None = None  # a built-in corpus (rnnlab.data.text.CORPORA); python-docs if neither
    encoding: str = "utf-8"  # the text file's encoding
    model: str = "lstm"  # the cell kind (rnnlab.nn.cells.names())
    peephole: bool = False  # LSTM peephole connections
    hidden: int = 256  # units per layer
    layers: int = 2  # stacked layers
    embedding: int = 64  # character embedding size
    dropout: float = 0.0  # between stacked layers
    seq_len: int = 100  # BPTT window in characters
    batch: int = 32  # parallel streams
    lr: float = 2e-3  # learning rate
    optimizer: str = "adam"  # a name of rnnlab.nn.optim.OPTIMIZERS
    schedule: str = "none"  # "none", or "cosine" decay to lr/20 over `steps`
    clip: float = 5.0  # global gradient-norm clip, 0 for none
    steps: int | None = None  # the budget in steps ...
    minutes: float | None = None  # ... or in minutes (3 if neither)
    eval_every: int | None = None  # steps between validation and checkpoints (None: see schedule())
    val_fraction: float = 0.05  # share of the text held out
    seed: int = 0  # weights, batches and dropout

    DEFAULT_CORPUS = "python-docs"
    DEFAULT_MINUTES = 3.0
    # the ranges run.json may hold (rnnlab.train.schema); whether the model fits is checked apart
    LIMITS = {"hidden": (1, 2**20), "layers": (1, 1024), "embedding": (1, 2**20), "seq_len": (1, 10**6)}
    LIMITS |= {"batch": (1, 10**6), "lr": (1e-12, 1e6), "clip": (0, 1e12), "steps": (1, 10**12)}
    LIMITS |= {"minutes": (1e-6, 1e7), "eval_every": (1, 10**12), "dropout": (0, 0.999), "seed": (0, 2**53)}
    LIMITS |= {"model": tuple(cells.names()), "optimizer": tuple(OPTIMIZERS), "schedule": ("none", "cosine")}

    def __post_init__(self):
        if not self.data and not self.corpus:
            self.corpus = self.DEFAULT_CORPUS
        if self.steps is None and self.minutes is None:
            self.minutes = self.DEFAULT_MINUTES
        if self.schedule not in ("none", "cosine"):
            raise ValueError(f"--schedule must be none or cosine, got {self.schedule!r}")
        if self.schedule == "cosine" and self.steps is None:
            raise ValueError("--schedule cosine decays over the run's steps: give --steps, not --minutes")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"--dropout must be in [0, 1), got {self.dropout}")
        if not 0 < self.val_fraction < 1:
            raise ValueError(f"--val-fraction must be in (0, 1), got {self.val_fraction}")

    @classmethod
    def from_file(cls, path: Path) -> TrainSpec:
        """The spec a run folder's run.json holds (keys it lacks take today's defaults)."""
        path = Path(path)
        if not os.path.lexists(path):
            raise ValueError(f"{path.parent} is not a run folder of `rnnlab train` (no run.json)")
        saved = read_json(path, path.parent)
        # run.json of `rnnlab fit lm` also says its task and version; an older one may lack keys
        known = [f.name for f in fields(cls)]
        saved = {k: v for k, v in check_keys(saved, path, "", [*known, *RECORD_KEYS]).items() if k in known}
        return build(cls, saved, path)

    def save(self, path: Path) -> None:
        Path(path).write_text(json.dumps(asdict(self), indent=1))

    def evaluation_schedule(self) -> tuple[int, float | None]:
        """(steps, seconds) between evaluations, each with a short sample and a checkpoint: every
        `eval_every` steps when given; else, under a steps budget, every steps/10 (at most 200);
        under a minutes budget, on the clock: every 30 s (a sixth of a shorter budget), so a
        three-minute run shows six evaluations whatever a step costs."""
        if self.eval_every is not None:
            return self.eval_every, None
        if self.steps is not None:
            return max(1, min(200, self.steps // 10)), None
        return 0, min(30.0, max(5.0, 60 * self.minutes / 6))

    def text(self) -> tuple[str, str]:
        """The training text and where it came from ("FILE" or "corpus NAME")."""
        if self.data:
            return load_text(self.data, self.encoding), self.data
        return builtin_corpus(self.corpus), f"corpus {self.corpus}"


@dataclass
class CharLMRun:
    """What build_run makes: the trainer (whose task holds the data) and the model and vocabulary."""

    trainer: Trainer
    model: CharLM
    vocab: Vocab


def build_run(
    spec: TrainSpec,
    run_dir,
    *,
    progress: bool = False,
    say: Callable[[str], None] = lambda line: None,
    text: tuple[str, str] | None = None,
) -> CharLMRun:
    """The data, model, task, optimiser, schedule and trainer of `spec`, training into `run_dir`.
    `say` gets the lines a person wants to read: the data's size, and at every evaluation the
    validation loss with a short sample. `text` is spec.text() when the caller has read it."""
    text, source = text or spec.text()
    vocab = Vocab.from_text(text)
    ids, _ = vocab.encode(text)
    train_ids, val_ids = split(ids, spec.val_fraction)
    say(
        f"{source}: {len(text):,} characters, {vocab.size} distinct; train {len(train_ids):,}, "
        f"validation {len(val_ids):,}"
    )
    config = CharLMConfig(
        vocab_size=vocab.size,
        model=spec.model,
        hidden=spec.hidden,
        layers=spec.layers,
        embedding=spec.embedding,
        dropout=spec.dropout,
        peephole=spec.peephole,
    )
    # weights, gradients, Adam's moments and what BPTT keeps of a window (about 8 arrays of
    # (seq_len, batch, hidden) per layer), refused before a byte of it is allocated
    activations = 8 * spec.seq_len * spec.batch * spec.hidden * spec.layers + spec.seq_len * spec.batch * vocab.size
    require_memory(
        training_bytes(charlm_parameters(config), activations, spec.layers),
        f"training a {describe(config)} on batches of {spec.batch}x{spec.seq_len}",
        "--hidden, --layers, --embedding, --batch or --seq-len",
    )
    model = CharLM(config, np.random.default_rng(spec.seed))
    task = CharLMTask(model, vocab, train_ids, val_ids, spec.batch, spec.seq_len)
    opt = make_optimizer(spec.optimizer, model.named_parameters(), spec.lr)
    every, seconds = spec.evaluation_schedule()
    cfg = TrainConfig(
        max_steps=spec.steps,
        max_minutes=spec.minutes,
        eval_every=every,
        eval_every_seconds=seconds,
        checkpoint_every=every,
        final_eval=True,
        clip_norm=spec.clip or None,
        seed=spec.seed,
        progress=progress,
    )

    def on_eval(step, score, improved):
        sample = short_sample(model, vocab)
        trainer.log({"step": step, "event": "sample", "text": sample})  # `rnnlab report` shows them
        say(
            f"step {step}: validation {score:.4f} nats/char ({score / math.log(2):.3f} bits)"
            f"{' *best*' if improved else ''} | {sample!r}"
        )

    schedule = None
    if spec.schedule == "cosine":
        from ..nn.schedules import CosineAnnealingLR

        schedule = CosineAnnealingLR(opt, T_max=spec.steps, eta_min=spec.lr / 20)
    trainer = Trainer(task, opt, run_dir, cfg, schedule=schedule, on_eval=on_eval)
    return CharLMRun(trainer, model, vocab)


def load_charlm(path) -> tuple[CharLM, Vocab]:
    """A CharLM in eval mode and its vocabulary, from a run folder (its best checkpoint, else the
    newest) or a checkpoint folder."""
    folder = Path(path)
    if not folder.exists():
        raise ValueError(f"{folder} does not exist")
    if (folder / "best" / "state.json").is_file():
        folder = folder / "best"
    ckpt = load_checkpoint(folder)
    file = ckpt.path / "state.json"
    task = ckpt.state.get("config", {}).get("task", {})
    if not isinstance(task.get("vocab"), dict) or not isinstance(task.get("model"), dict):
        raise CheckpointError(file, "is not a character language model's checkpoint")
    try:
        vocab = Vocab.from_json(task["vocab"], source="config.task.vocab")
    except DataError as err:
        raise CheckpointError(file, str(err)) from None
    model = CharLM(model_config(task["model"], file, vocab, ckpt.model))
    load_weights_into(model, ckpt)
    model.eval()
    return model, vocab


def model_config(saved: dict, file: Path, vocab: Vocab, weights: dict[str, np.ndarray]) -> CharLMConfig:
    """The CharLMConfig a checkpoint describes, checked field by field and against what the
    checkpoint holds (its vocabulary, the number of its weights), so that nothing larger than the
    checkpoint itself is ever allocated; refused too when it would not fit in memory."""
    config = build(CharLMConfig, saved, file, "config.task.model")
    if config.vocab_size != vocab.size:
        raise CheckpointError(file, f"the model reads {config.vocab_size} characters, its vocabulary has {vocab.size}")
    count, held = charlm_parameters(config), sum(a.size for a in weights.values())
    if count != held:
        raise CheckpointError(
            file, f"describes a {describe(config)} of {count:,} weights; the checkpoint holds {held:,}"
        )
    nbytes = count * np.dtype(config.dtype).itemsize
    require_memory(2 * nbytes + config.layers * LAYER_OVERHEAD, f"{file}'s {describe(config)}")
    return config


def describe(config: CharLMConfig) -> str:
    return f"{config.model} char-LM of {config.layers}x{config.hidden} (embedding {config.embedding})"


def charlm_parameters(config: CharLMConfig) -> int:
    """How many numbers a CharLM of `config` holds, from its sizes alone."""
    V, E, H = config.vocab_size, config.embedding, config.hidden
    peephole = {"peephole": True} if config.peephole else {}
    return V * E + recurrent_parameters(config.model, E, H, config.layers, **peephole) + H * V + V


def short_sample(model: CharLM, vocab: Vocab, length: int = 60, temperature: float = 0.8, seed: int = 0) -> str:
    """A few characters written by the model from a newline, for a person to judge progress."""
    prime = vocab.encode("\n")[0] if "\n" in vocab.chars else np.array([0])
    with model.evaluating():
        ids = list(generate(model, list(prime), length, np.random.default_rng(seed), temperature=temperature))
    return vocab.decode(np.array(ids))


@dataclass
class TextLoss:
    """A model's loss on a text: `nats` per predicted character over `predictions` characters;
    `unknown` characters were outside its vocabulary and left out."""

    nats: float
    predictions: int
    unknown: int

    @property
    def bits(self) -> float:
        return self.nats / math.log(2)


def text_loss(model: CharLM, vocab: Vocab, text: str, window: int = 1000, source: str = "the text") -> TextLoss:
    """The model's loss on `text` read as one stream in windows of `window` characters, the state
    carried between them (the same evaluation as training's validation, CharLMTask.evaluate)."""
    ids, known = vocab.encode(text)
    x, y, mask = ids[:-1], ids[1:], known[1:]
    if not mask.any():
        raise ValueError(f"{source}: none of its characters is in the model's vocabulary")
    windows = (
        (x[k : k + window, None], y[k : k + window, None], mask[k : k + window, None]) for k in range(0, len(x), window)
    )
    nats, count = mean_loss(model, windows)
    return TextLoss(nats, count, int((~known).sum()))
