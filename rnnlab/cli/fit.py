"""A person's own data, training: `rnnlab fit TASK` and `rnnlab resume RUN` (the estimators of
rnnlab.estimators do the work; `fit lm` is `rnnlab train`). Every file is read and checked before
the run folder is made, so an input error writes nothing."""

from __future__ import annotations

import argparse
import inspect
import time
from pathlib import Path

from ..experiments.common import (
    fraction,
    layer_count,
    minutes,
    non_negative_float,
    non_negative_int,
    positive_float,
    positive_int,
)
from .charlm import train_charlm
from .common import check_new_run_folder, out_folder, removed_unless_started, say

TASKS = {
    "classify": "a label per text or per numeric sequence (CSV or TSV, header sniffed)",
    "tag": "a tag per token (CoNLL-style: token and tag per line, a blank line between sentences)",
    "forecast": "the next H values of a series (CSV with a value column and optional dates)",
    "seq2seq": "an output text per input text (TSV: source TAB target)",
    "ocr": "the text of a one-line image (CSV or TSV of file,text rows; without --data, rendered lines)",
}
# What each task's reader takes (to read_file); every other option is an estimator parameter.
READ_OPTIONS = {
    "classify": ("text_column", "label_column", "sequence"),
    "tag": ("tag_column",),
    "forecast": ("column", "time_column", "extra_columns"),
    "seq2seq": (),
}


def _estimator(task: str):
    from ..estimators import ESTIMATORS

    return ESTIMATORS[task]


def _default(task: str, name: str):
    return inspect.signature(_estimator(task).__init__).parameters[name].default


def add_commands(command) -> None:
    from ..models.encoder import cell_choices
    from .charlm import add_train_options, run_train

    fit = command(
        "fit",
        run_fit,
        help="fit a model to your own data (classify, tag, forecast, seq2seq, ocr, lm)",
        description="Fit a model to your own file: read and check it, hold out validation (and "
        "test) rows, train with checkpoints, keep the best, write a run folder that `rnnlab "
        "predict`, `evaluate` and `resume` use. `rnnlab fit TASK --help` lists each task's options.",
    )
    tasks = fit.add_subparsers(dest="task", metavar="TASK", required=True)
    lm = tasks.add_parser("lm", help="a character-level language model (the same as `rnnlab train`)")
    add_train_options(lm)
    lm.set_defaults(handler=run_train)
    lm.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    from ..estimators import ESTIMATORS

    for task, what in TASKS.items():
        if task not in ESTIMATORS:
            continue
        p = tasks.add_parser(task, help=what, description=f"{task}: {what}.")
        p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks")
        p.add_argument("--data", metavar="FILE", required=task != "ocr", help="the training file")
        p.add_argument("--out", metavar="RUN", help=f"run folder (default runs/{task}-<time>)")
        _task_options(task, p)
        budget = p.add_mutually_exclusive_group()
        budget.add_argument("--steps", type=positive_int, default=argparse.SUPPRESS, help="train for this many steps")
        budget.add_argument("--minutes", type=minutes, default=argparse.SUPPRESS, help="train for this long")
        budget.add_argument(
            "--epochs",
            type=positive_float,
            default=argparse.SUPPRESS,
            help=f"passes over the training rows (default {_default(task, 'epochs')} without --steps/--minutes)",
        )
        if "model" in inspect.signature(_estimator(task).__init__).parameters:  # not ocr's CRNN
            p.add_argument(
                "--model",
                choices=cell_choices(),
                default=argparse.SUPPRESS,
                help=f"the cell (default {_default(task, 'model')})",
            )
        for flag, name, kind, what in (
            ("--hidden", "hidden", positive_int, "hidden units per layer and direction"),
            ("--layers", "layers", layer_count, "stacked recurrent layers"),
            ("--lr", "lr", positive_float, "Adam's learning rate"),
            ("--batch", "batch_size", positive_int, "examples per step"),
            ("--clip", "clip", non_negative_float, "gradient-norm clip, 0 for none"),
            ("--seed", "seed", non_negative_int, "seed of the split, the weights and the batches"),
            ("--validation-fraction", "validation_fraction", fraction, "share held out to pick the best weights"),
            ("--test-fraction", "test_fraction", fraction, "share held out and scored at the end"),
        ):
            if name in inspect.signature(_estimator(task).__init__).parameters:
                p.add_argument(
                    flag,
                    dest=name,
                    type=kind,
                    default=argparse.SUPPRESS,
                    help=f"{what} (default {_default(task, name)})",
                )
        if "bidirectional" in inspect.signature(_estimator(task).__init__).parameters:
            p.add_argument(
                "--bidirectional",
                action=argparse.BooleanOptionalAction,
                default=argparse.SUPPRESS,
                help=f"a second direction reading backwards (default {_default(task, 'bidirectional')})",
            )
        p.add_argument("--no-progress", action="store_true", help="no progress bar")

    resume = command(
        "resume",
        run_resume,
        help="continue an interrupted or finished run",
        description="Continue a run of `rnnlab train` or `rnnlab fit` from its last checkpoint: "
        "without options, an interrupted run to its original budget (with a --steps budget the "
        "weights end bit-identical to an uninterrupted run; a --minutes budget starts its clock "
        "afresh); with --steps N or --minutes M, for that much more, a finished run too.",
    )
    resume.add_argument("run", metavar="RUN_DIR")
    more = resume.add_mutually_exclusive_group()
    more.add_argument("--steps", type=positive_int, help="train this many more steps (a finished run too)")
    more.add_argument("--minutes", type=minutes, help="train this much longer (a finished run too)")
    resume.add_argument("--no-progress", action="store_true", help="no progress bar")


