"""The command line: the one place that parses argv and decides what is printed.

    rnnlab train       train a character-level language model (on a built-in corpus by default)
    rnnlab sample      write text with a trained model
    rnnlab resume      continue an interrupted run exactly
    rnnlab eval        loss and bits per character of a trained model on any text
    rnnlab info        version, NumPy/BLAS configuration, optional extras, engine path
    rnnlab export      write a trained model for onnxruntime (ONNX) or PyTorch
    rnnlab experiment  the lectures' experiments (rnnlab experiment --list)
    rnnlab translate   use a trained seq2seq model of `rnnlab experiment dates|translate|reverse`
    rnnlab diagnose    gradient flow, Jacobians, gates and memory of a trained char-LM
    rnnlab study       gradient flow of five RNNs on the adding problem; recursions; NOR circuits
    rnnlab demo        an LSTM learns to echo its input (the engine alone)

Errors are one line on stderr with exit code 2 (`--debug` shows the traceback).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

from . import __version__

MAIN_DEFAULTS = dict(
    corpus="python-docs",
    model="lstm",
    hidden=256,
    layers=2,
    embedding=64,
    dropout=0.0,
    seq_len=100,
    batch=32,
    lr=2e-3,
    optimizer="adam",
    clip=5.0,
    minutes=3.0,
    seed=0,
    eval_every=200,
    val_fraction=0.05,
)


def _positive(kind):
    def parse(text):
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be positive, got {text}")
        return value

    return parse


def _non_negative_int(text):
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text}")
    return value


class _Parser(argparse.ArgumentParser):
    """Usage errors as one line on stderr (with a pointer to --help) and exit code 2."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="rnnlab",
        description="rnnlab: a workbench for recurrent neural networks "
        "(an engine in NumPy with hand-derived backpropagation through time).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Run `rnnlab COMMAND --help` for each command's options.",
    )
    parser.add_argument("--version", action="version", version=f"rnnlab {__version__}")
    common = _Parser(add_help=False)
    common.add_argument("--debug", action="store_true", help="show tracebacks instead of one-line errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    def command(name: str, **kw) -> argparse.ArgumentParser:
        return sub.add_parser(name, parents=[common], **kw)  # --debug on every command

    d = MAIN_DEFAULTS

    train = command(
        "train",
        help="train a character-level language model",
        description="Train a character-level language model (char-rnn) with truncated "
        "BPTT over contiguous streams. With neither --data nor --corpus it trains on "
        f"the built-in corpus '{d['corpus']}' (Python's own reference manual) for "
        f"{d['minutes']:g} minutes and ends by printing a sample.",
    )
    source = train.add_mutually_exclusive_group()
    source.add_argument("--data", metavar="FILE", help="a text file to train on")
    source.add_argument(
        "--corpus",
        metavar="NAME",
        help="a built-in corpus: python-docs (the reference manual) or python-source (the standard library's code)",
    )
    train.add_argument("--encoding", default="utf-8", help="the text file's encoding (default utf-8)")
    train.add_argument("--model", choices=["lstm", "gru", "rnn"], default=d["model"], help="the cell (default lstm)")
    train.add_argument("--peephole", action="store_true", help="LSTM with peephole connections")
    train.add_argument(
        "--hidden", type=_positive(int), default=d["hidden"], help=f"hidden units per layer (default {d['hidden']})"
    )
    train.add_argument(
        "--layers", type=_positive(int), default=d["layers"], help=f"stacked layers (default {d['layers']})"
    )
    train.add_argument(
        "--embedding",
        type=_positive(int),
        default=d["embedding"],
        help=f"character embedding size (default {d['embedding']})",
    )
    train.add_argument("--dropout", type=float, default=d["dropout"], help="dropout between layers (default 0)")
    train.add_argument(
        "--seq-len",
        type=_positive(int),
        default=d["seq_len"],
        help=f"BPTT window in characters (default {d['seq_len']})",
    )
    train.add_argument(
        "--batch", type=_positive(int), default=d["batch"], help=f"parallel streams (default {d['batch']})"
    )
    train.add_argument("--lr", type=_positive(float), default=d["lr"], help=f"learning rate (default {d['lr']:g})")
    train.add_argument(
        "--optimizer",
        choices=["adam", "adamw", "rmsprop", "sgd", "adagrad"],
        default=d["optimizer"],
        help="optimiser (default adam)",
    )
    train.add_argument(
        "--schedule",
        choices=["none", "cosine"],
        default="none",
        help="learning-rate schedule: none, or cosine decay to lr/20 over --steps (default none)",
    )
    train.add_argument(
        "--clip",
        type=float,
        default=d["clip"],
        help=f"clip the gradient norm to this, 0 for none (default {d['clip']:g})",
    )
    budget = train.add_mutually_exclusive_group()
    budget.add_argument("--steps", type=_positive(int), help="train for this many steps")
    budget.add_argument("--minutes", type=_positive(float), help=f"train for this long (default {d['minutes']:g})")
    train.add_argument(
        "--eval-every",
        type=_positive(int),
        default=d["eval_every"],
        help=f"steps between validation and checkpoints (default {d['eval_every']})",
    )
    train.add_argument(
        "--val-fraction", type=float, default=d["val_fraction"], help="share of the text held out (default 0.05)"
    )
    train.add_argument("--out", metavar="RUN_DIR", help="run folder (default runs/<time>)")
    train.add_argument("--seed", type=int, default=d["seed"], help="random seed (default 0)")
    train.add_argument("--no-progress", action="store_true", help="no progress bar")

    sample = command(
        "sample",
        help="write text with a trained model",
        description="Stream text from a trained model to stdout, one character at a time.",
    )
    sample.add_argument(
        "run", metavar="RUN_DIR_OR_CHECKPOINT", help="a run folder (its best checkpoint) or a checkpoint folder"
    )
    sample.add_argument("--prime", default="\n", help="text to start from (default a newline)")
    sample.add_argument("--length", type=_positive(int), default=500, help="characters to write (default 500)")
    sample.add_argument("--temperature", type=float, default=0.8, help="softmax temperature, 0 = greedy (default 0.8)")
    sample.add_argument("--top-k", type=_positive(int), help="sample only among the k most likely characters")
    sample.add_argument("--top-p", type=float, help="sample only within the smallest set of probability >= p")
    sample.add_argument("--greedy", action="store_true", help="always the most likely character")
    sample.add_argument("--beam", type=_positive(int), metavar="W", help="beam search of width W (most likely text)")
    sample.add_argument("--seed", type=int, default=0, help="random seed (default 0)")

    resume = command(
        "resume",
        help="continue an interrupted run exactly",
        description="Continue a run from its last checkpoint to its original budget; "
        "with a --steps budget the weights end bit-identical to an uninterrupted run "
        "(a --minutes budget starts its clock afresh).",
    )
    resume.add_argument("run", metavar="RUN_DIR")
    resume.add_argument("--no-progress", action="store_true", help="no progress bar")

    ev = command(
        "eval",
        help="loss and bits per character on a text",
        description="Evaluate a trained model on a text; characters outside its "
        "vocabulary are counted and left out of the loss.",
    )
    ev.add_argument("run", metavar="RUN_DIR_OR_CHECKPOINT")
    ev.add_argument("--data", metavar="FILE", required=True, help="the text to evaluate on")
    ev.add_argument("--encoding", default="utf-8", help="its encoding (default utf-8)")

    exp = command(
        "export",
        help="write a trained char-LM for onnxruntime (ONNX) or PyTorch",
        description="Write a trained char-LM for deployment. --onnx FILE writes the model as "
        "an ONNX graph of standard operators (inputs ids [T, B] int64 and the state h0 (and "
        "c0 for an LSTM), each [layers, B, hidden]; outputs logits [T, B, vocab] and the new "
        "state; T = 1 is one generation step; the vocabulary is in the model's metadata "
        "under 'vocab'), checked with onnxruntime when it is installed. --torch FILE writes "
        "the weights under PyTorch's names for rnnlab.interop.torch.TorchCharLM: a "
        ".safetensors file, or with any other suffix a torch.save(state_dict) file.",
    )
    exp.add_argument(
        "run", metavar="RUN_DIR_OR_CHECKPOINT", help="a run folder (its best checkpoint) or a checkpoint folder"
    )
    exp.add_argument("--onnx", metavar="FILE", help="write the ONNX model here (needs pip install 'rnnlab[onnx]')")
    exp.add_argument(
        "--torch",
        metavar="FILE",
        help="write the PyTorch state dict here (.safetensors, "
        "or e.g. .pt for torch.save, which needs pip install 'rnnlab[torch]')",
    )

    command(
        "info",
        help="version, NumPy/BLAS configuration, optional extras",
        description="Print the version, the NumPy/BLAS configuration and which optional extras are installed.",
    )

    demo = command(
        "demo",
        help="an LSTM learns to echo its input a few steps late",
        description="The engine alone: an LSTM learns to output its input from --delay "
        "steps earlier (predicting nothing scores a mean squared error of 1.0).",
    )
    from .demo import EchoConfig

    e = EchoConfig()
    demo.add_argument("--delay", type=int, default=e.delay, help=f"steps of delay to remember (default {e.delay})")
    demo.add_argument("--hidden", type=int, default=e.hidden, help=f"LSTM hidden size (default {e.hidden})")
    demo.add_argument("--steps", type=int, default=e.steps, help=f"training steps (default {e.steps})")
    demo.add_argument("--lr", type=float, default=e.lr, help=f"Adam learning rate (default {e.lr})")
    demo.add_argument("--seed", type=int, default=e.seed, help=f"random seed (default {e.seed})")

    exp = command(
        "experiment",
        help="the lectures' experiments (rnnlab experiment --list)",
        description="Run one of the lectures' experiments into a run folder (config.json, "
        "metrics.jsonl, PNG plots, summary.json and summary.md). --quick runs in seconds and "
        "still shows learning; without it the full experiment runs (minutes). "
        "`rnnlab experiment --list` names them with their anchors (what each result is read "
        "against); docs/experiments.md has our results.",
    )
    exp.add_argument("name", nargs="?", metavar="NAME", help="the experiment (see --list)")
    exp.add_argument("--list", action="store_true", help="list the experiments and their anchors")
    exp.add_argument("--quick", action="store_true", help="a seconds-long version (what the tests run)")
    exp.add_argument("--out", metavar="DIR", help="run folder (default runs/NAME-<time>)")
    exp.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    exp.add_argument(
        "--cells", nargs="+", metavar="CELL", help="adding, copy: which of rnn irnn lstm gru (default all)"
    )
    exp.add_argument(
        "--lengths",
        nargs="+",
        type=_positive(int),
        metavar="T",
        help="adding, copy: sequence lengths (default 100 200)",
    )
    exp.add_argument(
        "--minutes",
        type=_positive(float),
        help="adding, copy, row-mnist, music, dates, translate, reverse: the training budget per model",
    )
    exp.add_argument(
        "--tsv",
        metavar="FILE",
        help="sentiment: a file of text<TAB>label lines, or a folder of "
        "*_labelled.txt (default ../shared/data/sentiment_labelled_sentences)",
    )
    exp.add_argument(
        "--contrast",
        type=_non_negative_int,
        metavar="N",
        help="sentiment: how many generated "
        "sentences whose word order sets the label to add for the second pair of models "
        "(default 2000; 0 trains on the sentences alone)",
    )
    exp.add_argument(
        "--data",
        metavar="DIR",
        help="music: the JSB chorales JSON file or its folder (default "
        "../shared/data/jsb_chorales); row-mnist: the folder with the MNIST IDX files "
        "(default ../shared/data/mnist); translate: the English-French pairs, fra-eng.zip or "
        "fra.txt (default ../shared/data/fra-eng.zip)",
    )
    exp.add_argument("--sklearn-digits", action="store_true", help="row-mnist: scikit-learn's 8x8 digits instead")
    exp.add_argument(
        "--csv",
        metavar="FILE",
        help="forecast: a CSV file with a header row, one row per time step "
        "(default: the yearly sunspot numbers statsmodels ships, the series extra)",
    )
    exp.add_argument("--column", metavar="NAME", help="forecast: the column of --csv to forecast")
    exp.add_argument("--series", choices=["sunspots"], help="forecast: a built-in series (default sunspots)")
    exp.add_argument(
        "--season",
        type=_positive(int),
        metavar="M",
        help="forecast: the cycle length in steps for "
        "the seasonal-naive baseline (default: the series' own, or estimated)",
    )
    exp.add_argument("--horizon", type=_positive(int), metavar="K", help="forecast: steps ahead (default one cycle)")
    exp.add_argument("--no-progress", action="store_true", help="no progress bars")
    exp.add_argument(
        "--sampling",
        choices=["constant", "linear", "inverse_sigmoid"],
        help="dates, translate, reverse: the teacher-forcing ratio schedule (default constant: "
        "always the true previous token; linear, inverse_sigmoid: scheduled sampling)",
    )

    tr = command(
        "translate",
        help="translate text with a trained seq2seq model",
        description="Translate each TEXT (or each line of stdin when no TEXT is given, or TEXT is -) "
        "with a seq2seq model trained by `rnnlab experiment dates|translate|reverse`: RUN_DIR is the "
        "model's folder (e.g. runs/dates-.../attention; its best checkpoint) or the experiment's "
        "folder (its attention model). Prints one output line per input.",
    )
    tr.add_argument(
        "run", metavar="RUN_DIR", help="the model's run folder, a checkpoint folder or the experiment's folder"
    )
    tr.add_argument("text", nargs="*", metavar="TEXT", help="text to translate (none or -: lines from stdin)")
    tr.add_argument("--beam", type=_positive(int), help="beam search of this width (default: greedy)")
    tr.add_argument(
        "--alpha",
        type=float,
        default=1.0,
        help="beam search length normalisation: log p / length**ALPHA (default 1.0; 0 favours short outputs)",
    )
    tr.add_argument("--max-len", type=_positive(int), default=50, help="most output tokens (default 50)")
    tr.add_argument(
        "--attention", action="store_true", help="also print each output token's most attended source token"
    )

    diag = command(
        "diagnose",
        help="gradient flow, Jacobians, gates and memory of a trained char-LM",
        description="Diagnose a trained character language model on windows of a text: the "
        "gradient of the last step's cross-entropy at every earlier step (the fitted factor per "
        "step back), the Jacobians dh_t/dh_(t-1) (spectral norms, product over the window), the "
        "eigenvalues of W_hh, the gate statistics (LSTM, GRU) and how many steps a changed first "
        "character still moves the predictions. Prints a summary and writes PNGs (matplotlib, "
        "the plot extra) and summary.json into --out.",
    )
    diag.add_argument(
        "run", metavar="RUN_DIR_OR_CHECKPOINT", help="a run folder (its best checkpoint) or a checkpoint folder"
    )
    diag.add_argument("--data", metavar="FILE", help="the text to diagnose on (default: the run's own training text)")
    diag.add_argument("--encoding", default="utf-8", help="its encoding (default utf-8)")
    diag.add_argument("--out", metavar="DIR", help="where the PNGs and summary.json go (default RUN_DIR/diagnose)")
    diag.add_argument("--steps", type=_positive(int), default=100, help="characters per window, T (default 100)")
    diag.add_argument(
        "--batch", type=_positive(int), default=8, help="windows, evenly spaced over the text (default 8)"
    )
    diag.add_argument("--no-pictures", action="store_true", help="only the summary, no PNGs")

    study = command(
        "study",
        help="the lectures' studies: gradient flow of five RNNs, recursions, NOR circuits",
        description="gradflow: a tanh RNN, an IRNN, an LSTM with forget bias 0 and 1 and a GRU on "
        "the adding problem, measured at initialisation and after --train-steps Adam steps "
        "(gradient flow, Jacobian products, eigenvalues of W_hh, gates, impulse memory, loss); "
        "recursions: the scalar and vector recursion figures, fixed points and the BIBO check; "
        "circuits: NOR circuits compiled into a sigmoid RNN (truth tables, a serial adder, a "
        "counter). Writes PNGs and summary.json into --out.",
    )
    study.add_argument("name", choices=["gradflow", "recursions", "circuits"], help="which study")
    study.add_argument("--out", metavar="DIR", help="output folder (default runs/study-NAME-<time>)")
    study.add_argument(
        "--models",
        default="tanh,irnn,lstm_f0,lstm_f1,gru",
        help="gradflow: comma-separated models among tanh, irnn, lstm_f0, lstm_f1, gru (default all)",
    )
    study.add_argument(
        "--seq-len", type=_positive(int), default=50, help="gradflow: adding-problem length T (default 50)"
    )
    study.add_argument("--hidden", type=_positive(int), default=32, help="gradflow: hidden units (default 32)")
    study.add_argument(
        "--train-steps", type=_positive(int), default=300, help="gradflow: Adam steps per model (default 300)"
    )
    study.add_argument("--lr", type=_positive(float), default=1e-2, help="gradflow: Adam learning rate (default 0.01)")
    study.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    study.add_argument("--no-pictures", action="store_true", help="only the summary, no PNGs")
    return parser


# --- train / resume -----------------------------------------------------------------------------
def _build_run(spec: dict, run_dir: Path, progress: bool):
    """Data, model, task, optimiser and trainer from a run spec (the saved command line)."""
    from .data.text import Vocab, builtin_corpus, load_text, split
    from .models.charlm import CharLM, CharLMConfig, CharLMTask
    from .nn import optim
    from .train.trainer import TrainConfig, Trainer

    if spec["data"]:
        text, source = load_text(spec["data"], spec["encoding"]), spec["data"]
    else:
        text, source = builtin_corpus(spec["corpus"]), f"corpus {spec['corpus']}"
    vocab = Vocab.from_text(text)
    ids, _ = vocab.encode(text)
    train_ids, val_ids = split(ids, spec["val_fraction"])
    print(
        f"{source}: {len(text):,} characters, {vocab.size} distinct; "
        f"train {len(train_ids):,}, validation {len(val_ids):,}",
        flush=True,
    )
    config = CharLMConfig(
        vocab_size=vocab.size,
        model=spec["model"],
        hidden=spec["hidden"],
        layers=spec["layers"],
        embedding=spec["embedding"],
        dropout=spec["dropout"],
        peephole=spec["peephole"],
    )
    model = CharLM(config, np.random.default_rng(spec["seed"]))
    task = CharLMTask(model, vocab, train_ids, val_ids, spec["batch"], spec["seq_len"])
    names = {
        "adam": optim.Adam,
        "adamw": optim.AdamW,
        "rmsprop": optim.RMSprop,
        "sgd": optim.SGD,
        "adagrad": optim.Adagrad,
    }
    opt = names[spec["optimizer"]](model.named_parameters(), lr=spec["lr"])
    cfg = TrainConfig(
        max_steps=spec["steps"],
        max_minutes=spec["minutes"],
        eval_every=spec["eval_every"],
        checkpoint_every=spec["eval_every"],
        clip_norm=spec["clip"] or None,
        seed=spec["seed"],
        progress=progress,
    )

    def on_eval(step, score, improved):
        line = (
            f"step {step}: validation {score:.4f} nats/char ({score / math.log(2):.3f} bits)"
            f"{' *best*' if improved else ''} | {_short_sample(model, vocab)!r}"
        )
        _write_line(line, progress)

    schedule = None
    if spec.get("schedule", "none") == "cosine":
        from .nn.schedules import CosineAnnealingLR

        schedule = CosineAnnealingLR(opt, T_max=spec["steps"], eta_min=spec["lr"] / 20)
    return Trainer(task, opt, run_dir, cfg, schedule=schedule, on_eval=on_eval), model, vocab


def _write_line(line: str, progress: bool) -> None:
    if progress:
        from tqdm.auto import tqdm

        tqdm.write(line)
    else:
        print(line, flush=True)


def _short_sample(model, vocab, length=60, temperature=0.8, seed=0) -> str:
    from .models.sampling import generate

    was_training = model.training
    model.eval()
    try:
        prime = vocab.encode("\n")[0] if "\n" in vocab.chars else np.array([0])
        ids = list(generate(model, list(prime), length, np.random.default_rng(seed), temperature=temperature))
    finally:
        model.train(was_training)
    return vocab.decode(np.array(ids))


def _train(args) -> int:
    spec = {
        k: getattr(args, k)
        for k in (
            "data",
            "corpus",
            "encoding",
            "model",
            "peephole",
            "hidden",
            "layers",
            "embedding",
            "dropout",
            "seq_len",
            "batch",
            "lr",
            "optimizer",
            "schedule",
            "clip",
            "steps",
            "minutes",
            "eval_every",
            "val_fraction",
            "seed",
        )
    }
    if not spec["data"] and not spec["corpus"]:
        spec["corpus"] = MAIN_DEFAULTS["corpus"]
    if spec["steps"] is None and spec["minutes"] is None:
        spec["minutes"] = MAIN_DEFAULTS["minutes"]
    if spec["schedule"] == "cosine" and spec["steps"] is None:
        raise ValueError("--schedule cosine decays over the run's steps: give --steps, not --minutes")
    if not 0 <= spec["dropout"] < 1:
        raise ValueError(f"--dropout must be in [0, 1), got {spec['dropout']}")
    if not 0 < spec["val_fraction"] < 1:
        raise ValueError(f"--val-fraction must be in (0, 1), got {spec['val_fraction']}")
    run_dir = Path(args.out or Path("runs") / time.strftime("%Y%m%d-%H%M%S"))
    if (run_dir / "run.json").exists():
        raise ValueError(
            f"{run_dir} already holds a run: continue it with `rnnlab resume {run_dir}` or choose another --out"
        )
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "run.json").write_text(json.dumps(spec, indent=1))
    return _run(spec, run_dir, resume=False, progress=not args.no_progress)


