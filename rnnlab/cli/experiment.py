"""`rnnlab experiment NAME` (the lectures' experiments, rnnlab.experiments) and `rnnlab translate`
(a trained seq2seq model of three of them). Each experiment declares the options it reads
(`Experiment.options`); this module turns them into command-line options, one per name, whose
help says which experiments read it and what for."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from ..experiments.common import non_negative_float, non_negative_int, positive_int
from .common import out_folder


def add_commands(command) -> None:
    from ..experiments import EXPERIMENTS

    exp = command(
        "experiment",
        run_experiment,
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
    exp.add_argument("--seed", type=non_negative_int, default=0, help="random seed (default 0)")
    exp.add_argument("--no-progress", action="store_true", help="no progress bars")
    for option, readers in experiment_options(EXPERIMENTS.values()).items():
        kwargs = (
            {"action": "store_true"}
            if option.switch
            else {"type": option.parse, "nargs": option.nargs, "choices": option.choices, "metavar": option.metavar}
        )
        exp.add_argument(option.flag, help=readers, **{k: v for k, v in kwargs.items() if v is not None})

    tr = command(
        "translate",
        run_translate,
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
    tr.add_argument("--beam", type=positive_int, help="beam search of this width (default: greedy)")
    tr.add_argument(
        "--alpha",
        type=non_negative_float,
        default=1.0,
        help="beam search length normalisation: log p / length**ALPHA (default 1.0; 0 favours short outputs)",
    )
    tr.add_argument("--max-len", type=positive_int, default=50, help="most output tokens (default 50)")
    tr.add_argument(
        "--attention", action="store_true", help="also print each output token's most attended source token"
    )


def experiment_options(experiments) -> dict:
    """{option: help} over all experiments, one option per name; the help lists the experiments
    that read it with what it means to each ("adding, copy: ...; music: ..."). Two experiments
    that give one name different forms are an error (their command line would be ambiguous)."""
    forms, meanings = {}, {}
    for experiment in experiments:
        for option in experiment.options:
            form = (option.parse, option.nargs, option.choices, option.metavar, option.switch)
            if forms.setdefault(option.name, form) != form:
                raise TypeError(f"{option.flag} has another form in experiment {experiment.name}")
            meanings.setdefault(option.name, {}).setdefault(option.help, []).append(experiment.name)
    first = {}
    for experiment in experiments:
        for option in experiment.options:
            first.setdefault(option.name, option)
    return {
        first[name]: "; ".join(f"{', '.join(readers)}: {text}" for text, readers in meanings[name].items())
        for name in first
    }


def run_experiment(args) -> int:
    from ..experiments import EXPERIMENTS, run_experiment

    if args.list or args.name is None:
        for e in EXPERIMENTS.values():
            print(f"{e.name:16s} {e.title}{data_marks(e)}\n{'':16s} anchor: {e.anchor}")
        return 0
    out = out_folder(args.out, Path("runs") / f"{args.name}-{time.strftime('%Y%m%d-%H%M%S')}")
    options = {option.name: getattr(args, option.name) for option in experiment_options(EXPERIMENTS.values())}
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


def data_marks(experiment) -> str:
    """ " [data: sentiment, cached]" or " [downloads sentiment, 0.2 MB]" per outside data set it reads."""
    from ..data import datasets

    marks = []
    for name in experiment.datasets:
        found = datasets.located(name)
        if found is None:
            marks.append(f"[downloads {name}, {datasets.megabytes(datasets.DATASETS[name].size)}]")
        else:
            marks.append(f"[data: {name}, {'cached' if found[0] == 'cache' else 'in $' + found[0]}]")
    return "".join(" " + m for m in marks)


def run_translate(args) -> int:
    from ..experiments.seq2seq import load_translator

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