def _task_options(task: str, p: argparse.ArgumentParser) -> None:
    """The options only one task has."""
    S = argparse.SUPPRESS
    if task == "classify":
        p.add_argument("--text-column", metavar="NAME|INDEX", help="default: the column with the longest values")
        p.add_argument("--label-column", metavar="NAME|INDEX", help="default: the other column")
        p.add_argument("--unit", choices=("word", "char"), default=S, help="tokens: words (default) or characters")
        p.add_argument("--min-count", type=positive_int, default=S, help="rarer words read as <unk> (default 2)")
        p.add_argument("--sequence", action="store_true", help="each row is a numeric series and its label")
        p.add_argument("--embedding", type=positive_int, default=S, help="embedding size (default 64)")
    elif task == "tag":
        p.add_argument("--tag-column", type=positive_int, metavar="INDEX", help="the tag's field (default: the last)")
        p.add_argument("--embedding", type=positive_int, default=S, help="embedding size")
    elif task == "forecast":
        p.add_argument("--column", metavar="NAME|INDEX", help="the value (default: the only numeric column)")
        p.add_argument("--time-column", metavar="NAME|INDEX", help="the dates (default: a column of dates, if any)")
        p.add_argument("--extra-columns", nargs="+", default=(), metavar="NAME", help="more input columns")
        p.add_argument("--horizon", type=positive_int, default=S, help="values forecast (default: one season, else 12)")
        p.add_argument("--season", type=positive_int, default=S, help="season length (default: from the dates)")
        p.add_argument("--context", type=positive_int, default=S, help="steps of history per training window")
    elif task == "seq2seq":
        p.add_argument("--unit", choices=("auto", "char", "word"), default=S, help="tokens (default auto)")
        p.add_argument(
            "--attention",
            choices=("additive", "dot", "general", "none"),
            default=S,
            help="attention (default additive)",
        )
        p.add_argument("--embedding", type=positive_int, default=S, help="embedding size")
    elif task == "ocr":
        p.add_argument("--height", type=positive_int, default=S, help="rows images are scaled to, 8-128 (default 32)")
        p.add_argument("--lines", type=positive_int, default=S, help="without --data: lines rendered (default 10000)")


# --- fit ---------------------------------------------------------------------------------------------
def run_fit(args) -> int:
    from ..train.limits import ResourceError

    task = args.task
    cls = _estimator(task)
    out = out_folder(args.out, Path("runs") / f"{task}-{time.strftime('%Y%m%d-%H%M%S')}")
    check_new_run_folder(out)
    given = vars(args)
    reading = {k: given[k] for k in READ_OPTIONS.get(task, ()) if k in given}
    params = {k: v for k, v in given.items() if k in cls._get_param_names()}
    if params.get("attention") == "none":
        params["attention"] = None
    progress = not args.no_progress
    rendered = task == "ocr" and args.data is None  # the built-in default: rendered text lines
    if "height" in given and (given["height"] % 4 or given["height"] not in range(8, 129)):
        raise ValueError(f"--height: must be a multiple of 4 from 8 to 128 (two 2x2 pools), got {given['height']}")
    if "lines" in given and not rendered:  # only `fit ocr` has --lines
        raise ValueError("--lines: the number of rendered lines, for `rnnlab fit ocr` without --data")
    if rendered:
        lines, seed, height = given.get("lines", 10000), given.get("seed", 0), given.get("height", 32)
        reading["rendered"] = cls.rendered_source(lines, seed, height)
    X, y, source = cls.read_file(args.data, **reading)  # a file problem ends here, before --out exists
    estimator = cls(**params, progress=progress, run_dir=str(out))
    print(f"fitting {task} on {args.data or f'{len(X):,} rendered text lines'} into {out}", flush=True)
    with removed_unless_started(out):  # a failed start leaves no run.json to refuse a second try
        try:
            estimator.fit(X, y, source=source, say=say(progress))
        except ValueError as err:
            if out.exists() or str(err).startswith(str(args.data)) or isinstance(err, ResourceError) or rendered:
                raise
            # what the data cannot give (one class, a series too short ...): found before --out exists
            raise ValueError(f"{args.data}: {err}") from None
    return _report_fit(estimator, out)