def _resume(args) -> int:
    run_dir = Path(args.run)
    try:
        spec = json.loads((run_dir / "run.json").read_text())
    except FileNotFoundError:
        raise ValueError(f"{run_dir} is not a run folder of `rnnlab train` (no run.json)") from None
    return _run(spec, run_dir, resume=True, progress=not args.no_progress)


def _run(spec: dict, run_dir: Path, resume: bool, progress: bool) -> int:
    trainer, model, vocab = _build_run(spec, run_dir, progress)
    print(
        f"run folder: {run_dir}  ({sum(p.data.size for p in model.parameters()):,} parameters, "
        f"{spec['model']} {spec['layers']}x{spec['hidden']})",
        flush=True,
    )
    result = trainer.run(resume=resume)
    score = trainer.task.evaluate()
    print(
        f"stopped after {result.steps} steps ({result.stop_reason}); validation {score:.4f} nats/char "
        f"({score / math.log(2):.3f} bits); skipped steps: {result.skipped}"
    )
    try:
        from .train.plot import plot_run

        print(f"loss curve: {plot_run(run_dir)}")
    except ImportError as err:
        print(f"no loss curve: {err}")
    print(f"sample (rnnlab sample {run_dir}):\n{_short_sample(model, vocab, length=300)}")
    return 130 if result.stop_reason == "interrupted" else 0


