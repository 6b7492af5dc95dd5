"""The language-model commands: `rnnlab train`, `sample` and `eval` (`resume` is in fit.py) (rnnlab.runs.charlm
does the work; this module parses the options and prints)."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from ..data.text import CORPORA, CORPUS_NOTES, check_lengths
from ..experiments.common import (
    fraction,
    layer_count,
    minutes,
    non_negative_float,
    non_negative_int,
    positive_float,
    positive_int,
    probability,
)
from ..nn import cells
from ..nn.optim import OPTIMIZERS
from .common import check_new_run_folder, out_folder, removed_unless_started, say


def add_commands(command) -> None:
    from ..runs.charlm import TrainSpec

    d = TrainSpec()
    train = command(
        "train",
        run_train,
        help="train a character-level language model",
        description="Train a character-level language model (char-rnn) with truncated "
        "BPTT over contiguous streams. With neither --data nor --corpus it trains on "
        f"the built-in corpus '{d.corpus}' (Python's own reference manual) for "
        f"{d.minutes:g} minutes and ends by printing a sample.",
    )
    add_train_options(train)
    train.add_argument(
        "--list-corpora", action="store_true", help="list the built-in corpora with their sizes, then exit"
    )

    sample = command(
        "sample",
        run_sample,
        help="write text with a trained model",
        description="Stream text from a trained model to stdout, one character at a time.",
    )
    sample.add_argument(
        "run", metavar="RUN_DIR_OR_CHECKPOINT", help="a run folder (its best checkpoint) or a checkpoint folder"
    )
    sample.add_argument("--prime", default="\n", help="text to start from (default a newline)")
    sample.add_argument("--length", type=positive_int, default=500, help="characters to write (default 500)")
    sample.add_argument(
        "--temperature", type=non_negative_float, default=0.8, help="softmax temperature, 0 = greedy (default 0.8)"
    )
    sample.add_argument("--top-k", type=positive_int, help="sample only among the k most likely characters")
    sample.add_argument("--top-p", type=probability, help="sample only within the smallest set of probability >= p")
    sample.add_argument("--greedy", action="store_true", help="always the most likely character")
    sample.add_argument("--beam", type=positive_int, metavar="W", help="beam search of width W (most likely text)")
    sample.add_argument("--seed", type=non_negative_int, default=0, help="random seed (default 0)")
    sample.add_argument(
        "--midi",
        metavar="FILE",
        help="for a model of ABC sheet music (--corpus abc-folk): write the first complete tune of the "
        "text (prime included) that music21 parses to FILE as MIDI, and print it; exit 2 if none does",
    )

    ev = command(
        "eval",
        run_eval,
        help="loss and bits per character on a text",
        description="Evaluate a trained model on a text; characters outside its "
        "vocabulary are counted and left out of the loss.",
    )
    ev.add_argument("run", metavar="RUN_DIR_OR_CHECKPOINT")
    ev.add_argument("--data", metavar="FILE", required=True, help="the text to evaluate on")
    ev.add_argument("--encoding", default="utf-8", help="its encoding (default utf-8)")


def add_train_options(parser) -> None:
    """`rnnlab train`'s options (`rnnlab fit lm` has the same)."""
    from ..runs.charlm import TrainSpec

    d = TrainSpec()
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--data", metavar="FILE", help="a text file to train on")
    source.add_argument(
        "--corpus",
        metavar="NAME",
        help="a built-in corpus: "
        + ", ".join(f"{name} ({CORPUS_NOTES[name]})" for name in CORPORA)
        + "; --list-corpora shows their sizes",
    )
    parser.add_argument("--encoding", default=d.encoding, help="the text file's encoding (default utf-8)")
    parser.add_argument("--model", choices=cells.names(), default=d.model, help=f"the cell (default {d.model})")
    parser.add_argument("--peephole", action="store_true", help="LSTM with peephole connections")
    for flag, kind, help_ in (
        ("--hidden", positive_int, "hidden units per layer"),
        ("--layers", layer_count, "stacked layers"),
        ("--embedding", positive_int, "character embedding size"),
    ):
        parser.add_argument(flag, type=kind, default=getattr(d, flag[2:]), help=f"{help_} (default %(default)s)")
    parser.add_argument("--dropout", type=fraction, default=d.dropout, help="dropout between layers (default 0)")
    parser.add_argument(
        "--seq-len", type=positive_int, default=d.seq_len, help=f"BPTT window in characters (default {d.seq_len})"
    )
    parser.add_argument("--batch", type=positive_int, default=d.batch, help=f"parallel streams (default {d.batch})")
    parser.add_argument("--lr", type=positive_float, default=d.lr, help=f"learning rate (default {d.lr:g})")
    parser.add_argument("--optimizer", choices=list(OPTIMIZERS), default=d.optimizer, help="optimiser (default adam)")
    parser.add_argument(
        "--schedule",
        choices=["none", "cosine"],
        default=d.schedule,
        help="learning-rate schedule: none, or cosine decay to lr/20 over --steps (default none)",
    )
    parser.add_argument(
        "--clip",
        type=non_negative_float,
        default=d.clip,
        help=f"clip the gradient norm to this, 0 for none (default {d.clip:g})",
    )
    budget = parser.add_mutually_exclusive_group()
    budget.add_argument("--steps", type=positive_int, help="train for this many steps")
    budget.add_argument("--minutes", type=minutes, help=f"train for this long (default {d.minutes:g})")
    parser.add_argument(
        "--eval-every",
        type=positive_int,
        default=d.eval_every,
        help="steps between validation (with a sample) and checkpoints (default: a tenth of --steps, at most "
        "200; with a minutes budget every 30 s on the clock)",
    )
    parser.add_argument(
        "--val-fraction",
        type=float,
        default=d.val_fraction,
        help=f"share of the text held out (default {d.val_fraction:g})",
    )
    parser.add_argument("--out", metavar="RUN_DIR", help="run folder (default runs/<time>)")
    parser.add_argument("--seed", type=non_negative_int, default=d.seed, help="random seed (default 0)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


# --- train / resume -----------------------------------------------------------------------------
def run_train(args) -> int:
    from dataclasses import fields

    from ..runs.charlm import TrainSpec

    if getattr(args, "list_corpora", False):  # `rnnlab train` has the flag, `rnnlab fit lm` not
        from ..data.text import corpus_sizes

        for name, chars, note in corpus_sizes():
            print(f"{name:<14} {f'{chars:,} characters' if chars is not None else '-':>22}  {note}")
        return 0
    spec = TrainSpec(**{f.name: getattr(args, f.name) for f in fields(TrainSpec)})
    run_dir = out_folder(args.out, Path("runs") / time.strftime("%Y%m%d-%H%M%S"))
    check_new_run_folder(run_dir)
    text = spec.text()  # a missing or unreadable file ends here, before the run folder exists
    check_lengths(len(text[0]), spec.batch, spec.seq_len, spec.val_fraction, text[1])  # a short one too
    with removed_unless_started(run_dir):  # a failed start leaves no run.json to refuse a second try
        run_dir.mkdir(parents=True, exist_ok=True)
        spec.save(run_dir / "run.json")
        return train_charlm(spec, run_dir, resume=False, progress=not args.no_progress, text=text)


def train_charlm(spec, run_dir: Path, resume: bool, progress: bool, text: tuple[str, str] | None = None) -> int:
    from ..runs.charlm import build_run, short_sample
    from ..train.trainer import DivergedError

    run = build_run(spec, run_dir, progress=progress, say=say(progress), text=text)
    parameters = sum(p.data.size for p in run.model.parameters())
    print(f"run folder: {run_dir}  ({parameters:,} parameters, {spec.model} {spec.layers}x{spec.hidden})", flush=True)
    try:
        result = run.trainer.run(resume=resume)
    except DivergedError as err:  # a RuntimeError: one line, the step and how to go on
        raise ValueError(f"{run_dir}: the run diverged at {err}{_resume_hint(run_dir)}") from None
    score = run.trainer.task.evaluate()
    print(
        f"stopped after {result.steps} steps ({result.stop_reason}); validation {score:.4f} nats/char "
        f"({score / np.log(2):.3f} bits); skipped steps: {result.skipped}"
    )
    try:
        from ..train.plot import plot_run

        if result.steps == 0:  # a budget spent before the first step: no metrics.jsonl to draw
            print("no loss curve: no training step was taken")
        else:
            print(f"loss curve: {plot_run(run_dir)}")
    except ImportError as err:
        print(f"no loss curve: {err}")
    print(f"sample (rnnlab sample {run_dir}):\n{short_sample(run.model, run.vocab, length=300)}")
    return 130 if result.stop_reason == "interrupted" else 0


def _resume_hint(run_dir: Path) -> str:
    """Where a diverged run can go on from: its last checkpoint, or nowhere."""
    from ..train.checkpoint import checkpoint_step, list_checkpoints

    saved = list_checkpoints(run_dir)
    if not saved:
        return " (but none was saved before it: train again with a lower --lr or a smaller --clip)"
    return f" (`rnnlab resume {run_dir}` continues from its last checkpoint, step {checkpoint_step(saved[-1])})"


# --- sample / eval ------------------------------------------------------------------------------
def run_sample(args) -> int:
    import sys

    from ..models.sampling import beam_search, generate
    from ..runs.charlm import load_charlm

    if args.midi:
        from ..data.abc import require_music21

        require_music21()  # before sampling: without music21 there is nothing to write
    if not args.prime:
        raise ValueError("--prime is empty: give the text to start from, at least one character (default a newline)")
    model, vocab = load_charlm(args.run)
    prime = list(vocab.encode_known(args.prime, source="--prime"))
    sys.stdout.write(args.prime)
    if args.beam:
        ids, _ = beam_search(model, prime, args.length, args.beam)
        sys.stdout.write(vocab.decode(np.array(ids)) + "\n")
        return _write_midi(args.midi, args.prime + vocab.decode(np.array(ids))) if args.midi else 0
    rng = np.random.default_rng(args.seed)
    greedy = args.greedy or args.temperature == 0
    tokens = generate(
        model,
        prime,
        args.length,
        rng,
        temperature=args.temperature or 1.0,
        top_k=args.top_k,
        top_p=args.top_p,
        greedy=greedy,
    )
    written = []
    for token in tokens:
        written.append(vocab.decode(np.array([token])))
        sys.stdout.write(written[-1])
        sys.stdout.flush()
    sys.stdout.write("\n")
    return _write_midi(args.midi, args.prime + "".join(written)) if args.midi else 0


def _write_midi(path, text: str) -> int:
    """`sample --midi`: the first complete tune of `text` that parses, to `path` as MIDI."""
    from ..data.abc import first_parsable_tune

    tune, midi = first_parsable_tune(text, source="the sample")  # a ValueError: exit 2, nothing written
    Path(path).write_bytes(midi)
    print(f"\nwrote {path} ({len(midi):,} bytes of MIDI), the first tune of the sample that parses:\n{tune}")
    return 0


def run_eval(args) -> int:
    from ..data.text import load_text
    from ..runs.charlm import load_charlm, text_loss

    model, vocab = load_charlm(args.run)
    text = load_text(args.data, args.encoding, min_chars=2)
    loss = text_loss(model, vocab, text, source=args.data)
    print(f"{args.data}: {len(text):,} characters, {loss.unknown:,} outside the vocabulary (left out of the loss)")
    print(f"loss {loss.nats:.4f} nats/char, {loss.bits:.4f} bits/char over {loss.predictions:,} predictions")
    return 0