def _report_fit(estimator, out: Path) -> int:
    if estimator.stop_reason_ == "diverged":  # the Trainer's guard gave up: an error, not a result
        raise ValueError(
            f"{out}: the run diverged at step {estimator.n_steps_} (a non-finite loss or gradient, step after "
            f"step); best/ keeps the weights of its best validation ({estimator._score_name} "
            f"{_number(estimator.best_validation_)}): fit again with a lower --lr, or continue with "
            f"`rnnlab resume {out}`"
        )
    print(
        f"stopped after {estimator.n_steps_} steps ({estimator.stop_reason_}); best validation "
        f"{estimator._score_name} {_number(estimator.best_validation_)}"
    )
    if estimator.test_metrics_:
        print(f"held-out test rows ({out / 'evaluation.json'}):")
        for line in estimator.evaluation_lines(estimator.test_metrics_):
            print(f"  {line}")
    if (out / "loss.png").is_file():
        print(f"loss curve: {out / 'loss.png'}")
    print(f"next: rnnlab predict {out} FILE   |   rnnlab evaluate {out} --data FILE")
    return 130 if estimator.stop_reason_ == "interrupted" else 0


def _number(value) -> str:
    return "n/a" if value is None else f"{value:.4f}"


# --- resume ------------------------------------------------------------------------------------------
def run_resume(args) -> int:
    from ..estimators import read_run_file
    from ..train.runlock import hold_run

    record = read_run_file(args.run)  # a folder that is not a run ends here, before it is locked
    with hold_run(args.run):  # a second resume of the same run is refused before run.json changes
        return resume_fit(args) if record.get("task", "lm") != "lm" else resume_lm(args, record)


def resume_lm(args, record: dict) -> int:
    """`rnnlab resume RUN` of a `rnnlab train` or `fit lm` run."""
    from ..data.text import DataError
    from ..runs.charlm import TrainSpec
    from ..train.checkpoint import checkpoint_step, latest_checkpoint

    run_dir = Path(args.run)
    if record.get("fitted_from") == "python":
        raise ValueError(f"{run_dir} was fitted from a Python string, not a file: continue it in Python")
    spec = TrainSpec.from_file(run_dir / "run.json")
    last = latest_checkpoint(run_dir)
    done = checkpoint_step(last)
    if args.steps is not None:
        spec.steps, spec.minutes = done + args.steps, None
    elif args.minutes is not None:
        spec.steps, spec.minutes = None, args.minutes
    elif spec.steps is not None and done >= spec.steps:
        raise ValueError(f"{run_dir} finished its {spec.steps} steps: train more with --steps N or --minutes M")
    spec.__post_init__()  # a cosine schedule needs a steps budget
    try:  # before run.json takes the new budget: a resume that cannot start changes nothing
        text = spec.text()
    except DataError as err:  # a relative --data is read from where `rnnlab resume` runs
        raise DataError(err.source, f"{err.problem} (the training text {run_dir / 'run.json'} names)") from None
    spec.save(run_dir / "run.json")
    budget = f"to step {spec.steps}" if spec.steps is not None else f"for {spec.minutes:g} minutes"
    print(f"continuing from step {done} ({last}) {budget}", flush=True)
    return train_charlm(spec, run_dir, resume=True, progress=not args.no_progress, text=text)


def resume_fit(args) -> int:
    """`rnnlab resume RUN` of a `rnnlab fit` run: its file read again the same way, the same split
    and preprocessing, training continued from the last checkpoint."""
    from ..estimators import load
    from ..train.checkpoint import checkpoint_step, latest_checkpoint

    estimator = load(args.run)
    source = estimator.source_
    if not source or "path" not in source:
        raise ValueError(
            f"{args.run} was fitted from Python objects, not a file: continue it in Python with "
            "est.set_params(warm_start=True).fit(X, y)"
        )
    done = checkpoint_step(latest_checkpoint(args.run))
    if args.steps is not None:
        estimator.set_params(steps=args.steps, minutes=None)
    elif args.minutes is not None:
        estimator.set_params(steps=None, minutes=args.minutes)
    elif estimator.planned_steps_ is not None:
        if done >= estimator.planned_steps_:
            raise ValueError(
                f"{args.run} finished its {estimator.planned_steps_} steps: train more with --steps N or --minutes M"
            )
        estimator.set_params(steps=estimator.planned_steps_ - done, minutes=None)
    estimator.set_params(warm_start=True, progress=not args.no_progress)
    reading = {k: v for k, v in source.items() if k != "path"}
    X, y, _ = type(estimator).read_file(source["path"], **reading)
    progress = not args.no_progress
    estimator.fit(X, y, source=source, say=say(progress))
    return _report_fit(estimator, Path(args.run))