# --- sample / eval ------------------------------------------------------------------------------
def _load_model(path: str):
    """A CharLM and its vocabulary from a run folder (its best checkpoint, else the newest) or a
    checkpoint folder."""
    from .data.text import Vocab
    from .models.charlm import CharLM, CharLMConfig
    from .train.checkpoint import load_checkpoint, load_weights_into
    from .train.safetensors import CheckpointError

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


def _sample(args) -> int:
    from .models.sampling import beam_search, generate

    model, vocab = _load_model(args.run)
    prime = list(vocab.encode_known(args.prime, source="--prime"))
    sys.stdout.write(args.prime)
    if args.beam:
        ids, _ = beam_search(model, prime, args.length, args.beam)
        sys.stdout.write(vocab.decode(np.array(ids)) + "\n")
        return 0
    rng = np.random.default_rng(args.seed)
    greedy = args.greedy or args.temperature == 0
    for token in generate(
        model,
        prime,
        args.length,
        rng,
        temperature=args.temperature or 1.0,
        top_k=args.top_k,
        top_p=args.top_p,
        greedy=greedy,
    ):
        sys.stdout.write(vocab.decode(np.array([token])))
        sys.stdout.flush()
    sys.stdout.write("\n")
    return 0


def _eval(args) -> int:
    from .data.text import load_text
    from .nn import cross_entropy

    model, vocab = _load_model(args.run)
    text = load_text(args.data, args.encoding, min_chars=2)
    ids, known = vocab.encode(text)
    x, y, mask = ids[:-1], ids[1:], known[1:]
    if not mask.any():
        raise ValueError(f"{args.data}: none of its characters is in the model's vocabulary")
    window, state, total, count = 1000, None, 0.0, 0
    for start in range(0, len(x), window):
        logits, state = model.forward(x[start : start + window, None], state)
        m = mask[start : start + window, None]
        if m.any():
            loss, _ = cross_entropy(logits, y[start : start + window, None], mask=m)
            total, count = total + loss * m.sum(), count + int(m.sum())
    unknown = int((~known).sum())
    nats = total / count
    print(f"{args.data}: {len(text):,} characters, {unknown:,} outside the vocabulary (left out of the loss)")
    print(f"loss {nats:.4f} nats/char, {nats / math.log(2):.4f} bits/char over {count:,} predictions")
    return 0


