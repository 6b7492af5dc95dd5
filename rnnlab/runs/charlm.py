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
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np

from ..data.text import Vocab, builtin_corpus, load_text, split
from ..models.charlm import CharLM, CharLMConfig, CharLMTask, mean_loss
from ..models.sampling import generate
from ..nn.optim import make_optimizer
from ..train.checkpoint import load_checkpoint, load_weights_into
from ..train.safetensors import CheckpointError
from ..train.trainer import TrainConfig, Trainer


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
        try:
            saved = json.loads(Path(path).read_text())
        except FileNotFoundError:
            raise ValueError(f"{Path(path).parent} is not a run folder of `rnnlab train` (no run.json)") from None
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in saved.items() if k in known})

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
        say(
            f"step {step}: validation {score:.4f} nats/char ({score / math.log(2):.3f} bits)"
            f"{' *best*' if improved else ''} | {short_sample(model, vocab)!r}"
        )

    schedule = None
    if spec.schedule == "cosine":
        from ..nn.schedules import CosineAnnealingLR

        schedule = CosineAnnealingLR(opt, T_max=spec.steps, eta_min=spec.lr / 20)
    return CharLMRun(Trainer(task, opt, run_dir, cfg, schedule=schedule, on_eval=on_eval), model, vocab)


def load_charlm(path) -> tuple[CharLM, Vocab]:
    """A CharLM in eval mode and its vocabulary, from a run folder (its best checkpoint, else the
    newest) or a checkpoint folder."""
    folder = Path(path)
    if not folder.exists():
        raise ValueError(f"{folder} does not exist")
    if (folder / "best" / "state.json").is_file():
        folder = folder / "best"
    ckpt = load_checkpoint(folder)
    task = ckpt.state.get("config", {}).get("task", {})
    if "vocab" not in task or "model" not in task:
        raise CheckpointError(ckpt.path / "state.json", "is not a character language model's checkpoint")
    model = CharLM(CharLMConfig(**task["model"]))
    load_weights_into(model, ckpt)
    model.eval()
    return model, Vocab.from_json(task["vocab"])


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