def _export(args) -> int:
    from dataclasses import asdict

    if not args.onnx and not args.torch:
        raise ValueError("nothing to write: give --onnx FILE and/or --torch FILE")
    model, vocab = _load_model(args.run)
    metadata = {"vocab": json.dumps(vocab.to_json()), "config": json.dumps(asdict(model.config))}
    try:
        if args.torch:  # first: it refuses a peephole LSTM before any file is written
            from .interop.torch import save_torch_state_dict

            save_torch_state_dict(model, args.torch, metadata)
            print(
                f"wrote {args.torch}: PyTorch state dict for rnnlab.interop.torch.TorchCharLM(**{asdict(model.config)})"
            )
        if args.onnx:
            from .interop.onnx import charlm_difference, export, signature

            onnx_model = export(model, args.onnx, metadata=metadata)
            print(f"wrote {args.onnx}: {signature(onnx_model)}")
            if importlib.util.find_spec("onnxruntime") is None:
                print("not checked: onnxruntime is not installed (pip install 'rnnlab[onnx]')")
            else:
                ids = np.random.default_rng(0).integers(0, vocab.size, (20, 2))
                diff = charlm_difference(model, args.onnx, ids)
                print(f"checked with onnxruntime: logits and states of 20 steps x 2 rows within {diff:.1e} of rnnlab's")
                if diff > 1e-4:
                    raise ValueError(f"{args.onnx} does not compute what the model does (max difference {diff:.2e})")
    except ImportError as err:  # a missing optional package: one line that names the extra
        raise ValueError(str(err)) from None
    return 0


def _info(args) -> int:
    print(f"rnnlab {__version__}, Python {sys.version.split()[0]}, NumPy {np.__version__}")
    try:
        from threadpoolctl import threadpool_info

        for lib in threadpool_info():
            if lib["user_api"] == "blas":
                print(
                    f"BLAS: {lib['internal_api']} {lib.get('version')}, kernel {lib.get('architecture')}, "
                    f"{lib['num_threads']} threads"
                )
    except ImportError:
        print("BLAS: threadpoolctl not installed, cannot tell")
    for extra in ("torch", "onnx", "onnxruntime", "matplotlib", "safetensors", "numba", "statsmodels"):
        print(f"{extra}: {'found' if importlib.util.find_spec(extra) else 'not installed'}")
    from .nn.backend import describe

    print(f"engine: {describe()}")
    return 0


def _demo(args) -> int:
    from .demo import EchoConfig, train_echo

    cfg = EchoConfig(delay=args.delay, hidden=args.hidden, steps=args.steps, lr=args.lr, seed=args.seed)
    if cfg.delay < 1 or cfg.delay >= cfg.seq_len or cfg.hidden < 1 or cfg.steps < 1:
        raise ValueError(f"need 1 <= --delay < {cfg.seq_len}, --hidden >= 1 and --steps >= 1")
    print(
        f"rnnlab {__version__} demo: LSTM(1, {cfg.hidden}) learns to echo its input "
        f"{cfg.delay} steps late (MSE of knowing nothing: 1.0)"
    )
    start = time.perf_counter()
    every = max(1, cfg.steps // 10)

    def report(step: int, loss: float) -> None:
        if step == 1 or step % every == 0:
            print(f"  step {step:5d}/{cfg.steps}  loss {loss:.4f}  ({time.perf_counter() - start:.1f} s)", flush=True)

    losses = train_echo(cfg, report)
    print(
        f"loss fell from {losses[0]:.4f} to {sum(losses[-10:]) / min(10, len(losses)):.4f} "
        f"(mean of the last 10 steps) in {time.perf_counter() - start:.1f} s"
    )
    return 0


def _experiment(args) -> int:
    from .experiments import EXPERIMENTS, run_experiment

    if args.list or args.name is None:
        for e in EXPERIMENTS.values():
            print(f"{e.name:16s} {e.title}\n{'':16s} anchor: {e.anchor}")
        return 0
    out = Path(args.out or Path("runs") / f"{args.name}-{time.strftime('%Y%m%d-%H%M%S')}")
    options = {
        "cells": args.cells,
        "lengths": args.lengths,
        "minutes": args.minutes,
        "tsv": args.tsv,
        "contrast": args.contrast,
        "data": args.data,
        "sklearn_digits": args.sklearn_digits,
        "sampling": args.sampling,
        "csv": args.csv,
        "column": args.column,
        "series": args.series,
        "season": args.season,
        "horizon": args.horizon,
    }
    summary = run_experiment(
        args.name,
        out,
        quick=args.quick,
        seed=args.seed,
        say=lambda line: print(line, flush=True),
        progress=not args.no_progress,
        **options,
    )
    met = summary.get("target_met")
    print(f"{args.name}: {summary['result']}")
    print(
        f"target: {'met' if met else 'not met' if met is not None else 'not judged'}; "
        f"{summary['wall_seconds']} s; run folder {out} (summary.md)"
    )
    return 0


def _diagnose(args) -> int:
    from .analysis.diagnose import diagnose_charlm, summary_lines, windows
    from .data.text import builtin_corpus, load_text

    model, vocab = _load_model(args.run)
    if args.data:
        text, source = load_text(args.data, args.encoding), args.data
    else:
        spec_file = Path(args.run) / "run.json"
        if not spec_file.is_file():
            raise ValueError(f"{args.run} has no run.json to find its training text: pass --data FILE")
        spec = json.loads(spec_file.read_text())
        if spec.get("data"):
            text, source = load_text(spec["data"], spec.get("encoding", "utf-8")), spec["data"]
        else:
            text, source = builtin_corpus(spec["corpus"]), f"corpus {spec['corpus']}"
    ids, known = vocab.encode(text)
    ids = ids[known].astype(np.int64)  # characters the model never saw are left out
    out = Path(args.out or Path(args.run) / "diagnose")
    print(f"diagnosing {args.run} on {source} ({args.batch} windows of {args.steps} characters) ...", flush=True)
    drawing = not args.no_pictures and importlib.util.find_spec("matplotlib") is not None
    with _one_blas_thread():  # many small SVDs and matmuls: one thread is several times faster
        summary = diagnose_charlm(model, windows(ids, args.batch, args.steps), out if drawing else None)
    out.mkdir(parents=True, exist_ok=True)
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    for line in summary_lines(summary):
        print(line)
    if drawing:
        print(f"pictures: {', '.join(summary['figures'])}")
    elif not args.no_pictures:
        print("no pictures: they need matplotlib: pip install 'rnnlab[plot]'")
    print(f"summary: {out / 'summary.json'}")
    return 0


def _one_blas_thread():
    """A context in which BLAS/LAPACK use one thread."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(1)


def _study(args) -> int:
    with _one_blas_thread():  # small models and matrices: one BLAS thread is fastest
        return _run_study(args)


def _run_study(args) -> int:
    from .analysis import studies

    out = Path(args.out or Path("runs") / f"study-{args.name}-{time.strftime('%Y%m%d-%H%M%S')}")
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    if args.name == "circuits":
        lines = studies.circuits_demo(seed=args.seed)
        for line in lines:
            print(line)
        (out / "summary.json").write_text(json.dumps({"circuits": lines}, indent=1))
        return 0 if not any("WRONG" in line for line in lines) else 1
    drawing = not args.no_pictures and importlib.util.find_spec("matplotlib") is not None
    if not drawing and not args.no_pictures:
        print("no pictures: they need matplotlib: pip install 'rnnlab[plot]'")
    if args.name == "recursions":
        summary = studies.recursion_study(out if drawing else None)
    else:
        models = [m.strip() for m in args.models.split(",") if m.strip()]
        unknown = sorted(set(models) - set(studies.MODEL_NAMES))
        if unknown or not models:
            raise ValueError(
                f"--models: unknown {', '.join(unknown) or 'none given'}; choose among {', '.join(studies.MODEL_NAMES)}"
            )
        print(
            f"gradient flow on the adding problem, T={args.seq_len}, H={args.hidden}, {args.train_steps} "
            f"Adam steps per model (lr {args.lr:g}, seed {args.seed})",
            flush=True,
        )
        reports = studies.gradflow_study(
            models,
            seq_len=args.seq_len,
            hidden=args.hidden,
            steps=args.train_steps,
            lr=args.lr,
            seed=args.seed,
            say=lambda line: print(line, flush=True),
        )
        summary = {kind: report.summary() for kind, report in reports.items()}
        for s in summary.values():
            line = (
                f"{s['model']:<22} MSE {s['eval_mse']['init']:.3f} -> {s['eval_mse']['trained']:.4f}; "
                f"gradient x{s['grad_factor_init']:.3f} -> x{s['grad_factor_trained']:.3f} per step back; "
                f"memory {s['memory_steps_init']} -> {s['memory_steps_trained']} steps"
            )
            print(line)
        if drawing:
            summary["figures"] = [str(p) for p in studies.gradflow_figures(reports, out)]
    summary["options"] = {k: v for k, v in vars(args).items() if k not in ("debug", "command")}
    (out / "summary.json").write_text(json.dumps(summary, indent=1, default=str))
    if drawing:
        print(f"pictures: {', '.join(summary['figures'])}")
    print(f"summary: {out / 'summary.json'} ({time.perf_counter() - start:.1f} s)")
    return 0


def _translate(args) -> int:
    from .experiments.seq2seq import load_translator

    translator = load_translator(args.run)
    texts = args.text if args.text and args.text != ["-"] else [line.rstrip("\n") for line in sys.stdin]
    texts = [t for t in texts if t.strip()]
    if not texts:
        raise ValueError("nothing to translate: give TEXT or lines on stdin")
    results, unknown = translator(texts, beam=args.beam or 0, max_len=args.max_len, alpha=args.alpha)
    if unknown:
        print(f"note: not in the model's vocabulary, read as <unk>: {' '.join(unknown)}", file=sys.stderr)
    for text, src, out, weights in results:
        print(text, flush=True)
        if args.attention and weights is not None:
            for token, row in zip(out + ["<eos>"], weights):
                print(f"  {token!r} <- {src[int(row.argmax())]!r} ({row.max():.2f})")
    return 0


COMMANDS = {
    "train": _train,
    "resume": _resume,
    "sample": _sample,
    "eval": _eval,
    "info": _info,
    "export": _export,
    "demo": _demo,
    "experiment": _experiment,
    "diagnose": _diagnose,
    "study": _study,
    "translate": _translate,
}


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # --help, --version, or a usage error already printed
        return int(exit_.code or 0)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        return COMMANDS[args.command](args)
    except KeyboardInterrupt:
        print("rnnlab: interrupted", file=sys.stderr)
        return 130
    except (ValueError, TypeError, OSError) as err:  # DataError and CheckpointError are ValueErrors
        if args.debug:
            raise
        message = " ".join(str(err).split()) or type(err).__name__
        print(f"rnnlab: error: {message}", file=sys.stderr)
        return 2
